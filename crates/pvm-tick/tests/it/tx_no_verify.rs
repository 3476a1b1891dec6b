//! Octez's `tx_no_verify` regression traces (`docs/reference/wasm-ticks.md` §3.2): a real Rust
//! kernel (`tx_no_verify.wasm`, 260 817 bytes) run from genesis with M = 6 000 000 ticks per
//! snapshot and the two Transfers `tx_no_verify.{deposit,withdrawal}.out`, its state hash
//! captured every 10 038 ticks from the first `Snapshot` (tick 6 000 000) until it asks for an
//! input (`tx_no_verify.v6.hashes`, `.v0.`: 3587 hashes each; the README of
//! `crates/wasm-pvm/tests/fixtures/ticks/` says where each file comes from).
//!
//! The capture loop is the driver's (`register_gen` with the `hash` tag in
//! `src/lib_scoru_wasm/regressions/tezos_scoru_wasm_regressions.ml`): while no input is
//! required, capture, one `compute_step`, then `compute_step_many ~max_steps:10_037` (which
//! stops at an input state and skips top-level padding in bulk, as [`compute_step_many`] does).
//!
//! The whole runs are long; run them with
//! `cargo test --release -p pvm-tick --test it tx_no_verify -- --ignored --nocapture`.

use context_hash::to_context_b58;
use durable_tree::Tree;
use pvm_fixtures::{TICKS_DIR, at_first_snapshot_with, lines, tx_no_verify, tx_no_verify_params};
use pvm_tick::{compute_step, compute_step_many, current_tick, is_input_state, tick_tag};
use std::time::Instant;
use wasm_pvm::PvmVersion;

/// Ticks skipped between two captures (`~hash_frequency:10_037L`).
const SKIP: u64 = 10_037;

fn b58(t: &Tree) -> String {
    to_context_b58(&t.hash().unwrap())
}

/// Runs the driver's capture loop at `v` for the first `n` captures of `file`, comparing each;
/// returns the number of captures that matched and, at the first mismatch, what was found.
/// With `n` = every line, the state after the last capture must ask for an input.
fn matching_captures(v: PvmVersion, file: &str, n: usize) -> (usize, Option<String>) {
    let expected = lines(&format!("{TICKS_DIR}/{file}"));
    let (kernel, inputs) = tx_no_verify();
    let mut t = at_first_snapshot_with(v, &kernel, &inputs, &tx_no_verify_params())
        .to_tree()
        .unwrap();
    let start = Instant::now();
    let mut last_report = Instant::now();
    let first_tick = current_tick(&t).unwrap();
    let mut previous = first_tick;
    for (k, line) in expected.iter().enumerate().take(n) {
        let tick = current_tick(&t).unwrap();
        if is_input_state(&t).unwrap() {
            return (
                k,
                Some(format!(
                    "capture {k}: input state at tick {tick} ({:?}); Octez captured {line}",
                    tick_tag(&t).unwrap()
                )),
            );
        }
        let got = b58(&t);
        if &got != line {
            return (
                k,
                Some(format!(
                    "capture {k} (line {}): tick {tick} ({:?}): got {got}, Octez {line}; \
                     previous capture (matching) at tick {previous}",
                    k + 1,
                    tick_tag(&t).unwrap()
                )),
            );
        }
        previous = tick;
        if k + 1 == n && n < expected.len() {
            break;
        }
        t = compute_step(&t).unwrap_or_else(|e| panic!("tick {tick}: {e}"));
        if !is_input_state(&t).unwrap() {
            t = compute_step_many(&t, SKIP)
                .unwrap_or_else(|e| panic!("after tick {}: {e}", tick + 1))
                .0;
        }
        if last_report.elapsed().as_secs() >= 10 {
            last_report = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "{file}: {} captures matched, tick {} ({:?}), {:.0} ticks/s over {secs:.0} s",
                k + 1,
                current_tick(&t).unwrap(),
                tick_tag(&t).unwrap(),
                (current_tick(&t).unwrap() - first_tick) as f64 / secs,
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{file}: {n} captures matched to tick {previous} in {secs:.0} s ({:.0} ticks/s)",
        (current_tick(&t).unwrap() - first_tick) as f64 / secs
    );
    if n == expected.len() && !is_input_state(&t).unwrap() {
        return (
            n,
            Some(format!(
                "after the last capture the state at tick {} ({:?}) asks for no input",
                current_tick(&t).unwrap(),
                tick_tag(&t).unwrap()
            )),
        );
    }
    (n, None)
}

/// The first captures at V6 (the `Snapshot` at 6 000 000 and the decoding of the kernel): a
/// guard cheap enough for a debug build.
#[test]
fn tx_no_verify_v6_first_captures() {
    let (n, why) = matching_captures(PvmVersion::V6, "tx_no_verify.v6.hashes", 3);
    assert_eq!((n, why), (3, None));
}

/// Every capture of `tx_no_verify.v6.hashes` (3587, ticks 6 000 000 + 10 038 k). Run with
/// `cargo test --release -p pvm-tick --test it tx_no_verify_v6_every -- --ignored --nocapture`.
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v6_every_capture() {
    let (n, why) = matching_captures(PvmVersion::V6, "tx_no_verify.v6.hashes", 3587);
    assert_eq!((n, why), (3587, None));
}

/// Every capture of `tx_no_verify.v0.hashes` (V0: another `wasm_version` and stack limit). Run
/// with `cargo test --release -p pvm-tick --test it tx_no_verify_v0_every -- --ignored
/// --nocapture`.
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v0_every_capture() {
    let (n, why) = matching_captures(PvmVersion::V0, "tx_no_verify.v0.hashes", 3587);
    assert_eq!((n, why), (3587, None));
}
