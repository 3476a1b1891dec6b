//! Integration tests of the wasmtime engine with small WAT kernels.

mod common;
mod depth;
mod host_functions;
mod kernels;
mod outcomes;
mod pvm;
mod sdk_kernels;
