//! Integration tests of `wasm-interp` (one binary): the lazy containers against hand-built
//! Octez layouts, and the decode/link ticks against Octez's per-tick state hashes.

mod containers;
mod ticks;
