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

/// Records a conflict in `open` (once per commitment of theirs).
pub fn open_conflict(open: &mut Vec<OpenConflict>, c: OpenConflict) {
    if !open.iter().any(|o| o.theirs == c.theirs) {
        open.push(c);
    }
}

/// The commitment of `inbox_level` was cemented: the conflicts up to that level are settled
/// (a cementation that is not ours already stopped the node, `Disagree_with_cemented`).
pub fn settle_conflicts(open: &mut Vec<OpenConflict>, inbox_level: Level) {
    open.retain(|c| c.inbox_level > inbox_level);
}

impl OpenConflict {
    /// The stored form of a list (`;`-separated `level ours theirs staker`, b58check hashes).
    #[must_use]
    pub fn encode_list(list: &[OpenConflict]) -> String {
        list.iter()
            .map(|c| format!("{} {} {} {}", c.inbox_level, c.ours, c.theirs, c.staker))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Reads [`Self::encode_list`]'s form.
    ///
    /// # Errors
    /// A malformed entry, quoted.
    pub fn decode_list(s: &str) -> Result<Vec<OpenConflict>, String> {
        s.split(';')
            .filter(|e| !e.is_empty())
            .map(|e| {
                let bad = || format!("malformed open conflict {e:?}");
                let f: Vec<&str> = e.split(' ').collect();
                let [level, ours, theirs, staker] = f[..] else {
                    return Err(bad());
                };
                Ok(OpenConflict {
                    inbox_level: level
                        .parse::<u32>()
                        .ok()
                        .and_then(Level::from_u32)
                        .ok_or_else(bad)?,
                    ours: ours.parse().map_err(|_| bad())?,
                    theirs: theirs.parse().map_err(|_| bad())?,
                    staker: staker.parse().map_err(|_| bad())?,
                })
            })
            .collect()
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
