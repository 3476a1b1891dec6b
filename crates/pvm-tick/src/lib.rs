//! The tick-level WASM PVM (issue 13). Work in progress.
