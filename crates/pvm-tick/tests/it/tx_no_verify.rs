//! Octez's `tx_no_verify` regression traces (`docs/reference/wasm-ticks.md` §3.2): a real Rust
//! kernel (`tx_no_verify.wasm`, 260 817 bytes) run from genesis with M = 6 000 000 ticks per
//! snapshot and the two Transfers `tx_no_verify.{deposit,withdrawal}.out`, its state hash
//! captured every 10 038 ticks from the first `Snapshot` (tick 6 000 000) until it asks for an
//! input (`tx_no_verify.v0.hashes` … `.v6.`: 3587 hashes each, one file per PVM version; the
//! README of `crates/wasm-pvm/tests/fixtures/ticks/` says where each file comes from).
//!
//! The capture loop is the driver's (`register_gen` with the `hash` tag in
//! `src/lib_scoru_wasm/regressions/tezos_scoru_wasm_regressions.ml`): while no input is
//! required, capture, one `compute_step`, then `compute_step_many ~max_steps:10_037` (which
//! stops at an input state and skips top-level padding in bulk, as [`compute_step_many`] does).
//!
//! The whole runs are long; run one at a time, e.g. `TX_SKIP_WINDOWS=0 cargo test --release -p
//! pvm-tick --test it tx_no_verify_v3_from -- --ignored --nocapture` (a version's whole trace)
//! or `… tx_no_verify_v6_every_proof -- --ignored --nocapture` (the proof sizes).
//!
//! The proof run (`register_gen` with the `proof` tag, `~proof_frequency:(3L, 30_893L)`):
//! while no input is required, three times (Octez's one-tick proof of the step from that tick,
//! its size captured; one `compute_step`), then `compute_step_many ~max_steps:30_893`: ticks
//! `6 000 000 + 30 896 k + {0, 1, 2}`, k = 0…1165 (`tx_no_verify.proof_sizes.csv`, 3498
//! lines, the same bytes for every version).

use context_hash::to_context_b58;
use durable_tree::Tree;
use pvm_fixtures::{TICKS_DIR, at_first_snapshot_with, lines, tx_no_verify, tx_no_verify_params};
use pvm_tick::{
    compute_step, compute_step_many, current_tick, is_input_state, produce_proof, tick_tag,
    verify_proof,
};
use std::time::Instant;
use wasm_pvm::PvmVersion;

/// Ticks skipped between two captures (`~hash_frequency:10_037L`).
const SKIP: u64 = 10_037;

/// The hash trace of each version (`(hash- vN).out`), oldest first.
const TRACES: [(PvmVersion, &str); 7] = [
    (PvmVersion::V0, "tx_no_verify.v0.hashes"),
    (PvmVersion::V1, "tx_no_verify.v1.hashes"),
    (PvmVersion::V2, "tx_no_verify.v2.hashes"),
    (PvmVersion::V3, "tx_no_verify.v3.hashes"),
    (PvmVersion::V4, "tx_no_verify.v4.hashes"),
    (PvmVersion::V5, "tx_no_verify.v5.hashes"),
    (PvmVersion::V6, "tx_no_verify.v6.hashes"),
];

/// The hash trace of `v`.
fn trace(v: PvmVersion) -> &'static str {
    TRACES
        .iter()
        .find(|(w, _)| *w == v)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no tx_no_verify trace at {v:?}"))
}

/// Captures in each hash trace.
const CAPTURES: usize = 3587;

/// The proof-size trace (`(proof- vN).out`, byte-identical for every version).
const PROOF_SIZES: &str = "tx_no_verify.proof_sizes.csv";

fn b58(t: &Tree) -> String {
    to_context_b58(&t.hash().unwrap())
}

/// Runs the driver's capture loop at `v` for the first `n` captures of `file`, comparing each;
/// returns the number of captures that matched and, at the first mismatch, what was found.
/// With `n` = every line, the state after the last capture must ask for an input.
fn matching_captures(v: PvmVersion, file: &str, n: usize) -> (usize, Option<String>) {
    matching_captures_from(v, file, n, 0)
}

/// The state at the `Snapshot` that starts window `1 + skip` (tick `6 000 000 (1 + skip)`),
/// and the tick of the first `Snapshot`: the `skip` windows after the first are run by the
/// fast path (`PvmState::step_kernel_run` with wasmtime, whose `Snapshot` states are
/// Octez's); no small-step tick is taken.
fn at_window(v: PvmVersion, skip: u32) -> (Tree, u128) {
    let (kernel, inputs) = tx_no_verify();
    let params = tx_no_verify_params();
    let mut s = at_first_snapshot_with(v, &kernel, &inputs, &params);
    let first_tick = s.current_tick();
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
    }
    (s.to_tree().unwrap(), first_tick)
}

/// [`matching_captures`] from the `Snapshot` that starts window `1 + skip` ([`at_window`]),
/// then the small-step path steps to the next capture tick and runs the capture loop from
/// there (captures `k` at `6 000 000 + 10 038 k`). Returns the index after the last capture
/// checked.
fn matching_captures_from(
    v: PvmVersion,
    file: &str,
    n: usize,
    skip: u32,
) -> (usize, Option<String>) {
    let expected = lines(&format!("{TICKS_DIR}/{file}"));
    let (mut t, first_tick) = at_window(v, skip);
    let every = u128::from(SKIP) + 1;
    let from = usize::try_from((current_tick(&t).unwrap() - first_tick).div_ceil(every)).unwrap();
    if from > 0 {
        let capture = first_tick + u128::try_from(from).unwrap() * every;
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

/// Capture 0 of every version's trace: the `Snapshot` at tick 6 000 000, reached by genesis,
/// the inputs and padding (no small-step tick). A guard cheap enough for a debug build that
/// every version's initial state (its `wasm_version`, stack limit, …) is Octez's.
#[test]
fn tx_no_verify_every_version_first_capture() {
    let mut wrong = Vec::new();
    for (v, file) in TRACES {
        let start = Instant::now();
        let (t, first_tick) = at_window(v, 0);
        assert_eq!(current_tick(&t).unwrap(), first_tick);
        let got = b58(&t);
        let want = &lines(&format!("{TICKS_DIR}/{file}"))[0];
        eprintln!(
            "{file}: capture 0 {} in {:.1} s",
            if &got == want { "matches" } else { "differs" },
            start.elapsed().as_secs_f64()
        );
        if &got != want {
            wrong.push(format!("{v:?}: got {got}, Octez {want}"));
        }
    }
    assert!(wrong.is_empty(), "capture 0 differs: {wrong:?}");
}

/// The first captures at V6 (the `Snapshot` at 6 000 000 and the decoding of the kernel): a
/// guard cheap enough for a debug build.
#[test]
fn tx_no_verify_v6_first_captures() {
    let (n, why) = matching_captures(PvmVersion::V6, trace(PvmVersion::V6), 3);
    assert_eq!((n, why), (3, None));
}

/// Every capture of `tx_no_verify.v6.hashes` (3587, ticks 6 000 000 + 10 038 k). Run with
/// `cargo test --release -p pvm-tick --test it tx_no_verify_v6_every -- --ignored --nocapture`.
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v6_every_capture() {
    every_capture(PvmVersion::V6);
}

/// Every capture of `tx_no_verify.v0.hashes` (V0: another `wasm_version` and stack limit). Run
/// with `cargo test --release -p pvm-tick --test it tx_no_verify_v0_every -- --ignored
/// --nocapture`.
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v0_every_capture() {
    every_capture(PvmVersion::V0);
}

/// Every capture of the trace of `v`.
fn every_capture(v: PvmVersion) {
    let (n, why) = matching_captures(v, trace(v), CAPTURES);
    assert_eq!((n, why), (CAPTURES, None));
}

/// The captures of `tx_no_verify.v6.hashes` from window `1 + TX_SKIP_WINDOWS` (default 3) on,
/// the windows before it run by the fast path, up to capture `TX_CAPTURES` (default all): a
/// part of the trace in a part of the time of [`tx_no_verify_v6_every_capture`], so that the
/// whole trace can be checked in pieces (`TX_SKIP_WINDOWS=0`: the whole trace). Run with
/// `TX_SKIP_WINDOWS=3 cargo test --release -p pvm-tick --test it tx_no_verify_v6_from --
/// --ignored --nocapture`; the same for the other versions (`tx_no_verify_v0_from`, …).
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v6_from_a_later_window() {
    from_a_later_window(PvmVersion::V6);
}

/// [`tx_no_verify_v6_from_a_later_window`] at V5 (`tx_no_verify.v5.hashes`).
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v5_from_a_later_window() {
    from_a_later_window(PvmVersion::V5);
}

/// [`tx_no_verify_v6_from_a_later_window`] at V4 (`tx_no_verify.v4.hashes`).
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v4_from_a_later_window() {
    from_a_later_window(PvmVersion::V4);
}

/// [`tx_no_verify_v6_from_a_later_window`] at V3 (`tx_no_verify.v3.hashes`).
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v3_from_a_later_window() {
    from_a_later_window(PvmVersion::V3);
}

/// [`tx_no_verify_v6_from_a_later_window`] at V2 (`tx_no_verify.v2.hashes`).
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v2_from_a_later_window() {
    from_a_later_window(PvmVersion::V2);
}

/// [`tx_no_verify_v6_from_a_later_window`] at V1 (`tx_no_verify.v1.hashes`).
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v1_from_a_later_window() {
    from_a_later_window(PvmVersion::V1);
}

/// [`tx_no_verify_v6_from_a_later_window`] at V0 (`tx_no_verify.v0.hashes`).
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v0_from_a_later_window() {
    from_a_later_window(PvmVersion::V0);
}

/// `name`'s value as a number, `default` if unset.
fn env(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |s| {
        s.parse()
            .unwrap_or_else(|e| panic!("{name}={s}: not a number ({e})"))
    })
}

/// The captures of the trace of `v` from window `1 + TX_SKIP_WINDOWS` to `TX_CAPTURES`.
fn from_a_later_window(v: PvmVersion) {
    let skip = u32::try_from(env("TX_SKIP_WINDOWS", 3)).unwrap();
    let n = env("TX_CAPTURES", CAPTURES);
    let (got, why) = matching_captures_from(v, trace(v), n, skip);
    assert_eq!((got, why), (n, None));
}

/// Proofs checked per group of the proof run (`fst proof_frequency`).
const PROVED: u128 = 3;

/// Ticks skipped after each group (`snd proof_frequency`).
const PROOF_SKIP: u64 = 30_893;

/// What a proof run gave: the lines of [`PROOF_SIZES`] compared (`from..to`), those whose size
/// is not Octez's (`(tick, ours, Octez's)`), and why the run left the trace, if it did.
struct ProofRun {
    from: usize,
    to: usize,
    mismatches: Vec<(u128, usize, usize)>,
    left: Option<String>,
}

/// Octez's proof run at `v` from the `Snapshot` of window `1 + skip` ([`at_window`]), stepped
/// (small-step) to the next listed tick, up to line `n` of [`PROOF_SIZES`]: at each listed
/// tick the one-tick proof of the step from it is produced (its state = `compute_step`'s;
/// verified: the hashes of the two states) and its size compared with Octez's. With `n` =
/// every line, the state after the last group must ask for an input.
fn proof_sizes_from(v: PvmVersion, n: usize, skip: u32) -> ProofRun {
    let expected: Vec<(u128, usize)> = crate::ticks::sizes(PROOF_SIZES).into_iter().collect();
    let n = n.min(expected.len());
    let (mut t, first_tick) = at_window(v, skip);
    let start_tick = current_tick(&t).unwrap();
    let from = expected
        .iter()
        .position(|&(tick, _)| tick >= start_tick)
        .unwrap_or(expected.len());
    let mut run = ProofRun {
        from,
        to: from,
        mismatches: Vec::new(),
        left: None,
    };
    if from < n {
        let gap = u64::try_from(expected[from].0 - start_tick).unwrap();
        if gap > 0 {
            t = compute_step_many(&t, gap).unwrap().0;
        }
    }
    let start = Instant::now();
    let mut last_report = Instant::now();
    let every = u128::from(PROOF_SKIP) + PROVED;
    for (i, &(tick, octez)) in expected.iter().enumerate().take(n).skip(from) {
        let now = current_tick(&t).unwrap();
        if now != tick || is_input_state(&t).unwrap() {
            run.left = Some(format!(
                "line {}: Octez proved tick {tick}; the run is at tick {now} ({:?}, input state: {})",
                i + 1,
                tick_tag(&t).unwrap(),
                is_input_state(&t).unwrap()
            ));
            return run;
        }
        let (bytes, proved) =
            produce_proof(&t, None).unwrap_or_else(|e| panic!("tick {tick}: produce: {e}"));
        let next = compute_step(&t).unwrap_or_else(|e| panic!("tick {tick}: {e}"));
        let hashes = (t.hash().unwrap(), next.hash().unwrap());
        assert_eq!(
            proved.hash().unwrap(),
            hashes.1,
            "tick {tick}: proved state"
        );
        let verified =
            verify_proof(&bytes, None).unwrap_or_else(|e| panic!("tick {tick}: verify: {e}"));
        assert_eq!(verified, hashes, "tick {tick}: verified hashes");
        if bytes.len() != octez {
            eprintln!(
                "{PROOF_SIZES} line {}: tick {tick} ({:?}): {} bytes, Octez {octez}",
                i + 1,
                tick_tag(&t).unwrap(),
                bytes.len()
            );
            run.mismatches.push((tick, bytes.len(), octez));
        }
        run.to = i + 1;
        t = next;
        if i + 1 == n && n < expected.len() {
            break;
        }
        // The third proof of a group: the driver skips.
        if (tick - first_tick) % every == PROVED - 1 && !is_input_state(&t).unwrap() {
            t = compute_step_many(&t, PROOF_SKIP)
                .unwrap_or_else(|e| panic!("after tick {}: {e}", tick + 1))
                .0;
        }
        if last_report.elapsed().as_secs() >= 10 {
            last_report = Instant::now();
            eprintln!(
                "{PROOF_SIZES}: lines {}..{} proved ({} sizes differ), tick {}, {:.0} s",
                from + 1,
                i + 1,
                run.mismatches.len(),
                current_tick(&t).unwrap(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "{PROOF_SIZES}: lines {}..{} proved at {v:?} in {:.0} s, {} sizes differ",
        from + 1,
        run.to,
        start.elapsed().as_secs_f64(),
        run.mismatches.len()
    );
    if n == expected.len() && run.to == n && !is_input_state(&t).unwrap() {
        run.left = Some(format!(
            "after the last line the state at tick {} ({:?}) asks for no input",
            current_tick(&t).unwrap(),
            tick_tag(&t).unwrap()
        ));
    }
    run
}

/// Checks a proof run that should have compared lines `from..n`: every size Octez's (the
/// first mismatch reported) and the run never left the trace.
fn assert_proof_run(run: &ProofRun, n: usize) {
    assert_eq!(run.left, None, "the run left Octez's proof trace");
    assert_eq!(
        run.mismatches.first(),
        None,
        "first size mismatch (tick, ours, Octez's) of {} among lines {}..{}",
        run.mismatches.len(),
        run.from + 1,
        run.to
    );
    assert_eq!(run.to, n, "lines proved");
}

/// The first group of `tx_no_verify.proof_sizes.csv` at V6 (ticks 6 000 000 … 6 000 002: the
/// `Snapshot` and the first decoding ticks): a guard cheap enough for a debug build.
#[test]
fn tx_no_verify_v6_first_proof_sizes() {
    let run = proof_sizes_from(PvmVersion::V6, 3, 0);
    assert_proof_run(&run, 3);
}

/// The lines of `tx_no_verify.proof_sizes.csv` at V6 from window `1 + TX_SKIP_WINDOWS`
/// (default 0: the whole file) up to line `TX_CAPTURES` (default all, 3498); every size
/// differing from Octez's is printed, the first reported. Run with `cargo test --release -p
/// pvm-tick --test it tx_no_verify_v6_every_proof -- --ignored --nocapture`.
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn tx_no_verify_v6_every_proof_size() {
    let skip = u32::try_from(env("TX_SKIP_WINDOWS", 0)).unwrap();
    let n = env("TX_CAPTURES", usize::MAX);
    let run = proof_sizes_from(PvmVersion::V6, n, skip);
    let lines = crate::ticks::sizes(PROOF_SIZES).len();
    assert_proof_run(&run, n.min(lines));
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
