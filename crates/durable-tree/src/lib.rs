//! The durable Merkle tree: an Irmin binary-context tree, hashed as Octez
//! hashes it (`context-hash`), with Octez durable-storage semantics
//! ([`durable`]), object stores ([`NodeStore`], [`MemStore`], [`DiskStore`] (an append-only
//! pack file), `RedbStore` (feature `redb`, benchmarks only))
//! and a [`Repo`] committing and checking out trees; Merkle proofs of what a computation
//! reads, in Octez's encoding ([`proof`]).
//!
//! References: `docs/reference/wasm-pvm.md` §2 (durable storage) and
//! §7 (state and hashing); `crates-and-anchors.md` §2 (storage engines).

// Module order (each uses only those above it): `backend` (stores) ←
// `object` (codec) ← `tree` (with `tree/inode`, `tree/load`) ← `durable` ←
// `repo`; `pack` and `disk` are backends.
mod backend;
#[cfg(feature = "redb")]
mod disk;
pub mod durable;
pub mod hash_trace;
mod object;
mod pack;
pub mod proof;
mod repo;
mod tree;

pub use backend::{BatchWriter, MemStore, NodeStore, StoreError};
pub use context_hash::Hash;
#[cfg(feature = "redb")]
pub use disk::RedbStore;
pub use object::INLINE_MAX;
pub use pack::{DiskStore, PACK_HEADER_LEN, PackCorruption, Recovery, synced_header};
pub use repo::{GcStats, Repo};
pub use tree::{Kind, Tree, TreeError};

/// `size_of` of the in-memory tree's types, for the `rss` benchmark's
/// accounting of resident memory (`BENCHMARKS.md`, "RSS").
#[doc(hidden)]
pub fn layout_sizes() -> Vec<(&'static str, usize)> {
    tree::layout_sizes()
}
