//! Reveal hashes and requests (`docs/reference/wasm-pvm.md` §5.1–§5.2, Octez
//! `sc_rollup_reveal_hash.ml`, `reveal_encoding` in `sc_rollup_PVM_sig.ml`): one decoder for the
//! node's reveal handler and the refutation game's rules.
//!
//! A request payload decodes exactly (no trailing bytes) into one of the kinds of
//! [`RevealRequest`]; anything else is [`RevealRequest::Malformed`], answered like L1 does with
//! the pre-image of the well-known hash, i.e. the empty string.

use std::fmt;

use crate::Level;
use crate::operation::DalPageId;

/// Size in bytes of a reveal hash: 1 scheme tag + 32 bytes of blake2b-256.
pub const REVEAL_HASH_SIZE: usize = 33;

/// Scheme tag of a blake2b-256 reveal hash (the only scheme).
pub const BLAKE2B_TAG: u8 = 0x00;

/// Largest pre-image the node feeds to the PVM (`wasm-pvm.md` §5.1: the rollup
/// node refuses raw data that does not fit `Sc_rollup.input_encoding`, 4096 bytes).
pub const MAX_PREIMAGE_SIZE: usize = 4096;

/// A 33-byte reveal hash: `0x00 ‖ blake2b-256(preimage)` (`wasm-pvm.md` §5.1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RevealHash([u8; REVEAL_HASH_SIZE]);

/// Why a byte string or hex string is not a reveal hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevealHashError {
    /// Wrong length (must be exactly 33 bytes).
    #[error("a reveal hash is {REVEAL_HASH_SIZE} bytes, got {0}")]
    Length(usize),
    /// Unknown scheme tag (only `00`, blake2b, exists).
    #[error("unknown reveal hash scheme tag {0:#04x}")]
    Scheme(u8),
    /// Not hexadecimal.
    #[error("invalid hexadecimal reveal hash: {0}")]
    Hex(String),
}

impl RevealHash {
    /// Hash of `preimage`: `0x00 ‖ blake2b-256(preimage)`.
    #[must_use]
    pub fn of_preimage(preimage: &[u8]) -> Self {
        let digest = crate::hash::blake2b::<32>(&[preimage]);
        let mut bytes = [0u8; REVEAL_HASH_SIZE];
        bytes[0] = BLAKE2B_TAG;
        bytes[1..].copy_from_slice(&digest);
        Self(bytes)
    }

    /// The "well-known" hash, whose pre-image is the empty string (`wasm-pvm.md` §5.1):
    /// the answer L1 substitutes for malformed or disabled reveal requests.
    #[must_use]
    pub fn well_known() -> Self {
        Self::of_preimage(&[])
    }

    /// Parses the 33 binary bytes (tag must be `00`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RevealHashError> {
        let arr: [u8; REVEAL_HASH_SIZE] = bytes
            .try_into()
            .map_err(|_| RevealHashError::Length(bytes.len()))?;
        if arr[0] != BLAKE2B_TAG {
            return Err(RevealHashError::Scheme(arr[0]));
        }
        Ok(Self(arr))
    }

    /// Parses the 66-character hex form (case-insensitive).
    pub fn from_hex(s: &str) -> Result<Self, RevealHashError> {
        let bytes = hex::decode(s.trim()).map_err(|e| RevealHashError::Hex(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    /// The 33 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; REVEAL_HASH_SIZE] {
        &self.0
    }

    /// Lowercase hex of the 33 bytes: the pre-image file name (`wasm-pvm.md` §5.3).
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether `data` hashes to this hash.
    #[must_use]
    pub fn matches(&self, data: &[u8]) -> bool {
        Self::of_preimage(data) == *self
    }
}

impl fmt::Display for RevealHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RevealHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RevealHash({})", self.to_hex())
    }
}

/// A decoded reveal request (`reveal_encoding` in `sc_rollup_PVM_sig.ml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevealRequest {
    /// Tag `00`: raw data, followed by a 33-byte reveal hash.
    RawData(RevealHash),
    /// Tag `01`: rollup metadata.
    Metadata,
    /// Tag `02`: a DAL page.
    DalPage {
        /// Published level (`int32` BE).
        published_level: i32,
        /// Slot index (`uint8`).
        slot_index: u8,
        /// Page index (`int16` BE).
        page_index: i16,
    },
    /// Tag `03`: DAL parameters.
    DalParameters,
    /// Anything else (bad tag, bad length, trailing bytes, or tag `04` adaptive DAL,
    /// which is not enabled): answered with the empty pre-image.
    Malformed,
}

impl RevealRequest {
    /// Decodes a reveal request payload (`wasm-pvm.md` §5.2 table).
    #[must_use]
    pub fn decode(payload: &[u8]) -> Self {
        match payload {
            [0x00, hash @ ..] if hash.len() == REVEAL_HASH_SIZE => {
                RevealHash::from_bytes(hash).map_or(Self::Malformed, Self::RawData)
            }
            [0x01] => Self::Metadata,
            // `Raw_level_repr.encoding` refuses a negative level: a malformed request.
            [0x02, l0, l1, l2, l3, slot, p0, p1] => {
                match i32::from_be_bytes([*l0, *l1, *l2, *l3]) {
                    published_level @ 0.. => Self::DalPage {
                        published_level,
                        slot_index: *slot,
                        page_index: i16::from_be_bytes([*p0, *p1]),
                    },
                    _ => Self::Malformed,
                }
            }
            [0x03] => Self::DalParameters,
            _ => Self::Malformed,
        }
    }

    /// Encodes the request (inverse of [`Self::decode`]; `Malformed` encodes as an
    /// empty payload, which decodes back to `Malformed`).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::RawData(h) => {
                let mut v = vec![0x00];
                v.extend_from_slice(h.as_bytes());
                v
            }
            Self::Metadata => vec![0x01],
            Self::DalPage {
                published_level,
                slot_index,
                page_index,
            } => {
                let mut v = vec![0x02];
                v.extend_from_slice(&published_level.to_be_bytes());
                v.push(*slot_index);
                v.extend_from_slice(&page_index.to_be_bytes());
                v
            }
            Self::DalParameters => vec![0x03],
            Self::Malformed => Vec::new(),
        }
    }
}

/// The answer to `Reveal_metadata` (`Sc_rollup_metadata_repr.encoding`): the rollup's address
/// (the 20-byte payload of its `sr1…`) then its origination level as `int32` big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupMetadata {
    /// The 20-byte payload of the rollup's `sr1…` address.
    pub address: [u8; 20],
    /// The origination level.
    pub origination_level: i32,
}

impl RollupMetadata {
    /// The 24 revealed bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..20].copy_from_slice(&self.address);
        out[20..].copy_from_slice(&self.origination_level.to_be_bytes());
        out
    }
}

/// The answer to `Reveal_dal_parameters` (`Sc_rollup_dal_parameters_repr.encoding`,
/// `docs/reference/dal.md` §5): the four fields as `int64` big-endian, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DalParameters {
    /// `number_of_slots`.
    pub number_of_slots: i64,
    /// `attestation_lag`.
    pub attestation_lag: i64,
    /// `cryptobox_parameters.slot_size`.
    pub slot_size: i64,
    /// `cryptobox_parameters.page_size`.
    pub page_size: i64,
}

impl DalParameters {
    /// The 32 revealed bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; 32] {
        let mut out = [0; 32];
        let fields = [
            self.number_of_slots,
            self.attestation_lag,
            self.slot_size,
            self.page_size,
        ];
        for (chunk, f) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&f.to_be_bytes());
        }
        out
    }
}

/// The attestation lag of the DAL's legacy cells and of Octez's `lag_check` intervals
/// (`dal_slot_repr.ml`, `Skip_list_cells`).
pub const LEGACY_ATTESTATION_LAG: u8 = 8;

/// How the attestation lag of an import is checked (`History.lag_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagCheck {
    /// The slot's own lag, once known (`Exact_lag`).
    Exact(u8),
    /// Some lag in `[min, max]` (`Lag_interval`).
    Interval(u8, u8),
}

impl LagCheck {
    /// `interval_lag_check ~attestation_lags`: from the smallest of the lags and the legacy
    /// one, up to the legacy one.
    #[must_use]
    pub fn interval(attestation_lags: &[u8]) -> Self {
        let min = attestation_lags
            .iter()
            .copied()
            .fold(LEGACY_ATTESTATION_LAG, std::cmp::min);
        Self::Interval(min, LEGACY_ATTESTATION_LAG)
    }
}

/// What `Dal_helpers.page_id_is_valid` reads besides the page id: the parameters of the
/// page's published level, the DAL activation, the rollup's origination and the importing
/// level. One rule for the kernel's reveal (what the node answers) and the refutation game's
/// DAL page proofs (what the L1 accepts), so the two never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageValidity {
    /// `number_of_slots`.
    pub number_of_slots: u16,
    /// `slot_size / page_size`.
    pub pages_per_slot: i64,
    /// `dal_activation_level` (`None`: the DAL is not enabled: every page id is invalid).
    pub activation_level: Option<Level>,
    /// The rollup's origination level.
    pub origination_level: Level,
    /// The level of the importing state (`import_inbox_level`).
    pub import_inbox_level: Level,
    /// `dal_attested_slots_validity_lag` (`None`: a protocol without it: never expires).
    pub validity_lag: Option<i64>,
}

impl PageValidity {
    /// `page_id_is_valid ~lag_check` (with `import_level_is_valid`): page and slot indices in
    /// range, the DAL activated at the published level, published after the origination,
    /// attested at or before the importing level and not expired (a sum beyond `int32` is
    /// invalid, as `Raw_level_repr.add_opt`).
    #[must_use]
    pub fn is_valid(&self, lag: LagCheck, page: &DalPageId) -> bool {
        let published = page.published_level;
        let in_range = page.page_index >= 0
            && i64::from(page.page_index) < self.pages_per_slot
            && u16::from(page.slot_index) < self.number_of_slots;
        let activated = self.activation_level.is_some_and(|a| published >= a);
        let after_origination = published > self.origination_level;
        let (min, max) = match lag {
            LagCheck::Exact(l) => (l, l),
            LagCheck::Interval(min, max) => (min, max),
        };
        let add = |a: i64, b: i64| a.checked_add(b).filter(|s| *s <= i64::from(i32::MAX));
        let p = i64::from(published.get());
        let import = i64::from(self.import_inbox_level.get());
        let not_too_recent = add(p, i64::from(min)).is_some_and(|l| l <= import);
        let not_expired = match self.validity_lag {
            None => true,
            Some(v) => add(p, i64::from(max))
                .and_then(|l| add(l, v))
                .is_some_and(|l| l >= import),
        };
        in_range && activated && after_origination && not_too_recent && not_expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_is_blake2b_of_empty() {
        // blake2b-256("") = 0e5751c0…
        assert_eq!(
            RevealHash::well_known().to_hex(),
            "000e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = RevealHash::of_preimage(b"hello");
        assert_eq!(RevealHash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(
            RevealHash::from_hex(&h.to_hex().to_uppercase()),
            Ok(h),
            "hex is case-insensitive"
        );
        assert_eq!(
            RevealHash::from_bytes(&[0; 32]),
            Err(RevealHashError::Length(32))
        );
        let mut b = *h.as_bytes();
        b[0] = 1;
        assert_eq!(RevealHash::from_bytes(&b), Err(RevealHashError::Scheme(1)));
        assert!(matches!(
            RevealHash::from_hex("zz"),
            Err(RevealHashError::Hex(_))
        ));
        assert!(h.matches(b"hello"));
        assert!(!h.matches(b"hello!"));
    }

    #[test]
    fn decode_kinds() {
        let h = RevealHash::of_preimage(b"x");
        let raw = RevealRequest::RawData(h);
        assert_eq!(RevealRequest::decode(&raw.encode()), raw);
        assert_eq!(RevealRequest::decode(&[1]), RevealRequest::Metadata);
        assert_eq!(RevealRequest::decode(&[3]), RevealRequest::DalParameters);
        let dal = RevealRequest::DalPage {
            published_level: 7,
            slot_index: 2,
            page_index: -1,
        };
        assert_eq!(RevealRequest::decode(&dal.encode()), dal);
        assert_eq!(dal.encode(), [2, 0, 0, 0, 7, 2, 0xff, 0xff]);
    }

    #[test]
    fn decode_malformed() {
        let h = RevealHash::of_preimage(b"x");
        let mut trailing = RevealRequest::RawData(h).encode();
        trailing.push(0);
        for bad in [
            &[][..],
            &[1, 0],
            &[3, 0],
            &[4],
            &[5],
            &trailing,
            &trailing[..trailing.len() - 2],
            &[0, 1, 2],
            &[2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0],
        ] {
            assert_eq!(
                RevealRequest::decode(bad),
                RevealRequest::Malformed,
                "{bad:?}"
            );
        }
        // Hash with an unknown scheme tag.
        let mut bad_scheme = vec![0u8, 1];
        bad_scheme.extend_from_slice(&[0; 32]);
        assert_eq!(RevealRequest::decode(&bad_scheme), RevealRequest::Malformed);
    }
}
