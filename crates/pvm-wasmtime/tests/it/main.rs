//! Integration tests of the wasmtime engine with small WAT kernels.

mod common;
mod depth;
mod differential;
mod disk_cache;
mod host_functions;
mod installer;
mod kernels;
mod link_errors;
mod outcomes;
mod pvm;
mod sdk_kernels;
