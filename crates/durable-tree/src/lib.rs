//! The durable Merkle tree: an Irmin binary-context tree, hashed as Octez
//! hashes it (`context-hash`), with Octez durable-storage semantics
//! ([`durable`]), the object store interface ([`NodeStore`]) with an in-memory store
//! ([`MemStore`]), and a [`Repo`] committing and checking out trees; Merkle proofs of what a
//! computation reads, in Octez's encoding ([`proof`]). No file I/O: the on-disk stores are in
//! crate `pack-store`, so that what links the PVM links no storage engine.
//!
//! References: `docs/reference/wasm-pvm.md` §2 (durable storage) and
//! §7 (state and hashing); `crates-and-anchors.md` §2 (storage engines).

// Module order (each uses only those above it): `backend` (stores) ←
// `object` (codec) ← `tree` (with `tree/inode`, `tree/load`) ← `durable` ←
// `repo`.
pub mod access;
mod backend;
pub mod durable;
pub mod hash_trace;
mod object;
pub mod proof;
mod repo;
mod tree;

pub use backend::{
    BatchWriter, BuildPrefix, MemStore, NodeStore, PrefixHasher, StoreCorruption, StoreError,
};
pub use context_hash::Hash;
pub use object::INLINE_MAX;
pub use repo::{GcStats, Repo};
pub use tree::par::default_threads;
pub use tree::{Kind, Tree, TreeError, in_memory_only, refuse_store_read};

/// `size_of` of the in-memory tree's types, for the `rss` benchmark's
/// accounting of resident memory (`BENCHMARKS.md`, "RSS").
#[doc(hidden)]
pub fn layout_sizes() -> Vec<(&'static str, usize)> {
    tree::layout_sizes()
}
