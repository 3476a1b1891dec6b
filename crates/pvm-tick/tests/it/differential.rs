//! Differential tests (issue 13): a whole `kernel_run` window through the tick-level PVM
//! (`pvm_tick::compute_step`, one tick at a time, the interpreter's ticks being
//! `wasm-interp`'s; reveal ticks answered with `pvm_tick::set_input`) against the fast path
//! (`wasm_pvm::PvmState` + `pvm_wasmtime::WasmtimeEngine`): the state after the window end
//! (hash and tick) must be the same. The kernels are small WAT modules, one or a few
//! instruction families each; they store what they compute in the durable storage, so a
//! semantic difference changes the state hash.

use context_hash::to_context_b58;
use durable_tree::Tree;
use wasm_pvm::{GenesisParams, PvmState, PvmVersion, RevealError, RevealHandler, TickState};

struct NoReveal;

impl RevealHandler for NoReveal {
    fn reveal(&mut self, _request: &[u8]) -> Result<Vec<u8>, RevealError> {
        Err(RevealError("no reveal in these tests".into()))
    }
}

/// Answers reveal requests from a table (the fast path and the small-step driver share it).
#[derive(Clone, Default)]
pub(crate) struct Table(Vec<(Vec<u8>, Vec<u8>)>);

impl Table {
    pub(crate) fn answer(&self, request: &[u8]) -> Vec<u8> {
        self.0
            .iter()
            .find(|(q, _)| q == request)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("unexpected reveal request {}", hex::encode(request)))
    }
}

impl RevealHandler for Table {
    fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, RevealError> {
        Ok(self.answer(request))
    }
}

/// Genesis with `m` ticks per window, one level of inputs (SOL, Info_per_level, `inputs`
/// as external messages, EOL), run to the first `Snapshot`.
pub(crate) fn at_snapshot(kernel: &[u8], m: u128, inputs: &[&[u8]]) -> PvmState {
    at_snapshot_v(kernel, m, inputs, PvmVersion::V6)
}

/// [`at_snapshot`] at PVM version `v`.
fn at_snapshot_v(kernel: &[u8], m: u128, inputs: &[&[u8]], v: PvmVersion) -> PvmState {
    let params = GenesisParams {
        ticks_per_snapshot: m,
        outbox_validity_period: 10,
        outbox_message_limit: 100,
        maximum_reboots_per_input: 1000,
    };
    let mut s = PvmState::genesis(v, kernel, &params).unwrap();
    let mut ipl = vec![0x00, 0x03];
    ipl.extend([0u8; 40]);
    let mut messages = vec![vec![0x00, 0x01], ipl];
    for i in inputs {
        let mut m = vec![0x01];
        m.extend(*i);
        messages.push(m);
    }
    messages.push(vec![0x00, 0x02]);
    for (i, m) in messages.iter().enumerate() {
        s.set_input(0, i as u64, m).unwrap();
    }
    s.finish_window().unwrap();
    assert_eq!(s.tick_state(), &TickState::Snapshot);
    s
}

fn b58(t: &Tree) -> String {
    to_context_b58(&t.hash().unwrap())
}

fn tag(t: &Tree) -> String {
    let b = t.get_contents(&["wasm", "tag"]).unwrap().unwrap();
    String::from_utf8(b[4..].to_vec()).unwrap()
}

/// Runs one window both ways from `s` (a `Snapshot`); returns (ticks until the small-step
/// interpreter reached `Padding`, state hash after the window end).
fn one_window(s: &PvmState) -> (u128, String) {
    one_window_with(s, &Table::default())
}

/// [`one_window`] answering reveal requests from `reveals` (both ways).
fn one_window_with(s: &PvmState, reveals: &Table) -> (u128, String) {
    let start = s.current_tick();
    let mut fast = s.clone();
    let mut engine = pvm_wasmtime::WasmtimeEngine::new().unwrap();
    fast.step_kernel_run(&mut engine, &mut reveals.clone(), None)
        .unwrap();
    let fast_tree = fast.to_tree().unwrap();

    let mut t = s.to_tree().unwrap();
    let end = fast.current_tick();
    let mut tick = start;
    let mut padding_at = None;
    while tick < end {
        t = match pvm_tick::reveal_request(&t).unwrap() {
            Some(req) => {
                assert!(
                    pvm_tick::is_input_state(&t).unwrap(),
                    "a reveal tick takes an input"
                );
                pvm_tick::set_input(&t, &pvm_tick::Input::Reveal(reveals.answer(&req))).unwrap()
            }
            None => pvm_tick::compute_step(&t).unwrap_or_else(|e| panic!("tick {}: {e}", tick + 1)),
        };
        tick += 1;
        if padding_at.is_none() && tag(&t) == "padding" {
            padding_at = Some(tick - start);
        }
    }
    assert_eq!(
        b58(&t),
        b58(&fast_tree),
        "state after the window end (tick {end}), small-step vs fast path"
    );
    (padding_at.expect("reached Padding"), b58(&t))
}

fn wat(src: &str) -> Vec<u8> {
    wat::parse_str(src).expect("test kernel parses")
}

#[test]
fn echo_three_windows_match_the_fast_path() {
    let kernel = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wasm-pvm/tests/fixtures/ticks/echo.octez.wasm"
    ))
    .unwrap();
    let mut s = at_snapshot(&kernel, 5000, &[]);
    for _ in 0..3 {
        one_window(&s);
        let mut engine = pvm_wasmtime::WasmtimeEngine::new().unwrap();
        s.step_kernel_run(&mut engine, &mut NoReveal, None).unwrap();
    }
    assert_eq!(s.tick_state(), &TickState::Collect);
}

/// A kernel storing `values` (i32 or i64 results of the expressions) under `/r<i>`.
pub(crate) fn storing_kernel(body: &str, extra: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
  (import "smart_rollup_core" "store_write"
    (func $w (param i32 i32 i32 i32 i32) (result i32)))
  {extra}
  (memory (export "mem") 1)
  (data (i32.const 0) "/r0/r1/r2/r3/r4/r5/r6/r7/r8/r9")
  (func $save32 (param $slot i32) (param $v i32)
    (i32.store (i32.const 100) (local.get $v))
    (drop (call $w (i32.mul (local.get $slot) (i32.const 3)) (i32.const 3) (i32.const 0)
      (i32.const 100) (i32.const 4))))
  (func $save64 (param $slot i32) (param $v i64)
    (i64.store (i32.const 100) (local.get $v))
    (drop (call $w (i32.mul (local.get $slot) (i32.const 3)) (i32.const 3) (i32.const 0)
      (i32.const 100) (i32.const 8))))
  (func (export "kernel_run")
    {body}))"#
    ))
}

#[test]
fn i32_arithmetic_and_comparisons() {
    let k = storing_kernel(
        r#"(call $save32 (i32.const 0) (i32.add (i32.const 7) (i32.const -9)))
    (call $save32 (i32.const 1) (i32.mul (i32.const 123456) (i32.const 654321)))
    (call $save32 (i32.const 2) (i32.div_s (i32.const -7) (i32.const 2)))
    (call $save32 (i32.const 3) (i32.rem_u (i32.const -7) (i32.const 3)))
    (call $save32 (i32.const 4) (i32.rotl (i32.const 0x80000001) (i32.const 3)))
    (call $save32 (i32.const 5) (i32.shr_s (i32.const -64) (i32.const 33)))
    (call $save32 (i32.const 6) (i32.clz (i32.const 0x00f00000)))
    (call $save32 (i32.const 7) (i32.popcnt (i32.const 0x0f0f0f0f)))
    (call $save32 (i32.const 8) (i32.lt_u (i32.const -1) (i32.const 1)))
    (call $save32 (i32.const 9) (i32.extend8_s (i32.const 0x80)))"#,
        "",
    );
    let s = at_snapshot(&k, 20_000, &[]);
    one_window(&s);
}

#[test]
fn i64_arithmetic_and_conversions() {
    let k = storing_kernel(
        r#"(call $save64 (i32.const 0) (i64.add (i64.const 0x7fffffffffffffff) (i64.const 1)))
    (call $save64 (i32.const 1) (i64.mul (i64.const -3) (i64.const 0x123456789)))
    (call $save64 (i32.const 2) (i64.extend_i32_s (i32.const -5)))
    (call $save64 (i32.const 3) (i64.extend_i32_u (i32.const -5)))
    (call $save32 (i32.const 4) (i32.wrap_i64 (i64.const 0x1234567890)))
    (call $save64 (i32.const 5) (i64.ctz (i64.const 0x100000000)))
    (call $save64 (i32.const 6) (i64.shr_u (i64.const -1) (i64.const 65)))
    (call $save32 (i32.const 7) (i64.eqz (i64.const 0)))
    (call $save64 (i32.const 8) (i64.extend32_s (i64.const 0x80000000)))
    (call $save64 (i32.const 9) (i64.rem_s (i64.const -7) (i64.const 2)))"#,
        "",
    );
    let s = at_snapshot(&k, 20_000, &[]);
    one_window(&s);
}

#[test]
fn control_flow_locals_and_globals() {
    let k = storing_kernel(
        r#"(local $i i32) (local $acc i64)
    ;; loop with br_if: sum 0..9
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.const 10)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (call $save64 (i32.const 0) (local.get $acc))
    ;; br_table
    (call $save32 (i32.const 1)
      (block $a (result i32)
        (block $b (result i32)
          (block $c (result i32)
            (br_table $a $b $c (i32.const 30) (i32.const 1))))))
    ;; if/else with results, select, globals, a function with a result and return
    (call $save32 (i32.const 2)
      (if (result i32) (i32.const 0) (then (i32.const 1)) (else (i32.const 2))))
    (call $save32 (i32.const 3) (select (i32.const 5) (i32.const 6) (i32.const 0)))
    (global.set $g (i32.add (global.get $g) (i32.const 40)))
    (call $save32 (i32.const 4) (global.get $g))
    (call $save32 (i32.const 5) (call $early (i32.const 3)))
    (call $save32 (i32.const 6) (local.tee $i (i32.const 77)))"#,
        r#"(global $g (mut i32) (i32.const 2))
  (func $early (param $x i32) (result i32)
    (if (i32.gt_u (local.get $x) (i32.const 2)) (then (return (i32.const 100))))
    (i32.const 200))"#,
    );
    let s = at_snapshot(&k, 40_000, &[]);
    one_window(&s);
}

#[test]
fn memory_loads_stores_size_and_grow() {
    let k = storing_kernel(
        r#"(i64.store offset=8 (i32.const 600) (i64.const 0x0102030405060708))
    (call $save32 (i32.const 0) (i32.load8_s offset=8 (i32.const 600)))
    (call $save32 (i32.const 1) (i32.load16_u offset=9 (i32.const 600)))
    (call $save64 (i32.const 2) (i64.load32_s (i32.const 610)))
    (call $save32 (i32.const 3) (memory.size))
    (call $save32 (i32.const 4) (memory.grow (i32.const 1)))
    (call $save32 (i32.const 5) (memory.size))
    (i32.store (i32.const 70000) (i32.const 99))
    (call $save32 (i32.const 6) (i32.load (i32.const 70000)))"#,
        "",
    );
    let s = at_snapshot(&k, 40_000, &[]);
    one_window(&s);
}

#[test]
fn a_trap_sets_the_stuck_flag_like_the_fast_path() {
    let k = storing_kernel(
        r#"(call $save32 (i32.const 0) (i32.const 1))
    (drop (i32.div_u (i32.const 1) (i32.const 0)))"#,
        "",
    );
    let s = at_snapshot(&k, 20_000, &[]);
    one_window(&s);
}

#[test]
fn tables_call_indirect_and_element_segments() {
    let k = storing_kernel(
        r#"(call $save32 (i32.const 0) (call_indirect (type $ii) (i32.const 5) (i32.const 0)))
    (call $save32 (i32.const 1) (call_indirect (type $ii) (i32.const 5) (i32.const 1)))
    (call $save32 (i32.const 2) (table.size $t))
    (call $save32 (i32.const 3) (table.grow $t (ref.null func) (i32.const 2)))
    (table.set $t (i32.const 3) (table.get $t (i32.const 0)))
    (call $save32 (i32.const 4) (call_indirect (type $ii) (i32.const 6) (i32.const 3)))
    (table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 2))
    (call $save32 (i32.const 5) (call_indirect (type $ii) (i32.const 7) (i32.const 3)))
    (table.init $t $p (i32.const 0) (i32.const 0) (i32.const 1))
    (elem.drop $p)
    (call $save32 (i32.const 6) (call_indirect (type $ii) (i32.const 8) (i32.const 0)))
    (table.fill $t (i32.const 1) (ref.null func) (i32.const 1))
    (call $save32 (i32.const 7) (ref.is_null (table.get $t (i32.const 1))))"#,
        r#"(type $ii (func (param i32) (result i32)))
  (table $t 3 funcref)
  (elem (table $t) (i32.const 0) func $double $square)
  (elem $p func $square)
  (func $double (param i32) (result i32) (i32.add (local.get 0) (local.get 0)))
  (func $square (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))"#,
    );
    let s = at_snapshot(&k, 60_000, &[]);
    one_window(&s);
}

#[test]
fn bulk_memory_and_passive_data() {
    let k = storing_kernel(
        r#"(memory.fill (i32.const 200) (i32.const 0xab) (i32.const 5))
    (memory.copy (i32.const 202) (i32.const 200) (i32.const 4))
    (memory.copy (i32.const 300) (i32.const 302) (i32.const 3))
    (memory.init $d (i32.const 400) (i32.const 1) (i32.const 3))
    (data.drop $d)
    (call $save64 (i32.const 0) (i64.load (i32.const 200)))
    (call $save64 (i32.const 1) (i64.load (i32.const 300)))
    (call $save32 (i32.const 2) (i32.load (i32.const 400)))"#,
        r#"(data $d "wxyz")"#,
    );
    let s = at_snapshot(&k, 60_000, &[]);
    one_window(&s);
}

#[test]
fn a_null_call_indirect_is_an_eval_error_stuck_state() {
    // `func_ref` raises `Trap` (an exception): the PVM gets stuck (`Eval_error`), it does not
    // just trap the kernel.
    let k = storing_kernel(
        r#"(drop (call_indirect (type $ii) (i32.const 1) (i32.const 1)))"#,
        r#"(type $ii (func (param i32) (result i32)))
  (table 2 funcref)"#,
    );
    let s = at_snapshot(&k, 20_000, &[]);
    let mut t = s.to_tree().unwrap();
    for _ in 0..20_000 {
        t = pvm_tick::compute_step(&t).unwrap();
        if tag(&t) == "stuck" {
            break;
        }
    }
    assert_eq!(tag(&t), "stuck");
    let e = wasm_pvm::StuckError::decode(&t.get_contents(&["wasm", "value"]).unwrap().unwrap());
    assert_eq!(
        e,
        Some(wasm_pvm::StuckError::interpreter_eval_error(
            "uninitialized element 1"
        ))
    );
    // The fast engine alone sees a trap (wasmtime cannot tell `call_indirect` from
    // `table.get`); with the exact replay, the fast path gets stuck as Octez does.
    assert_eq!(
        fast_exact_vs_plain(&s),
        (b58(&t), pvm_tick::current_tick(&t).unwrap())
    );
}

/// The fast path from the `Snapshot` `s`: (state hash, tick) after the first
/// `step_kernel_run` with `pvm_tick::Exact(WasmtimeEngine)`, checked to differ from the fast
/// engine alone (whose result is an approximation in the cases this is used for).
fn fast_exact_vs_plain(s: &PvmState) -> (String, u128) {
    let run = |exact: bool| {
        let mut fast = s.clone();
        let engine = pvm_wasmtime::WasmtimeEngine::new().unwrap();
        if exact {
            let mut e = pvm_tick::Exact(engine);
            fast.run_kernel(&mut e, &mut NoReveal, None).unwrap();
        } else {
            let mut e = engine;
            fast.run_kernel(&mut e, &mut NoReveal, None).unwrap();
        }
        (b58(&fast.to_tree().unwrap()), fast.current_tick())
    };
    let (exact, plain) = (run(true), run(false));
    assert_ne!(
        exact, plain,
        "the fast engine alone approximates this window"
    );
    exact
}

/// The small-step result of the window from `s`: (state hash, tick) at its first `Padding`
/// or `Stuck` state.
fn small_step_window(s: &PvmState) -> (String, u128) {
    let t = pvm_tick::window_from_snapshot(&s.to_tree().unwrap(), &mut NoReveal).unwrap();
    (b58(&t), pvm_tick::current_tick(&t).unwrap())
}

/// A module Octez's decoder rejects (a float instruction: `allow_floats:false`): the fast
/// path places the `Decode_error` at the small-step tick and with Octez's message when the
/// window is replayed exactly.
#[test]
fn a_decoding_failure_is_placed_at_the_small_step_tick() {
    let k = wat(r#"(module (memory (export "mem") 1)
  (func (export "kernel_run") (drop (f32.const 1))))"#);
    let s = at_snapshot(&k, 20_000, &[]);
    let small = small_step_window(&s);
    assert_eq!(fast_exact_vs_plain(&s), small);
}

/// Unbounded recursion at V0 (300 frames): `call stack exhausted` at the small-step tick.
#[test]
fn call_stack_exhaustion_is_placed_at_the_small_step_tick() {
    let k = wat(r#"(module (memory (export "mem") 1)
  (func $f (call $f))
  (func (export "kernel_run") (call $f)))"#);
    let mut s = at_snapshot_v(&k, 50_000, &[], PvmVersion::V0);
    let small = small_step_window(&s);
    assert_eq!(fast_exact_vs_plain(&s), small);
    // And the tick-level PVM agrees that it is a permanent `Eval_error`.
    let mut engine = pvm_tick::Exact(pvm_wasmtime::WasmtimeEngine::new().unwrap());
    s.run_kernel(&mut engine, &mut NoReveal, None).unwrap();
    assert!(matches!(
        s.tick_state(),
        TickState::Stuck(wasm_pvm::StuckError::Eval(..))
    ));
}

#[test]
fn echo_of_an_external_message_writes_the_outbox_like_the_fast_path() {
    let kernel = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wasm-pvm/tests/fixtures/ticks/echo.octez.wasm"
    ))
    .unwrap();
    let mut s = at_snapshot(&kernel, 5000, &[b"hello", b"world"]);
    // SOL, IPL, two external messages, EOL: one window each.
    for _ in 0..5 {
        one_window(&s);
        let mut engine = pvm_wasmtime::WasmtimeEngine::new().unwrap();
        s.step_kernel_run(&mut engine, &mut NoReveal, None).unwrap();
    }
    assert_eq!(s.outbox(0).unwrap().len(), 2);
}

/// A kernel calling every durable-storage host function (and `write_debug`), storing the
/// results under `/r<i>` (also proved tick by tick: `host_proofs.rs`).
pub(crate) fn durable_kernel() -> Vec<u8> {
    let imports = [
        (
            "store_write",
            "(param i32 i32 i32 i32 i32) (result i32)",
            "$w2",
        ),
        (
            "store_read",
            "(param i32 i32 i32 i32 i32) (result i32)",
            "$r",
        ),
        ("store_has", "(param i32 i32) (result i32)", "$has"),
        ("store_exists", "(param i32 i32) (result i32)", "$ex"),
        ("store_list_size", "(param i32 i32) (result i64)", "$ls"),
        (
            "store_get_nth_key",
            "(param i32 i32 i64 i32 i32) (result i32)",
            "$nth",
        ),
        (
            "__internal_store_get_hash",
            "(param i32 i32 i32 i32) (result i32)",
            "$hash",
        ),
        ("store_copy", "(param i32 i32 i32 i32) (result i32)", "$cp"),
        ("store_move", "(param i32 i32 i32 i32) (result i32)", "$mv"),
        ("store_delete", "(param i32 i32) (result i32)", "$del"),
        ("store_value_size", "(param i32 i32) (result i32)", "$vs"),
        ("store_create", "(param i32 i32 i32) (result i32)", "$cr"),
        ("write_debug", "(param i32 i32)", "$dbg"),
    ];
    let extra: String = imports
        .iter()
        .map(|(n, t, f)| format!("(import \"smart_rollup_core\" \"{n}\" (func {f} {t}))\n"))
        .collect::<String>()
        + r#"(data (i32.const 200) "/a/b/c/x/y/z")"#;
    // Keys: /a (200, 2), /a/b (200, 4), /c (204, 2), /x/y/z (206, 6).
    storing_kernel(
        r#"(call $save32 (i32.const 0) (call $w2 (i32.const 200) (i32.const 4) (i32.const 0)
      (i32.const 206) (i32.const 6)))
    (call $save32 (i32.const 1) (call $r (i32.const 200) (i32.const 4) (i32.const 1)
      (i32.const 300) (i32.const 10)))
    (call $save32 (i32.const 2) (i32.add (call $has (i32.const 200) (i32.const 2))
      (i32.mul (call $ex (i32.const 204) (i32.const 2)) (i32.const 10))))
    (call $save64 (i32.const 3) (call $ls (i32.const 200) (i32.const 2)))
    (call $save32 (i32.const 4) (call $nth (i32.const 200) (i32.const 2) (i64.const 0)
      (i32.const 320) (i32.const 8)))
    (call $save32 (i32.const 5) (call $hash (i32.const 200) (i32.const 2) (i32.const 400)
      (i32.const 32)))
    (call $save32 (i32.const 6) (i32.add (call $cp (i32.const 200) (i32.const 2)
      (i32.const 204) (i32.const 2)) (call $mv (i32.const 204) (i32.const 2)
      (i32.const 206) (i32.const 6))))
    (call $save32 (i32.const 7) (i32.add (call $vs (i32.const 200) (i32.const 4))
      (call $cr (i32.const 204) (i32.const 2) (i32.const 700))))
    (call $save32 (i32.const 8) (call $del (i32.const 206) (i32.const 2)))
    (call $dbg (i32.const 200) (i32.const 12))
    (drop (call $w2 (i32.const 400) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))"#,
        &extra,
    )
}

#[test]
fn durable_storage_host_functions() {
    let s = at_snapshot(&durable_kernel(), 60_000, &[]);
    one_window(&s);
}

/// A kernel calling `reveal_preimage` (twice), `reveal_metadata` and `reveal`, with the
/// answers (also proved tick by tick: `host_proofs.rs`).
pub(crate) fn reveal_kernel() -> (Vec<u8>, Table) {
    let hash: Vec<u8> = (0..33u8).collect();
    let preimage: Vec<u8> = (0..700u32).map(|i| (i % 251) as u8).collect();
    let mut metadata = vec![7u8; 20];
    metadata.extend(42u32.to_be_bytes());
    let mut req = vec![0u8];
    req.extend(&hash);
    let table = Table(vec![
        (req, preimage),
        (vec![1], metadata),
        (b"raw!".to_vec(), b"answer".to_vec()),
    ]);
    let escaped: String = hash.iter().map(|b| format!("\\{b:02x}")).collect();
    let k = storing_kernel(
        r#"(call $save32 (i32.const 0) (call $pre (i32.const 500) (i32.const 33) (i32.const 1000)
      (i32.const 600)))
    (call $save64 (i32.const 1) (i64.load (i32.const 1590)))
    (call $save32 (i32.const 2) (call $meta (i32.const 2000) (i32.const 10)))
    (call $save64 (i32.const 3) (i64.load (i32.const 2002)))
    (call $save32 (i32.const 4) (call $raw (i32.const 560) (i32.const 4) (i32.const 3000)
      (i32.const 100)))
    (call $save32 (i32.const 5) (call $pre (i32.const 500) (i32.const 5000) (i32.const 1000)
      (i32.const 10)))
    (call $save64 (i32.const 6) (i64.load (i32.const 3000)))"#,
        &format!(
            r#"(import "smart_rollup_core" "reveal_preimage"
    (func $pre (param i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal_metadata" (func $meta (param i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal" (func $raw (param i32 i32 i32 i32) (result i32)))
  (data (i32.const 500) "{escaped}")
  (data (i32.const 560) "raw!")"#
        ),
    );
    (k, table)
}

#[test]
fn reveal_ticks_match_the_fast_path() {
    let (k, table) = reveal_kernel();
    let s = at_snapshot(&k, 60_000, &[]);
    one_window_with(&s, &table);
}

/// `$save128 slot v`: the 16 bytes of `v` under `/r<slot>`.
pub(crate) const SAVE128: &str = r#"(func $save128 (param $slot i32) (param $v v128)
    (v128.store (i32.const 100) (local.get $v))
    (drop (call $w (i32.mul (local.get $slot) (i32.const 3)) (i32.const 3) (i32.const 0)
      (i32.const 100) (i32.const 16))))"#;

#[test]
fn simd_integer_lanes_memory_and_shuffles() {
    let extra = format!(
        r#"{SAVE128}
  (global $gv (mut v128) (v128.const i32x4 1 2 3 4))
  (data (i32.const 512) "\80\01\ff\7f\00\80\ff\ff\10\20\30\40\50\60\70\f0")"#
    );
    let k = storing_kernel(
        r#"(local $a v128) (local $b v128)
    (local.set $a (v128.const i8x16 127 -128 100 -100 1 2 3 4 5 6 7 8 9 10 11 255))
    (local.set $b (v128.const i16x8 1 -1 0x7fff -32768 300 -300 2 0))
    ;; integer arithmetic, saturation, min/max, averages, unary
    (call $save128 (i32.const 0)
      (i32x4.add (i32x4.mul (v128.const i32x4 0x10000 3 -2 7) (v128.const i32x4 0x10000 -5 -2 9))
        (i64x2.sub (global.get $gv) (v128.const i64x2 5 -1))))
    (call $save128 (i32.const 1)
      (v128.xor
        (i8x16.add_sat_s (local.get $a) (local.get $a))
        (i8x16.avgr_u (i8x16.sub_sat_u (local.get $a) (i8x16.splat (i32.const 3)))
          (i8x16.max_s (i8x16.min_u (local.get $a) (i8x16.popcnt (local.get $a)))
            (i8x16.neg (i8x16.abs (local.get $a)))))))
    ;; 16/32-bit lanes: q15mulr, narrow, extmul, dot, extadd
    (call $save128 (i32.const 2)
      (v128.or
        (i8x16.narrow_i16x8_s (i16x8.q15mulr_sat_s (local.get $b) (local.get $b))
          (i16x8.narrow_i32x4_u (i32x4.dot_i16x8_s (local.get $b) (local.get $b))
            (i32x4.extmul_high_i16x8_u (local.get $b) (local.get $b))))
        (i16x8.extadd_pairwise_i8x16_s (local.get $a))))
    (call $save128 (i32.const 3)
      (i64x2.add (i64x2.extmul_low_i32x4_s (local.get $b) (local.get $a))
        (i64x2.extend_high_i32x4_u (i32x4.extend_low_i16x8_s (local.get $b)))))
    ;; comparisons and bit operators
    (call $save128 (i32.const 4)
      (v128.bitselect
        (i8x16.lt_u (local.get $a) (local.get $b))
        (i16x8.gt_s (local.get $a) (local.get $b))
        (v128.andnot (i32x4.ge_u (local.get $a) (local.get $b))
          (v128.not (i64x2.lt_s (local.get $a) (local.get $b))))))
    ;; shifts (counts modulo the lane width)
    (call $save128 (i32.const 5)
      (v128.xor (i8x16.shl (local.get $a) (i32.const 9))
        (v128.xor (i16x8.shr_s (local.get $b) (i32.const 17))
          (v128.xor (i32x4.shr_u (local.get $a) (i32.const 31))
            (i64x2.shl (local.get $b) (i32.const 65))))))
    ;; shuffles, swizzle, lanes
    (call $save128 (i32.const 6)
      (i8x16.replace_lane 3
        (i8x16.swizzle
          (i8x16.shuffle 31 0 30 1 29 2 28 3 16 17 18 19 4 5 6 7 (local.get $a) (local.get $b))
          (v128.const i8x16 15 14 13 12 16 200 0 1 2 3 4 5 6 7 8 9))
        (i32.const 0x1ff)))
    ;; loads: full, extending, splat, zero, lane; stores: full, lane
    (v128.store offset=16 (i32.const 600) (v128.load (i32.const 512)))
    (v128.store16_lane 5 (i32.const 640) (local.get $b))
    (call $save128 (i32.const 7)
      (v128.xor (i16x8.add (v128.load8x8_s (i32.const 512)) (v128.load16x4_u offset=8 (i32.const 512)))
        (v128.xor (v128.load16_splat (i32.const 514))
          (v128.xor (v128.load32_zero (i32.const 616))
            (v128.load64_lane 1 (i32.const 636) (local.get $a))))))
    ;; lanes to scalars
    (call $save32 (i32.const 8)
      (i32.add (i8x16.bitmask (local.get $a))
        (i32.add (i32.shl (i8x16.extract_lane_u 15 (local.get $a)) (i32.const 16))
          (i32.add (i16x8.extract_lane_s 3 (local.get $b))
            (i32.add (i32x4.all_true (local.get $a)) (v128.any_true (local.get $b)))))))
    (global.set $gv (i64x2.replace_lane 1 (global.get $gv) (i64.const -9)))
    (call $save64 (i32.const 9)
      (i64.add (i64x2.extract_lane 1 (global.get $gv))
        (i64x2.extract_lane 0 (i64x2.splat (i64.const 0x123456789)))))"#,
        &extra,
    );
    let s = at_snapshot(&k, 60_000, &[]);
    one_window(&s);
}

/// Float SIMD: `f32x4.add` is a `Decode_error` (`return_float`), placed at the small-step
/// tick like a scalar float.
#[test]
fn simd_float_operators_are_decoded_as_octez_decodes_them() {
    let k = wat(r#"(module (memory (export "mem") 1)
  (func (export "kernel_run")
    (drop (f32x4.add (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)))))"#);
    let s = at_snapshot(&k, 20_000, &[]);
    let small = small_step_window(&s);
    assert_eq!(fast_exact_vs_plain(&s), small);
}

/// `i32x4.trunc_sat_f32x4_s/u` and `i32x4.trunc_sat_f64x2_s/u_zero` are `I32x4` operators
/// Octez's decoder returns unguarded and runs (`I32_convert.trunc_sat_*`); its fast path
/// checks kernels with that decoder only (`src/lib_scoru_wasm/fast/module_cache.ml`). NaN,
/// ±inf, out-of-range, negative-to-unsigned, `-0` and in-range lanes: the fast engine alone
/// ends the window in the small-step state (hash and tick).
#[test]
fn simd_trunc_sat_conversions_match_the_fast_path() {
    let k = storing_kernel(
        r#"(call $save128 (i32.const 0)
      (i32x4.trunc_sat_f32x4_s (v128.const i32x4 0x7fc00000 0x7f800000 0xff800000 0x4f800000)))
    (call $save128 (i32.const 1)
      (i32x4.trunc_sat_f32x4_s (v128.const i32x4 0xc0600000 0x4effffff 0xcf000000 0x80000000)))
    (call $save128 (i32.const 2)
      (i32x4.trunc_sat_f32x4_u (v128.const i32x4 0xffc00001 0x7f800000 0xff800000 0x4f800000)))
    (call $save128 (i32.const 3)
      (i32x4.trunc_sat_f32x4_u (v128.const i32x4 0xbfc00000 0x4f7fffff 0x501502f9 0x407f5c29)))
    (call $save128 (i32.const 4)
      (i32x4.trunc_sat_f64x2_s_zero (v128.const i64x2 0x7ff8000000000001 0xfff0000000000000)))
    (call $save128 (i32.const 5)
      (i32x4.trunc_sat_f64x2_s_zero (v128.const i64x2 0x4202a05f20000000 0xc1e00000001ccccd)))
    (call $save128 (i32.const 6)
      (i32x4.trunc_sat_f64x2_s_zero (v128.const i64x2 0x41dffffffff9999a 0xc1e0000000200000)))
    (call $save128 (i32.const 7)
      (i32x4.trunc_sat_f64x2_u_zero (v128.const i64x2 0x7ff0000000000000 0xbff0000000000000)))
    (call $save128 (i32.const 8)
      (i32x4.trunc_sat_f64x2_u_zero (v128.const i64x2 0x41effffffff00000 0x404559999999999a)))
    (call $save128 (i32.const 9)
      (i32x4.trunc_sat_f64x2_u_zero (v128.const i64x2 0xfff8000000000000 0xbfe0000000000000)))"#,
        SAVE128,
    );
    let s = at_snapshot(&k, 20_000, &[]);
    let t = pvm_tick::window_from_snapshot(&s.to_tree().unwrap(), &mut NoReveal).unwrap();
    assert_eq!(tag(&t), "padding", "Octez runs the conversions");
    // Same state hash after the window end (asserted inside) and same tick of `Padding`.
    let (padding_at, _) = one_window(&s);
    assert_eq!(
        padding_at,
        pvm_tick::current_tick(&t).unwrap() - s.current_tick()
    );
    // The stored lanes are the saturated integers, e.g. slot 0: NaN → 0, +inf → i32::MAX,
    // -inf → i32::MIN, 2^32 → i32::MAX.
    let mut fast = s;
    let mut engine = pvm_wasmtime::WasmtimeEngine::new().unwrap();
    fast.step_kernel_run(&mut engine, &mut NoReveal, None)
        .unwrap();
    let lanes = |slot: &str| -> Vec<i32> {
        let k = durable_tree::durable::Key::from_str_checked(slot).unwrap();
        let v = fast.durable().read_all(&k).unwrap().expect("stored");
        v.chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    assert_eq!(lanes("/r0"), [0, i32::MAX, i32::MIN, i32::MAX]);
    assert_eq!(lanes("/r5"), [i32::MAX, i32::MIN, 0, 0]);
    assert_eq!(lanes("/r8"), [-1, 42, 0, 0]);
}
