//! Shared test environment: a fresh PVM-side state and a runner.

use durable_tree::Tree;
use durable_tree::durable::{Durable, Key};
use pvm_wasmtime::WasmtimeEngine;
use wasm_pvm::{
    DebugSink, EngineError, HostState, InputBuffer, InputMessage, KernelEngine, OutputBuffer,
    PvmVersion, RevealError, RevealHandler, RunOutcome,
};

/// Answers reveals from a fixed table; `fail` makes every request an operational failure.
#[derive(Default)]
pub(crate) struct Reveals {
    pub(crate) answers: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) requests: Vec<Vec<u8>>,
    pub(crate) fail: bool,
}

impl RevealHandler for Reveals {
    fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, RevealError> {
        self.requests.push(request.to_vec());
        if self.fail {
            return Err(RevealError("no preimage".into()));
        }
        Ok(self
            .answers
            .iter()
            .find(|(q, _)| q == request)
            .map(|(_, a)| a.clone())
            .unwrap_or_default())
    }
}

/// Collects `write_debug` output.
#[derive(Default)]
pub(crate) struct Debug(pub(crate) Vec<Vec<u8>>);

impl DebugSink for Debug {
    fn debug(&mut self, bytes: &[u8]) {
        self.0.push(bytes.to_vec());
    }
}

/// Everything a run touches.
pub(crate) struct Env {
    pub(crate) version: PvmVersion,
    pub(crate) durable: Durable,
    pub(crate) input: InputBuffer,
    pub(crate) output: OutputBuffer,
    pub(crate) reveals: Reveals,
    pub(crate) debug: Debug,
}

impl Env {
    pub(crate) fn new(version: PvmVersion) -> Self {
        let mut output = OutputBuffer::new(10, 100);
        output.start_level(0).expect("start outbox level");
        Env {
            version,
            durable: Durable::new(Tree::empty()),
            input: InputBuffer::new(),
            output,
            reveals: Reveals::default(),
            debug: Debug::default(),
        }
    }

    pub(crate) fn enqueue(&mut self, level: u32, counter: u64, payload: &[u8]) {
        self.input
            .enqueue(InputMessage {
                level,
                counter,
                payload: payload.to_vec(),
            })
            .expect("enqueue");
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let k = Key::from_str_checked(key).expect("valid key");
        self.durable.read_all(&k).expect("durable read")
    }

    /// Result code saved by the kernel helper `$save` under `/rNN`.
    pub(crate) fn code(&self, slot: u32) -> i32 {
        let v = self
            .get(&format!("/r{slot:02}"))
            .unwrap_or_else(|| panic!("kernel did not save result {slot}"));
        i32::from_le_bytes(v.try_into().expect("4-byte result"))
    }

    pub(crate) fn state_hash(&self) -> durable_tree::Hash {
        self.durable.tree().hash().expect("hash")
    }

    /// Run `kernel` (binary) once.
    pub(crate) fn run_bin(
        &mut self,
        engine: &mut WasmtimeEngine,
        kernel: &[u8],
    ) -> Result<RunOutcome, EngineError> {
        let hash = Tree::contents(kernel.to_vec()).hash().expect("kernel hash");
        let mut host = HostState::new(
            self.version,
            &mut self.durable,
            &mut self.input,
            &mut self.output,
            &mut self.reveals,
            Some(&mut self.debug),
        );
        engine.run(kernel, &hash, &mut host)
    }

    /// Run a WAT kernel once.
    pub(crate) fn run(
        &mut self,
        engine: &mut WasmtimeEngine,
        wat: &str,
    ) -> Result<RunOutcome, EngineError> {
        let kernel = wat::parse_str(wat).expect("test kernel parses");
        self.run_bin(engine, &kernel)
    }
}

pub(crate) fn engine() -> WasmtimeEngine {
    WasmtimeEngine::new().expect("engine builds")
}

/// Run a WAT kernel on a fresh V6 environment.
pub(crate) fn run_fresh(wat: &str) -> (Result<RunOutcome, EngineError>, Env) {
    let mut env = Env::new(PvmVersion::V6);
    let out = env.run(&mut engine(), wat);
    (out, env)
}

/// Imports and helpers shared by kernels that save result codes: `(call $save slot value)`
/// writes `value` (i32 LE) to durable key `/rNN`. Keys live at address 0 (4 bytes each),
/// the scratch word at 4000; memory is 1 page exported as "memory".
pub(crate) fn prelude(extra_imports: &str) -> String {
    let keys: String = (0..64).map(|i| format!("/r{i:02}")).collect();
    format!(
        r#"
  (import "smart_rollup_core" "store_write"
    (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  {extra_imports}
  (memory (export "memory") 1)
  (data (i32.const 0) "{keys}")
  (func $save (param $slot i32) (param $v i32)
    (i32.store (i32.const 4000) (local.get $v))
    (drop (call $store_write (i32.mul (local.get $slot) (i32.const 4)) (i32.const 4)
      (i32.const 0) (i32.const 4000) (i32.const 4))))
"#
    )
}
