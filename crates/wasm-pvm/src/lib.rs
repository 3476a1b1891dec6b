//! The WASM PVM (`wasm_2_0_0`): state machine, durable storage semantics and host functions.
//!
//! Engine-agnostic: the WASM execution itself is delegated to a [`KernelEngine`] (the fast
//! path lives in crate `pvm-wasmtime`). Reference: `docs/reference/wasm-pvm.md`.

// Values decoded from the state tree reach this arithmetic: no silent wrap (`docs/reference/
// wasm-pvm.md` §7; review §2 item 2).
#![deny(clippy::arithmetic_side_effects, clippy::cast_possible_wrap)]

// Module order (each uses only those above it): `version`, `enc` ← `buffers` ← `state` ←
// `hostfn` ← `host` ← `engine` ← `pvm`; `decode_ticks` ← `link` (uses `hostfn`). `host::store`
// (the durable-storage host functions over any backend, re-exported as `store`) is `host`'s
// child: it uses `host`'s memory and error-code definitions, `host` its functions.
mod buffers;
mod decode_ticks;
mod enc;
mod engine;
mod host;
mod hostfn;
mod link;
pub mod loser;
pub mod output_proof;
mod pvm;
mod state;
mod version;

pub use buffers::{InputBuffer, InputError, InputMessage, OutputBuffer, OutputError};
pub use decode_ticks::{ModuleSummary, WalkError, decode_ticks};
pub use engine::{
    CALL_STACK_EXHAUSTED, EngineError, KERNEL_RUN, KernelEngine, NO_KERNEL_RUN, RunOutcome,
};
pub use host::{
    DebugSink, GuestMemory, HostFatal, HostState, INPUT_OUTPUT_MAX_SIZE, MAX_KEY_LENGTH,
    MAX_STORE_IO_SIZE, OutOfBounds, RevealError, RevealHandler, code, store,
};
pub use hostfn::{
    HOST_FUNCTIONS, HOST_MODULE, HostFn, HostFnSpec, ValType, host_function,
    host_function_signature,
};
pub use link::{LinkFailure, first_link_failure, link_error_message};
pub use pvm::{LevelEvent, PvmError, Status};
pub use state::{
    DecodeError, GenesisParams, InputInfo, KERNEL_FALLBACK_KEY, KERNEL_KEY, PvmState,
    REBOOT_COUNTER_KEY, REBOOT_FLAG_KEY, STUCK_FLAG_KEY, StuckError, TOO_MANY_REBOOT_FLAG_KEY,
    TickState, UPGRADE_ERROR_FLAG_KEY, VERSION_KEY, decode_input_info, last_input_of,
};
pub use version::PvmVersion;
