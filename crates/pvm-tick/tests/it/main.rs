//! Integration tests of `pvm-tick` against Octez outputs (fixtures of
//! `crates/wasm-pvm/tests/fixtures/ticks/`, README.md there says where each comes from), and
//! whole windows of the tick-level PVM against the fast path (`differential`).

mod differential;
mod driver;
mod host_proofs;
mod interp_proofs;
mod refutation;
mod ticks;
mod tx_no_verify;
