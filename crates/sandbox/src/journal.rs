//! Persistence: `<data-dir>/sandbox.json` (genesis timestamp and constants, written once) and
//! `<data-dir>/journal.jsonl`, an append-only log of baked blocks and reorg pops, one JSON
//! line each, synced before the block is announced. Replaying the journal rebuilds the exact
//! same chain (hashes included); a torn last line (crash mid-write) is dropped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chain::{BakeRecord, Chain, ChainError};
use crate::constants::Constants;
use crate::ops::Operation;

/// Name of the configuration file.
pub const CONFIG_FILE: &str = "sandbox.json";
/// Name of the journal file.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// Operational errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// File-system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Unreadable config file.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A journaled entry does not replay.
    #[error("journal replay failed at entry {index}: {source}")]
    Replay {
        /// Entry index.
        index: usize,
        /// The cause.
        source: ChainError,
    },
    /// A journaled operation does not parse.
    #[error("journal entry {0} holds an unparsable operation")]
    BadOperation(usize),
}

/// Chain parameters fixed at the first start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Timestamp of the genesis block.
    pub genesis_timestamp: i64,
    /// Protocol constants.
    pub constants: Constants,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum Entry {
    /// A baked block.
    #[serde(rename = "block")]
    Block {
        /// Timestamp.
        timestamp: i64,
        /// Round.
        round: i32,
        /// Signed operations (hex).
        ops: Vec<String>,
    },
    /// The last `depth` blocks were removed (a reorg; the new branch follows as blocks).
    #[serde(rename = "pop")]
    Pop {
        /// Number of blocks removed.
        depth: u32,
    },
}

impl From<&BakeRecord> for Entry {
    fn from(r: &BakeRecord) -> Self {
        Self::Block {
            timestamp: r.timestamp,
            round: r.round,
            ops: r.operations.iter().map(hex::encode).collect(),
        }
    }
}

/// The open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `sandbox.json`, or writes `default` there on the first start.
pub fn load_or_init_config(dir: &Path, default: &Config) -> Result<Config, JournalError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(CONFIG_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|source| JournalError::Json { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let body = serde_json::to_vec_pretty(default).map_err(|source| JournalError::Json {
                path: path.clone(),
                source,
            })?;
            atomic_file::write(&path, &body).map_err(io(&path))?;
            Ok(default.clone())
        }
        Err(e) => Err(io(&path)(e)),
    }
}

impl Journal {
    /// Opens (creating) the journal and returns its valid entries; a torn tail is cut off.
    pub fn open(dir: &Path) -> Result<(Self, Vec<Entry>), JournalError> {
        let path = dir.join(JOURNAL_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io(&path))?;
        let mut entries = Vec::new();
        let mut good: u64 = 0;
        {
            let mut r = BufReader::new(&file);
            let mut line = String::new();
            loop {
                line.clear();
                let n = r.read_line(&mut line).map_err(io(&path))?;
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                match serde_json::from_str::<Entry>(line.trim_end()) {
                    Ok(e) => {
                        entries.push(e);
                        good += n as u64;
                    }
                    Err(_) => break,
                }
            }
        }
        let len = file.metadata().map_err(io(&path))?.len();
        if len != good {
            file.set_len(good).map_err(io(&path))?;
            file.seek(SeekFrom::End(0)).map_err(io(&path))?;
        }
        Ok((Self { path, file }, entries))
    }

    /// Appends an entry and syncs it to disk.
    pub fn append(&mut self, e: &Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(e).map_err(|source| JournalError::Json {
            path: self.path.clone(),
            source,
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))
    }
}

/// Rebuilds the chain from its config and journal entries.
pub fn replay(config: &Config, entries: &[Entry]) -> Result<Chain, JournalError> {
    let mut chain = Chain::new(config.constants.clone(), config.genesis_timestamp);
    for (index, e) in entries.iter().enumerate() {
        match e {
            Entry::Block {
                timestamp,
                round,
                ops,
            } => {
                let ops = ops
                    .iter()
                    .map(|h| {
                        hex::decode(h)
                            .ok()
                            .and_then(|b| Operation::from_signed_bytes(&b).ok())
                            .ok_or(JournalError::BadOperation(index))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // Operations re-included after a replay must leave the mempool.
                let hashes: Vec<_> = ops.iter().map(Operation::hash).collect();
                chain.mempool.retain(|(h, _)| !hashes.contains(h));
                chain
                    .bake_ops(*timestamp, *round, ops, true)
                    .map_err(|source| JournalError::Replay { index, source })?;
            }
            Entry::Pop { depth } => chain
                .pop(*depth)
                .map_err(|source| JournalError::Replay { index, source })?,
        }
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_dropped_and_replay_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            genesis_timestamp: 1_700_000_000,
            constants: Constants::test(),
        };
        assert_eq!(load_or_init_config(dir.path(), &cfg).unwrap(), cfg);
        let mut chain = Chain::new(cfg.constants.clone(), cfg.genesis_timestamp);
        {
            let (mut j, entries) = Journal::open(dir.path()).unwrap();
            assert!(entries.is_empty());
            for t in 0..3 {
                let r = chain.bake(1_700_000_100 + t);
                j.append(&Entry::from(&r)).unwrap();
            }
            chain.pop(1).unwrap();
            j.append(&Entry::Pop { depth: 1 }).unwrap();
            for r in chain.reorg(0).unwrap() {
                j.append(&Entry::from(&r)).unwrap();
            }
        }
        // Simulate a crash in the middle of a write.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL_FILE))
            .unwrap();
        f.write_all(b"{\"t\":\"block\",\"timest").unwrap();
        drop(f);
        let (_, entries) = Journal::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 4);
        let replayed = replay(&cfg, &entries).unwrap();
        assert_eq!(replayed.head().hash, chain.head().hash);
        assert_eq!(replayed.head().header.level, 3);
        let len = std::fs::metadata(dir.path().join(JOURNAL_FILE))
            .unwrap()
            .len();
        let (_, again) = Journal::open(dir.path()).unwrap();
        assert_eq!(again.len(), 4);
        assert_eq!(
            std::fs::metadata(dir.path().join(JOURNAL_FILE))
                .unwrap()
                .len(),
            len
        );
    }
}
