//! Small WAT kernels shared by the end-to-end tests and the benchmarks (parse them with the
//! `wat` crate). Inputs are tagged as in the rollup inbox (wasm-pvm.md §3.4): `01` external,
//! `00 00` internal transfer.

/// The recorder kernel. At every `kernel_run` it reads all inputs and:
/// * counts external messages into `/count` (u32 LE), keeps the last external payload (tag
///   removed) at `/last`, and writes each external payload to the outbox;
/// * counts internal transfers (deposits) into `/deposits` (u32 LE) and keeps the last whole
///   transfer message (tags included) at `/deposit`.
///
/// `/count` and `/deposits` are rewritten at every run (so they exist, zero, after the first).
pub const RECORDER_WAT: &str = r#"
(module
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_read" (func $store_read (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "write_output" (func $write_output (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/count")
  (data (i32.const 32) "/last")
  (data (i32.const 40) "/deposits")
  (data (i32.const 52) "/deposit")
  (func (export "kernel_run")
    (local $n i32)
    (i32.store (i32.const 64) (i32.const 0))
    (i32.store (i32.const 68) (i32.const 0))
    (drop (call $store_read (i32.const 16) (i32.const 6) (i32.const 0) (i32.const 64) (i32.const 4)))
    (drop (call $store_read (i32.const 40) (i32.const 9) (i32.const 0) (i32.const 68) (i32.const 4)))
    (block $done
      (loop $next
        (local.set $n (call $read_input (i32.const 0) (i32.const 128) (i32.const 4096)))
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (if (i32.eq (i32.load8_u (i32.const 128)) (i32.const 1))
          (then
            (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
            (drop (call $store_write (i32.const 32) (i32.const 5) (i32.const 0)
                        (i32.const 129) (i32.sub (local.get $n) (i32.const 1))))
            (drop (call $write_output (i32.const 129) (i32.sub (local.get $n) (i32.const 1))))))
        (if (i32.eqz (i32.load16_u (i32.const 128)))
          (then
            (i32.store (i32.const 68) (i32.add (i32.load (i32.const 68)) (i32.const 1)))
            (drop (call $store_write (i32.const 52) (i32.const 8) (i32.const 0)
                        (i32.const 128) (local.get $n)))))
        (br $next)))
    (drop (call $store_write (i32.const 16) (i32.const 6) (i32.const 0) (i32.const 64) (i32.const 4)))
    (drop (call $store_write (i32.const 40) (i32.const 9) (i32.const 0) (i32.const 68) (i32.const 4)))))
"#;

/// A kernel that reads and drops every input (the smallest kernel that keeps up with its inbox).
pub const IDLE_WAT: &str = r#"
(module
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "kernel_run")
    (block $done
      (loop $next
        (br_if $done (i32.le_s (call $read_input (i32.const 0) (i32.const 64) (i32.const 4096))
                               (i32.const 0)))
        (br $next)))))
"#;
