//! Fast execution engine of the WASM PVM on wasmtime (Cranelift): [`WasmtimeEngine`]
//! implements [`wasm_pvm::KernelEngine`] (reference `wasm-pvm.md` §3.5–§3.7, §8;
//! `crates-and-anchors.md` §1).
//!
//! * [`config`]: Octez's feature set (no floats, no multi-value) and the wasmtime configuration.
//! * [`validate`]: validation before compilation (floats and unknown features are decode errors).
//! * [`instrument`]: the deterministic call-depth limit (60 000 frames, 300 in V0).
//! * [`WasmtimeEngine`]: compiled-module cache (2 entries), linking, host calls, trap mapping,
//!   and cancellation through an [`Interrupt`] handle.
//! * [`disk_cache`]: compiled kernels kept on disk across restarts, verified before use.

pub mod config;
pub mod disk_cache;
mod engine;
pub mod instrument;
pub mod validate;

pub use config::Options;
pub use disk_cache::DiskCacheStats;
pub use engine::{BuildError, Interrupt, MODULE_CACHE_SIZE, WasmtimeEngine};
