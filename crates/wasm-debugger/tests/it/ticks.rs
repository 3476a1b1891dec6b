//! The tick commands (`step tick`, `step <n> ticks`, `step result`, `show status`,
//! `show memory`) on the small-step path (`pvm_tick::compute_step`), and going back to the
//! fast path. The debugger's PVM has Octez's mainnet parameters (50·10¹² ticks per
//! `kernel_run`), not those of the regression traces, so the hashes are checked for
//! self-consistency (`step n ticks` = n × `step tick`) rather than against a fixture.

use clap::Parser;
use wasm_debugger::cli::{Options, prepare};
use wasm_debugger::session::Session;

use crate::{run_debugger, write_wat};

/// Writes 42 at address 16 of its memory, then returns.
const STORE42: &str = r#"(module
  (memory 1)
  (export "mem" (memory 0))
  (func (export "kernel_run")
    (i32.store (i32.const 16) (i32.const 0x2a))))"#;

/// Traps (`unreachable`) after writing 7 at address 600 (second memory chunk).
const TRAP: &str = r#"(module
  (memory 1)
  (export "mem" (memory 0))
  (func (export "kernel_run")
    (i32.store8 (i32.const 600) (i32.const 7))
    unreachable))"#;

const INPUTS: &str = r#"[ [ {"external": "0a0b"} ] ]"#;

/// `load inputs` then `step kernel_run`: the first `Snapshot` (a `kernel_run` window starts).
const TO_SNAPSHOT: &str = "load inputs\nstep kernel_run\n";

fn session(dir: &std::path::Path, kernel: &str) -> Session {
    let k = write_wat(dir, "k.wat", kernel);
    std::fs::write(dir.join("inputs.json"), INPUTS).unwrap();
    let k = dir.join(k);
    let i = dir.join("inputs.json");
    let opts = Options::try_parse_from([
        "smart-rollup-wasm-debugger",
        "--kernel",
        k.to_str().unwrap(),
        "--inputs",
        i.to_str().unwrap(),
        "--no-kernel-debug",
    ])
    .unwrap();
    prepare(
        &opts,
        Box::new(pvm_wasmtime::WasmtimeEngine::new().unwrap()),
    )
    .unwrap()
}

#[test]
fn step_tick_status_and_memory_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let k = write_wat(dir.path(), "k.wat", STORE42);
    std::fs::write(dir.path().join("inputs.json"), INPUTS).unwrap();
    let script = format!(
        "{TO_SNAPSHOT}show status\nshow memory at 16 for 4 bytes\nstep tick\nshow status\n\
         step kernel_run\nload inputs\nstep result\nshow memory at 16 for 4 bytes\n\
         show memory at 16 as i32\nshow memory at 65535 for 2 bytes\nstep tick\nshow status\n\
         step kernel_run\n"
    );
    let r = run_debugger(
        dir.path(),
        &["--kernel", &k, "--inputs", "inputs.json"],
        &script,
    );
    assert!(r.success, "{}", r.stderr);
    let out = &r.stdout;
    // At the Snapshot: no instance yet.
    assert!(
        out.contains("Status: Evaluating\nInternal_status: Snapshot\n"),
        "{out}"
    );
    assert!(
        out.contains("Error: Cannot inspect memory during internal state Snapshot\n"),
        "{out}"
    );
    // `step tick` from the Snapshot: the initial decoding state.
    assert!(
        out.contains(
            "Evaluation took 1 ticks so far\nStatus: Evaluating\nInternal_status: Decode\n"
        ),
        "{out}"
    );
    // Fast-path commands are refused inside an interpreter state, and change nothing.
    assert!(
        out.contains("Error: the PVM is in the tick state Decode, which the fast execution does not represent;"),
        "{out}"
    );
    assert_eq!(
        out.matches("which the fast execution does not represent")
            .count(),
        2,
        "{out}"
    );
    // `step result`: to the end of `kernel_run`, memory not flushed yet.
    assert!(
        out.contains("Status: Evaluating\nInternal_status: Evaluation succeeded\n"),
        "{out}"
    );
    assert!(out.contains("\n> 2a000000\n"), "{out}");
    assert!(out.contains("\n> 42\n"), "{out}");
    assert!(
        out.contains("Error: Tezos_webassembly_interpreter.Memory.Bounds\n"),
        "{out}"
    );
    // One more tick: `SK_Result` → Padding, a state the fast path takes back.
    assert!(
        out.contains(
            "Evaluation took 1 ticks so far\nStatus: Evaluating\nInternal_status: Padding\n"
        ),
        "{out}"
    );
    // The fast path runs from there: to the window end (no reboot asked: `Collect`).
    assert!(
        out.ends_with("Status: Waiting for input\nInternal_status: Collect\n> "),
        "{out}"
    );
}

#[test]
fn step_200_ticks_then_status_and_a_trapping_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let k = write_wat(dir.path(), "k.wat", TRAP);
    std::fs::write(dir.path().join("inputs.json"), INPUTS).unwrap();
    let script = format!(
        "{TO_SNAPSHOT}step result\nshow status\nshow memory at 600 for 1 bytes\n\
         step 200 ticks\nshow status\nshow key /readonly/kernel/env/stuck\n"
    );
    let r = run_debugger(
        dir.path(),
        &["--kernel", &k, "--inputs", "inputs.json"],
        &script,
    );
    assert!(r.success, "{}", r.stderr);
    let out = &r.stdout;
    assert!(
        out.contains("Internal_status: Evaluation failed (unreachable executed)\n"),
        "{out}"
    );
    assert!(out.contains("\n> 07\n"), "{out}");
    // 200 ticks from `SK_Trapped`: the stuck flag is written, then Padding (in bulk).
    assert!(
        out.contains(
            "Evaluation took 200 ticks so far\nStatus: Evaluating\nInternal_status: Padding\n"
        ),
        "{out}"
    );
    // The flag is an empty value: shown as an empty line, not `Key not found`.
    assert!(!out.contains("Key not found"), "{out}");
}

/// `step 130 ticks` gives the same state hash as 130 × `step tick`, from the first Snapshot
/// (through decoding, linking, initialisation and evaluation as far as the interpreter goes);
/// the state after `step result` then one tick is taken back by the fast path.
#[test]
fn step_n_ticks_equals_n_single_ticks() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let mut a = session(a_dir.path(), STORE42);
    let mut b = session(b_dir.path(), STORE42);
    for line in TO_SNAPSHOT.lines() {
        a.handle(line);
        b.handle(line);
    }
    assert_eq!(a.state_hash().unwrap(), b.state_hash().unwrap());
    let start = a.state_hash().unwrap();
    a.handle("step 130 ticks");
    for _ in 0..130 {
        b.handle("step tick");
    }
    assert_ne!(a.state_hash().unwrap(), start);
    assert_eq!(a.state_hash().unwrap(), b.state_hash().unwrap());
    assert_eq!(a.in_interpreter_state(), b.in_interpreter_state());
    // Past the end of evaluation, both sessions are back on the fast path's state.
    a.handle("step 1000 ticks");
    for _ in 0..1000 {
        b.handle("step tick");
    }
    assert_eq!(a.state_hash().unwrap(), b.state_hash().unwrap());
    assert!(!a.in_interpreter_state());
    assert_eq!(a.state_hash().unwrap(), a.state().hash().unwrap());
}

#[test]
fn step_tick_in_collect_is_octez_invalid_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path(), STORE42);
    let before = s.state_hash().unwrap();
    s.handle("step tick");
    assert_ne!(s.state_hash().unwrap(), before);
    assert!(matches!(
        s.state().tick_state(),
        wasm_pvm::TickState::Stuck(wasm_pvm::StuckError::InvalidState(m)) if m == "Collect is a input tick"
    ));
}
