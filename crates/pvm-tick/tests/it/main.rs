//! Integration tests of `pvm-tick` against Octez outputs (fixtures of
//! `crates/wasm-pvm/tests/fixtures/ticks/`, README.md there says where each comes from).

mod driver;
mod refutation;
mod ticks;
