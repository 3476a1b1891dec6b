//! The data directory's locks, taken as the node takes them: the context file
//! (`<data-dir>/context/store`, locked by the node for as long as it runs,
//! `crates/durable-tree/src/pack.rs`) and `<data-dir>/gc_lock` (held by a context GC,
//! `crates/node-follower/src/gc.rs`). Never waits on the context lock: a running node makes
//! the command fail at once with [`SnapshotError::Locked`].

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

/// Checks that no node holds the context of `data_dir` (the lock is released at once: the
/// caller opens the context, which takes it again).
pub(crate) fn probe_context(data_dir: &Path) -> Result<(), SnapshotError> {
    try_lock(
        &data_dir.join("context").join(pvm_store::CONTEXT_FILE),
        false,
    )
    .map(drop)
}

/// Takes `gc_lock` of `data_dir` for the whole command.
pub(crate) fn lock_gc(data_dir: &Path) -> Result<Locks, SnapshotError> {
    Ok(Locks {
        _files: try_lock(&data_dir.join("gc_lock"), true)?
            .into_iter()
            .collect(),
    })
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
