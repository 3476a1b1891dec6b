//! Integration tests of `wasm-interp` (one binary): the lazy containers against hand-built
//! Octez layouts; every tick (decode, link, init, eval, padding) against Octez's per-tick
//! state hashes (`ticks`); whole windows against the fast path (`differential`).

mod containers;
mod differential;
mod ticks;
