//! The WebAssembly feature set and the wasmtime configuration.
//!
//! Octez's fast path (Wasmer 3.3, `src/lib_wasmer/config.ml`; `crates-and-anchors.md` §1.1,
//! `wasm-pvm.md` §8.1) enables reference types (which force bulk memory on in Wasmer 3.3) and
//! SIMD; multi-value, threads, tail calls, memory64, multi-memory are off. Wasmer has no float
//! switch: before compiling, Octez checks the kernel with the reference decoder
//! (`allow_floats:false`, `load_parse_module` in `src/lib_scoru_wasm/fast/module_cache.ml`),
//! which refuses float types and most float instructions but not all (`wasm-pvm.md` §3.5):
//! that list is [`crate::validate`]'s, so wasmparser's `FLOATS` is on here.

use wasmparser::WasmFeatures;

/// The wasmparser/wasmtime features a kernel is validated and compiled with: WebAssembly 2.0
/// without multi-value. `FLOATS` is on because wasmparser also gates with it the float SIMD
/// operators Octez's decoder accepts (`i32x4.trunc_sat_f32x4_s/u`,
/// `i32x4.trunc_sat_f64x2_s/u_zero`, `f64x2.ceil/floor/trunc/nearest`,
/// `f32x4.convert_i32x4_s/u`); the floats Octez refuses are refused by
/// [`crate::validate::validate`]. NaN canonicalisation keeps float results deterministic.
///
/// `GC_TYPES` stays off: it gates `externref`, which wasmtime only supports with its `gc`
/// build feature (not compiled in); `funcref` tables and `call_indirect` work without it.
pub const KERNEL_FEATURES: WasmFeatures = WasmFeatures::MUTABLE_GLOBAL
    .union(WasmFeatures::SIGN_EXTENSION)
    .union(WasmFeatures::REFERENCE_TYPES)
    .union(WasmFeatures::BULK_MEMORY)
    .union(WasmFeatures::SIMD)
    .union(WasmFeatures::FLOATS);

/// Native stack budget given to wasmtime (`Config::max_wasm_stack`), in bytes.
///
/// The deterministic limit is the frame counter of [`crate::instrument`]; this budget only has
/// to be large enough that 60 000 frames of real kernels never reach it (about 8 KiB a frame).
pub const MAX_WASM_STACK: usize = 512 << 20;

/// Native stack of the thread that runs a kernel: the wasm budget plus room for the host.
pub const RUN_THREAD_STACK: usize = MAX_WASM_STACK + (16 << 20);

/// Engine options.
///
/// Cancellation ([`crate::Interrupt`]) is always checked before a run starts and at every
/// host call (one relaxed atomic load; kernels call the host constantly: inputs, durable
/// storage, outputs). `interruptible` adds checks inside compiled code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Compile epoch checks (every function entry and loop header; wasmtime cannot restrict
    /// them to back-edges) so that even a kernel stuck in a pure-compute loop without host
    /// calls can be cancelled. Off by default: they cost 1.4–2× on call-heavy compute
    /// (`examples/overhead.rs`), above the ≤ 1.3× goal over bare wasmtime, while the default
    /// host-call check is free. Without them, such a loop only stops when the process exits
    /// (it runs on its own thread, so the node itself never freezes).
    pub interruptible: bool,
}

/// Build the wasmtime configuration: exactly [`KERNEL_FEATURES`], Cranelift, NaN
/// canonicalisation, epoch interruption if asked (cancellation only, never a result), no fuel.
pub fn wasmtime_config(options: Options) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    // Start from nothing, then enable exactly our set.
    config.wasm_features(WasmFeatures::all(), false);
    config.wasm_features(KERNEL_FEATURES, true);
    config
        .cranelift_nan_canonicalization(true)
        .epoch_interruption(options.interruptible)
        .max_wasm_stack(MAX_WASM_STACK)
        // Unused (no async), but wasmtime requires it to be at least `max_wasm_stack`.
        .async_stack_size(MAX_WASM_STACK)
        .wasm_backtrace_max_frames(None);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_builds_with_the_kernel_features() {
        for interruptible in [true, false] {
            wasmtime::Engine::new(&wasmtime_config(Options { interruptible }))
                .expect("engine config is valid");
        }
    }

    #[test]
    fn multi_value_is_off_and_floats_are_left_to_the_decoder_check() {
        // On: wasmparser's `FLOATS` also gates the SIMD conversions Octez decodes and runs;
        // Octez's float refusal is `validate`'s decoder check (its unit tests).
        assert!(KERNEL_FEATURES.contains(WasmFeatures::FLOATS));
        assert!(!KERNEL_FEATURES.contains(WasmFeatures::MULTI_VALUE));
        assert!(!KERNEL_FEATURES.contains(WasmFeatures::RELAXED_SIMD));
        assert!(!KERNEL_FEATURES.contains(WasmFeatures::TAIL_CALL));
        assert!(!KERNEL_FEATURES.contains(WasmFeatures::THREADS));
        assert!(!KERNEL_FEATURES.contains(WasmFeatures::MEMORY64));
        assert!(!KERNEL_FEATURES.contains(WasmFeatures::MULTI_MEMORY));
    }
}
