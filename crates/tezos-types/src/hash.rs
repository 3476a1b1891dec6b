//! Typed hashes and addresses with their base58check text form, JSON (the b58 string, as Octez)
//! and binary form (raw bytes; l1-and-signer.md §0 "Key encodings").

use crate::b58::{self, B58Error, Prefix, prefix};
use crate::encoding::{BinDecode, BinEncode, DecodeErrorKind, DecodeResult, Reader, Writer};
use std::fmt;
use std::str::FromStr;

/// Blake2b digest of the concatenation of `parts`, with an `N`-byte output.
///
/// Octez hashes (`Blake2B.hash_bytes [a; b]`) hash the concatenation (l1-and-signer.md §0).
pub fn blake2b<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut st = blake2b_simd::Params::new().hash_length(N).to_state();
    for p in parts {
        st.update(p);
    }
    let h = st.finalize();
    let mut out = [0u8; N];
    out.copy_from_slice(h.as_bytes());
    out
}

macro_rules! fixed_hash {
    ($(#[$m:meta])* $name:ident, $len:expr, $prefix:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Size of the raw hash in bytes.
            pub const SIZE: usize = $len;
            /// The base58check prefix.
            pub const PREFIX: Prefix = $prefix;
            /// The all-zero value.
            pub const ZERO: Self = Self([0; $len]);

            /// Wraps raw bytes.
            pub const fn new(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
            /// From a slice of exactly the right length.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }
            /// The base58check text.
            pub fn to_b58check(&self) -> String {
                b58::encode(&Self::PREFIX, &self.0)
            }
            /// Parses the base58check text.
            pub fn from_b58check(s: &str) -> Result<Self, B58Error> {
                b58::decode_array(&Self::PREFIX, s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_b58check())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_b58check())
            }
        }
        impl FromStr for $name {
            type Err = B58Error;
            fn from_str(s: &str) -> Result<Self, B58Error> {
                Self::from_b58check(s)
            }
        }
        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_b58check())
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_b58check(&s).map_err(serde::de::Error::custom)
            }
        }
        impl BinEncode for $name {
            fn bin_write(&self, w: &mut Writer) {
                w.bytes(&self.0);
            }
        }
        impl BinDecode for $name {
            fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
                r.array().map(Self)
            }
        }
    };
}

macro_rules! digest_hash {
    ($name:ident, $len:expr) => {
        impl $name {
            /// Blake2b digest (of this hash's size) of the concatenation of `parts`.
            pub fn hash_parts(parts: &[&[u8]]) -> Self {
                Self(blake2b::<$len>(parts))
            }
            /// Blake2b digest (of this hash's size) of `data`.
            pub fn hash_bytes(data: &[u8]) -> Self {
                Self::hash_parts(&[data])
            }
        }
    };
}

fixed_hash!(
    /// Block hash `B…` (32 bytes).
    BlockHash, 32, prefix::BLOCK_HASH
);
fixed_hash!(
    /// Operation hash `o…`: Blake2b-256 of the signed binary operation (l1-and-signer.md §2.1).
    OperationHash, 32, prefix::OPERATION_HASH
);
fixed_hash!(
    /// Operation list hash `Lo…`.
    OperationListHash, 32, prefix::OPERATION_LIST_HASH
);
fixed_hash!(
    /// Operation list list hash `LLo…`.
    OperationListListHash, 32, prefix::OPERATION_LIST_LIST_HASH
);
fixed_hash!(
    /// Protocol hash `P…`.
    ProtocolHash, 32, prefix::PROTOCOL_HASH
);
fixed_hash!(
    /// Context hash `Co…`.
    ContextHash, 32, prefix::CONTEXT_HASH
);
fixed_hash!(
    /// Smart rollup node context hash `SRCo…` (the node's durable-state context).
    SmartRollupContextHash, 32, prefix::SMART_ROLLUP_CONTEXT_HASH
);
fixed_hash!(
    /// Block payload hash `vh…`.
    BlockPayloadHash, 32, prefix::BLOCK_PAYLOAD_HASH
);
fixed_hash!(
    /// Chain id `Net…` (4 bytes).
    ChainId, 4, prefix::CHAIN_ID
);
fixed_hash!(
    /// Smart rollup address `sr1…` (20 bytes).
    SmartRollupAddress, 20, prefix::SMART_ROLLUP_ADDRESS
);
fixed_hash!(
    /// Smart rollup commitment hash `src1…`: Blake2b-256 of the binary commitment.
    CommitmentHash, 32, prefix::COMMITMENT_HASH
);
fixed_hash!(
    /// Smart rollup PVM state hash `srs1…`.
    StateHash, 32, prefix::STATE_HASH
);
fixed_hash!(
    /// Smart rollup inbox hash (history skip-list cell) `srib1…`.
    InboxHash, 32, prefix::INBOX_HASH
);
fixed_hash!(
    /// Merkelized payload hashes hash (level witness cell) `srib2…`.
    MerkelizedPayloadHashesHash, 32, prefix::MERKELIZED_PAYLOAD_HASHES_HASH
);
fixed_hash!(
    /// Serialized inbox message hash `srib3…`: Blake2b-256 of the serialized message.
    InboxMessageHash, 32, prefix::INBOX_MESSAGE_HASH
);
fixed_hash!(
    /// Reveal (pre-image) hash payload `scrrh1…` (the binary form used by kernels adds a 0x00
    /// tag; see [`RevealHash::to_tagged_bytes`]).
    RevealHash, 32, prefix::REVEAL_HASH
);
fixed_hash!(
    /// Rollup node batcher message id `scmsg…`.
    L2MessageId, 32, prefix::L2_MESSAGE_ID
);
fixed_hash!(
    /// Injector operation id `iop…`.
    InjectorOperationId, 32, prefix::INJECTOR_OPERATION_ID
);
fixed_hash!(
    /// Script expression hash `expr…`.
    ScriptExprHash, 32, prefix::SCRIPT_EXPR_HASH
);
fixed_hash!(
    /// DAL slot commitment `sh1…` (48 bytes: a compressed BLS12-381 G1 point in the protocol;
    /// `dal_slot_repr.ml` `Commitment`, binary raw, JSON base58check).
    DalCommitment, 48, prefix::DAL_COMMITMENT
);
fixed_hash!(
    /// DAL skip-list cell hash `dask1…` (docs/reference/dal.md §1: Blake2b-256 of the cell's
    /// binary content ‖ its back pointers).
    DalSkipListHash, 32, prefix::DAL_SKIP_LIST_POINTER
);
fixed_hash!(
    /// Originated contract hash `KT1…` (20 bytes).
    ContractHash, 20, prefix::KT1
);

digest_hash!(BlockHash, 32);
digest_hash!(OperationHash, 32);
digest_hash!(CommitmentHash, 32);
digest_hash!(StateHash, 32);
digest_hash!(InboxHash, 32);
digest_hash!(MerkelizedPayloadHashesHash, 32);
digest_hash!(InboxMessageHash, 32);
digest_hash!(RevealHash, 32);
digest_hash!(L2MessageId, 32);
digest_hash!(InjectorOperationId, 32);
digest_hash!(ScriptExprHash, 32);
digest_hash!(SmartRollupAddress, 20);
digest_hash!(ContractHash, 20);
digest_hash!(DalSkipListHash, 32);
digest_hash!(ContextHash, 32);
digest_hash!(SmartRollupContextHash, 32);

impl RevealHash {
    /// The 33-byte binary form used in reveal requests: tag `0x00` (Blake2B) ‖ 32 bytes.
    pub fn to_tagged_bytes(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[1..].copy_from_slice(&self.0);
        out
    }
}

impl ChainId {
    /// The chain id of a genesis block: first 4 bytes of Blake2b-256 of its hash.
    pub fn of_block_hash(genesis: &BlockHash) -> Self {
        let h = blake2b::<32>(&[&genesis.0]);
        Self([h[0], h[1], h[2], h[3]])
    }
}

/// Public key hash `tz1…`–`tz5…` (binary: 1-byte tag + 20 bytes; l1-and-signer.md §0).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PublicKeyHash {
    /// `tz1`, tag 0.
    Ed25519([u8; 20]),
    /// `tz2`, tag 1.
    Secp256k1([u8; 20]),
    /// `tz3`, tag 2.
    P256([u8; 20]),
    /// `tz4`, tag 3.
    Bls([u8; 20]),
    /// `tz5` (ML-DSA-44), tag 4.
    MlDsa44([u8; 20]),
}

impl PublicKeyHash {
    /// The binary tag.
    pub fn tag(&self) -> u8 {
        match self {
            Self::Ed25519(_) => 0,
            Self::Secp256k1(_) => 1,
            Self::P256(_) => 2,
            Self::Bls(_) => 3,
            Self::MlDsa44(_) => 4,
        }
    }
    /// The 20 hash bytes.
    pub fn hash(&self) -> &[u8; 20] {
        match self {
            Self::Ed25519(h)
            | Self::Secp256k1(h)
            | Self::P256(h)
            | Self::Bls(h)
            | Self::MlDsa44(h) => h,
        }
    }
    /// The base58check prefix of this variant.
    pub fn prefix(&self) -> &'static Prefix {
        match self {
            Self::Ed25519(_) => &prefix::TZ1,
            Self::Secp256k1(_) => &prefix::TZ2,
            Self::P256(_) => &prefix::TZ3,
            Self::Bls(_) => &prefix::TZ4,
            Self::MlDsa44(_) => &prefix::TZ5,
        }
    }
    /// From a binary tag and hash.
    pub fn from_tag(tag: u8, h: [u8; 20]) -> Option<Self> {
        Some(match tag {
            0 => Self::Ed25519(h),
            1 => Self::Secp256k1(h),
            2 => Self::P256(h),
            3 => Self::Bls(h),
            4 => Self::MlDsa44(h),
            _ => return None,
        })
    }
    /// The 21-byte binary form.
    pub fn to_bytes(&self) -> [u8; 21] {
        let mut out = [0u8; 21];
        out[0] = self.tag();
        out[1..].copy_from_slice(self.hash());
        out
    }
    /// The base58check text.
    pub fn to_b58check(&self) -> String {
        b58::encode(self.prefix(), self.hash())
    }
    /// Parses `tz1…`–`tz5…`.
    pub fn from_b58check(s: &str) -> Result<Self, B58Error> {
        let raw = b58::decode_raw_check(s)?;
        for (tag, p) in [
            &prefix::TZ1,
            &prefix::TZ2,
            &prefix::TZ3,
            &prefix::TZ4,
            &prefix::TZ5,
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(payload) = raw.strip_prefix(p.bytes)
                && let Ok(h) = <[u8; 20]>::try_from(payload)
            {
                return Self::from_tag(tag as u8, h).ok_or(B58Error::UnknownPrefix);
            }
        }
        Err(B58Error::WrongPrefix {
            expected: "tz1|tz2|tz3|tz4|tz5",
            len: 20,
        })
    }
}

/// Implements Display/Debug/FromStr/serde through `to_b58check`/`from_b58check`.
macro_rules! b58_string_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_b58check())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_b58check())
            }
        }
        impl FromStr for $name {
            type Err = B58Error;
            fn from_str(s: &str) -> Result<Self, B58Error> {
                Self::from_b58check(s)
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_b58check())
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_b58check(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

b58_string_impls!(PublicKeyHash);

impl BinEncode for PublicKeyHash {
    fn bin_write(&self, w: &mut Writer) {
        w.bytes(&self.to_bytes());
    }
}

impl BinDecode for PublicKeyHash {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let start = r.position();
        let tag = r.u8()?;
        let h = r.array()?;
        Self::from_tag(tag, h).ok_or(crate::encoding::DecodeError {
            offset: start,
            kind: DecodeErrorKind::InvalidTag {
                what: "public key hash",
                tag: tag.into(),
            },
        })
    }
}

/// A contract: implicit (`tz…`) or originated (`KT1…`).
///
/// Binary (`Contract_repr.encoding`, l1-and-signer.md §0): tag 0 + 21-byte pkh, or tag 1 +
/// 20 bytes + 1 padding byte.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Contract {
    /// An implicit account.
    Implicit(PublicKeyHash),
    /// An originated contract.
    Originated(ContractHash),
}

impl Contract {
    /// The base58check text.
    pub fn to_b58check(&self) -> String {
        match self {
            Self::Implicit(p) => p.to_b58check(),
            Self::Originated(c) => c.to_b58check(),
        }
    }
    /// Parses `tz…` or `KT1…`.
    pub fn from_b58check(s: &str) -> Result<Self, B58Error> {
        if s.starts_with("KT1") {
            ContractHash::from_b58check(s).map(Self::Originated)
        } else {
            PublicKeyHash::from_b58check(s).map(Self::Implicit)
        }
    }
}

b58_string_impls!(Contract);

impl BinEncode for Contract {
    fn bin_write(&self, w: &mut Writer) {
        match self {
            Self::Implicit(p) => {
                w.u8(0);
                p.bin_write(w);
            }
            Self::Originated(c) => {
                w.u8(1);
                w.bytes(&c.0);
                w.u8(0);
            }
        }
    }
}

impl BinDecode for Contract {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let start = r.position();
        match r.u8()? {
            0 => PublicKeyHash::bin_read(r).map(Self::Implicit),
            1 => {
                let c = ContractHash(r.array()?);
                if r.u8()? != 0 {
                    return Err(r.invalid("contract padding byte"));
                }
                Ok(Self::Originated(c))
            }
            t => Err(crate::encoding::DecodeError {
                offset: start,
                kind: DecodeErrorKind::InvalidTag {
                    what: "contract",
                    tag: t.into(),
                },
            }),
        }
    }
}

/// A transaction destination (`Destination_repr`): an implicit account, an originated
/// contract or a smart rollup (internal transactions to `sr1…` appear in block receipts).
///
/// Binary: tag 0 + 21-byte pkh, tag 1 + 20 bytes + padding, tag 3 + 20 bytes + padding
/// (l1-and-signer.md §0). Zk rollups (tag 4) are not supported.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Destination {
    /// An implicit account or an originated contract.
    Contract(Contract),
    /// A smart rollup.
    SmartRollup(SmartRollupAddress),
}

impl Destination {
    /// The base58check text.
    pub fn to_b58check(&self) -> String {
        match self {
            Self::Contract(c) => c.to_b58check(),
            Self::SmartRollup(s) => s.to_b58check(),
        }
    }
    /// Parses `tz…`, `KT1…` or `sr1…`.
    pub fn from_b58check(s: &str) -> Result<Self, B58Error> {
        if s.starts_with("sr1") {
            SmartRollupAddress::from_b58check(s).map(Self::SmartRollup)
        } else {
            Contract::from_b58check(s).map(Self::Contract)
        }
    }
}

b58_string_impls!(Destination);

impl BinEncode for Destination {
    fn bin_write(&self, w: &mut Writer) {
        match self {
            Self::Contract(c) => c.bin_write(w),
            Self::SmartRollup(s) => {
                w.u8(3);
                w.bytes(&s.0);
                w.u8(0);
            }
        }
    }
}

impl BinDecode for Destination {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        if r.peek_u8()? == 3 {
            r.u8()?;
            let s = SmartRollupAddress(r.array()?);
            if r.u8()? != 0 {
                return Err(r.invalid("destination padding byte"));
            }
            Ok(Self::SmartRollup(s))
        } else {
            Contract::bin_read(r).map(Self::Contract)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOTSTRAP1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";

    #[test]
    fn pkh_roundtrip() {
        let p: PublicKeyHash = BOOTSTRAP1.parse().unwrap();
        assert_eq!(
            hex::encode(p.to_bin()),
            "0002298c03ed7d454a101eb7022bc95f7e5f41ac78"
        );
        assert_eq!(p.to_string(), BOOTSTRAP1);
        assert_eq!(PublicKeyHash::from_bin(&p.to_bin()).unwrap(), p);
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(j, format!("\"{BOOTSTRAP1}\""));
        assert_eq!(serde_json::from_str::<PublicKeyHash>(&j).unwrap(), p);
        // tz4 from the octez-codec publish vector (l1-and-signer.md §2.6).
        let t4: PublicKeyHash = "tz4Quq6VcCeJVmCknjzTX5kcrhUzcMruoavF".parse().unwrap();
        assert_eq!(
            hex::encode(t4.to_bin()),
            "03ae7b7d713977a27ec643969f0c2e665ba9ad9aa1"
        );
        let t1: PublicKeyHash = "tz1gjaF81ZRRvdzjobyfVNsAeSC6PScjfQwN".parse().unwrap();
        assert_eq!(
            hex::encode(t1.to_bin()),
            "00e7670f32038107a59a2b9cfefae36ea21f5aa63c"
        );
        assert!(PublicKeyHash::from_bin(&[5; 21]).is_err());
        assert!(
            "KT1BEqzn5Wx8uJrZNvuS9DVHmLvG9td3fDLi"
                .parse::<PublicKeyHash>()
                .is_err()
        );
    }

    #[test]
    fn contracts() {
        let c: Contract = BOOTSTRAP1.parse().unwrap();
        assert_eq!(
            hex::encode(c.to_bin()),
            "000002298c03ed7d454a101eb7022bc95f7e5f41ac78"
        );
        let kt = Contract::Originated(ContractHash([7; 20]));
        let b = kt.to_bin();
        assert_eq!(b.len(), 22);
        assert_eq!(Contract::from_bin(&b).unwrap(), kt);
        assert_eq!(kt.to_string().parse::<Contract>().unwrap(), kt);
        let mut bad = b;
        bad[21] = 1;
        assert!(Contract::from_bin(&bad).is_err());
    }

    #[test]
    fn destinations() {
        for s in [
            BOOTSTRAP1,
            "KT1BEqzn5Wx8uJrZNvuS9DVHmLvG9td3fDLi",
            "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf",
        ] {
            let d: Destination = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
            assert_eq!(Destination::from_bin(&d.to_bin()).unwrap(), d);
        }
        let d: Destination = "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap();
        assert_eq!(
            hex::encode(d.to_bin()),
            "0374f8952e7a287d78e8dceec67547bd00a278abbf00"
        );
        assert!(Destination::from_bin(&[4; 22]).is_err());
    }

    #[test]
    fn typed_hashes() {
        let b: BlockHash = "BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2"
            .parse()
            .unwrap();
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            "\"BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2\""
        );
        assert_eq!(
            CommitmentHash::ZERO.to_string(),
            "src12UJzB8mg7yU6nWPzicH7ofJbFjyJEbHvwtZdfRXi8DQHNp1LY8"
        );
        // Protocol hash and chain id of mainnet must parse.
        "PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY"
            .parse::<ProtocolHash>()
            .unwrap();
        let c: ChainId = "NetXdQprcVkpaWU".parse().unwrap();
        assert_eq!(c.to_string(), "NetXdQprcVkpaWU");
        assert!("NetXdQprcVkpaWU".parse::<BlockHash>().is_err());
        // l1-and-signer.md §3.5: SOL message hash = Blake2b-256 of 0001.
        assert_eq!(
            InboxMessageHash::hash_bytes(&[0, 1]).to_string(),
            "srib32fy7RRGLqvJx3UpPuyZ3eHyBWJfCzGga1KSoGdieUmsz7dFp9B"
        );
    }

    #[test]
    fn mainnet_chain_id_from_genesis() {
        // Mainnet genesis block BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2 gives
        // chain id NetXdQprcVkpaWU.
        let g: BlockHash = "BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2"
            .parse()
            .unwrap();
        assert_eq!(ChainId::of_block_hash(&g).to_string(), "NetXdQprcVkpaWU");
    }
}
