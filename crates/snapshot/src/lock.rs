//! The data directory's locks, taken as the node takes them: the context file
//! (`<data-dir>/context/store`, locked by the node for as long as it runs,
//! `crates/pack-store/src/pack.rs`) and `<data-dir>/gc_lock` (held by a context GC,
//! `crates/node-follower/src/gc.rs`). An export waits for `gc_lock` and exports a running
//! node's data directory from copies (`crate::live`); an import never waits: a running node
//! makes it fail at once with [`SnapshotError::Locked`].

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::SnapshotError;

/// Held locks, released on drop.
#[derive(Debug)]
pub(crate) struct Locks {
    _files: Vec<File>,
}

fn try_lock(path: &Path, create: bool) -> Result<Option<File>, SnapshotError> {
    let f = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SnapshotError::io(path)(e)),
    };
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(TryLockError::WouldBlock) => Err(SnapshotError::Locked(path.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(SnapshotError::io(path)(e)),
    }
}

/// Whether a node runs on `data_dir` (it holds its context file's lock; the lock is released
/// at once when free).
pub(crate) fn node_running(data_dir: &Path) -> Result<bool, SnapshotError> {
    match try_lock(
        &data_dir.join("context").join(pvm_store::CONTEXT_FILE),
        false,
    ) {
        Ok(_) => Ok(false),
        Err(SnapshotError::Locked(_)) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Takes `gc_lock` of `data_dir` for the whole command, waiting for a running context GC
/// (`lock_all`: `--rollup-node-endpoint` cancels it first).
pub(crate) fn wait_gc(data_dir: &Path) -> Result<Locks, SnapshotError> {
    let path = data_dir.join("gc_lock");
    match try_lock(&path, true) {
        Ok(f) => Ok(Locks {
            _files: f.into_iter().collect(),
        }),
        Err(SnapshotError::Locked(_)) => {
            eprintln!(
                "Acquiring GC lock\n(specify --rollup-node-endpoint for the snapshot command to \
                 take priority)"
            );
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(SnapshotError::io(&path))?;
            f.lock().map_err(SnapshotError::io(&path))?;
            Ok(Locks { _files: vec![f] })
        }
        Err(e) => Err(e),
    }
}

/// Takes `gc_lock` and the context lock of `data_dir` (when a context exists), for the
/// whole command.
pub(crate) fn lock_data_dir(data_dir: &Path) -> Result<Locks, SnapshotError> {
    let mut files = Vec::new();
    files.extend(try_lock(
        &data_dir.join("context").join(pvm_store::CONTEXT_FILE),
        false,
    )?);
    // Not created when absent: a failed import leaves the data directory as it was.
    files.extend(try_lock(&data_dir.join("gc_lock"), false)?);
    Ok(Locks { _files: files })
}
