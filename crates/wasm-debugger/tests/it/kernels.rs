//! Small WAT kernels driven through the REPL.

use crate::{run_debugger, write_wat};

/// Counts the messages it reads into `/count` (i32 LE, rewritten each run), echoes the
/// payload of external messages to the outbox and prints a debug line.
const ECHO: &str = r#"(module
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "write_output" (func $write_output (param i32 i32) (result i32)))
  (import "smart_rollup_core" "write_debug" (func $write_debug (param i32 i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "/count")
  (data (i32.const 16) "hello from kernel\n")
  (func (export "kernel_run")
    (local $n i32) (local $count i32)
    (call $write_debug (i32.const 16) (i32.const 18))
    (block $done
      (loop $l
        (local.set $n (call $read_input (i32.const 100) (i32.const 200) (i32.const 4096)))
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (if (i32.eq (i32.load8_u (i32.const 200)) (i32.const 1))
          (then (drop (call $write_output (i32.const 201) (i32.sub (local.get $n) (i32.const 1))))))
        (br $l)))
    (i32.store (i32.const 50) (local.get $count))
    (drop (call $store_write (i32.const 0) (i32.const 6) (i32.const 0) (i32.const 50) (i32.const 4)))))"#;

const INPUTS: &str = r#"[
  [ {"external": "0a0b"} ],
  [ {"external": "ff"}, {"payload": "Pair 1 \"x\""} ]
]"#;

#[test]
fn echo_kernel_step_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let k = write_wat(dir.path(), "echo.wat", ECHO);
    std::fs::write(dir.path().join("inputs.json"), INPUTS).unwrap();
    let r = run_debugger(
        dir.path(),
        &["--kernel", &k, "--inputs", "inputs.json"],
        "step inbox\nshow key /count as i32\nshow outbox at level 0\nshow inbox\nstep inbox\nshow key /count as i32\nshow key /count\nshow outbox at level 1\nstep inbox\nls\nstop\n",
    );
    assert!(r.success, "stderr: {}", r.stderr);
    let out = &r.stdout;
    assert!(out.contains("Loaded 1 inputs at level 0\n"), "{out}");
    assert!(
        out.contains("hello from kernel\n"),
        "kernel debug is shown: {out}"
    );
    // One collect window and one kernel_run window, minus the 4 input ticks.
    assert!(
        out.contains("Evaluation took 99999999999996 ticks so far\n"),
        "{out}"
    );
    assert!(
        out.contains("Status: Waiting for input\nInternal_status: Collect\n"),
        "{out}"
    );
    assert!(
        out.contains("\n4\n") || out.contains("> 4\n"),
        "4 messages at level 0: {out}"
    );
    assert!(
        out.contains("Outbox has 1 messages:\nUnknown encoding: 0a0b\n"),
        "{out}"
    );
    assert!(
        out.contains("Inbox has 0 messages:\n"),
        "inbox emptied on yield: {out}"
    );
    assert!(out.contains("Loaded 2 inputs at level 1\n"), "{out}");
    assert!(
        out.contains("05000000\n"),
        "5 messages at level 1 (hex): {out}"
    );
    assert!(
        out.contains("Outbox has 1 messages:\nUnknown encoding: ff\n"),
        "{out}"
    );
    assert!(out.contains("No more inputs at level 2\n"), "{out}");
    assert!(out.contains("/count\n"), "ls lists /count: {out}");
}

#[test]
fn no_kernel_debug_hides_debug_and_load_inputs_then_kernel_run() {
    let dir = tempfile::tempdir().unwrap();
    let k = write_wat(dir.path(), "echo.wat", ECHO);
    std::fs::write(dir.path().join("inputs.json"), INPUTS).unwrap();
    let r = run_debugger(
        dir.path(),
        &[
            "--kernel",
            &k,
            "--inputs",
            "inputs.json",
            "--no-kernel-debug",
        ],
        "load inputs\nshow status\nload inputs\nshow inbox\nstep kernel_run\nshow status\nstep kernel_run\nshow status\nshow key /count as i32\n",
    );
    assert!(r.success, "stderr: {}", r.stderr);
    let out = &r.stdout;
    assert!(!out.contains("hello from kernel"), "{out}");
    assert!(out.contains("Loaded 1 inputs at level 0\n"), "{out}");
    assert!(
        out.contains("Status: Evaluating\nInternal_status: Padding\n"),
        "{out}"
    );
    assert!(
        out.contains("The PVM is not expecting inputs yet. You can `step inbox` to evaluate the current inbox.\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "Inbox has 4 messages:\n{ raw_level: 0;\n  counter: 0\n  payload: Start_of_level }\n"
        ),
        "{out}"
    );
    assert!(out.contains("payload: 0a0b }"), "{out}");
    assert!(out.contains("payload: End_of_level }"), "{out}");
}

#[test]
fn installer_config_sets_values() {
    let dir = tempfile::tempdir().unwrap();
    let k = write_wat(
        dir.path(),
        "k.wat",
        r#"(module (memory (export "memory") 1) (func (export "kernel_run")))"#,
    );
    std::fs::write(
        dir.path().join("setup.yaml"),
        "instructions:\n  - set:\n      value: 68656c6c6f\n      to: /config/greeting\n",
    )
    .unwrap();
    let r = run_debugger(
        dir.path(),
        &["--kernel", &k, "--installer-config", "setup.yaml"],
        "show key /config/greeting as string\nshow subkeys /config\n",
    );
    assert!(r.success, "stderr: {}", r.stderr);
    assert!(r.stdout.contains("hello\n"), "{}", r.stdout);
    assert!(r.stdout.contains("/greeting\n"), "{}", r.stdout);
}
