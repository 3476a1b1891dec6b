//! Through the wasm-pvm driver: kernel upgrade by writing `/kernel/boot.wasm` then reboot,
//! fallback after a bad upgrade, determinism of the state hash.

use durable_tree::durable::Key;
use wasm_pvm::{
    GenesisParams, KERNEL_FALLBACK_KEY, KERNEL_KEY, PvmState, PvmVersion, STUCK_FLAG_KEY,
    TickState, UPGRADE_ERROR_FLAG_KEY,
};

use crate::common::{Debug, Reveals, engine};

/// Kernel B: records that it ran.
const KERNEL_B: &str = r#"(module
  (import "smart_rollup_core" "store_write"
    (func $w (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "/ran_b")
  (func (export "kernel_run")
    (drop (call $w (i32.const 0) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const 0)))))"#;

/// A kernel with a float: fails to decode.
const KERNEL_FLOAT: &str = r#"(module (memory (export "memory") 1)
  (func (export "kernel_run") (drop (f32.const 1))))"#;

fn wat_bytes(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("test kernel parses")
}

/// Kernel A: records that it ran, replaces `/kernel/boot.wasm` by `next`, requests a reboot.
fn kernel_a(next: &[u8]) -> Vec<u8> {
    assert!(next.len() <= 2048, "one store_write chunk");
    let escaped: String = next.iter().map(|b| format!("\\{b:02x}")).collect();
    wat_bytes(&format!(
        r#"(module
  (import "smart_rollup_core" "store_write"
    (func $w (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_delete" (func $d (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "/ran_a")
  (data (i32.const 16) "/kernel/boot.wasm")
  (data (i32.const 48) "/kernel/env/reboot")
  (data (i32.const 1024) "{escaped}")
  (func (export "kernel_run")
    (drop (call $w (i32.const 0) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const 0)))
    ;; `store_write` never shrinks a value: delete the old kernel first.
    (drop (call $d (i32.const 16) (i32.const 17)))
    (drop (call $w (i32.const 16) (i32.const 17) (i32.const 0) (i32.const 1024)
      (i32.const {len})))
    (drop (call $w (i32.const 48) (i32.const 18) (i32.const 0) (i32.const 0) (i32.const 0)))))"#,
        len = next.len()
    ))
}

fn level_messages() -> Vec<Vec<u8>> {
    vec![vec![0, 1], vec![0, 2]] // Start_of_level, End_of_level
}

fn run_one_level(kernel: &[u8]) -> PvmState {
    let mut state =
        PvmState::genesis(PvmVersion::V6, kernel, &GenesisParams::default()).expect("genesis");
    let mut reveals = Reveals::default();
    let mut debug = Debug::default();
    state
        .process_level(
            1,
            &level_messages(),
            &mut engine(),
            &mut reveals,
            Some(&mut debug),
        )
        .expect("level processed");
    state
}

fn value(state: &PvmState, key: &str) -> Option<Vec<u8>> {
    let k = Key::from_str_checked(key).expect("valid key");
    state.durable().read_all(&k).expect("durable read")
}

#[test]
fn kernel_upgrade_then_reboot_runs_the_new_kernel() {
    let b = wat_bytes(KERNEL_B);
    let state = run_one_level(&kernel_a(&b));
    assert_eq!(value(&state, "/ran_a"), Some(vec![]), "kernel A ran");
    assert_eq!(
        value(&state, "/ran_b"),
        Some(vec![]),
        "kernel B ran after the reboot"
    );
    assert_eq!(value(&state, KERNEL_KEY), Some(b.clone()));
    assert_eq!(
        value(&state, KERNEL_FALLBACK_KEY),
        Some(b),
        "B is the fallback"
    );
    assert_eq!(value(&state, STUCK_FLAG_KEY), None);
    assert_eq!(*state.tick_state(), TickState::Collect);
}

#[test]
fn a_float_upgrade_falls_back_to_the_previous_kernel() {
    let a = kernel_a(&wat_bytes(KERNEL_FLOAT));
    let state = run_one_level(&a);
    assert_eq!(value(&state, "/ran_a"), Some(vec![]));
    assert_eq!(
        value(&state, KERNEL_KEY),
        Some(a.clone()),
        "fallback restored"
    );
    assert_eq!(value(&state, KERNEL_FALLBACK_KEY), Some(a));
    assert!(value(&state, UPGRADE_ERROR_FLAG_KEY).is_some());
}

#[test]
fn a_trapping_kernel_sets_the_stuck_flag() {
    let trap = wat_bytes(
        r#"(module (memory (export "memory") 1) (func (export "kernel_run") unreachable))"#,
    );
    let state = run_one_level(&trap);
    assert_eq!(value(&state, STUCK_FLAG_KEY), Some(vec![]));
    assert_eq!(*state.tick_state(), TickState::Collect);
}

#[test]
fn two_runs_give_the_same_state_hash() {
    let a = kernel_a(&wat_bytes(KERNEL_B));
    let h1 = run_one_level(&a).hash().expect("hash");
    let h2 = run_one_level(&a).hash().expect("hash");
    assert_eq!(h1, h2);
}
