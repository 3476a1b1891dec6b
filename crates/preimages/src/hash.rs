//! Reveal hashes (`wasm-pvm.md` §5.1): the types live in `tezos_types::reveal`, shared with the
//! refutation game's rules.

pub use tezos_types::reveal::{
    BLAKE2B_TAG, MAX_PREIMAGE_SIZE, REVEAL_HASH_SIZE, RevealHash, RevealHashError,
};
