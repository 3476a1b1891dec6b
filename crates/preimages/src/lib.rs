//! The reveal channel of the WASM PVM on the node side.
//!
//! * [`RevealHash`]: 33-byte reveal hashes (`wasm-pvm.md` §5.1).
//! * [`PreimageStore`]: `<dir>/<hex hash>` files plus an optional HTTP pre-images
//!   endpoint, every pre-image verified before use and before storage (§5.3).
//! * [`RevealRequest`] / [`Revealer`]: decoding of reveal request payloads and their
//!   answers: raw data, metadata, DAL pages and parameters ([`dal`]), malformed → empty
//!   (§5.2).
//!
//! Synchronous and free of async runtimes.

pub mod dal;
mod hash;
mod reveal;
mod store;

pub use hash::{BLAKE2B_TAG, MAX_PREIMAGE_SIZE, REVEAL_HASH_SIZE, RevealHash, RevealHashError};
pub use reveal::{RevealRequest, Revealer, RollupMetadata};
pub use store::{
    DEFAULT_HTTP_TIMEOUT, PreimageConfigError, PreimageError, PreimageSource, PreimageStore,
};
