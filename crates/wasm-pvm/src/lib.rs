//! The WASM PVM (`wasm_2_0_0`): state machine, durable storage semantics and host functions.
//!
//! Engine-agnostic: the WASM execution itself is delegated to a [`KernelEngine`] (the fast
//! path lives in crate `pvm-wasmtime`). Reference: `docs/reference/wasm-pvm.md`.

mod buffers;
mod decode_ticks;
mod enc;
mod engine;
mod host;
mod link;
mod pvm;
mod state;
mod version;

pub use buffers::{InputBuffer, InputError, InputMessage, OutputBuffer, OutputError};
pub use decode_ticks::{ModuleSummary, WalkError, decode_ticks};
pub use engine::{
    CALL_STACK_EXHAUSTED, DebugSink, EngineError, GuestMemory, HOST_MODULE, HostFatal, KERNEL_RUN,
    KernelEngine, NO_KERNEL_RUN, OutOfBounds, RevealError, RevealHandler, RunOutcome, ValType,
    host_function_signature,
};
pub use host::{HostState, INPUT_OUTPUT_MAX_SIZE, MAX_KEY_LENGTH, MAX_STORE_IO_SIZE, code};
pub use link::{LinkFailure, first_link_failure, link_error_message};
pub use pvm::{PvmError, Status};
pub use state::{
    DecodeError, GenesisParams, InputInfo, KERNEL_FALLBACK_KEY, KERNEL_KEY, PvmState,
    REBOOT_COUNTER_KEY, REBOOT_FLAG_KEY, STUCK_FLAG_KEY, StuckError, TOO_MANY_REBOOT_FLAG_KEY,
    TickState, UPGRADE_ERROR_FLAG_KEY, VERSION_KEY,
};
pub use version::PvmVersion;
