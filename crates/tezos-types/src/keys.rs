//! Public keys, secret keys and signatures (tz1 Ed25519, tz2 secp256k1, tz3 P-256, tz4 BLS).
//!
//! Rules (l1-and-signer.md §0, §2.1, §5.5; Octez `src/lib_crypto/{ed25519,secp256k1,p256,bls,
//! signature_v3}.ml`):
//! * public key binary = tag (0 ed25519, 1 secp256k1, 2 p256, 3 bls) + key (32/33/33/48 bytes);
//!   pkh = Blake2b-160 of the untagged key bytes.
//! * Ed25519, secp256k1, P-256 sign `Blake2b-256(watermark ‖ msg)`: Ed25519 over the 32-byte
//!   digest, ECDSA with the digest as prehash, signatures `r ‖ s` (64 bytes). secp256k1
//!   signatures are low-S normalised, and high-S ones rejected (libsecp256k1 behaviour).
//! * BLS (min-pk, proof-of-possession ciphersuite) signs `watermark ‖ msg` itself (no prehash)
//!   with DST `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`; a proof of possession signs the
//!   48-byte public key with DST `BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`.
//! * Operations are signed with watermark `0x03` ([`Watermark::GenericOperation`]).
//!
//! ML-DSA-44 (tz5) is not supported.

use crate::b58::{self, B58Error, Prefix, prefix};
use crate::encoding::{
    BinDecode, BinEncode, DecodeError, DecodeErrorKind, DecodeResult, Reader, Writer,
};
use crate::hash::{ChainId, PublicKeyHash, blake2b};
use std::fmt;
use std::str::FromStr;

/// DST of BLS signatures (min-pk, proof-of-possession scheme).
pub const BLS_SIG_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// DST of BLS proofs of possession.
pub const BLS_POP_DST: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// A signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Curve {
    /// Ed25519 (`tz1`).
    Ed25519,
    /// secp256k1 (`tz2`).
    Secp256k1,
    /// NIST P-256 (`tz3`).
    P256,
    /// BLS12-381 min-pk (`tz4`).
    Bls,
}

impl FromStr for Curve {
    type Err = KeyError;
    /// Parses the names used by `octez-client gen keys --sig`.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s {
            "ed25519" => Ok(Self::Ed25519),
            "secp256k1" => Ok(Self::Secp256k1),
            "p256" | "P-256" => Ok(Self::P256),
            "bls" => Ok(Self::Bls),
            _ => Err(KeyError::UnknownCurve(s.to_owned())),
        }
    }
}

/// Key parsing / signing errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Bad base58check text.
    #[error(transparent)]
    B58(#[from] B58Error),
    /// Bytes that are not a valid key for the curve.
    #[error("invalid {0} key")]
    InvalidKey(&'static str),
    /// Bytes that are not a valid signature.
    #[error("invalid signature bytes")]
    InvalidSignature,
    /// Unknown secret key URI scheme (only `unencrypted:` is supported).
    #[error("unsupported secret key URI {0:?} (only unencrypted: is supported)")]
    UnsupportedUri(String),
    /// Unknown curve name.
    #[error("unknown signature algorithm {0:?}")]
    UnknownCurve(String),
    /// The OS random source failed.
    #[error("random generator failure")]
    Random,
}

/// What is prepended to a message before signing (`signature_v3.ml`, `bytes_of_watermark`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watermark {
    /// `0x01 ‖ chain_id` (legacy block header).
    BlockHeader(ChainId),
    /// `0x02 ‖ chain_id` (legacy endorsement).
    Endorsement(ChainId),
    /// `0x03`: manager operations.
    GenericOperation,
    /// Raw bytes (e.g. `0x11 ‖ chain_id` for Tenderbake blocks).
    Custom(Vec<u8>),
}

impl Watermark {
    /// The bytes to prepend.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::BlockHeader(c) => [&[1u8][..], &c.0].concat(),
            Self::Endorsement(c) => [&[2u8][..], &c.0].concat(),
            Self::GenericOperation => vec![3],
            Self::Custom(b) => b.clone(),
        }
    }
}

/// A public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PublicKey {
    /// `edpk…`, 32 bytes.
    Ed25519([u8; 32]),
    /// `sppk…`, 33-byte compressed point.
    Secp256k1([u8; 33]),
    /// `p2pk…`, 33-byte compressed point.
    P256([u8; 33]),
    /// `BLpk…`, 48-byte compressed G1 point.
    Bls([u8; 48]),
}

impl PublicKey {
    /// The curve.
    pub fn curve(&self) -> Curve {
        match self {
            Self::Ed25519(_) => Curve::Ed25519,
            Self::Secp256k1(_) => Curve::Secp256k1,
            Self::P256(_) => Curve::P256,
            Self::Bls(_) => Curve::Bls,
        }
    }
    /// Untagged key bytes.
    pub fn raw(&self) -> &[u8] {
        match self {
            Self::Ed25519(k) => k,
            Self::Secp256k1(k) | Self::P256(k) => k,
            Self::Bls(k) => k,
        }
    }
    fn prefix(&self) -> &'static Prefix {
        match self {
            Self::Ed25519(_) => &prefix::EDPK,
            Self::Secp256k1(_) => &prefix::SPPK,
            Self::P256(_) => &prefix::P2PK,
            Self::Bls(_) => &prefix::BLPK,
        }
    }
    /// The public key hash: Blake2b-160 of the untagged key.
    pub fn hash(&self) -> PublicKeyHash {
        let h = blake2b::<20>(&[self.raw()]);
        match self {
            Self::Ed25519(_) => PublicKeyHash::Ed25519(h),
            Self::Secp256k1(_) => PublicKeyHash::Secp256k1(h),
            Self::P256(_) => PublicKeyHash::P256(h),
            Self::Bls(_) => PublicKeyHash::Bls(h),
        }
    }
    /// The base58check text.
    pub fn to_b58check(&self) -> String {
        b58::encode(self.prefix(), self.raw())
    }
    /// Parses `edpk…`/`sppk…`/`p2pk…`/`BLpk…` (point validity is checked).
    pub fn from_b58check(s: &str) -> Result<Self, KeyError> {
        let (p, payload) = b58::decode_any(s)?;
        let pk = if *p == prefix::EDPK {
            Self::Ed25519(to_array(&payload)?)
        } else if *p == prefix::SPPK {
            Self::Secp256k1(to_array(&payload)?)
        } else if *p == prefix::P2PK {
            Self::P256(to_array(&payload)?)
        } else if *p == prefix::BLPK {
            Self::Bls(to_array(&payload)?)
        } else {
            return Err(B58Error::WrongPrefix {
                expected: "edpk|sppk|p2pk|BLpk",
                len: 32,
            }
            .into());
        };
        pk.validate()?;
        Ok(pk)
    }

    /// Checks that the bytes are a valid point of the curve.
    pub fn validate(&self) -> Result<(), KeyError> {
        let ok = match self {
            Self::Ed25519(k) => ed25519_dalek::VerifyingKey::from_bytes(k).is_ok(),
            Self::Secp256k1(k) => k256::ecdsa::VerifyingKey::from_sec1_bytes(k).is_ok(),
            Self::P256(k) => p256::ecdsa::VerifyingKey::from_sec1_bytes(k).is_ok(),
            Self::Bls(k) => blst::min_pk::PublicKey::key_validate(k).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(KeyError::InvalidKey(curve_name(self.curve())))
        }
    }

    /// Verifies `signature` over `watermark ‖ msg` (see the module rules).
    pub fn verify(&self, watermark: Option<&Watermark>, msg: &[u8], signature: &Signature) -> bool {
        let mut data = watermark.map(Watermark::to_bytes).unwrap_or_default();
        data.extend_from_slice(msg);
        self.verify_raw(&data, signature)
    }

    /// Verifies `signature` over exactly `data`.
    pub fn verify_raw(&self, data: &[u8], signature: &Signature) -> bool {
        let digest = || blake2b::<32>(&[data]);
        match (self, signature) {
            (Self::Ed25519(k), Signature::Ed25519(s) | Signature::Generic(s)) => {
                let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(k) else {
                    return false;
                };
                let sig = ed25519_dalek::Signature::from_bytes(s);
                vk.verify_strict(&digest(), &sig).is_ok()
            }
            (Self::Secp256k1(k), Signature::Secp256k1(s) | Signature::Generic(s)) => {
                use k256::ecdsa::signature::hazmat::PrehashVerifier;
                let (Ok(vk), Ok(sig)) = (
                    k256::ecdsa::VerifyingKey::from_sec1_bytes(k),
                    k256::ecdsa::Signature::from_slice(s),
                ) else {
                    return false;
                };
                if sig.normalize_s().is_some() {
                    return false; // high-S: rejected like libsecp256k1
                }
                vk.verify_prehash(&digest(), &sig).is_ok()
            }
            (Self::P256(k), Signature::P256(s) | Signature::Generic(s)) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier;
                let (Ok(vk), Ok(sig)) = (
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(k),
                    p256::ecdsa::Signature::from_slice(s),
                ) else {
                    return false;
                };
                vk.verify_prehash(&digest(), &sig).is_ok()
            }
            (Self::Bls(k), Signature::Bls(s)) => {
                let (Ok(pk), Ok(sig)) = (
                    blst::min_pk::PublicKey::key_validate(k),
                    blst::min_pk::Signature::from_bytes(s),
                ) else {
                    return false;
                };
                sig.verify(true, data, BLS_SIG_DST, &[], &pk, false)
                    == blst::BLST_ERROR::BLST_SUCCESS
            }
            _ => false,
        }
    }

    /// Verifies a BLS proof of possession of this key (signature of the key bytes).
    pub fn verify_bls_pop(&self, proof: &Signature) -> bool {
        let (Self::Bls(k), Signature::Bls(s)) = (self, proof) else {
            return false;
        };
        let (Ok(pk), Ok(sig)) = (
            blst::min_pk::PublicKey::key_validate(k),
            blst::min_pk::Signature::from_bytes(s),
        ) else {
            return false;
        };
        sig.verify(true, k, BLS_POP_DST, &[], &pk, false) == blst::BLST_ERROR::BLST_SUCCESS
    }
}

fn to_array<const N: usize>(b: &[u8]) -> Result<[u8; N], KeyError> {
    b.try_into().map_err(|_| KeyError::InvalidKey("length"))
}

fn curve_name(c: Curve) -> &'static str {
    match c {
        Curve::Ed25519 => "ed25519",
        Curve::Secp256k1 => "secp256k1",
        Curve::P256 => "p256",
        Curve::Bls => "bls",
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_b58check())
    }
}
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_b58check())
    }
}
impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::from_b58check(s)
    }
}
impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_b58check())
    }
}
impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_b58check(&s).map_err(serde::de::Error::custom)
    }
}

impl BinEncode for PublicKey {
    fn bin_write(&self, w: &mut Writer) {
        w.u8(match self {
            Self::Ed25519(_) => 0,
            Self::Secp256k1(_) => 1,
            Self::P256(_) => 2,
            Self::Bls(_) => 3,
        });
        w.bytes(self.raw());
    }
}

impl BinDecode for PublicKey {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let start = r.position();
        let pk = match r.u8()? {
            0 => Self::Ed25519(r.array()?),
            1 => Self::Secp256k1(r.array()?),
            2 => Self::P256(r.array()?),
            3 => Self::Bls(r.array()?),
            t => {
                return Err(DecodeError {
                    offset: start,
                    kind: DecodeErrorKind::InvalidTag {
                        what: "public key",
                        tag: t.into(),
                    },
                });
            }
        };
        pk.validate().map_err(|e| DecodeError {
            offset: start,
            kind: DecodeErrorKind::Invalid(e.to_string()),
        })?;
        Ok(pk)
    }
}

/// A signature, curve-tagged when known (`Generic` = the 64-byte `sig…` form).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signature {
    /// `edsig…`.
    Ed25519([u8; 64]),
    /// `spsig1…`.
    Secp256k1([u8; 64]),
    /// `p2sig…`.
    P256([u8; 64]),
    /// `BLsig…` (96 bytes).
    Bls([u8; 96]),
    /// `sig…`: 64 bytes of unknown curve.
    Generic([u8; 64]),
}

impl Signature {
    /// The raw bytes (64 or 96).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Ed25519(s) | Self::Secp256k1(s) | Self::P256(s) | Self::Generic(s) => s,
            Self::Bls(s) => s,
        }
    }
    /// From raw bytes: 64 bytes give `Generic`, 96 give `Bls`.
    pub fn from_bytes(b: &[u8]) -> Result<Self, KeyError> {
        match b.len() {
            64 => Ok(Self::Generic(
                to_array(b).map_err(|_| KeyError::InvalidSignature)?,
            )),
            96 => Ok(Self::Bls(
                to_array(b).map_err(|_| KeyError::InvalidSignature)?,
            )),
            _ => Err(KeyError::InvalidSignature),
        }
    }
    /// Re-tags a 64-byte signature for `curve` (e.g. after binary decoding, which yields
    /// `Generic`); BLS signatures and mismatched lengths are returned unchanged.
    pub fn with_curve(self, curve: Curve) -> Self {
        match (self, curve) {
            (Self::Bls(_), _) => self,
            (
                Self::Ed25519(s) | Self::Secp256k1(s) | Self::P256(s) | Self::Generic(s),
                Curve::Ed25519,
            ) => Self::Ed25519(s),
            (
                Self::Ed25519(s) | Self::Secp256k1(s) | Self::P256(s) | Self::Generic(s),
                Curve::Secp256k1,
            ) => Self::Secp256k1(s),
            (
                Self::Ed25519(s) | Self::Secp256k1(s) | Self::P256(s) | Self::Generic(s),
                Curve::P256,
            ) => Self::P256(s),
            (s, Curve::Bls) => s,
        }
    }

    /// The all-zero 64-byte signature (used for unsigned operations in binary simulation).
    pub const ZERO: Self = Self::Generic([0; 64]);

    /// The base58check text (curve-specific prefix, `sig` for `Generic`).
    pub fn to_b58check(&self) -> String {
        let p = match self {
            Self::Ed25519(_) => &prefix::EDSIG,
            Self::Secp256k1(_) => &prefix::SPSIG,
            Self::P256(_) => &prefix::P2SIG,
            Self::Bls(_) => &prefix::BLSIG,
            Self::Generic(_) => &prefix::SIG,
        };
        b58::encode(p, self.as_bytes())
    }
    /// Parses `edsig…`/`spsig1…`/`p2sig…`/`BLsig…`/`sig…`.
    pub fn from_b58check(s: &str) -> Result<Self, KeyError> {
        let (p, payload) = b58::decode_any(s)?;
        let bad = || KeyError::InvalidSignature;
        Ok(if *p == prefix::EDSIG {
            Self::Ed25519(to_array(&payload).map_err(|_| bad())?)
        } else if *p == prefix::SPSIG {
            Self::Secp256k1(to_array(&payload).map_err(|_| bad())?)
        } else if *p == prefix::P2SIG {
            Self::P256(to_array(&payload).map_err(|_| bad())?)
        } else if *p == prefix::SIG {
            Self::Generic(to_array(&payload).map_err(|_| bad())?)
        } else if *p == prefix::BLSIG {
            Self::Bls(to_array(&payload).map_err(|_| bad())?)
        } else {
            return Err(bad());
        })
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_b58check())
    }
}
impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_b58check())
    }
}
impl FromStr for Signature {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::from_b58check(s)
    }
}
impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_b58check())
    }
}
impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_b58check(&s).map_err(serde::de::Error::custom)
    }
}

/// A secret key. `Debug` never prints the key.
#[derive(Clone)]
pub enum SecretKey {
    /// Ed25519 (`edsk…`).
    Ed25519(ed25519_dalek::SigningKey),
    /// secp256k1 (`spsk…`).
    Secp256k1(k256::ecdsa::SigningKey),
    /// P-256 (`p2sk…`).
    P256(p256::ecdsa::SigningKey),
    /// BLS12-381 (`BLsk…`).
    Bls(blst::min_pk::SecretKey),
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretKey({:?}, pkh {})",
            self.curve(),
            self.public_key_hash()
        )
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.curve() == other.curve() && self.to_bytes() == other.to_bytes()
    }
}
impl Eq for SecretKey {}

impl SecretKey {
    /// The curve.
    pub fn curve(&self) -> Curve {
        match self {
            Self::Ed25519(_) => Curve::Ed25519,
            Self::Secp256k1(_) => Curve::Secp256k1,
            Self::P256(_) => Curve::P256,
            Self::Bls(_) => Curve::Bls,
        }
    }

    /// The 32 secret bytes (Ed25519 seed; big-endian scalar for the others).
    ///
    /// For BLS, Octez stores the scalar little-endian in `BLsk…` (see [`Self::to_b58check`]).
    pub fn to_bytes(&self) -> [u8; 32] {
        match self {
            Self::Ed25519(k) => k.to_bytes(),
            Self::Secp256k1(k) => k.to_bytes().into(),
            Self::P256(k) => k.to_bytes().into(),
            Self::Bls(k) => k.to_bytes(),
        }
    }

    /// From a curve and its 32 secret bytes, as [`Self::to_bytes`] returns them.
    pub fn from_bytes(curve: Curve, b: &[u8; 32]) -> Result<Self, KeyError> {
        let bad = || KeyError::InvalidKey(curve_name(curve));
        Ok(match curve {
            Curve::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(b)),
            Curve::Secp256k1 => {
                Self::Secp256k1(k256::ecdsa::SigningKey::from_slice(b).map_err(|_| bad())?)
            }
            Curve::P256 => Self::P256(p256::ecdsa::SigningKey::from_slice(b).map_err(|_| bad())?),
            Curve::Bls => Self::Bls(blst::min_pk::SecretKey::from_bytes(b).map_err(|_| bad())?),
        })
    }

    /// Deterministic key from a 32-byte seed: the seed itself for Ed25519, the seed as scalar
    /// for the ECDSA curves (fails if out of range), `KeyGen(seed)` (IETF BLS) for BLS.
    pub fn from_seed(curve: Curve, seed: &[u8; 32]) -> Result<Self, KeyError> {
        match curve {
            Curve::Bls => blst::min_pk::SecretKey::key_gen(seed, &[])
                .map(Self::Bls)
                .map_err(|_| KeyError::InvalidKey("bls")),
            _ => Self::from_bytes(curve, seed),
        }
    }

    /// A fresh key from the OS random source.
    pub fn generate(curve: Curve) -> Result<Self, KeyError> {
        loop {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|_| KeyError::Random)?;
            match Self::from_seed(curve, &seed) {
                Ok(k) => return Ok(k),
                Err(KeyError::InvalidKey(_)) => continue, // scalar out of range: redraw
                Err(e) => return Err(e),
            }
        }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Ed25519(k) => PublicKey::Ed25519(k.verifying_key().to_bytes()),
            Self::Secp256k1(k) => {
                let p = k.verifying_key().to_encoded_point(true);
                PublicKey::Secp256k1(p.as_bytes().try_into().unwrap_or([0; 33]))
            }
            Self::P256(k) => {
                let p = k.verifying_key().to_encoded_point(true);
                PublicKey::P256(p.as_bytes().try_into().unwrap_or([0; 33]))
            }
            Self::Bls(k) => PublicKey::Bls(k.sk_to_pk().compress()),
        }
    }

    /// The public key hash.
    pub fn public_key_hash(&self) -> PublicKeyHash {
        self.public_key().hash()
    }

    /// The base58check text (`edsk…` 32-byte seed form, `spsk…`, `p2sk…`, `BLsk…`).
    ///
    /// `BLsk…` holds the scalar in little-endian order (Octez `Bls12_381` `sk_to_bytes`).
    pub fn to_b58check(&self) -> String {
        match self {
            Self::Ed25519(k) => b58::encode(&prefix::EDSK, &k.to_bytes()),
            Self::Secp256k1(_) => b58::encode(&prefix::SPSK, &self.to_bytes()),
            Self::P256(_) => b58::encode(&prefix::P2SK, &self.to_bytes()),
            Self::Bls(_) => {
                let mut b = self.to_bytes();
                b.reverse();
                b58::encode(&prefix::BLSK, &b)
            }
        }
    }

    /// Parses `edsk…` (32-byte seed or 64-byte form), `spsk…`, `p2sk…`, `BLsk…`.
    pub fn from_b58check(s: &str) -> Result<Self, KeyError> {
        let (p, payload) = b58::decode_any(s)?;
        let arr = |b: &[u8]| -> Result<[u8; 32], KeyError> {
            b.get(..32)
                .and_then(|x| x.try_into().ok())
                .ok_or(KeyError::InvalidKey("length"))
        };
        if *p == prefix::EDSK {
            Self::from_bytes(Curve::Ed25519, &arr(&payload)?)
        } else if *p == prefix::EDSK64 {
            let k = Self::from_bytes(Curve::Ed25519, &arr(&payload)?)?;
            // The second half must be the matching public key.
            if k.public_key().raw() != &payload[32..] {
                return Err(KeyError::InvalidKey("ed25519"));
            }
            Ok(k)
        } else if *p == prefix::SPSK {
            Self::from_bytes(Curve::Secp256k1, &arr(&payload)?)
        } else if *p == prefix::P2SK {
            Self::from_bytes(Curve::P256, &arr(&payload)?)
        } else if *p == prefix::BLSK {
            let mut b = arr(&payload)?;
            b.reverse();
            Self::from_bytes(Curve::Bls, &b)
        } else {
            Err(B58Error::WrongPrefix {
                expected: "edsk|spsk|p2sk|BLsk",
                len: 32,
            }
            .into())
        }
    }

    /// Parses a secret key URI; only `unencrypted:<b58>` is supported.
    pub fn from_uri(uri: &str) -> Result<Self, KeyError> {
        match uri.strip_prefix("unencrypted:") {
            Some(k) => Self::from_b58check(k),
            None => Err(KeyError::UnsupportedUri(
                uri.split(':').next().unwrap_or_default().to_owned(),
            )),
        }
    }

    /// The `unencrypted:<b58>` URI.
    pub fn to_uri(&self) -> String {
        format!("unencrypted:{}", self.to_b58check())
    }

    /// Signs exactly `data` (see the module rules for hashing).
    pub fn sign_raw(&self, data: &[u8]) -> Signature {
        let digest = || blake2b::<32>(&[data]);
        match self {
            Self::Ed25519(k) => {
                use ed25519_dalek::Signer;
                Signature::Ed25519(k.sign(&digest()).to_bytes())
            }
            Self::Secp256k1(k) => {
                use k256::ecdsa::signature::hazmat::PrehashSigner;
                // RFC 6979 deterministic nonces; k256 returns low-S, normalise anyway.
                let sig: k256::ecdsa::Signature = match k.sign_prehash(&digest()) {
                    Ok(s) => s,
                    Err(_) => return Signature::Secp256k1([0; 64]),
                };
                let sig = sig.normalize_s().unwrap_or(sig);
                Signature::Secp256k1(sig.to_bytes().into())
            }
            Self::P256(k) => {
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let sig: p256::ecdsa::Signature = match k.sign_prehash(&digest()) {
                    Ok(s) => s,
                    Err(_) => return Signature::P256([0; 64]),
                };
                let sig = sig.normalize_s().unwrap_or(sig);
                Signature::P256(sig.to_bytes().into())
            }
            Self::Bls(k) => Signature::Bls(k.sign(data, BLS_SIG_DST, &[]).compress()),
        }
    }

    /// Signs `watermark ‖ msg`.
    pub fn sign(&self, watermark: Option<&Watermark>, msg: &[u8]) -> Signature {
        let mut data = watermark.map(Watermark::to_bytes).unwrap_or_default();
        data.extend_from_slice(msg);
        self.sign_raw(&data)
    }

    /// Signs unsigned operation bytes with the generic-operation watermark `0x03`.
    pub fn sign_operation(&self, unsigned_operation: &[u8]) -> Signature {
        self.sign(Some(&Watermark::GenericOperation), unsigned_operation)
    }

    /// BLS proof of possession (signature of the public key bytes); `None` for other curves.
    pub fn bls_proof_of_possession(&self) -> Option<Signature> {
        match self {
            Self::Bls(k) => {
                let pk = k.sk_to_pk().compress();
                Some(Signature::Bls(k.sign(&pk, BLS_POP_DST, &[]).compress()))
            }
            _ => None,
        }
    }
}

impl FromStr for SecretKey {
    type Err = KeyError;
    /// Accepts a bare b58 key or an `unencrypted:` URI.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        if s.contains(':') {
            Self::from_uri(s)
        } else {
            Self::from_b58check(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B1_SK: &str = "edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh";
    const B1_PK: &str = "edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav";
    const B1_PKH: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";

    /// Known (secret, public, pkh) triples: Octez tezt accounts and signatory docs.
    const TRIPLES: &[(&str, &str, &str)] = &[
        (B1_SK, B1_PK, B1_PKH),
        (
            "unencrypted:spsk1XYsTqUsd7LaLs9a8qpmCvLVJeLEZEXkeAZS5dwcKgUZhv3cYw",
            "sppk7cvVVMRRtYTdriTB6KQqpXZt9TUwSTcpMWq4FwpvG2eVZ56UuHP",
            "tz2QPsZoZse4eeahhg5DdfnBDB4VbU1PwgxN",
        ),
        (
            "unencrypted:p2sk2rUMnnnFPQCB7DBozkCZrFhiZ87ddrpAHbRcww7dwU2WHYUbci",
            // The source lists a truncated p2pk (51 chars); the pkh is the independent check.
            "p2pk65pxFqFj1N66zRRQtdbEJWHMH5hRv4WsRkaGWQJtZ5bv8nVx6Dg",
            "tz3ZbCsUveF3Q6WUNkThT1wyJyhPunanaAXK",
        ),
        (
            "unencrypted:BLsk1XMDG3iepYGj15mBWc7dYjrkpVVM4VH3y5DyBCN9iAGrELwRbY",
            "BLpk1nRV5SBB2QCxsiem5Neoywcizr3mkdp167HL1iKFgFvzPhKo4RSy7J8JBh2BgGgVYjNsRGwU",
            "tz4XXtsYav3fZz2FSDa7hcx4F8sh8SaDWNME",
        ),
        (
            "BLsk1hKAHyGqY9qRbgoSVnjiSmDWpKGjFF3WNQ7BaiaMUA6RMA6Pfq",
            "BLpk1yUiLJ7RezbyViD5ZvWTfQndM3TRRYmvYWkUfH2EJqsLFnzzvpJss6pbuz3U1DDMpk8v16nV",
            "tz4EECtMxAuJ9UDLaiMZH7G1GCFYUWsj8HZn",
        ),
    ];

    #[test]
    fn known_key_triples() {
        for (sk, pk, pkh) in TRIPLES {
            let k: SecretKey = sk.parse().unwrap();
            assert_eq!(k.public_key_hash().to_string(), *pkh, "{sk}");
            assert_eq!(k.public_key().to_string(), *pk, "{sk}");
            let bare = sk.strip_prefix("unencrypted:").unwrap_or(sk);
            assert_eq!(k.to_b58check(), bare);
            let p: PublicKey = pk.parse().unwrap();
            assert_eq!(p.hash().to_string(), *pkh);
            assert_eq!(PublicKey::from_bin(&p.to_bin()).unwrap(), p);
        }
    }

    #[test]
    fn ed25519_fixed_signatures() {
        let k: SecretKey = B1_SK.parse().unwrap();
        // l1-and-signer.md §5.5: `octez-client sign bytes 0x03 for bootstrap1`.
        let s = k.sign_raw(&[3]);
        assert_eq!(
            s.to_string(),
            "edsigtzxo2Q7wFiEjausSp7pKUXLK9PnPqf8rHEKdc18HtNVbZSg5WJyFJwk14w7mykCsq3nV5iB6Eo4gTX3y8Dv8tkn1EadRj7"
        );
        // §2.4: the add_messages operation.
        let op = hex::decode("8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00bc90002298c03ed7d454a101eb7022bc95f7e5f41ac78910301cc08000000000f0000000548656c6c6f0000000200ff").unwrap();
        let s = k.sign_operation(&op);
        assert_eq!(
            s.to_string(),
            "edsigtkVb5NTpu9qZXb82AG4UE1p8FzYN3M5Yzfa2KGy9sDmpfTs6D2eHaoPnh2VVWLxTErsZtiNdqpMF44EGUEVCxsive3uszA"
        );
        let pk = k.public_key();
        assert!(pk.verify(Some(&Watermark::GenericOperation), &op, &s));
        assert!(!pk.verify(None, &op, &s));
        let generic = Signature::from_bytes(s.as_bytes()).unwrap();
        assert!(generic.to_string().starts_with("sig"));
        assert_eq!(generic.with_curve(Curve::Ed25519), s);
        assert!(pk.verify(Some(&Watermark::GenericOperation), &op, &generic));
        assert_eq!(
            hex::encode(pk.to_bin()),
            "004798d2cc98473d7e250c898885718afd2e4efbcb1a1595ab9730761ed830de0f"
        );
    }

    #[test]
    fn sign_verify_all_curves() {
        for (sk, _, _) in TRIPLES {
            let k: SecretKey = sk.parse().unwrap();
            let pk = k.public_key();
            let s = k.sign_operation(b"hello");
            assert!(
                pk.verify(Some(&Watermark::GenericOperation), b"hello", &s),
                "{sk}"
            );
            assert!(
                !pk.verify(Some(&Watermark::GenericOperation), b"hellO", &s),
                "{sk}"
            );
            let back: Signature = s.to_string().parse().unwrap();
            assert_eq!(back, s);
            // Another curve's key never verifies it.
            let other: SecretKey = B1_SK.parse().unwrap();
            if k.curve() != Curve::Ed25519 {
                assert!(!other.public_key().verify_raw(b"x", &s));
            }
        }
    }

    #[test]
    fn secp256k1_low_s() {
        let k: SecretKey = TRIPLES[1].0.parse().unwrap();
        let pk = k.public_key();
        for i in 0u8..20 {
            let s = k.sign_raw(&[i]);
            let Signature::Secp256k1(b) = s else { panic!() };
            let sig = k256::ecdsa::Signature::from_slice(&b).unwrap();
            assert!(sig.normalize_s().is_none(), "signature must be low-S");
            // The high-S twin (s' = n - s) is rejected.
            let (r, s_) = sig.split_scalars();
            let high = k256::ecdsa::Signature::from_scalars(r, -(*s_)).unwrap();
            let mut hb = [0u8; 64];
            hb.copy_from_slice(&high.to_bytes());
            assert!(!pk.verify_raw(&[i], &Signature::Secp256k1(hb)));
            assert!(pk.verify_raw(&[i], &s));
        }
    }

    #[test]
    fn bls_pop_and_generation() {
        let k: SecretKey = TRIPLES[3].0.parse().unwrap();
        let pop = k.bls_proof_of_possession().unwrap();
        assert!(k.public_key().verify_bls_pop(&pop));
        assert!(!k.public_key().verify_raw(k.public_key().raw(), &pop));
        for c in [Curve::Ed25519, Curve::Secp256k1, Curve::P256, Curve::Bls] {
            let g = SecretKey::generate(c).unwrap();
            assert_eq!(g.curve(), c);
            let again: SecretKey = g.to_uri().parse().unwrap();
            assert_eq!(again, g);
            let s = g.sign(None, b"m");
            assert!(g.public_key().verify(None, b"m", &s));
        }
        assert!(
            B1_SK
                .parse::<SecretKey>()
                .unwrap()
                .bls_proof_of_possession()
                .is_none()
        );
    }

    /// The tz4 reveal of the octez-codec vectors (`sdk/rust/protocol/src/operation.rs`)
    /// carries a proof of possession; it checks the POP DST and min-pk layout.
    #[test]
    fn octez_bls_proof_of_possession() {
        let pk: PublicKey =
            "BLpk1qUhA8WwcwKavKJb3nkPVeKj5FGCsruWQXyRpwypxe7ocbq6Npe4cjA2TLfqzgBKfRAtBajV"
                .parse()
                .unwrap();
        assert_eq!(
            pk.hash().to_string(),
            "tz4N581kB4vkDANA7WTN6tcnBeCDawv1k4Cy"
        );
        let proof: Signature = "BLsigAKrfg6QLipEvWQrhPRHbWo7x8YLFvteATg65gbvpfo9qKSabb5j92nozhecDkxvnvocv6q2WUUFvoKxkZuCaTNUUGpJPbc7igdf7MUi8fSovaLbWzZEDVGLjon7ZNPZPDpwf6h9jT".parse().unwrap();
        assert!(pk.verify_bls_pop(&proof));
    }

    #[test]
    fn malformed_keys() {
        assert!(matches!(
            SecretKey::from_uri("encrypted:edesk1..."),
            Err(KeyError::UnsupportedUri(_))
        ));
        assert!(B1_PKH.parse::<PublicKey>().is_err());
        assert!(B1_PK.parse::<SecretKey>().is_err());
        // Invalid curve point.
        let bad = b58::encode(&prefix::SPPK, &[0x05; 33]);
        assert!(bad.parse::<PublicKey>().is_err());
        assert!(PublicKey::from_bin(&[9; 33]).is_err());
        assert!(Signature::from_bytes(&[0; 63]).is_err());
        assert!("edsig".parse::<Signature>().is_err());
        // Zero scalar is not a valid ECDSA key.
        assert!(SecretKey::from_bytes(Curve::Secp256k1, &[0; 32]).is_err());
    }
}
