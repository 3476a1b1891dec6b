//! The SDK counter kernel (`kernels/counter`, built by `scripts/build-kernels.sh`).

use std::path::PathBuf;

use crate::run_debugger;

fn counter_wasm() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../kernels/target/wasm32-unknown-unknown/release/counter.wasm");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/build-kernels.sh first",
        p.display()
    );
    p
}

#[test]
fn counter_kernel_runs_levels() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = counter_wasm();
    std::fs::write(
        dir.path().join("inputs.json"),
        r#"[[{"external": "68656c6c6f"}], [], [{"external": "776f726c64"}]]"#,
    )
    .unwrap();
    let r = run_debugger(
        dir.path(),
        &[
            "--kernel",
            kernel.to_str().unwrap(),
            "--inputs",
            "inputs.json",
        ],
        "step inbox\nstep inbox\nstep inbox\nshow key /counter as i64\nshow key /last_message as string\nshow outbox at level 0\nshow outbox at level 2\nstop\n",
    );
    assert!(r.success, "stderr: {}", r.stderr);
    let out = &r.stdout;
    assert!(out.contains("Loaded 1 inputs at level 0\n"), "{out}");
    assert!(out.contains("Loaded 0 inputs at level 1\n"), "{out}");
    assert!(out.contains("Loaded 1 inputs at level 2\n"), "{out}");
    assert_eq!(
        out.matches("Evaluation took 99999999999996 ticks so far\n")
            .count(),
        2,
        "levels with one message: {out}"
    );
    assert!(
        out.contains("Evaluation took 99999999999997 ticks so far\n"),
        "{out}"
    );
    assert!(
        out.contains("\n3\n") || out.contains("> 3\n"),
        "three kernel_runs: {out}"
    );
    assert!(out.contains("world\n"), "{out}");
    assert_eq!(out.matches("Outbox has 1 messages:\n").count(), 2, "{out}");
}
