//! Octez small-step WebAssembly interpreter (issue 13). Work in progress.
