//! The errors of snapshot commands: each names the file, member or value at fault and says
//! what to do.

use std::path::PathBuf;

use node_config::HistoryMode;
use tezos_types::Level;

use crate::header::HeaderError;
use crate::layout::MemberError;

/// A failed export, import or info.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file of the data directory or of the destination.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// Reading the snapshot stream failed (truncated, bad gzip, bad tar).
    #[error(
        "reading snapshot {source_name}: {source}: the snapshot is truncated or corrupted, \
         nothing was imported"
    )]
    Read {
        /// File name, URL or `-`.
        source_name: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The header does not decode.
    #[error("snapshot {source_name}: {source}")]
    Header {
        /// File name, URL or `-`.
        source_name: String,
        /// The failure.
        #[source]
        source: HeaderError,
    },
    /// A refused archive member.
    #[error("snapshot {source_name}: {source}")]
    Member {
        /// File name, URL or `-`.
        source_name: String,
        /// The failure.
        #[source]
        source: MemberError,
    },
    /// The downloaded snapshot could not be fetched.
    #[error("downloading snapshot {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// Import into a populated data directory without `--force`.
    #[error(
        "The rollup node data dir {} is already populated. If you want to overwrite its \
         non-local content use the --force option.",
        .0.display()
    )]
    Populated(PathBuf),
    /// A node (or another snapshot command) uses the data directory.
    #[error(
        "{} is locked: a rollup node (or another snapshot command) is using the data directory; \
         stop it first (exporting from a running node with --rollup-node-endpoint is not \
         supported yet)",
        .0.display()
    )]
    Locked(PathBuf),
    /// The snapshot is for another rollup than the data directory or the snapshot's own
    /// metadata.
    #[error(
        "The existing rollup node is for {existing}, but the snapshot is for rollup {snapshot}."
    )]
    WrongRollup {
        /// The data directory's rollup (metadata or configuration).
        existing: String,
        /// The snapshot's.
        snapshot: String,
    },
    /// An archive node cannot import a full snapshot.
    #[error(
        "Cannot import {} snapshot into {} rollup node.",
        a_mode(*.snapshot),
        a_mode(*.node)
    )]
    HistoryMode {
        /// The snapshot's mode.
        snapshot: HistoryMode,
        /// The data directory's mode.
        node: HistoryMode,
    },
    /// The data directory is already ahead of the snapshot.
    #[error(
        "The rollup node is already at level {node_level} but the snapshot is only for level \
         {snapshot_level}."
    )]
    NotNewer {
        /// The data directory's head level.
        node_level: Level,
        /// The snapshot's head level.
        snapshot_level: Level,
    },
    /// The data directory cannot be exported (no metadata, no head, no context…).
    #[error("{0}")]
    Export(String),
    /// A consistency check of the snapshot's content failed.
    #[error("snapshot check failed: {0}")]
    Check(String),
    /// The SQL store failed.
    #[error("store {path}: {source}", path = .path.display())]
    Store {
        /// The store file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: node_store::StoreError,
    },
    /// Copying the SQL store failed.
    #[error("copying the store {path}: {source}", path = .path.display())]
    Sql {
        /// The store file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: rusqlite::Error,
    },
    /// The context failed.
    #[error("context {path}: {source}", path = .path.display())]
    Context {
        /// The context directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: pvm_store::ContextError,
    },
    /// The irmin-pack context of an Octez snapshot is damaged or incomplete.
    #[error(
        "the Octez context (irmin-pack, context/) of the snapshot, {at}: {source}; nothing was \
         imported"
    )]
    Irmin {
        /// What was being read (the commit and the block).
        at: String,
        /// The failure (file and offset of the entry at fault).
        #[source]
        source: irmin_pack::Error,
    },
    /// The L1 node could not answer a check.
    #[error(
        "L1 node {endpoint}: {reason}; check -E/--endpoint, or skip the checks with --no-check"
    )]
    L1 {
        /// The endpoint.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// An option this node does not implement yet.
    #[error("{0} is not supported yet by this rollup node")]
    NotSupported(&'static str),
}

fn a_mode(m: HistoryMode) -> &'static str {
    match m {
        HistoryMode::Archive => "an archive",
        HistoryMode::Full => "a full",
    }
}

impl SnapshotError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
