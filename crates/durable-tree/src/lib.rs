//! The durable Merkle tree: an Irmin binary-context tree, hashed as Octez
//! hashes it (`context-hash`), with Octez durable-storage semantics
//! ([`durable`]), object stores ([`NodeStore`], [`MemStore`], [`DiskStore`] (an append-only
//! pack file), [`RedbStore`])
//! and a [`Repo`] committing and checking out trees.
//!
//! References: `docs/reference/wasm-pvm.md` §2 (durable storage) and
//! §7 (state and hashing); `crates-and-anchors.md` §2 (storage engines).

mod disk;
pub mod durable;
pub mod hash_trace;
mod inode;
mod pack;
mod repo;
mod store;
mod tree;

pub use context_hash::Hash;
pub use disk::RedbStore;
pub use pack::{DiskStore, PackCorruption, Recovery};
pub use repo::{GcStats, Repo};
pub use store::{BatchWriter, INLINE_MAX, MemStore, NodeStore, StoreError};
pub use tree::{Kind, Tree, TreeError};
