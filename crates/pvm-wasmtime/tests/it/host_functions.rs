//! Every host function called through real wasm; the kernel saves each result code.

use durable_tree::durable::Key;
use wasm_pvm::{EngineError, HostFatal, PvmVersion, RunOutcome};

use crate::common::{Env, engine, prelude, run_fresh};

const IMPORTS: &str = r#"
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "write_output" (func $write_output (param i32 i32) (result i32)))
  (import "smart_rollup_core" "write_debug" (func $write_debug (param i32 i32)))
  (import "smart_rollup_core" "store_has" (func $store_has (param i32 i32) (result i32)))
  (import "smart_rollup_core" "store_exists" (func $store_exists (param i32 i32) (result i32)))
  (import "smart_rollup_core" "store_list_size"
    (func $store_list_size (param i32 i32) (result i64)))
  (import "smart_rollup_core" "store_delete" (func $store_delete (param i32 i32) (result i32)))
  (import "smart_rollup_core" "store_delete_value"
    (func $store_delete_value (param i32 i32) (result i32)))
  (import "smart_rollup_core" "store_copy" (func $store_copy (param i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_move" (func $store_move (param i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_value_size"
    (func $store_value_size (param i32 i32) (result i32)))
  (import "smart_rollup_core" "store_read"
    (func $store_read (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_create" (func $store_create (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "__internal_store_get_hash"
    (func $get_hash (param i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal_preimage"
    (func $reveal_preimage (param i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal_metadata"
    (func $reveal_metadata (param i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal" (func $reveal (param i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_get_nth_key"
    (func $nth (param i32 i32 i64 i32 i32) (result i32)))
"#;

const BODY: &str = r#"
  (data (i32.const 300) "/a")
  (data (i32.const 310) "hello")
  (data (i32.const 320) "/b")
  (data (i32.const 330) "bad")
  (data (i32.const 340) "/readonly/x")
  (data (i32.const 360) "/zz")
  (data (i32.const 370) "/c")
  (data (i32.const 380) "/d")
  (data (i32.const 390) "/e")
  (data (i32.const 400) "/in")
  (data (i32.const 410) "/rev")
  (data (i32.const 420) "\00\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11\11")
  (data (i32.const 460) "/meta")
  (data (i32.const 470) "/hash")
  (data (i32.const 480) "payload")
  (data (i32.const 490) "/rv3")
  (func (export "kernel_run")
    (call $save (i32.const 0) (call $store_write (i32.const 300) (i32.const 2) (i32.const 0)
      (i32.const 310) (i32.const 5)))
    (call $save (i32.const 1) (call $store_has (i32.const 300) (i32.const 2)))
    (call $save (i32.const 2) (call $store_value_size (i32.const 300) (i32.const 2)))
    (call $save (i32.const 3) (call $store_read (i32.const 300) (i32.const 2) (i32.const 1)
      (i32.const 1000) (i32.const 100)))
    (drop (call $store_write (i32.const 370) (i32.const 2) (i32.const 0) (i32.const 1000)
      (i32.const 4)))
    (call $save (i32.const 4) (call $store_copy (i32.const 300) (i32.const 2) (i32.const 320)
      (i32.const 2)))
    (call $save (i32.const 5) (call $store_exists (i32.const 320) (i32.const 2)))
    (call $save (i32.const 6) (call $store_delete (i32.const 320) (i32.const 2)))
    (call $save (i32.const 7) (call $store_has (i32.const 330) (i32.const 3)))
    (call $save (i32.const 8) (call $store_write (i32.const 340) (i32.const 11) (i32.const 0)
      (i32.const 310) (i32.const 5)))
    (call $save (i32.const 9) (call $store_read (i32.const 360) (i32.const 3) (i32.const 0)
      (i32.const 1000) (i32.const 10)))
    (call $save (i32.const 10)
      (i32.wrap_i64 (call $store_list_size (i32.const 300) (i32.const 2))))
    (call $save (i32.const 11) (call $write_output (i32.const 310) (i32.const 5)))
    (call $save (i32.const 12) (call $read_input (i32.const 1200) (i32.const 1208)
      (i32.const 100)))
    (drop (call $store_write (i32.const 400) (i32.const 3) (i32.const 0) (i32.const 1200)
      (i32.const 11)))
    (call $save (i32.const 13) (call $read_input (i32.const 1200) (i32.const 1208)
      (i32.const 100)))
    (call $save (i32.const 14) (call $reveal_preimage (i32.const 420) (i32.const 33)
      (i32.const 1400) (i32.const 100)))
    (drop (call $store_write (i32.const 410) (i32.const 4) (i32.const 0) (i32.const 1400)
      (i32.const 8)))
    (call $save (i32.const 15) (call $reveal_metadata (i32.const 1600) (i32.const 24)))
    (drop (call $store_write (i32.const 460) (i32.const 5) (i32.const 0) (i32.const 1600)
      (i32.const 24)))
    (call $save (i32.const 16) (call $store_move (i32.const 370) (i32.const 2) (i32.const 380)
      (i32.const 2)))
    (call $save (i32.const 17) (call $get_hash (i32.const 380) (i32.const 2) (i32.const 1700)
      (i32.const 32)))
    (drop (call $store_write (i32.const 470) (i32.const 5) (i32.const 0) (i32.const 1700)
      (i32.const 32)))
    (call $save (i32.const 18) (call $store_create (i32.const 390) (i32.const 2) (i32.const 10)))
    (call $save (i32.const 19) (call $store_create (i32.const 390) (i32.const 2) (i32.const 10)))
    (call $save (i32.const 20) (call $store_delete_value (i32.const 300) (i32.const 2)))
    (call $save (i32.const 21) (call $store_read (i32.const 380) (i32.const 2) (i32.const 0)
      (i32.const 65534) (i32.const 4)))
    (call $save (i32.const 22) (call $reveal (i32.const 480) (i32.const 7) (i32.const 1800)
      (i32.const 100)))
    (drop (call $store_write (i32.const 490) (i32.const 4) (i32.const 0) (i32.const 1800)
      (i32.const 3)))
    (call $write_debug (i32.const 310) (i32.const 5))
    (call $save (i32.const 23) (call $store_has (i32.const 300) (i32.const 241)))
    (call $save (i32.const 24) (call $write_output (i32.const 310) (i32.const 4097)))
    (call $save (i32.const 25) (call $nth (i32.const 380) (i32.const 2) (i64.const 5)
      (i32.const 1000) (i32.const 10)))
    (call $save (i32.const 26) (call $store_has (i32.const 300) (i32.const 2)))
  )
"#;

fn host_kernel() -> String {
    format!("(module {} {BODY})", prelude(IMPORTS))
}

fn preimage_request() -> Vec<u8> {
    let mut r = vec![0x00, 0x00];
    r.extend([0x11; 32]);
    r
}

#[test]
fn every_host_function_through_wasm() {
    let mut env = Env::new(PvmVersion::V6);
    env.enqueue(5, 1, b"msg");
    env.reveals.answers = vec![
        (preimage_request(), b"preimage".to_vec()),
        (vec![0x01], (0u8..24).collect()),
        (b"payload".to_vec(), b"xyz".to_vec()),
    ];
    let out = env
        .run(&mut engine(), &host_kernel())
        .expect("no engine error");
    assert_eq!(out, RunOutcome::Returned);

    let expected: [(u32, i32); 27] = [
        (0, 0),    // store_write
        (1, 1),    // store_has: value only
        (2, 5),    // store_value_size
        (3, 4),    // store_read from offset 1
        (4, 0),    // store_copy
        (5, 1),    // store_exists
        (6, 0),    // store_delete
        (7, -2),   // invalid key
        (8, -9),   // readonly
        (9, -3),   // no value
        (10, 1),   // store_list_size counts the value node
        (11, 0),   // write_output
        (12, 3),   // read_input
        (13, 0),   // empty input buffer
        (14, 8),   // reveal_preimage
        (15, 24),  // reveal_metadata
        (16, 0),   // store_move
        (17, 32),  // get_hash
        (18, 0),   // store_create
        (19, -13), // store_create on an existing value
        (20, 0),   // store_delete_value
        (21, -6),  // destination out of guest memory
        (22, 3),   // reveal
        (23, -1),  // key too large
        (24, -7),  // output too large
        (25, -12), // subkey index out of range
        (26, 0),   // the value of /a was deleted
    ];
    for (slot, code) in expected {
        assert_eq!(env.code(slot), code, "result {slot}");
    }
    assert_eq!(env.get("/c"), None, "moved away");
    assert_eq!(env.get("/d").as_deref(), Some(&b"ello"[..]));
    assert_eq!(env.get("/e"), Some(vec![0; 10]));
    let mut info = vec![5, 0, 0, 0, 1, 0, 0, 0];
    info.extend(b"msg");
    assert_eq!(env.get("/in"), Some(info));
    assert_eq!(env.get("/rev").as_deref(), Some(&b"preimage"[..]));
    assert_eq!(env.get("/meta"), Some((0u8..24).collect()));
    assert_eq!(env.get("/rv3").as_deref(), Some(&b"xyz"[..]));
    let d_hash = env
        .durable
        .subtree_hash(&Key::from_str_checked("/d").expect("key"))
        .expect("hash")
        .expect("exists");
    assert_eq!(env.get("/hash"), Some(d_hash.0.to_vec()));
    assert_eq!(
        env.output.outbox(0).expect("outbox 0"),
        &[b"hello".to_vec()][..]
    );
    assert_eq!(env.debug.0, vec![b"hello".to_vec()]);
    assert!(env.input.is_empty());
    assert_eq!(
        env.reveals.requests,
        vec![preimage_request(), vec![0x01], b"payload".to_vec()]
    );
}

#[test]
fn host_functions_are_deterministic() {
    let run = || {
        let mut env = Env::new(PvmVersion::V6);
        env.enqueue(5, 1, b"msg");
        let out = env.run(&mut engine(), &host_kernel()).expect("run");
        assert_eq!(out, RunOutcome::Returned);
        env.state_hash()
    };
    assert_eq!(run(), run());
}

#[test]
fn reveal_failure_aborts_the_run() {
    let kernel = format!(
        r#"(module {}
          (func (export "kernel_run")
            (drop (call $reveal_metadata (i32.const 100) (i32.const 24)))))"#,
        prelude(
            r#"(import "smart_rollup_core" "reveal_metadata"
                 (func $reveal_metadata (param i32 i32) (result i32)))"#
        )
    );
    let mut env = Env::new(PvmVersion::V6);
    env.reveals.fail = true;
    let out = env.run(&mut engine(), &kernel);
    assert!(
        matches!(out, Err(EngineError::Host(HostFatal::Reveal(_)))),
        "{out:?}"
    );
}

#[test]
fn nds_calls_are_fatal() {
    let (out, _) = run_fresh(
        r#"(module
          (import "smart_rollup_core" "nds_registry_resize" (func $r (param i64) (result i32)))
          (memory (export "memory") 1)
          (func (export "kernel_run") (drop (call $r (i64.const 1)))))"#,
    );
    assert!(
        matches!(out, Err(EngineError::Host(HostFatal::Unsupported(_)))),
        "{out:?}"
    );
}
