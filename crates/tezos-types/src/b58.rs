//! Base58check with the Tezos prefixes.
//!
//! Rule (l1-and-signer.md §4): `base58(prefix ‖ payload ‖ sha256(sha256(prefix ‖ payload))[0..4])`.
//! Every prefix has a fixed payload length; decoding checks the checksum, the prefix bytes and the
//! payload length. Prefix bytes come from Octez `src/lib_crypto/base58.ml` (table in §4).

use sha2::{Digest, Sha256};

/// A base58check prefix: the leading bytes, the payload length, and the human-readable start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// Leading raw bytes, prepended to the payload before encoding.
    pub bytes: &'static [u8],
    /// Payload length in bytes.
    pub payload_len: usize,
    /// What the encoded string starts with (e.g. `"tz1"`), for messages and detection.
    pub text: &'static str,
}

macro_rules! prefixes {
    ($($(#[$m:meta])* $name:ident = [$($b:expr),*], $len:expr, $text:expr;)*) => {
        $( $(#[$m])* pub const $name: Prefix = Prefix { bytes: &[$($b),*], payload_len: $len, text: $text }; )*
        /// Every known prefix, in declaration order (used by [`decode_any`](super::decode_any)).
        pub const ALL: &[Prefix] = &[$($name),*];
    };
}

/// The prefix constants (l1-and-signer.md §4).
pub mod prefix {
    use super::Prefix;
    prefixes! {
        /// Block hash `B…`.
        BLOCK_HASH = [0x01, 0x34], 32, "B";
        /// Operation hash `o…`.
        OPERATION_HASH = [0x05, 0x74], 32, "o";
        /// Operation list hash `Lo…`.
        OPERATION_LIST_HASH = [0x85, 0xe9], 32, "Lo";
        /// Operation list list hash `LLo…`.
        OPERATION_LIST_LIST_HASH = [0x1d, 0x9f, 0x6d], 32, "LLo";
        /// Protocol hash `P…`.
        PROTOCOL_HASH = [0x02, 0xaa], 32, "P";
        /// Context hash `Co…`.
        CONTEXT_HASH = [0x4f, 0xc7], 32, "Co";
        /// Smart rollup node context hash `SRCo…` (`src/lib_smart_rollup/smart_rollup_context_hash.ml`).
        SMART_ROLLUP_CONTEXT_HASH = [0x08, 0xd1, 0xd8, 0xa6], 32, "SRCo";
        /// Block payload hash `vh…`.
        BLOCK_PAYLOAD_HASH = [0x01, 0x6a, 0xf2], 32, "vh";
        /// Chain id `Net…`.
        CHAIN_ID = [0x57, 0x52, 0x00], 4, "Net";
        /// Ed25519 public key hash `tz1…`.
        TZ1 = [0x06, 0xa1, 0x9f], 20, "tz1";
        /// secp256k1 public key hash `tz2…`.
        TZ2 = [0x06, 0xa1, 0xa1], 20, "tz2";
        /// P-256 public key hash `tz3…`.
        TZ3 = [0x06, 0xa1, 0xa4], 20, "tz3";
        /// BLS12-381 public key hash `tz4…`.
        TZ4 = [0x06, 0xa1, 0xa6], 20, "tz4";
        /// ML-DSA-44 public key hash `tz5…`.
        TZ5 = [0x06, 0xa1, 0xa9], 20, "tz5";
        /// Originated contract `KT1…`.
        KT1 = [0x02, 0x5a, 0x79], 20, "KT1";
        /// Smart rollup address `sr1…`.
        SMART_ROLLUP_ADDRESS = [0x06, 0x7c, 0x75], 20, "sr1";
        /// Smart rollup commitment hash `src1…`.
        COMMITMENT_HASH = [0x11, 0xa5, 0x86, 0x8a], 32, "src1";
        /// Smart rollup PVM state hash `srs1…`.
        STATE_HASH = [0x11, 0xa5, 0xeb, 0xf0], 32, "srs1";
        /// Smart rollup inbox hash (history cell) `srib1…`.
        INBOX_HASH = [0x03, 0xff, 0x8a, 0x91, 0x6e], 32, "srib1";
        /// Merkelized payload hashes hash (level witness) `srib2…`.
        MERKELIZED_PAYLOAD_HASHES_HASH = [0x03, 0xff, 0x8a, 0x91, 0x8c], 32, "srib2";
        /// Serialized inbox message hash `srib3…`.
        INBOX_MESSAGE_HASH = [0x03, 0xff, 0x8a, 0x91, 0xaa], 32, "srib3";
        /// Reveal data hash (Blake2B) `scrrh1…`.
        REVEAL_HASH = [0xe6, 0xce, 0x80, 0xc8, 0xc4], 32, "scrrh1";
        /// Rollup node batcher L2 message id `scmsg…`.
        L2_MESSAGE_ID = [0x03, 0xfa, 0xb3, 0xf7, 0xc4], 32, "scmsg";
        /// Injector operation id `iop…`.
        INJECTOR_OPERATION_ID = [0x40, 0x07, 0xce], 32, "iop";
        /// Script expression hash `expr…`.
        SCRIPT_EXPR_HASH = [0x0d, 0x2c, 0x40, 0x1b], 32, "expr";
        /// DAL slot header / commitment `sh…`.
        DAL_COMMITMENT = [0x02, 0x74, 0xb4], 48, "sh";
        /// DAL skip-list cell hash `dask1…` (`dal_slot_repr.ml`, `History.Pointer_hash`).
        DAL_SKIP_LIST_POINTER = [0x02, 0xe0, 0x48, 0x73, 0x23], 32, "dask1";
        /// Ed25519 public key `edpk…`.
        EDPK = [0x0d, 0x0f, 0x25, 0xd9], 32, "edpk";
        /// secp256k1 public key `sppk…`.
        SPPK = [0x03, 0xfe, 0xe2, 0x56], 33, "sppk";
        /// P-256 public key `p2pk…`.
        P2PK = [0x03, 0xb2, 0x8b, 0x7f], 33, "p2pk";
        /// BLS12-381 public key `BLpk…`.
        BLPK = [0x06, 0x95, 0x87, 0xcc], 48, "BLpk";
        /// ML-DSA-44 public key `mdpk…`.
        MDPK = [0x0d, 0x07, 0xed, 0x43], 1312, "mdpk";
        /// Ed25519 secret key seed (32 bytes) `edsk…`.
        EDSK = [0x0d, 0x0f, 0x3a, 0x07], 32, "edsk";
        /// Ed25519 secret key, 64-byte form (seed ‖ public key) `edsk…`.
        EDSK64 = [0x2b, 0xf6, 0x4e, 0x07], 64, "edsk";
        /// secp256k1 secret key `spsk…`.
        SPSK = [0x11, 0xa2, 0xe0, 0xc9], 32, "spsk";
        /// P-256 secret key `p2sk…`.
        P2SK = [0x10, 0x51, 0xee, 0xbd], 32, "p2sk";
        /// BLS12-381 secret key `BLsk…`.
        BLSK = [0x03, 0x96, 0xc0, 0x28], 32, "BLsk";
        /// Encrypted Ed25519 secret key `edesk…`.
        EDESK = [0x07, 0x5a, 0x3c, 0xb3, 0x29], 56, "edesk";
        /// Encrypted secp256k1 secret key `spesk…`.
        SPESK = [0x09, 0xed, 0xf1, 0xae, 0x96], 56, "spesk";
        /// Encrypted P-256 secret key `p2esk…`.
        P2ESK = [0x09, 0x30, 0x39, 0x73, 0xab], 56, "p2esk";
        /// Encrypted BLS secret key `BLesk…`.
        BLESK = [0x02, 0x05, 0x1e, 0x35, 0x19], 56, "BLesk";
        /// Ed25519 signature `edsig…`.
        EDSIG = [0x09, 0xf5, 0xcd, 0x86, 0x12], 64, "edsig";
        /// secp256k1 signature `spsig1…`.
        SPSIG = [0x0d, 0x73, 0x65, 0x13, 0x3f], 64, "spsig1";
        /// P-256 signature `p2sig…`.
        P2SIG = [0x36, 0xf0, 0x2c, 0x34], 64, "p2sig";
        /// Generic (curve-less) signature `sig…`.
        SIG = [0x04, 0x82, 0x2b], 64, "sig";
        /// BLS12-381 signature `BLsig…`.
        BLSIG = [0x28, 0xab, 0x40, 0xcf], 96, "BLsig";
        /// ML-DSA-44 signature `mdsig…`.
        MDSIG = [0x01, 0x9c, 0x2d, 0xd2, 0x03], 2420, "mdsig";
    }
}

/// Why a base58check string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum B58Error {
    /// Not valid base58 (bad alphabet character).
    #[error("invalid base58 string: {0}")]
    InvalidBase58(String),
    /// Too short to hold a checksum, or checksum mismatch.
    #[error("invalid base58check checksum")]
    BadChecksum,
    /// Valid base58check, but not the expected prefix or payload length.
    #[error("expected a {expected}… value of {len} bytes")]
    WrongPrefix {
        /// Expected leading text (e.g. `tz1`).
        expected: &'static str,
        /// Expected payload length.
        len: usize,
    },
    /// Valid base58check whose prefix is unknown.
    #[error("unknown base58check prefix")]
    UnknownPrefix,
}

fn checksum(data: &[u8]) -> [u8; 4] {
    let first = Sha256::digest(data);
    let second = Sha256::digest(first);
    let mut out = [0u8; 4];
    out.copy_from_slice(&second[..4]);
    out
}

/// Encodes raw bytes with a 4-byte double-SHA256 checksum (no prefix handling).
pub fn encode_raw_check(data: &[u8]) -> String {
    let mut buf = Vec::with_capacity(data.len() + 4);
    buf.extend_from_slice(data);
    buf.extend_from_slice(&checksum(data));
    bs58::encode(buf).into_string()
}

/// Decodes a base58check string into its raw bytes (prefix included), checking the checksum.
pub fn decode_raw_check(s: &str) -> Result<Vec<u8>, B58Error> {
    let mut raw = bs58::decode(s)
        .into_vec()
        .map_err(|e| B58Error::InvalidBase58(e.to_string()))?;
    if raw.len() < 4 {
        return Err(B58Error::BadChecksum);
    }
    let split = raw.len() - 4;
    if checksum(&raw[..split]) != raw[split..] {
        return Err(B58Error::BadChecksum);
    }
    raw.truncate(split);
    Ok(raw)
}

/// Encodes `payload` under `prefix`.
///
/// The payload length is the caller's responsibility (typed wrappers guarantee it); a mismatch is
/// still encoded, and will be rejected by [`decode`].
pub fn encode(prefix: &Prefix, payload: &[u8]) -> String {
    let mut buf = Vec::with_capacity(prefix.bytes.len() + payload.len());
    buf.extend_from_slice(prefix.bytes);
    buf.extend_from_slice(payload);
    encode_raw_check(&buf)
}

/// Decodes a string that must carry `prefix`, returning the payload.
pub fn decode(prefix: &Prefix, s: &str) -> Result<Vec<u8>, B58Error> {
    let raw = decode_raw_check(s)?;
    match raw.strip_prefix(prefix.bytes) {
        Some(payload) if payload.len() == prefix.payload_len => Ok(payload.to_vec()),
        _ => Err(B58Error::WrongPrefix {
            expected: prefix.text,
            len: prefix.payload_len,
        }),
    }
}

/// Decodes a string into a fixed-size payload under `prefix`.
pub fn decode_array<const N: usize>(prefix: &Prefix, s: &str) -> Result<[u8; N], B58Error> {
    let v = decode(prefix, s)?;
    v.try_into().map_err(|_| B58Error::WrongPrefix {
        expected: prefix.text,
        len: N,
    })
}

/// Decodes a string with any known prefix, returning which prefix matched and the payload.
pub fn decode_any(s: &str) -> Result<(&'static Prefix, Vec<u8>), B58Error> {
    let raw = decode_raw_check(s)?;
    for p in prefix::ALL {
        if let Some(payload) = raw.strip_prefix(p.bytes)
            && payload.len() == p.payload_len
        {
            return Ok((p, payload.to_vec()));
        }
    }
    Err(B58Error::UnknownPrefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every prefix must produce strings starting with its declared text and of the expected
    /// length (l1-and-signer.md §4, b58 length column), for both all-zero and all-0xff payloads.
    #[test]
    fn prefixes_produce_declared_text() {
        let expected_len: &[(&str, usize)] = &[
            ("B", 51),
            ("o", 51),
            ("Lo", 52),
            ("LLo", 53),
            ("P", 51),
            ("Co", 52),
            ("SRCo", 54),
            ("vh", 52),
            ("Net", 15),
            ("tz1", 36),
            ("KT1", 36),
            ("sr1", 36),
            ("src1", 54),
            ("srs1", 54),
            ("srib1", 55),
            ("scrrh1", 56),
            ("edpk", 54),
            ("sppk", 55),
            ("BLpk", 76),
            ("edsig", 99),
            ("spsig1", 99),
            ("p2sig", 98),
            ("sig", 96),
            ("BLsig", 142),
        ];
        for p in prefix::ALL {
            for fill in [0u8, 0xff] {
                let s = encode(p, &vec![fill; p.payload_len]);
                assert!(s.starts_with(p.text), "{} gave {s}", p.text);
                assert_eq!(decode(p, &s).unwrap(), vec![fill; p.payload_len]);
            }
            if let Some((_, len)) = expected_len.iter().find(|(t, _)| *t == p.text) {
                let s = encode(p, &vec![0x42; p.payload_len]);
                assert_eq!(s.len(), *len, "{}", p.text);
            }
        }
    }

    #[test]
    fn known_values() {
        // l1-and-signer.md §2.1: bootstrap1 and the genesis block hash.
        let pkh = decode(&prefix::TZ1, "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx").unwrap();
        assert_eq!(hex::encode(pkh), "02298c03ed7d454a101eb7022bc95f7e5f41ac78");
        let b = decode(
            &prefix::BLOCK_HASH,
            "BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2",
        )
        .unwrap();
        assert_eq!(
            hex::encode(b),
            "8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00b"
        );
        let sr = decode(
            &prefix::SMART_ROLLUP_ADDRESS,
            "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf",
        )
        .unwrap();
        assert_eq!(hex::encode(sr), "74f8952e7a287d78e8dceec67547bd00a278abbf");
        assert_eq!(
            encode(&prefix::COMMITMENT_HASH, &[0; 32]),
            "src12UJzB8mg7yU6nWPzicH7ofJbFjyJEbHvwtZdfRXi8DQHNp1LY8"
        );
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            decode(&prefix::TZ1, "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSy"),
            Err(B58Error::BadChecksum)
        ));
        assert!(matches!(
            decode(&prefix::TZ1, "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZS0"),
            Err(B58Error::InvalidBase58(_))
        ));
        assert!(matches!(
            decode(&prefix::TZ2, "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx"),
            Err(B58Error::WrongPrefix { .. })
        ));
        assert!(decode_raw_check("").is_err());
        assert!(decode_raw_check("1").is_err());
        let (p, _) = decode_any("sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf").unwrap();
        assert_eq!(p.text, "sr1");
        assert_eq!(
            decode_any(&encode_raw_check(&[1, 2, 3])),
            Err(B58Error::UnknownPrefix)
        );
    }
}
