//! State shared by the workers of the smart rollup node (octez-rollup-node.md §4.1, §5.5;
//! Octez `node_context.ml`): the daemon status the L1 follower updates and the RPC server
//! reads ([`NodeStatus`], [`L1Head`], [`RollupConstants`]), the registry of running workers
//! ([`workers`]) and the data directory layout ([`DataDir`]). It lives below every worker,
//! so no worker imports another.

pub mod workers;

use std::path::PathBuf;

use tezos_types::{BlockHash, CommitmentHash, Level, PublicKeyHash};

pub use workers::{WorkerGuard, WorkerName, WorkerStatus, Workers};

/// Version string reported by `GET /version`, the metrics and `--version`.
pub const VERSION: &str = concat!("rust-smart-rollup-node ", env!("CARGO_PKG_VERSION"));

/// L1 connection state reported by `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L1Connection {
    /// Receiving heads.
    Connected,
    /// Lost, retrying.
    Reconnecting,
    /// Not connected (yet).
    Disconnected,
}

impl L1Connection {
    /// The name `/health` reports (`l1.connection`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting",
            Self::Disconnected => "disconnected",
        }
    }
}

/// Last L1 head seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Head {
    /// Hash.
    pub hash: BlockHash,
    /// Level.
    pub level: i32,
    /// RFC 3339 timestamp.
    pub timestamp: String,
    /// Age of the head's timestamp in seconds, as measured by the daemon.
    pub age_secs: u64,
}

/// Daemon status shared with the RPC server (the L1 follower updates it).
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// L1 connection.
    pub l1_connection: L1Connection,
    /// Last L1 head seen.
    pub l1_head: Option<L1Head>,
    /// Degraded mode.
    pub degraded: bool,
    /// Why the L1 cannot be used, with what to do (reported as `l1.error` by `/health`).
    pub l1_error: Option<String>,
    /// The running workers (Octez's `active_workers`), registered by the workers.
    pub workers: Workers,
    /// Protocol constants read from L1 (`None` until the follower has read them).
    pub constants: Option<RollupConstants>,
    /// Level processing figures (metrics).
    pub processing: ProcessingStats,
    /// Commitments of other stakers found in conflict with ours since start (metric
    /// `number_of_conflicts`).
    pub conflicts: u64,
    /// Conflicts with our commitments not yet settled by the cementation of their level,
    /// reported by `/health` (`conflicts`), oldest first.
    pub open_conflicts: Vec<OpenConflict>,
}

/// A commitment published by another staker that disagrees with ours at the same inbox level
/// and predecessor (Octez `check_other_commitment`): one of the two states is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenConflict {
    /// Inbox level of both commitments.
    pub inbox_level: Level,
    /// Our commitment.
    pub ours: CommitmentHash,
    /// Theirs.
    pub theirs: CommitmentHash,
    /// The staker who published theirs.
    pub staker: PublicKeyHash,
}

impl OpenConflict {
    /// Its stored entry: `level ours theirs staker` (b58check hashes).
    fn entry(&self) -> String {
        format!(
            "{} {} {} {}",
            self.inbox_level, self.ours, self.theirs, self.staker
        )
    }

    /// Reads the four fields of [`Self::entry`].
    fn from_fields(f: &[&str]) -> Option<Self> {
        let [level, ours, theirs, staker] = f[..] else {
            return None;
        };
        Some(OpenConflict {
            inbox_level: level.parse::<u32>().ok().and_then(Level::from_u32)?,
            ours: ours.parse().ok()?,
            theirs: theirs.parse().ok()?,
            staker: staker.parse().ok()?,
        })
    }
}

/// A conflict with the L1 levels whose blocks opened and settled it, so that a
/// reorganisation can undo them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedConflict {
    /// The conflict.
    pub conflict: OpenConflict,
    /// Level of the block that published their commitment.
    pub opened_at: Level,
    /// Level of the block that cemented the conflict's level, if any.
    pub settled_at: Option<Level>,
}

/// The conflicts of the processed chain, as stored with each level (`open_conflicts` in
/// `rollup_node_state`): the open ones ([`Self::open_conflicts`]) and those settled at a
/// level not final yet. Processing a level first undoes what the blocks at and above it did
/// ([`Self::rewind`]: they were abandoned by a reorganisation, or not stored before a crash),
/// so the list always follows the chain the follower processed (`/health` `conflicts`).
/// The list is written in the level's store transaction: a crash loses both or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConflictLog(Vec<TrackedConflict>);

impl ConflictLog {
    /// Undoes what the blocks at `level` and above did: conflicts they opened are forgotten,
    /// those they settled are open again.
    pub fn rewind(&mut self, level: Level) {
        self.0.retain(|c| c.opened_at < level);
        for c in &mut self.0 {
            if c.settled_at.is_some_and(|s| s >= level) {
                c.settled_at = None;
            }
        }
    }

    /// Records a conflict found in the block at `at` (once per commitment of theirs).
    pub fn open(&mut self, c: OpenConflict, at: Level) {
        if !self.0.iter().any(|o| o.conflict.theirs == c.theirs) {
            self.0.push(TrackedConflict {
                conflict: c,
                opened_at: at,
                settled_at: None,
            });
        }
    }

    /// The block at `at` cemented the commitment of `inbox_level`: the open conflicts up to
    /// that level are settled (a cementation that is not ours already stopped the node,
    /// `Disagree_with_cemented`).
    pub fn settle(&mut self, inbox_level: Level, at: Level) {
        for c in &mut self.0 {
            if c.settled_at.is_none() && c.conflict.inbox_level <= inbox_level {
                c.settled_at = Some(at);
            }
        }
    }

    /// Forgets the conflicts settled at or below the final level `finalized` (no
    /// reorganisation can open them again).
    pub fn forget_settled(&mut self, finalized: Level) {
        self.0
            .retain(|c| c.settled_at.is_none_or(|s| s > finalized));
    }

    /// The conflicts not settled, oldest first.
    #[must_use]
    pub fn open_conflicts(&self) -> Vec<OpenConflict> {
        self.0
            .iter()
            .filter(|c| c.settled_at.is_none())
            .map(|c| c.conflict.clone())
            .collect()
    }

    /// The stored form: `;`-separated `level ours theirs staker opened_at [settled_at]`
    /// (b58check hashes).
    #[must_use]
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|t| {
                let mut e = format!("{} {}", t.conflict.entry(), t.opened_at);
                if let Some(s) = t.settled_at {
                    e.push_str(&format!(" {s}"));
                }
                e
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Reads [`Self::encode`]'s form, and the earlier one of four fields (an entry without
    /// its opening level is taken as opened at its inbox level: never undone by a
    /// reorganisation above it).
    ///
    /// # Errors
    /// A malformed entry, quoted.
    pub fn decode(s: &str) -> Result<Self, String> {
        let level = |l: &str| l.parse::<u32>().ok().and_then(Level::from_u32);
        s.split(';')
            .filter(|e| !e.is_empty())
            .map(|e| {
                let bad = || format!("malformed open conflict {e:?}");
                let f: Vec<&str> = e.split(' ').collect();
                let (base, opened, settled) = match f[..] {
                    [_, _, _, _] => (&f[..], None, None),
                    [_, _, _, _, o] => (&f[..4], Some(o), None),
                    [_, _, _, _, o, s] => (&f[..4], Some(o), Some(s)),
                    _ => return Err(bad()),
                };
                let conflict = OpenConflict::from_fields(base).ok_or_else(bad)?;
                let opened_at = match opened {
                    Some(o) => level(o).ok_or_else(bad)?,
                    None => conflict.inbox_level,
                };
                let settled_at = settled.map(|s| level(s).ok_or_else(bad)).transpose()?;
                Ok(TrackedConflict {
                    conflict,
                    opened_at,
                    settled_at,
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl Default for NodeStatus {
    fn default() -> Self {
        Self {
            l1_connection: L1Connection::Disconnected,
            l1_head: None,
            degraded: false,
            l1_error: None,
            workers: Workers::default(),
            constants: None,
            processing: ProcessingStats::default(),
            conflicts: 0,
            open_conflicts: Vec::new(),
        }
    }
}

/// Protocol constants the RPCs and metrics need (`Rollup_constants`, read by the follower
/// from the L1 `/chains/main/blocks/<head>/context/constants`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupConstants {
    /// `smart_rollup_commitment_period_in_blocks`.
    pub commitment_period: u32,
    /// `smart_rollup_challenge_window_in_blocks`.
    pub challenge_window: u32,
    /// `minimal_block_delay` in seconds.
    pub minimal_block_delay: u64,
    /// `smart_rollup_max_active_outbox_levels`: outbox levels in `(LCC - this, LCC]` are
    /// executable (docs/reference/octez-rollup-node.md §6.3).
    pub max_active_outbox_levels: i32,
}

/// What the follower reports after each processed level (`inbox_process_time` metric).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessingStats {
    /// Levels processed since start.
    pub levels: u64,
    /// Last processed level.
    pub last_level: Option<i32>,
    /// Seconds spent processing the last level.
    pub last_secs: f64,
}

impl ProcessingStats {
    /// Records one processed level and the time it took.
    pub fn record(&mut self, level: i32, took: std::time::Duration) {
        self.levels = self.levels.saturating_add(1);
        self.last_level = Some(level);
        self.last_secs = took.as_secs_f64();
    }
}

/// Failures preparing the data directory (§5.5).
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The data directory path exists but is not a directory.
    #[error(
        "The data directory {0} exists and is not a directory (--data-dir names a file); \
         choose a directory, or remove the file."
    )]
    NotADirectory(PathBuf),
    /// A directory could not be created.
    #[error("{path}: {1}", path = .0.display())]
    Io(PathBuf, #[source] std::io::Error),
}

/// Data directory layout (§5.5).
#[derive(Debug, Clone)]
pub struct DataDir(pub PathBuf);

impl DataDir {
    /// `store.sqlite`.
    pub fn store(&self) -> PathBuf {
        self.0.join("store.sqlite")
    }
    /// `context/`.
    pub fn context(&self) -> PathBuf {
        self.0.join("context")
    }
    /// `wasm_2_0_0/` (reveal pre-images).
    pub fn preimages(&self) -> PathBuf {
        self.0.join("wasm_2_0_0")
    }
    /// `compiled-kernels/`: kernels compiled by the PVM engine, kept across restarts
    /// (`crates/pvm-wasmtime/src/disk_cache.rs`; an addition of this node, safe to delete).
    pub fn compiled_kernels(&self) -> PathBuf {
        self.0.join("compiled-kernels")
    }

    /// Creates the directories.
    pub fn create(&self) -> Result<(), DataDirError> {
        if self.0.exists() && !self.0.is_dir() {
            return Err(DataDirError::NotADirectory(self.0.clone()));
        }
        for d in [self.0.clone(), self.context(), self.preimages()] {
            std::fs::create_dir_all(&d).map_err(|e| DataDirError::Io(d.clone(), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(l: u32) -> Level {
        Level::from_u32(l).unwrap()
    }

    fn conflict(inbox_level: u32, b: u8) -> OpenConflict {
        OpenConflict {
            inbox_level: level(inbox_level),
            ours: CommitmentHash::new([1; 32]),
            theirs: CommitmentHash::new([b; 32]),
            staker: PublicKeyHash::Ed25519([b; 20]),
        }
    }

    /// A reorganisation undoes the conflicts the abandoned blocks opened and the settlements
    /// they made; what the kept blocks did stays.
    #[test]
    fn a_reorganisation_undoes_the_abandoned_blocks() {
        let mut log = ConflictLog::default();
        log.open(conflict(20, 2), level(25));
        log.open(conflict(20, 2), level(26));
        log.open(conflict(30, 3), level(35));
        log.settle(level(20), level(40));
        assert_eq!(log.open_conflicts(), vec![conflict(30, 3)]);
        // Processing level 38 again (levels 38.. abandoned): the settlement at 40 is undone.
        log.rewind(level(38));
        assert_eq!(log.open_conflicts(), vec![conflict(20, 2), conflict(30, 3)]);
        // Processing level 35 again: the conflict its old block opened is forgotten.
        log.rewind(level(35));
        assert_eq!(log.open_conflicts(), vec![conflict(20, 2)]);
        // The new branch opens and settles on its own blocks.
        log.open(conflict(30, 4), level(36));
        log.settle(level(20), level(37));
        assert_eq!(log.open_conflicts(), vec![conflict(30, 4)]);
        // Extending the chain undoes nothing.
        log.rewind(level(38));
        assert_eq!(log.open_conflicts(), vec![conflict(30, 4)]);
    }

    /// Settled conflicts are kept until their settlement is final, then forgotten.
    #[test]
    fn settled_conflicts_are_forgotten_once_final() {
        let mut log = ConflictLog::default();
        log.open(conflict(20, 2), level(25));
        log.settle(level(20), level(40));
        log.forget_settled(level(39));
        log.rewind(level(40));
        assert_eq!(log.open_conflicts(), vec![conflict(20, 2)]);
        log.settle(level(20), level(40));
        log.forget_settled(level(40));
        log.rewind(level(40));
        assert!(log.open_conflicts().is_empty());
        assert_eq!(log, ConflictLog::default());
    }

    #[test]
    fn the_log_round_trips_and_reads_the_old_form() {
        let mut log = ConflictLog::default();
        log.open(conflict(20, 2), level(25));
        log.open(conflict(30, 3), level(35));
        log.settle(level(20), level(40));
        assert_eq!(ConflictLog::decode(&log.encode()).unwrap(), log);
        assert_eq!(ConflictLog::decode("").unwrap(), ConflictLog::default());
        let old = conflict(20, 2).entry();
        let read = ConflictLog::decode(&old).unwrap();
        assert_eq!(read.open_conflicts(), vec![conflict(20, 2)]);
        let mut kept = read.clone();
        kept.rewind(level(21));
        assert_eq!(kept, read);
        for bad in ["12 src1 x", &format!("{old} x"), &format!("{old} 25 26 27")] {
            assert!(ConflictLog::decode(bad).is_err(), "{bad}");
        }
    }
}
