//! Integration tests of the wasmtime engine with small WAT kernels.

mod common;
mod depth;
mod differential;
mod host_functions;
mod installer;
mod kernels;
mod outcomes;
mod pvm;
mod sdk_kernels;
