//! The WASM PVM (`wasm_2_0_0`): state machine, durable storage semantics and host functions.
