//! The engine interface: what a WASM backend (fast path `pvm-wasmtime`, later a small-step
//! interpreter) must provide to run one `kernel_run`, and what the PVM gives it in return.
//!
//! Division of work (reference `wasm-pvm.md` §3.5–§3.7, §8.1):
//! * the PVM reads `/kernel/boot.wasm`, handles windows, reboots, flags and the fallback kernel;
//! * the engine decodes (rejecting floats), links imports of module `smart_rollup_core` with
//!   [`host_function_signature`], instantiates (memory index 0 must be exported), calls the
//!   `kernel_run` export once, and routes every host call to the matching [`HostState`] method;
//! * host functions ([`HostState`]) implement Octez's exact semantics and error codes.
//!
//! Threading: an engine may run the kernel on another thread (for cancellation). Everything in a
//! [`HostState`] is `Send` (it only borrows `Send` data), so it can be moved into
//! `std::thread::scope`.

use context_hash::Hash;

use crate::version::PvmVersion;

use crate::host::HostState;

/// Guest memory access out of bounds (maps to `MEMORY_INVALID_ACCESS` = -6 in host functions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("guest memory access out of bounds")]
pub struct OutOfBounds;

/// Guest linear memory (memory index 0 of the running instance) as seen by host functions.
///
/// Addresses are the guest's `i32` values read as unsigned (`extend_i32_u`), widened to `u64`.
/// Implementations must check `addr + len <= size()` and touch nothing when the range is out of
/// bounds.
pub trait GuestMemory {
    /// Current memory size in bytes (pages × 65536).
    fn size(&self) -> u64;
    /// Copy `buf.len()` bytes starting at `addr` into `buf`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), OutOfBounds>;
    /// Copy `data` into memory starting at `addr`.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), OutOfBounds>;
    /// The `len` bytes at `addr` without copying, if the memory can lend them: `None` (the
    /// default) makes the host copy them with [`GuestMemory::read`] instead, which also
    /// reports an out-of-bounds range. When `Some`, the bytes must be those `read` gives.
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let _ = (addr, len);
        None
    }
}

/// A WASM value type used by host function signatures (the PVM only uses integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
}

/// The import module name every kernel import must use (`wasm-pvm.md` §1.1).
pub const HOST_MODULE: &str = "smart_rollup_core";

/// Name of the exported entry point (`wasm-pvm.md` §3.1).
pub const KERNEL_RUN: &str = "kernel_run";

/// Octez's stuck message when `kernel_run` is not an exported function (`wasm_vm.ml`).
pub const NO_KERNEL_RUN: &str = "Invalid_module: no `kernel_run` function exported";

/// Message of [`RunOutcome::Stuck`] when the frame limit is reached (`Eval.Exhaustion`'s message,
/// `eval.ml`); the PVM records it as Octez does (see [`crate::StuckError::from_engine_stuck`]).
pub const CALL_STACK_EXHAUSTED: &str = "call stack exhausted";

use ValType::{I32, I64};

/// Signature (params, optional result) of host function `name` if it links at `version`
/// (`lookup_opt` in `src/lib_scoru_wasm/host_funcs.ml`; `wasm-pvm.md` §1.2).
///
/// The `nds_*` functions (V6+) are listed because they must *link*, but this crate does not
/// implement them (see [`HostState`]); an engine should make calling them a fatal error.
pub fn host_function_signature(
    version: PvmVersion,
    name: &str,
) -> Option<(&'static [ValType], Option<ValType>)> {
    let v = |since: PvmVersion| version >= since;
    let sig: (&'static [ValType], Option<ValType>) = match name {
        "read_input" => (&[I32, I32, I32], Some(I32)),
        "write_output" => (&[I32, I32], Some(I32)),
        "write_debug" => (&[I32, I32], None),
        "store_has" => (&[I32, I32], Some(I32)),
        "store_list_size" => (&[I32, I32], Some(I64)),
        "store_get_nth_key" => (&[I32, I32, I64, I32, I32], Some(I32)),
        "store_delete" => (&[I32, I32], Some(I32)),
        "store_copy" | "store_move" => (&[I32, I32, I32, I32], Some(I32)),
        "store_value_size" => (&[I32, I32], Some(I32)),
        "reveal_preimage" => (&[I32, I32, I32, I32], Some(I32)),
        "reveal_metadata" => (&[I32, I32], Some(I32)),
        "store_read" | "store_write" => (&[I32, I32, I32, I32, I32], Some(I32)),
        "store_delete_value" if v(PvmVersion::V1) => (&[I32, I32], Some(I32)),
        "__internal_store_get_hash" if v(PvmVersion::V1) => (&[I32, I32, I32, I32], Some(I32)),
        "store_create" if v(PvmVersion::V1) => (&[I32, I32, I32], Some(I32)),
        "store_exists" if v(PvmVersion::V2) => (&[I32, I32], Some(I32)),
        "reveal" if v(PvmVersion::V3) => (&[I32, I32, I32, I32], Some(I32)),
        "nds_registry_resize" | "nds_registry_clear" if v(PvmVersion::V6) => (&[I64], Some(I32)),
        "nds_registry_copy" | "nds_registry_move" if v(PvmVersion::V6) => (&[I64, I64], Some(I32)),
        "nds_store_exists" | "nds_store_delete" | "nds_store_value_size" if v(PvmVersion::V6) => {
            (&[I64, I32, I32], Some(I32))
        }
        "nds_store_read" | "nds_store_write" if v(PvmVersion::V6) => {
            (&[I64, I32, I32, I64, I32, I32], Some(I32))
        }
        "nds_store_set" if v(PvmVersion::V6) => (&[I64, I32, I32, I32, I32], Some(I32)),
        "nds_database_get_hash" if v(PvmVersion::V6) => (&[I64, I32, I32], Some(I32)),
        _ => return None,
    };
    Some(sig)
}

/// Operational failure inside a host function: the run is aborted and the PVM state must not
/// be advanced (the caller keeps the state from before the window).
#[derive(Debug, thiserror::Error)]
pub enum HostFatal {
    /// Durable storage I/O failed (e.g. a lazily loaded node is missing from the store).
    #[error("durable storage failure: {0}")]
    Storage(String),
    /// A reveal could not be answered (missing preimage, DAL node unreachable, …).
    #[error("reveal failed: {0}")]
    Reveal(#[from] RevealError),
    /// The kernel called a host function this implementation does not support (`nds_*`).
    #[error("unsupported host function {0}")]
    Unsupported(&'static str),
}

/// Why a reveal request could not be answered (operational, not a kernel-visible error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RevealError(pub String);

/// Answers reveal requests synchronously (fast execution has no reveal ticks, `wasm-pvm.md` §8.1).
///
/// `request` is the raw reveal payload of `wasm-pvm.md` §5.2: `reveal_preimage(h)` sends
/// `0x00 ‖ h` (the kernel-supplied bytes, not validated), `reveal_metadata` sends `0x01`,
/// `reveal(p)` sends `p` verbatim. Requests that do not decode must be answered with the empty
/// preimage (`Ok(vec![])`), as L1 does (well-known hash). The answer is truncated to the kernel's
/// buffer by the host function.
pub trait RevealHandler: Send {
    /// Return the bytes revealed for `request`.
    fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, RevealError>;
}

/// Receives `write_debug` output (raw bytes, possibly not UTF-8).
pub trait DebugSink: Send {
    /// Called once per `write_debug` call whose range is readable.
    fn debug(&mut self, bytes: &[u8]);
}

/// How one `kernel_run` attempt ended, as reported by a [`KernelEngine`].
/// Deterministic outcomes only; operational failures are [`EngineError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// `kernel_run` returned normally.
    Returned,
    /// A WASM trap (`unreachable`, out-of-bounds memory/table, division by zero, integer overflow,
    /// invalid conversion, indirect call type mismatch, uninitialised element): the PVM writes
    /// `/readonly/kernel/env/stuck` and pads the window (`wasm-pvm.md` §3.7).
    Trapped(String),
    /// The module failed to decode (includes any float type/instruction): fallback kernel (§3.6).
    DecodeError(String),
    /// An import failed to link (wrong module, unknown name or name not available at this
    /// version): fallback kernel (§3.6). The message of the first failing import is
    /// [`crate::link_error_message`]'s; the PVM finds that import again and places the stuck
    /// state at Octez's tick ([`crate::LinkFailure`]).
    LinkError(String),
    /// Instantiation failed (import type mismatch, no memory 0 export, segment out of bounds,
    /// start function trap): fallback kernel (§3.6).
    InitError(String),
    /// Permanent stuck state: no `kernel_run` function export, call stack exhausted, ill-typed
    /// code ("Crash"), … (§3.7). Inputs keep being consumed at 1 tick each. The message is
    /// stored in the state, so it is part of the state hash: [`CALL_STACK_EXHAUSTED`] becomes
    /// Octez's `Eval_error`, any other message `Invalid_state`
    /// ([`crate::StuckError::from_engine_stuck`]); use [`NO_KERNEL_RUN`] for a missing export.
    Stuck(String),
}

/// Operational failure of an engine run: the PVM state is not advanced.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A host function failed operationally.
    #[error(transparent)]
    Host(#[from] HostFatal),
    /// The run was cancelled from outside.
    #[error("kernel run cancelled")]
    Cancelled,
    /// Fast-execution "panic": an engine failure that the reference PVM would have handled
    /// differently (e.g. native stack overflow); the node should stop or replay with a slow PVM.
    #[error("engine failure: {0}")]
    Panic(String),
}

/// A backend that runs one `kernel_run` of a kernel.
pub trait KernelEngine {
    /// Decode, link (module [`HOST_MODULE`], [`host_function_signature`] at `host.version()`),
    /// instantiate `kernel`, call [`HostState::kernel_instantiated`], then call its `kernel_run`
    /// export once, dispatching imports to `host`.
    /// `kernel_hash` is the Irmin hash of the `/kernel/boot.wasm` value, usable as a cache key.
    fn run(
        &mut self,
        kernel: &[u8],
        kernel_hash: &Hash,
        host: &mut HostState<'_>,
    ) -> Result<RunOutcome, EngineError>;
}

/// Compile-time check: a [`HostState`] can be moved to an engine thread.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<HostState<'static>>();
    assert_send::<RunOutcome>();
    assert_send::<EngineError>();
};
