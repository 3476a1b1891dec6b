//! The engine interface: what a WASM backend (fast path `pvm-wasmtime`, later a small-step
//! interpreter) must provide to run one `kernel_run`, and what the PVM gives it in return.
//!
//! Division of work (reference `wasm-pvm.md` §3.5–§3.7, §8.1):
//! * the PVM reads `/kernel/boot.wasm`, handles windows, reboots, flags and the fallback kernel;
//! * the engine decodes (rejecting floats), links imports of module `smart_rollup_core` with
//!   the host-function table ([`crate::HOST_FUNCTIONS`]), instantiates (memory index 0 must be exported), calls the
//!   `kernel_run` export once, and routes every host call to the matching [`HostState`] method;
//! * host functions ([`HostState`]) implement Octez's exact semantics and error codes; what
//!   they need from the engine (guest memory, reveals, debug output) is declared beside them
//!   ([`crate::GuestMemory`], [`crate::RevealHandler`], [`crate::DebugSink`]).
//!
//! Threading: an engine may run the kernel on another thread (for cancellation). Everything in a
//! [`HostState`] is `Send` (it only borrows `Send` data), so it can be moved into
//! `std::thread::scope`.

use context_hash::Hash;
use durable_tree::Tree;

use crate::host::{HostFatal, HostState, RevealHandler};

/// Name of the exported entry point (`wasm-pvm.md` §3.1).
pub const KERNEL_RUN: &str = "kernel_run";

/// Octez's stuck message when `kernel_run` is not an exported function (`wasm_vm.ml`).
pub const NO_KERNEL_RUN: &str = "Invalid_module: no `kernel_run` function exported";

/// Message of [`RunOutcome::Stuck`] when the frame limit is reached (`Eval.Exhaustion`'s message,
/// `eval.ml`); the PVM records it as Octez does (see [`crate::StuckError::from_engine_stuck`]).
pub const CALL_STACK_EXHAUSTED: &str = "call stack exhausted";

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
    /// A trap whose meaning in Octez depends on the instruction that raised it: an indirect
    /// call to a null or missing table element is an exception there (`Eval.func_ref` raises
    /// `Trap`: the PVM gets stuck with `Eval_error`), while the same failure of a `table.*`
    /// instruction is an ordinary trap. Replayed exactly when the engine can
    /// ([`KernelEngine::exact_window`]), else taken as a trap.
    Ambiguous(String),
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
    /// Decode, link (module [`crate::HOST_MODULE`], [`crate::host_function_signature`] at
    /// `host.version()`),
    /// instantiate `kernel`, call [`HostState::kernel_instantiated`], then call its `kernel_run`
    /// export once, dispatching imports to `host`.
    /// `kernel_hash` is the Irmin hash of the `/kernel/boot.wasm` value, usable as a cache key.
    fn run(
        &mut self,
        kernel: &[u8],
        kernel_hash: &Hash,
        host: &mut HostState<'_>,
    ) -> Result<RunOutcome, EngineError>;

    /// Octez's exact result of the window that starts at the `Snapshot` state tree `snapshot`,
    /// tick by tick (the small-step interpreter): the state tree at the window's first
    /// `Padding` or `Stuck` state. The PVM asks for it when [`KernelEngine::run`] ended in an
    /// outcome whose tick or meaning only the small-step semantics gives (a permanent stuck
    /// state, a decoding or initialisation failure, [`RunOutcome::Ambiguous`]), as Octez's
    /// fast execution falls back to its slow one (`src/lib_scoru_wasm/fast/vm.ml`,
    /// `hooks.fast_exec.fallback`). `None` (the default): this engine cannot, and the PVM keeps
    /// its approximation (documented at each outcome).
    fn exact_window(
        &mut self,
        _snapshot: &Tree,
        _reveal: &mut dyn RevealHandler,
    ) -> Option<Result<Tree, EngineError>> {
        None
    }
}

/// Compile-time check: a [`HostState`] can be moved to an engine thread.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<HostState<'static>>();
    assert_send::<RunOutcome>();
    assert_send::<EngineError>();
};
