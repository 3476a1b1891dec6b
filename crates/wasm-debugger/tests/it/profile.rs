//! `dump function symbols` and `profile` (`--collapsed`, `--without-time`, `--no-reboot`)
//! through the binary, on a kernel whose named functions call each other and a host function.

use std::path::Path;

use crate::{run_debugger, write_wat};

/// `kernel_run` calls `middle`, which calls `leaf` twice, then the host's `write_debug`.
const NAMED: &str = r#"(module
  (import "smart_rollup_core" "write_debug" (func $write_debug (param i32 i32)))
  (memory 1)
  (export "mem" (memory 0))
  (func $leaf (result i32) (i32.const 1))
  (func $middle (result i32) (i32.add (call $leaf) (call $leaf)))
  (func $kernel_run (export "kernel_run")
    (drop (call $middle))
    (call $write_debug (i32.const 0) (i32.const 0))))"#;

const INPUTS: &str = r#"[ [ {"external": "0a0b"} ], [ {"external": "0c"} ] ]"#;

fn run(dir: &Path, script: &str) -> String {
    run_kernel(dir, NAMED, &[], script)
}

/// Runs `script` on `kernel` with [`INPUTS`], a flamecharts directory and the `extra`
/// options; the standard output.
fn run_kernel(dir: &Path, kernel: &str, extra: &[&str], script: &str) -> String {
    let k = write_wat(dir, "k.wat", kernel);
    std::fs::write(dir.join("inputs.json"), INPUTS).unwrap();
    let flames = dir.join("flames");
    std::fs::create_dir_all(&flames).unwrap();
    let mut args = vec![
        "--kernel",
        &k,
        "--inputs",
        "inputs.json",
        "--flamecharts-dir",
        flames.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = run_debugger(dir, &args, script);
    assert!(r.success, "{}", r.stderr);
    r.stdout
}

/// The flamegraph files named in the output, in order, with their contents.
fn flame_files(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Profiling result can be found in "))
        .map(|p| {
            let name = Path::new(p).file_name().unwrap().to_str().unwrap();
            assert!(
                name.starts_with("wasm-debugger-profiling-") && name.ends_with("-00:00.out"),
                "{name}"
            );
            std::fs::read_to_string(p).unwrap()
        })
        .collect()
}

/// `(stack, ticks)` of each line of a flamegraph file.
fn stacks(file: &str) -> Vec<(String, u128)> {
    file.lines()
        .map(|l| {
            let (s, t) = l.rsplit_once(' ').unwrap();
            (s.to_owned(), t.parse().unwrap())
        })
        .collect()
}

/// The `Full execution: N ticks` figures (per `kernel_run` window).
fn full_executions(out: &str) -> Vec<u128> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Full execution: "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn dump_function_symbols_prints_the_name_section() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "dump function symbols\n");
    assert!(
        out.contains(
            "Functions:\n - func[0] <write_debug>\n - func[1] <leaf>\n - func[2] <middle>\n \
             - func[3] <kernel_run>\n"
        ),
        "{out}"
    );
}

#[test]
fn profile_names_the_call_stacks_and_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "profile\nshow status\nprofile --collapsed --without-time\n",
    );
    // The inbox is loaded silently, as Octez's `profile` does.
    assert!(
        out.starts_with(
            "> Starting the profiling until new messages are expected. Please note that it \
             will take some time and does not reflect a real computation time.\n"
        ),
        "{out}"
    );
    assert!(!out.contains("Loaded"), "{out}");
    let files = flame_files(&out);
    assert_eq!(files.len(), 2, "{out}");
    for (file, collapsed) in files.iter().zip([false, true]) {
        let s = stacks(file);
        let tick = |k: &str| {
            s.iter()
                .filter(|(n, _)| n == k)
                .map(|(_, t)| *t)
                .sum::<u128>()
        };
        // Named stacks, the host function as a callee of `kernel_run`.
        for k in [
            "%interpreter(decode)",
            "%interpreter(link)",
            "%interpreter(init)",
            "kernel_run",
            "kernel_run;middle",
            "kernel_run;middle;leaf",
            "kernel_run;write_debug",
        ] {
            assert!(tick(k) > 0, "{k} in {file}");
        }
        // Two calls of `leaf`: two lines, or one merged line.
        let leaf_lines = s
            .iter()
            .filter(|(n, _)| n == "kernel_run;middle;leaf")
            .count();
        assert_eq!(leaf_lines, if collapsed { 1 } else { 2 }, "{file}");
        assert_eq!(file.ends_with('\n'), !collapsed, "{file:?}");
        // The stacks' ticks add up to the window's `Full execution`.
        let sum: u128 = s.iter().map(|(_, t)| *t).sum();
        assert!(full_executions(&out).contains(&sum), "{sum} not in {out}");
    }
    // Each run: the window before the first `Snapshot` (empty) and the `kernel_run` window.
    let full = full_executions(&out);
    assert_eq!(full.len(), 4, "{out}");
    assert_eq!(full[0], 0);
    assert_eq!(full[1], full[3], "same work at both levels: {out}");
    // Time only without `--without-time` (an empty window's sum is Octez's zero span).
    let (first, second) = out.split_once("Status: Waiting for input").unwrap();
    let kernel_run_line = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("kernel_run: "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let timed = kernel_run_line(first);
    assert!(
        !timed.is_empty() && timed.iter().all(|l| l.contains(" ticks (")),
        "{first}"
    );
    let untimed = kernel_run_line(second);
    assert_eq!(untimed.len(), 1, "{second}");
    assert!(untimed[0].ends_with(" ticks"), "{second}");
    assert!(
        second.contains("Full execution: 0 ticks (0s)\n"),
        "{second}"
    );
    // The padding is counted in the total only: 2 windows of 50·10¹² ticks minus the input
    // ticks of the first one.
    let padded: Vec<u128> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Full execution with padding: "))
        .map(|l| l.trim_end_matches(" ticks").parse().unwrap())
        .collect();
    assert_eq!(padded.len(), 2);
    assert!(padded.iter().all(|p| *p > 50_000_000_000_000), "{padded:?}");
    assert!(
        out.contains("Status: Waiting for input\nInternal_status: Collect\n"),
        "{out}"
    );
}

#[test]
fn profile_no_reboot_stops_at_the_snapshot_and_refuses_mid_run() {
    let dir = tempfile::tempdir().unwrap();
    let once = "profile --no-reboot --without-time\nshow status\n";
    let out = run(
        dir.path(),
        &format!("{once}step 5 ticks\nprofile\nstep 100000000000000 ticks\n{once}{once}"),
    );
    // Inside `Decode`: refused.
    assert!(
        out.contains(
            "Profiling can only be done from a snapshotable state or when waiting for input. \
             You can `step kernel_run` to go to the next snapshotable state.\n"
        ),
        "{out}"
    );
    // From `Collect`: the inputs are loaded and the window ends at the `Snapshot`, nothing
    // evaluated; from the `Snapshot`, one window up to the input request.
    let statuses: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Internal_status: "))
        .collect();
    assert_eq!(
        statuses,
        ["Snapshot", "Decode", "Collect", "Snapshot", "Collect"],
        "{out}"
    );
    let files = flame_files(&out);
    assert_eq!(files.len(), 3, "{out}");
    assert_eq!(files[0], "");
    assert_eq!(files[1], "");
    let s = stacks(&files[2]);
    for k in [
        "%interpreter(decode)",
        "kernel_run;middle;leaf",
        "kernel_run;write_debug",
    ] {
        assert!(s.iter().any(|(n, t)| n == k && *t > 0), "{k} in {s:?}");
    }
    let sum: u128 = s.iter().map(|(_, t)| *t).sum();
    // The empty windows count 0 ticks.
    assert_eq!(full_executions(&out), [0, 0, sum], "{out}");
}

/// Reveals the metadata into `/meta` (a reveal tick inside the profiled window).
const META: &str = r#"(module
  (import "smart_rollup_core" "reveal_metadata" (func $meta (param i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "/meta")
  (func $kernel_run (export "kernel_run")
    (local $n i32)
    (local.set $n (call $meta (i32.const 6000) (i32.const 100)))
    (drop (call $store_write (i32.const 8) (i32.const 5) (i32.const 0) (i32.const 6000) (local.get $n)))))"#;

#[test]
fn profile_answers_reveals() {
    let dir = tempfile::tempdir().unwrap();
    let k = write_wat(dir.path(), "k.wat", META);
    std::fs::write(dir.path().join("in.json"), "[[]]").unwrap();
    let flames = dir.path().join("flames");
    std::fs::create_dir(&flames).unwrap();
    let r = run_debugger(
        dir.path(),
        &[
            "--kernel",
            &k,
            "--inputs",
            "in.json",
            "--flamecharts-dir",
            flames.to_str().unwrap(),
        ],
        "profile --collapsed\nshow key /meta\nshow status\n",
    );
    assert!(r.success, "{}", r.stderr);
    let out = &r.stdout;
    // The zero rollup address and origination level 0, written after the reveal.
    assert!(
        out.contains(&format!("{}00000000\n", "00".repeat(20))),
        "{out}"
    );
    assert!(out.contains("Internal_status: Collect\n"), "{out}");
    let files = flame_files(out);
    let s = stacks(&files[0]);
    for k in ["kernel_run;meta", "kernel_run;store_write"] {
        assert!(s.iter().any(|(n, t)| n == k && *t > 0), "{k} in {s:?}");
    }
}

/// Prints `hello`, opens a section (data `ab`), calls `middle`, closes it (data `cd`).
const SECTIONS: &str = r#"(module
  (import "smart_rollup_core" "write_debug" (func $write_debug (param i32 i32)))
  (memory 1)
  (export "mem" (memory 0))
  (data (i32.const 0) "hello\n")
  (data (i32.const 16) "__wasm_debugger__::start_section(ab)")
  (data (i32.const 64) "__wasm_debugger__::end_section(cd)")
  (func $leaf (result i32) (i32.const 1))
  (func $middle (result i32) (i32.add (call $leaf) (call $leaf)))
  (func $kernel_run (export "kernel_run")
    (call $write_debug (i32.const 0) (i32.const 6))
    (call $write_debug (i32.const 16) (i32.const 36))
    (drop (call $middle))
    (call $write_debug (i32.const 64) (i32.const 34))))"#;

fn run_sections(dir: &Path, extra: &[&str], script: &str) -> String {
    run_kernel(dir, SECTIONS, extra, script)
}

/// `profile` interprets the kernel's `__wasm_debugger__` section calls (`profiling.ml`): the
/// end of a section prints the ticks since its start and both data, in hex; other debug
/// output is printed as is. Without kernel debug output there are no sections (Octez only
/// instruments a printing `write_debug`).
#[test]
fn profile_prints_the_kernel_s_sections() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sections(dir.path(), &[], "profile\n");
    let line = out
        .lines()
        .find(|l| l.starts_with("__wasm_debugger__::Section{"))
        .unwrap_or_else(|| panic!("no section line in:\n{out}"));
    let ticks: u128 = line
        .strip_prefix("__wasm_debugger__::Section{ticks:")
        .and_then(|l| l.strip_suffix(";data:(0x6162,0x6364)}"))
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    // The call of `middle` (its ticks and the administrative ones around it) and the
    // closing host call: part of the run, not all of it.
    let full = full_executions(&out);
    assert!(
        ticks > 5 && full.iter().any(|&f| ticks < f),
        "{line}, runs {full:?}"
    );
    assert!(out.contains("hello\n"), "{out}");
    assert!(
        !out.contains("start_section"),
        "sections are not printed: {out}"
    );
    let quiet = run_sections(dir.path(), &["--no-kernel-debug"], "profile\n");
    assert!(!quiet.contains("Section{"), "{quiet}");
    assert!(!quiet.contains("hello"), "{quiet}");
}

/// The tick commands print the kernel's debug output, as the fast path does.
#[test]
fn tick_commands_print_the_kernel_s_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sections(
        dir.path(),
        &[],
        "load inputs\nstep kernel_run\nstep result\nshow status\n",
    );
    let i = out.find("hello\n").unwrap_or_else(|| panic!("{out}"));
    let j = out
        .find("__wasm_debugger__::start_section(ab)")
        .unwrap_or_else(|| panic!("{out}"));
    let k = out
        .find("Internal_status: Evaluation succeeded")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(i < j && j < k, "{out}");
    let quiet = run_sections(
        dir.path(),
        &["--no-kernel-debug"],
        "load inputs\nstep kernel_run\nstep 100000 ticks\n",
    );
    assert!(!quiet.contains("hello"), "{quiet}");
}
