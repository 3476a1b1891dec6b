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
    matching_captures_from(v, file, n, 0)
}

/// [`matching_captures`] from the `Snapshot` that starts window `1 + skip`: the `skip` windows
/// before it are run by the fast path (`PvmState::step_kernel_run` with wasmtime, whose
/// `Snapshot` states are Octez's), then the small-step path steps to the next capture tick
/// and runs the capture loop from there (captures `k` at `6 000 000 + 10 038 k`). Returns the
/// index after the last capture checked.
fn matching_captures_from(
    v: PvmVersion,
    file: &str,
    n: usize,
    skip: u32,
) -> (usize, Option<String>) {
    let expected = lines(&format!("{TICKS_DIR}/{file}"));
    let (kernel, inputs) = tx_no_verify();
    let params = tx_no_verify_params();
    let mut s = at_first_snapshot_with(v, &kernel, &inputs, &params);
    let first_tick = s.current_tick();
    let mut from = 0;
    if skip > 0 {
        let mut engine = pvm_wasmtime::WasmtimeEngine::new().unwrap();
        let end = first_tick + u128::from(skip) * params.ticks_per_snapshot;
        while s.current_tick() < end {
            assert_eq!(s.status(), wasm_pvm::Status::Computing, "input asked early");
            s.step_kernel_run(&mut engine, &mut NoReveals, None)
                .unwrap();
        }
        assert_eq!(
            s.current_tick(),
            end,
            "the fast path ends on a window boundary"
        );
        let every = u128::from(SKIP) + 1;
        from = usize::try_from((end - first_tick).div_ceil(every)).unwrap();
    }
    let mut t = s.to_tree().unwrap();
    if from > 0 {
        let capture = first_tick + u128::try_from(from).unwrap() * (u128::from(SKIP) + 1);
        let gap = u64::try_from(capture - current_tick(&t).unwrap()).unwrap();
        if gap > 0 {
            t = compute_step_many(&t, gap).unwrap().0;
        }
        assert_eq!(
            current_tick(&t).unwrap(),
            capture,
            "stepped to capture {from}"
        );
    }
    let start = Instant::now();
    let mut last_report = Instant::now();
    let stepped_from = current_tick(&t).unwrap();
    let mut previous = stepped_from;
    for (k, line) in expected.iter().enumerate().take(n).skip(from) {
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
                (current_tick(&t).unwrap() - stepped_from) as f64 / secs,
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{file}: captures {from}..{n} matched to tick {previous} in {secs:.0} s ({:.0} ticks/s)",
        (current_tick(&t).unwrap() - stepped_from) as f64 / secs
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

/// The captures of `tx_no_verify.v6.hashes` from window `1 + TX_SKIP_WINDOWS` (default 3) on,
/// the windows before it run by the fast path, up to capture `TX_CAPTURES` (default all): a
/// part of the trace in a part of the time of [`tx_no_verify_v6_every_capture`], so that the
/// whole trace can be checked in pieces. Run with `TX_SKIP_WINDOWS=3 cargo test --release
/// -p pvm-tick --test it tx_no_verify_v6_from -- --ignored --nocapture`.
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v6_from_a_later_window() {
    from_a_later_window(PvmVersion::V6, "tx_no_verify.v6.hashes");
}

/// [`tx_no_verify_v6_from_a_later_window`] at V0 (`tx_no_verify.v0.hashes`).
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v0_from_a_later_window() {
    from_a_later_window(PvmVersion::V0, "tx_no_verify.v0.hashes");
}

/// The captures of `file` at `v` from window `1 + TX_SKIP_WINDOWS` to `TX_CAPTURES`.
fn from_a_later_window(v: PvmVersion, file: &str) {
    let env = |name: &str, default: usize| {
        std::env::var(name).map_or(default, |s| {
            s.parse()
                .unwrap_or_else(|e| panic!("{name}={s}: not a number ({e})"))
        })
    };
    let skip = u32::try_from(env("TX_SKIP_WINDOWS", 3)).unwrap();
    let n = env("TX_CAPTURES", 3587);
    let (got, why) = matching_captures_from(v, file, n, skip);
    assert_eq!((got, why), (n, None));
}

/// No reveal: the tx kernel reveals nothing.
struct NoReveals;

impl wasm_pvm::RevealHandler for NoReveals {
    fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, wasm_pvm::RevealError> {
        Err(wasm_pvm::RevealError(format!(
            "unexpected reveal {}",
            hex::encode(request)
        )))
    }
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
