//! Reader of irmin-pack stores: the `context/` directory of an Octez rollup-node snapshot
//! (`docs/reference/octez-rollup-node.md` §5.5, §7), read without Octez.
//!
//! Supported layouts (irmin `src/irmin-pack/`): v1/v2 (`store.pack`, `store.dict`,
//! `store.branches`, `index/`), v3 to v5 (`store.control` with its checksum, chunked
//! `store.<n>.suffix`, the `store.<g>.prefix`/`store.<g>.mapping` left by a GC). Entry kinds:
//! contents `B`, commits `C` (v1), `D`, `P` (dangling parents), inodes `I`/`N` (v1) and `R`/`O`
//! (v2), names inline or through the dict, children by offset or by hash (through the index).
//! A lower layer (`volume.*`, outside the directory) is not read.
//!
//! Nothing is trusted: [`Store::walk`] recomputes the hash of every value, inode, directory
//! and commit with the [`Schema`] and compares it with the stored one; a mismatch, a
//! truncated entry, a bad control checksum or an unknown kind is an [`Error`] naming the file
//! and offset. For the rollup node's schema ([`Schema::tezos_binary`]) directory hashes are
//! also recomputed by `context-hash` from the entries alone.
//!
//! [`write`](mod@write) is a small writer of such stores (Tezos binary schema, v5 layout), for tests and a
//! future export to Octez.
//!
//! ```no_run
//! # fn main() -> Result<(), irmin_pack::Error> {
//! use irmin_pack::{Item, ObjHash, Schema, Store};
//! // The context of an L2 block, as the rollup node's SQL store names it.
//! let hash = ObjHash::from_context_b58("CoUt95hdFjaDDWc4dMLBekJ9VZQGTkbLzcbD9rb4Cwj7i936is8i")
//!     .expect("a Co… hash");
//! let store = Store::open("data-dir/context", Schema::tezos_binary())?;
//! let commit = store.commit(&hash)?;
//! store.walk(&commit, |item| -> Result<(), irmin_pack::Error> {
//!     if let Item::Contents { path, bytes, .. } = item {
//!         println!("{} steps, {} bytes", path.len(), bytes.len());
//!     }
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```

mod codec;
mod error;
mod files;
mod schema;
mod store;
pub mod write;

pub use codec::Kind;
pub use error::{Error, Result};
pub use files::{Control, Gced, IndexEntry, Status};
pub use schema::{
    CommitInfo, EntryType, HashFn, MAX_HASH_SIZE, NodeEntry, ObjHash, PreImages, Schema,
};
pub use store::{Commit, EntryInfo, Item, Leaf, Store, WalkStats};
