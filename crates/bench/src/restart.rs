//! Restart: the time a restarted node needs to get a runnable instance of a large kernel,
//! cold (validate, instrument, compile with Cranelift: what every start did before the disk
//! cache) against from the disk cache of compiled kernels (`pvm-wasmtime`'s
//! `WasmtimeEngine::with_disk_cache`: validate, instrument, read and verify the entry, load
//! it). Each figure is the first `kernel_run` of a fresh engine (`kernel_run` returns at
//! once, so it is instantiation plus the PVM's host set-up). The kernel is generated: a valid
//! module of many functions (arithmetic, branches, memory stores) of about `--kernel-mb` MB,
//! the size class of Etherlink's 8 MB kernel.

use std::path::Path;
use std::time::Duration;

use durable_tree::Tree;
use durable_tree::durable::Durable;
use pvm_wasmtime::WasmtimeEngine;
use wasm_pvm::{
    HostState, InputBuffer, KernelEngine, OutputBuffer, PvmVersion, RevealError, RevealHandler,
    RunOutcome,
};

use crate::util::{median, ms, timed};

/// Bytes of code per generated function (about).
const FUNC_BYTES: usize = 1_000;

/// A valid kernel of about `mb` MB: many functions calling the next one.
fn big_kernel(mb: usize) -> Result<Vec<u8>, String> {
    let funcs = (mb.saturating_mul(1 << 20) / FUNC_BYTES).max(1);
    let mut wat = String::with_capacity(funcs.saturating_mul(FUNC_BYTES * 5));
    wat.push_str("(module\n  (memory (export \"memory\") 1)\n");
    for i in 0..funcs {
        let next = if i + 1 < funcs {
            format!("(call $f{} (local.get $b))", i + 1)
        } else {
            "(local.get $b)".to_string()
        };
        wat.push_str(&format!(
            "  (func $f{i} (param $a i32) (result i32) (local $b i32)\n    (local.set $b (i32.const {i}))\n"
        ));
        for k in 0..28 {
            wat.push_str(&format!(
                "    (local.set $b (i32.add (i32.mul (local.get $b) (i32.const {})) (local.get $a)))\n\
                 \x20   (if (i32.gt_u (local.get $b) (i32.const {})) (then (local.set $b (i32.xor (local.get $b) (i32.const {})))))\n\
                 \x20   (i32.store offset={} (i32.const 0) (local.get $b))\n",
                31 + k,
                1000 + i,
                0x5a5a + k,
                (k % 16) * 4
            ));
        }
        wat.push_str(&format!(
            "    (if (result i32) (i32.eqz (local.get $a)) (then (local.get $b)) (else {next})))\n"
        ));
    }
    wat.push_str("  (func (export \"kernel_run\") (drop (call $f0 (i32.const 0)))))\n");
    wat::parse_str(&wat).map_err(|e| format!("generated kernel: {e}"))
}

struct NoReveals;

impl RevealHandler for NoReveals {
    fn reveal(&mut self, _request: &[u8]) -> Result<Vec<u8>, RevealError> {
        Err(RevealError("no reveals in the benchmark".into()))
    }
}

/// The first run of `kernel` on `engine`: the time until it returned.
fn first_run(engine: &mut WasmtimeEngine, kernel: &[u8]) -> Result<Duration, String> {
    let hash = Tree::contents(kernel.to_vec())
        .hash()
        .map_err(|e| e.to_string())?;
    let mut durable = Durable::new(Tree::empty());
    let mut input = InputBuffer::new();
    let mut output = OutputBuffer::new(10, 100);
    output.start_level(1).map_err(|e| e.to_string())?;
    let mut reveals = NoReveals;
    let mut host = HostState::new(
        PvmVersion::V6,
        &mut durable,
        &mut input,
        &mut output,
        &mut reveals,
        None,
    );
    let (r, d) = timed(|| engine.run(kernel, &hash, &mut host));
    match r.map_err(|e| e.to_string())? {
        RunOutcome::Returned => Ok(d),
        other => Err(format!("generated kernel: {other:?}")),
    }
}

fn engine(cache: Option<&Path>) -> Result<WasmtimeEngine, String> {
    let e = WasmtimeEngine::new().map_err(|e| e.to_string())?;
    Ok(match cache {
        Some(dir) => e.with_disk_cache(dir),
        None => e,
    })
}

/// Runs the restart benchmark with a kernel of about `mb` MB, `rounds` times each way.
pub(crate) fn run(mb: usize, rounds: usize) -> Result<(), String> {
    let kernel = big_kernel(mb)?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().join("compiled-kernels");
    // First start with a cache: compile, then write the entry.
    let mut first = engine(Some(&dir))?;
    let first_start = first_run(&mut first, &kernel)?;
    let stats = first.disk_cache_stats().cloned().unwrap_or_default();
    if stats.misses != 1 || stats.write_failures != 0 {
        return Err(format!("the first start did not fill the cache: {stats:?}"));
    }
    let entry_bytes: u64 = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    drop(first);
    let mut cold = Vec::with_capacity(rounds);
    let mut cached = Vec::with_capacity(rounds);
    // Alternated, so that a slow spell of the machine hits both sides.
    for _ in 0..rounds {
        cold.push(first_run(&mut engine(None)?, &kernel)?);
        let mut e = engine(Some(&dir))?;
        cached.push(first_run(&mut e, &kernel)?);
        let s = e.disk_cache_stats().cloned().unwrap_or_default();
        if s.hits != 1 {
            return Err(format!("a restart did not load the cached kernel: {s:?}"));
        }
    }
    let (cold, cached) = (median(&mut cold), median(&mut cached));
    // The part both sides share: validation and instrumentation.
    let mut prep = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let ((), d) = timed(|| {
            if let Ok(info) = pvm_wasmtime::validate::validate(&kernel) {
                let _ = pvm_wasmtime::instrument::instrument(&kernel, &info);
            }
        });
        prep.push(d);
    }
    let prep = median(&mut prep);
    println!(
        "restart: kernel {:.1} MB; first run of a fresh engine, median of {rounds}:",
        kernel.len() as f64 / f64::from(1 << 20)
    );
    println!(
        "  cold: validate + instrument + compile            {:>9.1} ms",
        ms(cold)
    );
    println!(
        "  cached: validate + instrument + verify + load    {:>9.1} ms",
        ms(cached)
    );
    println!(
        "  of which validate + instrument (both sides)      {:>9.1} ms",
        ms(prep)
    );
    println!(
        "  first start: compile + write the {:.1} MB entry  {:>9.1} ms",
        entry_bytes as f64 / f64::from(1 << 20),
        ms(first_start)
    );
    println!(
        "restart ratio: cold / cached = {:.1}x",
        cold.as_secs_f64() / cached.as_secs_f64().max(1e-9)
    );
    Ok(())
}
