//! The deterministic call-depth limit: `kernel_run` is at depth 1 and the deepest allowed frame
//! is at depth `limit - 1` (`eval.ml` `frame_step`), i.e. 59 999 for V1+ and 299 for V0.

use wasm_pvm::{PvmVersion, RunOutcome};

use crate::common::{Env, engine};

/// `kernel_run` calls `$rec` with `n`; the deepest `$rec` frame is at depth `n + 2` and runs
/// `bottom` (which may call the leaf functions `$leaf` or `$leaf_trap`, one frame deeper).
fn recursive(n: u32, bottom: &str) -> String {
    format!(
        r#"(module
          (import "smart_rollup_core" "write_debug" (func $debug (param i32 i32)))
          (memory (export "memory") 1)
          (func $leaf (call $debug (i32.const 0) (i32.const 0)))
          (func $leaf_trap unreachable)
          (func $rec (param $n i32)
            (if (local.get $n)
              (then (call $rec (i32.sub (local.get $n) (i32.const 1))))
              (else {bottom})))
          (func (export "kernel_run") (call $rec (i32.const {n}))))"#
    )
}

/// Run with the deepest frame at `depth` (a `$rec` frame running `bottom`).
fn run_bottom(version: PvmVersion, depth: u32, bottom: &str) -> RunOutcome {
    let mut env = Env::new(version);
    env.run(&mut engine(), &recursive(depth - 2, bottom))
        .expect("no engine error")
}

fn run_depth(version: PvmVersion, depth: u32, trap: bool) -> RunOutcome {
    run_bottom(version, depth, if trap { "unreachable" } else { "" })
}

#[test]
fn leaf_functions_count_as_frames() {
    let exhausted = RunOutcome::Stuck("call stack exhausted".into());
    assert_eq!(
        run_bottom(PvmVersion::V6, 59_998, "(call $leaf)"),
        RunOutcome::Returned
    );
    assert_eq!(
        run_bottom(PvmVersion::V6, 59_999, "(call $leaf)"),
        exhausted
    );
    assert_eq!(
        run_bottom(PvmVersion::V6, 59_998, "(call $leaf_trap)"),
        RunOutcome::Trapped("unreachable executed".into())
    );
    assert_eq!(
        run_bottom(PvmVersion::V6, 59_999, "(call $leaf_trap)"),
        exhausted
    );
    assert_eq!(
        run_bottom(PvmVersion::V0, 298, "(call $leaf)"),
        RunOutcome::Returned
    );
    assert_eq!(run_bottom(PvmVersion::V0, 299, "(call $leaf)"), exhausted);
}

#[test]
fn v1_limit_is_60_000_frames() {
    assert_eq!(
        run_depth(PvmVersion::V6, 59_999, false),
        RunOutcome::Returned
    );
    assert_eq!(
        run_depth(PvmVersion::V6, 60_000, false),
        RunOutcome::Stuck("call stack exhausted".into())
    );
    assert_eq!(
        run_depth(PvmVersion::V1, 60_001, false),
        RunOutcome::Stuck("call stack exhausted".into())
    );
}

#[test]
fn v0_limit_is_300_frames() {
    assert_eq!(run_depth(PvmVersion::V0, 299, false), RunOutcome::Returned);
    assert_eq!(
        run_depth(PvmVersion::V0, 300, false),
        RunOutcome::Stuck("call stack exhausted".into())
    );
}

#[test]
fn a_trap_at_the_deepest_frame_is_a_trap() {
    assert_eq!(
        run_depth(PvmVersion::V6, 59_999, true),
        RunOutcome::Trapped("unreachable executed".into())
    );
}

/// Every way out of a function gives its frame back: 200 000 sequential calls (100 000 per branch of each exit kind)
/// would exhaust the budget if one exit leaked.
#[test]
fn every_exit_path_releases_its_frame() {
    let wat = r#"(module (memory (export "memory") 1)
      (func $ret (param $x i32) (result i32)
        (if (local.get $x) (then (return (i32.const 1))))
        (i32.const 2))
      (func $br (param $x i32) (result i32)
        (i32.const 3)
        (br_if 0 (local.get $x))
        (drop)
        (i32.const 4)
        (br 0))
      (func $table (param $x i32)
        (block $a
          (br_table $a 1 (local.get $x))))
      (func $plain)
      (func (export "kernel_run")
        (local $i i32)
        (loop $l
          (drop (call $ret (i32.and (local.get $i) (i32.const 1))))
          (drop (call $br (i32.and (local.get $i) (i32.const 1))))
          (call $table (i32.and (local.get $i) (i32.const 1)))
          (call $plain)
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 200000))))))"#;
    let mut env = Env::new(PvmVersion::V6);
    assert_eq!(
        env.run(&mut engine(), wat).expect("run"),
        RunOutcome::Returned
    );
}
