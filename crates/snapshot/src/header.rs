//! The snapshot header and `snapshot info` (pure).
//!
//! Rule (docs/reference/octez-rollup-node.md §7, `snapshots.ml` `Header.encoding`): a
//! Data_encoding union whose tag 0 is the version `V0`, then `history_mode` (one byte: 0
//! archive, 1 full), the rollup address (20 raw bytes), the head level (int32 big-endian) and
//! the last commitment hash (32 raw bytes): 58 bytes, before the tar archive; a compressed
//! snapshot gzips the header with the archive.

use node_config::HistoryMode;
use tezos_types::{CommitmentHash, Level, SmartRollupAddress};

/// Size of the encoded header.
pub const HEADER_SIZE: usize = 58;

/// The only snapshot version (`V0`, union tag 0).
pub const VERSION_V0: u8 = 0;

/// The header of a snapshot (`Snapshots.Header.t`, version `V0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// History mode of the exporting node.
    pub history_mode: HistoryMode,
    /// The rollup.
    pub address: SmartRollupAddress,
    /// Level of the snapshot's L2 head.
    pub head_level: Level,
    /// Most recent commitment of the head (its own, or the previous one).
    pub last_commitment: CommitmentHash,
}

/// A header that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than [`HEADER_SIZE`] bytes before the end of the stream.
    #[error(
        "the snapshot ends after {0} bytes, inside its {HEADER_SIZE}-byte header: the file is \
         truncated or is not a rollup node snapshot"
    )]
    Truncated(usize),
    /// Unknown version tag.
    #[error(
        "invalid snapshot version {0} (only version 0 exists): the file is not a rollup node \
         snapshot, or was made by a newer node"
    )]
    Version(u8),
    /// Unknown history mode byte.
    #[error("invalid history mode {0} in the snapshot header (0 archive, 1 full expected)")]
    HistoryMode(u8),
    /// A negative head level (Octez writes a `Raw_level`, an `int32` ≥ 0;
    /// docs/reference/octez-rollup-node.md §7).
    #[error("invalid head level {0} in the snapshot header: the file is corrupted")]
    NegativeLevel(i32),
}

fn history_byte(m: HistoryMode) -> u8 {
    match m {
        HistoryMode::Archive => 0,
        HistoryMode::Full => 1,
    }
}

impl Header {
    /// The 58 bytes written before the archive.
    #[must_use]
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        out[0] = VERSION_V0;
        out[1] = history_byte(self.history_mode);
        out[2..22].copy_from_slice(&self.address.0);
        out[22..26].copy_from_slice(&self.head_level.get().to_be_bytes());
        out[26..58].copy_from_slice(&self.last_commitment.0);
        out
    }

    /// Decodes the first [`HEADER_SIZE`] bytes of a (decompressed) snapshot.
    ///
    /// # Errors
    /// [`HeaderError`] when `bytes` is short or holds an unknown tag.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        if bytes.len() < HEADER_SIZE {
            return Err(HeaderError::Truncated(bytes.len()));
        }
        if bytes[0] != VERSION_V0 {
            return Err(HeaderError::Version(bytes[0]));
        }
        let history_mode = match bytes[1] {
            0 => HistoryMode::Archive,
            1 => HistoryMode::Full,
            b => return Err(HeaderError::HistoryMode(b)),
        };
        let mut address = [0u8; 20];
        address.copy_from_slice(&bytes[2..22]);
        let mut level = [0u8; 4];
        level.copy_from_slice(&bytes[22..26]);
        let mut commitment = [0u8; 32];
        commitment.copy_from_slice(&bytes[26..58]);
        let level = i32::from_be_bytes(level);
        Ok(Self {
            history_mode,
            address: SmartRollupAddress(address),
            head_level: Level::new(level).ok_or(HeaderError::NegativeLevel(level))?,
            last_commitment: CommitmentHash(commitment),
        })
    }
}

/// Whether the whole stream is gzipped (magic `1f 8b`, `Snapshot_utils.is_compressed_snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzip.
    Compressed,
    /// Plain header + tar.
    Uncompressed,
}

/// The lines `snapshot info` prints (`main_smart_rollup_node.ml`, `snapshot_info`).
#[must_use]
pub fn info_text(h: &Header, format: Format) -> String {
    format!(
        "Valid smart rollup node snapshot.\n\
         Format:          {}compressed\n\
         History mode:    {}\n\
         Rollup address:  {}\n\
         Head level:      {}\n\
         Last commitment: {}\n",
        match format {
            Format::Compressed => "",
            Format::Uncompressed => "un",
        },
        h.history_mode.as_str(),
        h.address.to_b58check(),
        h.head_level,
        h.last_commitment.to_b58check(),
    )
}

/// Octez's default file name `snapshot-<short address>-<level>.<history mode>`
/// (`snapshots.ml` `export_dir`; the short address is `to_short_b58check`: the first 10
/// characters after the 3-character `sr1` prefix).
#[must_use]
pub fn default_file_name(h: &Header) -> String {
    let addr = h.address.to_b58check();
    let short: String = addr.chars().take(13).collect();
    format!(
        "snapshot-{short}-{}.{}",
        h.head_level,
        h.history_mode.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            history_mode: HistoryMode::Full,
            address: "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap(),
            head_level: Level::new(5_648_964).unwrap(),
            last_commitment: CommitmentHash([7; 32]),
        }
    }

    #[test]
    fn layout_is_octez_v0() {
        let h = sample();
        let b = h.encode();
        assert_eq!(b.len(), 58);
        assert_eq!(b[0], 0, "union tag 0 = V0");
        assert_eq!(b[1], 1, "full = 1 (string_enum index)");
        assert_eq!(&b[2..22], &h.address.0);
        assert_eq!(&b[22..26], &[0x00, 0x56, 0x32, 0x44], "5648964 as int32 BE");
        assert_eq!(&b[26..], &[7; 32]);
        assert_eq!(Header::decode(&b).unwrap(), h);
        let archive = Header {
            history_mode: HistoryMode::Archive,
            ..h
        };
        assert_eq!(archive.encode()[1], 0);
    }

    #[test]
    fn bad_headers_are_refused() {
        let mut b = sample().encode();
        assert_eq!(Header::decode(&b[..57]), Err(HeaderError::Truncated(57)));
        b[0] = 1;
        assert_eq!(Header::decode(&b), Err(HeaderError::Version(1)));
        b[0] = 0;
        b[1] = 2;
        assert_eq!(Header::decode(&b), Err(HeaderError::HistoryMode(2)));
        b[1] = 1;
        b[22..26].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(Header::decode(&b), Err(HeaderError::NegativeLevel(-2)));
    }

    #[test]
    fn info_and_file_name_are_octez_s() {
        let h = sample();
        let text = info_text(&h, Format::Uncompressed);
        let c = h.last_commitment.to_b58check();
        assert_eq!(
            text,
            format!(
                "Valid smart rollup node snapshot.\nFormat:          uncompressed\n\
                 History mode:    full\nRollup address:  sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf\n\
                 Head level:      5648964\nLast commitment: {c}\n"
            )
        );
        assert!(info_text(&h, Format::Compressed).contains("Format:          compressed\n"));
        // As the files Octez's snapshot service publishes (`…-sr1Ghq66tYK9y-5648964…`).
        assert_eq!(default_file_name(&h), "snapshot-sr1Ghq66tYK9y-5648964.full");
    }
}
