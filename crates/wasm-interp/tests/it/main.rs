//! Integration tests of `wasm-interp` (one binary): the lazy containers against hand-built
//! Octez layouts; every tick (decode, link, init, eval, padding) against Octez's per-tick
//! state hashes (`ticks`); the SIMD instructions' decoding, tree encoding and evaluation
//! (`simd`). Whole windows against the fast path are `pvm-tick`'s
//! (`crates/pvm-tick/tests/it/differential.rs`: they need the driver's window end).

mod containers;
mod simd;
mod ticks;
