//! The high watermark of `-W/--check-high-watermark` (docs/reference/l1-and-signer.md §5.6).
//!
//! Only data starting with 0x01, 0x02, 0x11, 0x12 or 0x13 is checked. The mark of each chain
//! and key lives in `<base_dir>/{block,preattestation,attestation,endorsement}_high_watermark`
//! as `{ "<chain_id>": { "<pkh>": {"level","round","hash","signature"} } }`; it is written to a
//! temporary file, fsync'ed and renamed (then the directory fsync'ed) before the signature is
//! returned, so a crash never loses a mark the signer answered with.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tezos_types::{ChainId, PublicKeyHash, Signature};

/// High watermark failures.
#[derive(Debug, thiserror::Error)]
pub enum HwmError {
    /// Data too short to hold a level (fewer than 9 bytes, or a truncated block/attestation).
    #[error("data of {len} bytes is too short for a {what} with a high watermark")]
    TooShort {
        /// What the magic byte announces.
        what: &'static str,
        /// Length.
        len: usize,
    },
    /// Level/round not above the mark.
    #[error(
        "{what} level {level} round {round} is not above the high watermark (level {mark_level} \
         round {mark_round}) of {pkh} on {chain}"
    )]
    Below {
        /// Kind.
        what: &'static str,
        /// Requested level.
        level: i32,
        /// Requested round.
        round: i32,
        /// Stored level.
        mark_level: i32,
        /// Stored round.
        mark_round: i32,
        /// Key.
        pkh: String,
        /// Chain.
        chain: String,
    },
    /// Same level and round, different data.
    #[error("{what} level {level} round {round} already signed with different data")]
    DifferentData {
        /// Kind.
        what: &'static str,
        /// Level.
        level: i32,
        /// Round.
        round: i32,
    },
    /// The file cannot be read or written.
    #[error("cannot access the high watermark file {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not the expected JSON.
    #[error("the high watermark file {path} is malformed ({msg}); fix or remove it")]
    Malformed {
        /// File.
        path: PathBuf,
        /// Cause.
        msg: String,
    },
}

/// What a checked request is, where its mark lives, and its (chain, level, round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// `block`, `preattestation`, `attestation` or `endorsement`.
    pub what: &'static str,
    /// Chain id.
    pub chain: ChainId,
    /// Level.
    pub level: i32,
    /// Round (0 for the legacy formats).
    pub round: i32,
}

fn i32_at(data: &[u8], at: usize) -> Option<i32> {
    let s = data.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The mark of `data` signed by `pkh`, or `None` when the magic byte has no watermark.
///
/// # Errors
/// [`HwmError::TooShort`] when the level or round cannot be read.
pub fn mark_of(data: &[u8], pkh: &PublicKeyHash) -> Result<Option<Mark>, HwmError> {
    let Some(&magic) = data.first() else {
        return Ok(None);
    };
    let what = match magic {
        0x01 | 0x11 => "block",
        0x02 => "endorsement",
        0x12 => "preattestation",
        0x13 => "attestation",
        _ => return Ok(None),
    };
    let short = || HwmError::TooShort {
        what,
        len: data.len(),
    };
    if data.len() < 9 {
        return Err(short());
    }
    let chain = ChainId([data[1], data[2], data[3], data[4]]);
    let (level, round) = match magic {
        0x01 => (i32_at(data, 5).ok_or_else(short)?, 0),
        0x02 => (i32_at(data, data.len() - 4).ok_or_else(short)?, 0),
        0x11 => {
            let level = i32_at(data, 5).ok_or_else(short)?;
            let f = usize::try_from(i32_at(data, 83).ok_or_else(short)?).map_err(|_| short())?;
            // The round is the last 4 bytes of the fitness (which starts after its length).
            let round_at = 83usize
                .checked_add(f)
                .filter(|_| f >= 4)
                .ok_or_else(short)?;
            (level, i32_at(data, round_at).ok_or_else(short)?)
        }
        _ => {
            let at = if matches!(pkh, PublicKeyHash::Bls(_)) {
                38
            } else {
                40
            };
            let level = i32_at(data, at).ok_or_else(short)?;
            (level, i32_at(data, at + 4).ok_or_else(short)?)
        }
    };
    Ok(Some(Mark {
        what,
        chain,
        level,
        round,
    }))
}

/// The marks of a base directory.
#[derive(Debug, Clone)]
pub struct HighWatermarks {
    dir: PathBuf,
}

/// What to do with a request after the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Above the mark: sign, then [`HighWatermarks::record`].
    Sign,
    /// The same data was signed at this mark: answer this signature again.
    AlreadySigned(Signature),
}

impl HighWatermarks {
    /// The marks stored in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, what: &str) -> PathBuf {
        self.dir.join(format!("{what}_high_watermark"))
    }

    fn load(path: &Path) -> Result<Value, HwmError> {
        match std::fs::read_to_string(path) {
            Ok(t) => {
                let bad = |msg: String| HwmError::Malformed {
                    path: path.to_owned(),
                    msg,
                };
                let v: Value = serde_json::from_str(&t).map_err(|e| bad(e.to_string()))?;
                // An object of chains, each an object of keys: anything else is refused, never
                // read as "no mark" nor overwritten.
                let Some(chains) = v.as_object() else {
                    return Err(bad("not a JSON object of chains".into()));
                };
                if let Some((c, _)) = chains.iter().find(|(_, keys)| !keys.is_object()) {
                    return Err(bad(format!("chain {c}: not a JSON object of keys")));
                }
                Ok(v)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
            Err(source) => Err(HwmError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Checks `data` against the stored mark of `pkh` (the caller serialises check and record).
    ///
    /// # Errors
    /// [`HwmError`] when the request must be refused.
    pub fn check(&self, m: &Mark, pkh: &PublicKeyHash, data: &[u8]) -> Result<Verdict, HwmError> {
        let path = self.path(m.what);
        let all = Self::load(&path)?;
        let entry = &all[m.chain.to_string()][pkh.to_b58check()];
        if entry.is_null() {
            return Ok(Verdict::Sign);
        }
        let bad = |msg: &str| HwmError::Malformed {
            path: path.clone(),
            msg: msg.to_owned(),
        };
        let get = |k: &str| {
            entry[k]
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| bad(&format!("{k} of {pkh} is not an int32")))
        };
        let (level, round) = (get("level")?, get("round")?);
        if (m.level, m.round) > (level, round) {
            return Ok(Verdict::Sign);
        }
        if (m.level, m.round) == (level, round) {
            let hash = hex::encode(blake2b_simd::Params::new().hash_length(32).hash(data));
            if entry["hash"].as_str() == Some(hash.as_str()) {
                let sig = entry["signature"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("signature is not a b58 signature"))?;
                return Ok(Verdict::AlreadySigned(sig));
            }
            return Err(HwmError::DifferentData {
                what: m.what,
                level,
                round,
            });
        }
        Err(HwmError::Below {
            what: m.what,
            level: m.level,
            round: m.round,
            mark_level: level,
            mark_round: round,
            pkh: pkh.to_b58check(),
            chain: m.chain.to_string(),
        })
    }

    /// Stores the new mark durably (temporary file, fsync, rename, directory fsync).
    ///
    /// # Errors
    /// [`HwmError::Io`] when the file cannot be written.
    pub fn record(
        &self,
        m: &Mark,
        pkh: &PublicKeyHash,
        data: &[u8],
        sig: &Signature,
    ) -> Result<(), HwmError> {
        let path = self.path(m.what);
        let mut all = Self::load(&path)?;
        let hash = hex::encode(blake2b_simd::Params::new().hash_length(32).hash(data));
        all[m.chain.to_string()][pkh.to_b58check()] = json!({
            "level": m.level, "round": m.round, "hash": hash, "signature": sig.to_b58check()
        });
        let io = |source| HwmError::Io {
            path: path.clone(),
            source,
        };
        atomic_file::write(&path, all.to_string().as_bytes()).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attestation(level: i32, round: i32) -> Vec<u8> {
        let mut d = vec![0x13, 1, 2, 3, 4];
        d.extend([0u8; 32]); // branch
        d.push(21); // kind
        d.extend([0, 0]); // slot
        d.extend(level.to_be_bytes());
        d.extend(round.to_be_bytes());
        d.extend([0u8; 32]); // payload hash
        d
    }

    #[test]
    fn levels_and_rounds_are_read_at_the_reference_offsets() {
        let tz1: PublicKeyHash = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap();
        let m = mark_of(&attestation(7, 2), &tz1).unwrap().unwrap();
        assert_eq!((m.what, m.level, m.round), ("attestation", 7, 2));
        let mut block = vec![0x11, 1, 2, 3, 4];
        block.extend(42i32.to_be_bytes());
        block.resize(83, 0);
        block.extend(8u32.to_be_bytes());
        block.extend([0, 0, 0, 1]);
        block.extend(5i32.to_be_bytes());
        let m = mark_of(&block, &tz1).unwrap().unwrap();
        assert_eq!((m.what, m.level, m.round), ("block", 42, 5));
        assert!(mark_of(&[0x03], &tz1).unwrap().is_none());
        assert!(mark_of(&[0x11, 1, 2], &tz1).is_err());
        assert!(mark_of(&block[..90], &tz1).is_err());
    }

    #[test]
    fn marks_files_of_the_wrong_shape_are_refused_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let tz1: PublicKeyHash = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap();
        let h = HighWatermarks::new(d.path());
        let data = attestation(10, 0);
        let m = mark_of(&data, &tz1).unwrap().unwrap();
        let sig: Signature = "edsigtzxo2Q7wFiEjausSp7pKUXLK9PnPqf8rHEKdc18HtNVbZSg5WJyFJwk14w7mykCsq3nV5iB6Eo4gTX3y8Dv8tkn1EadRj7"
            .parse()
            .unwrap();
        for bad in ["[]", "null", r#"{"NetXdQprcVkpaWU": 3}"#] {
            std::fs::write(h.path(m.what), bad).unwrap();
            assert!(
                matches!(h.check(&m, &tz1, &data), Err(HwmError::Malformed { .. })),
                "{bad}"
            );
            assert!(
                matches!(
                    h.record(&m, &tz1, &data, &sig),
                    Err(HwmError::Malformed { .. })
                ),
                "{bad}"
            );
            assert_eq!(std::fs::read_to_string(h.path(m.what)).unwrap(), bad);
        }
    }

    #[test]
    fn a_replayed_level_is_refused_and_the_mark_survives_reopening() {
        let d = tempfile::tempdir().unwrap();
        let tz1: PublicKeyHash = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap();
        let h = HighWatermarks::new(d.path());
        let data = attestation(10, 0);
        let m = mark_of(&data, &tz1).unwrap().unwrap();
        assert_eq!(h.check(&m, &tz1, &data).unwrap(), Verdict::Sign);
        let sig = Signature::Ed25519([5; 64]);
        h.record(&m, &tz1, &data, &sig).unwrap();
        let h = HighWatermarks::new(d.path());
        assert_eq!(
            h.check(&m, &tz1, &data).unwrap(),
            Verdict::AlreadySigned(sig)
        );
        let other = [&data[..data.len() - 1], &[1]].concat();
        assert!(matches!(
            h.check(&m, &tz1, &other),
            Err(HwmError::DifferentData { .. })
        ));
        let old = attestation(9, 5);
        let mo = mark_of(&old, &tz1).unwrap().unwrap();
        assert!(matches!(
            h.check(&mo, &tz1, &old),
            Err(HwmError::Below { .. })
        ));
        let new = attestation(10, 1);
        let mn = mark_of(&new, &tz1).unwrap().unwrap();
        assert_eq!(h.check(&mn, &tz1, &new).unwrap(), Verdict::Sign);
    }
}
