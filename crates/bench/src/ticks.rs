//! `ticks`: speed of the small-step PVM (`wasm-interp`, Octez's tick semantics on the state
//! tree: issue 13), in ticks per second, against the fast path (`pvm-wasmtime`) running the
//! same window of the same kernel.
//!
//! Kernel: Octez's `echo` test kernel (`crates/wasm-pvm/tests/fixtures/ticks/echo.octez.wasm`,
//! the bytes of the `echo` regression traces) at PVM V6, one level of inputs (SOL,
//! Info_per_level, EOL), from the first `Snapshot` (tick 5000 with 5000 ticks per snapshot,
//! the traces' scenario). The small-step side steps tick by tick as far as the interpreter
//! goes (it reports the first tick state it does not step yet); the fast side runs the whole
//! first `kernel_run` with wasmtime (its window's ticks: it jumps over the padding, so its
//! ticks/s is an upper bound; what matters for a refutation is that replaying one window with
//! the small-step path from its `Snapshot` stays within seconds). Figures: small-step ticks/s (step only, and with the
//! state hash after every tick, which a refutation's bisection needs at a few ticks only),
//! fast-path ticks/s over the window's computing ticks, and their ratio.

use std::time::{Duration, Instant};

use durable_tree::Tree;
use pvm_fixtures::{ECHO_OCTEZ_WASM, at_first_snapshot};
use pvm_wasmtime::WasmtimeEngine;
use wasm_pvm::PvmVersion;

use crate::p1::NoReveals;
use crate::util::median;

/// Timed runs of each side (the median is reported).
const RUNS: usize = 5;

/// Step from `start` until the interpreter stops (an unsupported state or `Padding`); returns
/// the ticks stepped, the time, and why it stopped.
fn small_steps(start: &Tree, hash_each: bool) -> Result<(u64, Duration, String), String> {
    let mut t = start.clone();
    let mut n = 0u64;
    let begin = Instant::now();
    let why = loop {
        match wasm_interp::step(&t) {
            Ok(next) => {
                t = next;
                n = n.saturating_add(1);
                if hash_each {
                    t.hash().map_err(|e| e.to_string())?;
                }
                if t.get_contents(&["wasm", "tag"])
                    .map_err(|e| e.to_string())?
                    .as_deref()
                    == Some(b"\0\0\0\x07padding".as_slice())
                {
                    break "Padding reached".to_owned();
                }
            }
            Err(wasm_interp::Error::Unsupported(s)) => break format!("stops at: {s}"),
            Err(e) => return Err(format!("tick {}: {e}", 5000 + n)),
        }
    };
    Ok((n, begin.elapsed(), why))
}

/// Run `ticks`.
pub(crate) fn run() -> Result<(), String> {
    println!(
        "ticks: small-step PVM (wasm-interp) ticks/s vs the fast path (wasmtime), echo kernel, V6"
    );
    // The echo traces' scenario: SOL, Info_per_level, EOL, padded to the Snapshot at 5000.
    let snapshot = at_first_snapshot(PvmVersion::V6, ECHO_OCTEZ_WASM, &[]);
    let tree = snapshot.to_tree().map_err(|e| e.to_string())?;

    let mut plain = Vec::new();
    let mut hashed = Vec::new();
    let (mut ticks, mut why) = (0, String::new());
    for _ in 0..RUNS {
        let (n, d, w) = small_steps(&tree, false)?;
        plain.push(d);
        (ticks, why) = (n, w);
        hashed.push(small_steps(&tree, true)?.1);
    }
    let (plain, hashed) = (median(&mut plain), median(&mut hashed));
    let per_s = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);

    // The fast path: the whole first kernel_run from the same Snapshot.
    let mut engine = WasmtimeEngine::new().map_err(|e| e.to_string())?;
    let mut fast = Vec::new();
    let mut fast_ticks = 0u128;
    let mut fast_end = String::new();
    for _ in 0..=RUNS {
        let mut s = snapshot.clone();
        let start = s.current_tick();
        let begin = Instant::now();
        s.run_kernel(&mut engine, &mut NoReveals, None)
            .map_err(|e| e.to_string())?;
        fast.push(begin.elapsed());
        // The fast path jumps over the padding: these are the window's ticks, computing and
        // padding (it does not count the computing ones apart).
        fast_ticks = s.current_tick().saturating_sub(start);
        fast_end = format!("{:?}", s.tick_state());
    }
    fast.remove(0); // compilation
    let fast = median(&mut fast);
    let fast_per_s = fast_ticks as f64 / fast.as_secs_f64().max(1e-9);
    let small_per_s = per_s(ticks, plain);
    println!(
        "  small-step: {ticks} ticks from the Snapshot ({why}): {:.0} ticks/s, {:.0} ticks/s with \
         the state hash after every tick",
        small_per_s,
        per_s(ticks, hashed)
    );
    println!(
        "  fast path: the first kernel_run's window ({fast_ticks} ticks, computing and padding; ends \
         in {fast_end}) in {:.3} ms: {:.0} ticks/s; RATIO small-step/fast {:.2e}",
        fast.as_secs_f64() * 1e3,
        fast_per_s,
        small_per_s / fast_per_s
    );
    Ok(())
}
