//! Start-up errors and REPL robustness.

use crate::{run_debugger, write_wat};

const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "kernel_run")))"#;

#[test]
fn missing_kernel_option() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_debugger(dir.path(), &[], "");
    assert!(!r.success);
    assert!(
        r.stderr.contains("A kernel file must be provided"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_kernel_files() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_debugger(dir.path(), &["--kernel", "nope.wasm"], "");
    assert!(!r.success);
    assert!(
        r.stderr.contains("nope.wasm is not a valid file"),
        "{}",
        r.stderr
    );

    std::fs::write(dir.path().join("garbage.wasm"), b"not wasm").unwrap();
    let r = run_debugger(dir.path(), &["--kernel", "garbage.wasm"], "");
    assert!(!r.success);
    assert!(r.stderr.contains("invalid module"), "{}", r.stderr);

    let k = write_wat(
        dir.path(),
        "float.wat",
        r#"(module (func (export "kernel_run") (drop (f64.const 1))))"#,
    );
    let r = run_debugger(dir.path(), &["--kernel", &k], "");
    assert!(!r.success, "floats are refused");

    let k = write_wat(
        dir.path(),
        "link.wat",
        r#"(module (import "smart_rollup_core" "no_such" (func)) (func (export "kernel_run")))"#,
    );
    let r = run_debugger(dir.path(), &["--kernel", &k], "");
    assert!(!r.success);
    assert!(r.stderr.contains("link failure"), "{}", r.stderr);

    let k = write_wat(dir.path(), "syntax.wat", "(module");
    let r = run_debugger(dir.path(), &["--kernel", &k], "");
    assert!(!r.success);
    assert!(r.stderr.contains("syntax error"), "{}", r.stderr);
}

#[test]
fn bad_inputs_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let k = write_wat(dir.path(), "k.wat", TRIVIAL);
    std::fs::write(dir.path().join("bad.json"), "[[{\"external\": 12}]]").unwrap();
    let r = run_debugger(dir.path(), &["--kernel", &k, "--inputs", "bad.json"], "");
    assert!(!r.success);
    assert!(r.stderr.contains("level 0, message 0"), "{}", r.stderr);

    std::fs::write(dir.path().join("notjson.json"), "[[").unwrap();
    let r = run_debugger(
        dir.path(),
        &["--kernel", &k, "--inputs", "notjson.json"],
        "",
    );
    assert!(!r.success);
    assert!(r.stderr.contains("not valid JSON"), "{}", r.stderr);

    let r = run_debugger(dir.path(), &["--kernel", &k, "-p", "3.0"], "");
    assert!(!r.success);
    assert!(
        r.stderr.contains("is not a valid WASM PVM version"),
        "{}",
        r.stderr
    );

    let r = run_debugger(dir.path(), &["--kernel", &k, "--rollup", "tz1abc"], "");
    assert!(!r.success);
    assert!(
        r.stderr.contains("invalid smart rollup address"),
        "{}",
        r.stderr
    );

    let r = run_debugger(
        dir.path(),
        &["--kernel", &k, "--preimage-dir", "missing-dir"],
        "",
    );
    assert!(!r.success);
    assert!(
        r.stderr.contains("missing-dir is not a valid directory"),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_commands_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let k = write_wat(dir.path(), "k.wat", TRIVIAL);
    let r = run_debugger(
        dir.path(),
        &["--kernel", &k],
        "frobnicate now\n\nhelp\nshow status\nshow key bad-key\nshow key /nothing\nls nope\nls /zzz\nload inputs\nstep tick\nstop\nshow status\n",
    );
    assert!(r.success, "{}", r.stderr);
    assert!(
        r.stderr.contains("Unknown command `frobnicate now`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Unknown command ``"), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("  show status: Shows the state of the PVM.\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Status: Waiting for input\nInternal_status: Collect\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Invalid key\n"), "{}", r.stdout);
    assert!(r.stdout.contains("Key not found\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("Invalid path, it must start with '/'\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("The path /zzz is not available in the durable storage\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("No more inputs at level 0\n"),
        "{}",
        r.stdout
    );
    // A computation tick in `Collect` is the kernel's error, as in Octez.
    assert!(
        r.stdout.contains(
            "Evaluation took 1 ticks so far\nStatus: Waiting for input\nInternal_status: Stuck (Invalid_state (Collect is a input tick))\n"
        ),
        "{}",
        r.stdout
    );
    // `stop` ends the session: the status after it is not printed again.
    assert_eq!(
        r.stdout.matches("Internal_status").count(),
        2,
        "{}",
        r.stdout
    );
}
