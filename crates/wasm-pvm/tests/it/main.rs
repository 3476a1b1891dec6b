//! Integration tests of `wasm-pvm`.

mod conformance;
mod machine;
