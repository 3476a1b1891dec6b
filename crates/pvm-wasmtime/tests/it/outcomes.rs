//! Run outcomes: traps, decode/link/init errors, stuck states, cache, cancellation.

use wasm_pvm::{EngineError, PvmVersion, RunOutcome};

use crate::common::{Env, engine, prelude, run_fresh};

fn outcome(wat: &str) -> RunOutcome {
    run_fresh(wat).0.expect("no engine error")
}

fn kernel_with_body(body: &str) -> String {
    format!(
        r#"(module {}
          (type $v (func))
          (table 2 funcref)
          (func $other (param i32))
          (elem (i32.const 1) $other)
          (func (export "kernel_run") {body}))"#,
        prelude("")
    )
}

#[test]
fn returns() {
    assert_eq!(
        outcome(r#"(module (memory (export "memory") 1) (func (export "kernel_run")))"#),
        RunOutcome::Returned
    );
}

#[test]
fn traps_are_trapped_and_writes_before_them_persist() {
    let cases = [
        ("unreachable", "unreachable executed"),
        (
            "(drop (i32.load (i32.const 65536)))",
            "out of bounds memory access",
        ),
        (
            "(drop (i32.div_u (i32.const 1) (i32.const 0)))",
            "integer divide by zero",
        ),
        (
            "(drop (i32.div_s (i32.const 0x80000000) (i32.const -1)))",
            "integer overflow",
        ),
        (
            "(call_indirect (type $v) (i32.const 0))",
            "uninitialized element",
        ),
        (
            "(call_indirect (type $v) (i32.const 1))",
            "indirect call type mismatch",
        ),
        (
            "(call_indirect (type $v) (i32.const 7))",
            "undefined element",
        ),
        (
            "(memory.fill (i32.const 65530) (i32.const 0) (i32.const 10))",
            "out of bounds memory access",
        ),
    ];
    for (instr, msg) in cases {
        let wat = kernel_with_body(&format!(
            "(call $save (i32.const 0) (i32.const 42)) {instr}"
        ));
        let (out, env) = run_fresh(&wat);
        // A null or missing element of `call_indirect` is an exception in Octez (`func_ref`
        // raises `Trap`: `Stuck Eval_error`), the same trap of a `table.*` instruction an
        // ordinary one: wasmtime cannot tell them apart, the PVM replays the window exactly.
        let expected = if msg.ends_with("element") {
            RunOutcome::Ambiguous(msg.into())
        } else {
            RunOutcome::Trapped(msg.into())
        };
        assert_eq!(out.expect("no engine error"), expected, "{instr}");
        assert_eq!(env.code(0), 42, "write before the trap persists ({instr})");
    }
}

#[test]
fn floats_are_decode_errors() {
    let cases = [
        r#"(module (memory (export "memory") 1) (func (export "kernel_run") (local f32)))"#,
        r#"(module (memory (export "memory") 1)
             (func (export "kernel_run") (drop (f64.const 1))))"#,
        r#"(module (memory (export "memory") 1) (global f32 (f32.const 0))
             (func (export "kernel_run")))"#,
        r#"(module (memory (export "memory") 1)
             (func (export "kernel_run") (drop (i32.trunc_sat_f32_s (f32.const 1)))))"#,
        r#"(module (memory (export "memory") 1)
             (func (export "kernel_run") (drop (f32x4.splat (f32.const 1)))))"#,
        r#"(module (memory (export "memory") 1)
             (func (export "kernel_run")
               (drop (f32x4.add (v128.const i64x2 0 0) (v128.const i64x2 0 0)))))"#,
        r#"(module (memory (export "memory") 1) (func $f (param f64))
             (func (export "kernel_run")))"#,
    ];
    for wat in cases {
        assert!(
            matches!(outcome(wat), RunOutcome::DecodeError(_)),
            "floats must be rejected: {wat}"
        );
    }
}

#[test]
fn features_outside_the_set_are_decode_errors() {
    let cases = [
        // multi-value
        r#"(module (memory (export "memory") 1)
             (func $two (result i32 i32) (i32.const 1) (i32.const 2))
             (func (export "kernel_run")))"#,
        // tail calls
        r#"(module (memory (export "memory") 1) (func $f)
             (func (export "kernel_run") (return_call $f)))"#,
        // relaxed SIMD
        r#"(module (memory (export "memory") 1)
             (func (export "kernel_run")
               (drop (i8x16.relaxed_swizzle (v128.const i64x2 0 0) (v128.const i64x2 0 0)))))"#,
        // memory64
        r#"(module (memory (export "memory") i64 1) (func (export "kernel_run")))"#,
        // threads
        r#"(module (memory (export "memory") 1 1 shared) (func (export "kernel_run")))"#,
    ];
    for wat in cases {
        assert!(
            matches!(outcome(wat), RunOutcome::DecodeError(_)),
            "must be rejected: {wat}"
        );
    }
    let garbage = {
        let mut env = Env::new(PvmVersion::V6);
        env.run_bin(&mut engine(), b"\0asm\x01\0\0\0\x05garbage")
    };
    assert!(
        matches!(garbage, Ok(RunOutcome::DecodeError(_))),
        "{garbage:?}"
    );
}

#[test]
fn integer_simd_bulk_memory_and_reference_types_are_accepted() {
    let wat = r#"(module
      (memory (export "memory") 1)
      (table $t 1 funcref)
      (func $f)
      (elem declare func $f)
      (func (export "kernel_run")
        (v128.store (i32.const 0) (i32x4.add (i32x4.splat (i32.const 1)) (v128.const i64x2 1 2)))
        (memory.copy (i32.const 100) (i32.const 0) (i32.const 16))
        (memory.fill (i32.const 200) (i32.const 7) (i32.const 8))
        (table.set $t (i32.const 0) (ref.func $f))
        (drop (ref.is_null (table.get $t (i32.const 0))))
        (drop (i32.extend8_s (i32.const 255)))))"#;
    assert_eq!(outcome(wat), RunOutcome::Returned);
}

#[test]
fn ill_typed_modules_are_engine_failures() {
    let wat = r#"(module (memory (export "memory") 1)
      (func (export "kernel_run") (drop (i32.add (i32.const 1) (i64.const 2)))))"#;
    let bin = wat::Parser::new()
        .parse_str(None, wat)
        .expect("ill-typed WAT still encodes");
    let mut env = Env::new(PvmVersion::V6);
    let out = env.run_bin(&mut engine(), &bin);
    assert!(matches!(out, Err(EngineError::Panic(_))), "{out:?}");
}

#[test]
fn link_errors() {
    let other_module = r#"(module (import "env" "store_has" (func (param i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "kernel_run")))"#;
    // Octez's messages (`Wasm_pvm_errors.link_error`).
    assert_eq!(
        outcome(other_module),
        RunOutcome::LinkError("Unexpected module import: env".into())
    );
    let unknown = r#"(module (import "smart_rollup_core" "nope" (func))
      (memory (export "memory") 1) (func (export "kernel_run")))"#;
    assert_eq!(
        outcome(unknown),
        RunOutcome::LinkError("Unexpected import: smart_rollup_core.nope".into())
    );

    // `store_exists` only links from V2 on.
    let exists = r#"(module
      (import "smart_rollup_core" "store_exists" (func (param i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "kernel_run")))"#;
    let mut e = engine();
    let mut env = Env::new(PvmVersion::V1);
    assert_eq!(
        env.run(&mut e, exists).expect("run"),
        RunOutcome::LinkError("Unexpected import: smart_rollup_core.store_exists".into())
    );
    let mut env = Env::new(PvmVersion::V2);
    assert_eq!(env.run(&mut e, exists).expect("run"), RunOutcome::Returned);
}

#[test]
fn init_errors() {
    let wrong_type = r#"(module (import "smart_rollup_core" "write_debug"
        (func (param i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "kernel_run")))"#;
    assert!(matches!(outcome(wrong_type), RunOutcome::InitError(_)));
    let not_a_function = r#"(module (import "smart_rollup_core" "read_input" (global i32))
      (memory (export "memory") 1) (func (export "kernel_run")))"#;
    assert!(matches!(outcome(not_a_function), RunOutcome::InitError(_)));
    let no_memory_export = r#"(module (memory 1) (func (export "kernel_run")))"#;
    assert!(matches!(
        outcome(no_memory_export),
        RunOutcome::InitError(_)
    ));
    let no_memory = r#"(module (func (export "kernel_run")))"#;
    assert!(matches!(outcome(no_memory), RunOutcome::InitError(_)));
    let data_out_of_bounds = r#"(module (memory (export "memory") 1)
      (data (i32.const 65535) "ab") (func (export "kernel_run")))"#;
    assert!(matches!(
        outcome(data_out_of_bounds),
        RunOutcome::InitError(_)
    ));
    let start_traps = r#"(module (memory (export "memory") 1)
      (func $s unreachable) (start $s) (func (export "kernel_run")))"#;
    assert!(matches!(outcome(start_traps), RunOutcome::InitError(_)));
}

#[test]
fn memory_exported_under_any_name() {
    let wat = r#"(module (memory (export "mem0") 1) (func (export "kernel_run")))"#;
    assert_eq!(outcome(wat), RunOutcome::Returned);
}

#[test]
fn missing_kernel_run_is_stuck() {
    let cases = [
        r#"(module (memory (export "memory") 1) (func (export "kernel_main")))"#,
        r#"(module (memory (export "memory") 1) (global (export "kernel_run") i32 (i32.const 0)))"#,
    ];
    for wat in cases {
        assert!(matches!(outcome(wat), RunOutcome::Stuck(_)), "{wat}");
    }
}

#[test]
fn start_function_runs_before_kernel_run() {
    let wat = format!(
        r#"(module {}
          (func $start (call $save (i32.const 0) (i32.const 7)))
          (start $start)
          (func (export "kernel_run") (call $save (i32.const 1) (i32.const 8))))"#,
        prelude("")
    );
    let (out, env) = run_fresh(&wat);
    assert_eq!(out.expect("run"), RunOutcome::Returned);
    assert_eq!((env.code(0), env.code(1)), (7, 8));
}

#[test]
fn module_cache_keeps_two_kernels() {
    let mut e = engine();
    let mut env = Env::new(PvmVersion::V6);
    for i in 0..4 {
        let wat = format!(
            r#"(module (memory (export "memory") 1)
                 (func (export "kernel_run") (drop (i32.const {i}))))"#
        );
        assert_eq!(env.run(&mut e, &wat).expect("run"), RunOutcome::Returned);
        assert_eq!(e.cached_modules(), (i + 1).min(2));
    }
    // A cached kernel runs again with the same result.
    let wat = r#"(module (memory (export "memory") 1) (func (export "kernel_run") (drop (i32.const 3))))"#;
    assert_eq!(env.run(&mut e, wat).expect("run"), RunOutcome::Returned);
    assert_eq!(e.cached_modules(), 2);
}

#[test]
fn an_endless_kernel_can_be_cancelled() {
    // A loop without host calls: only epoch checks (not the default) stop it.
    let mut e = pvm_wasmtime::WasmtimeEngine::with_options(pvm_wasmtime::Options {
        interruptible: true,
    })
    .expect("engine");
    let interrupt = e.interrupt_handle();
    let canceller = std::thread::spawn({
        let interrupt = interrupt.clone();
        move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            interrupt.interrupt();
        }
    });
    let endless = r#"(module (memory (export "memory") 1)
      (func (export "kernel_run") (loop $l (br $l))))"#;
    let mut env = Env::new(PvmVersion::V6);
    let out = env.run(&mut e, endless);
    canceller.join().expect("canceller");
    assert!(matches!(out, Err(EngineError::Cancelled)), "{out:?}");

    // Sticky until cleared.
    let quick = r#"(module (memory (export "memory") 1) (func (export "kernel_run")))"#;
    assert!(matches!(
        env.run(&mut e, quick),
        Err(EngineError::Cancelled)
    ));
    interrupt.clear();
    assert_eq!(env.run(&mut e, quick).expect("run"), RunOutcome::Returned);
}

#[test]
fn a_non_interruptible_engine_runs_and_checks_interrupts_before_runs() {
    let mut e = pvm_wasmtime::WasmtimeEngine::with_options(pvm_wasmtime::Options {
        interruptible: false,
    })
    .expect("engine");
    let wat = r#"(module (memory (export "memory") 1)
      (func (export "kernel_run") (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))))"#;
    let mut env = Env::new(PvmVersion::V6);
    assert_eq!(env.run(&mut e, wat).expect("run"), RunOutcome::Returned);
    e.interrupt_handle().interrupt();
    assert!(matches!(env.run(&mut e, wat), Err(EngineError::Cancelled)));
}
