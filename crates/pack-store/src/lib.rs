//! The on-disk object stores of the durable tree (`durable_tree::NodeStore` implementations):
//! [`DiskStore`], the append-only pack file the node keeps its PVM states in (index, crash
//! recovery, GC by copy: [`pack`]'s module doc), and `RedbStore` (feature `redb`, a B-tree
//! store kept for benchmark comparison only). Apart from `durable-tree`, so that what links the
//! PVM (`wasm-pvm` → `durable-tree`) links no storage engine and does no file I/O
//! (docs/reference/crates-and-anchors.md §2; review item 8 of issue 17).

// Module order: `pack` and `redb_store` each use only `durable-tree`.
pub mod pack;
#[cfg(feature = "redb")]
mod redb_store;

use std::path::Path;
use std::sync::Arc;

use durable_tree::{Repo, StoreCorruption, StoreError};

pub use pack::{DiskStore, PACK_HEADER_LEN, Recovery, synced_header};
#[cfg(feature = "redb")]
pub use redb_store::RedbStore;

/// A repo over the pack file at `path` (created if missing).
pub fn open_repo(path: impl AsRef<Path>) -> Result<Repo, StoreError> {
    Ok(Repo::new(Arc::new(DiskStore::open(path)?)))
}

/// [`open_repo`] with a [`Recovery`] for a corrupted pack file; returns the damage cut away,
/// if any.
pub fn open_repo_with(
    path: impl AsRef<Path>,
    recovery: Recovery,
) -> Result<(Repo, Option<StoreCorruption>), StoreError> {
    let (store, damage) = DiskStore::open_with(path, recovery)?;
    Ok((Repo::new(Arc::new(store)), damage))
}
