//! Overhead of the PVM engine over bare wasmtime (performance goal: ≤ 1.3×).
//!
//! `cargo run --release -p pvm-wasmtime --example overhead`
//!
//! Workload: a xorshift64 loop with one function call and one memory read-modify-write per
//! iteration (compute), then a loop of host calls (`write_debug` without a debug sink through
//! the PVM, i.e. the dispatch cost only; an empty host function on bare wasmtime). Bare
//! wasmtime is also measured with the depth instrumentation and with epoch interruption, to
//! attribute the overhead.

use std::time::{Duration, Instant};

use context_hash::Hash;
use durable_tree::Tree;
use durable_tree::durable::Durable;
use pvm_wasmtime::WasmtimeEngine;
use wasm_pvm::{
    HostState, InputBuffer, KernelEngine, OutputBuffer, PvmVersion, RevealError, RevealHandler,
    RunOutcome,
};

const ITERATIONS: u32 = 20_000_000;
const HOST_CALLS: u32 = 2_000_000;
const RUNS: usize = 9;

fn kernel(iterations: u32, host_calls: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "smart_rollup_core" "write_debug" (func $debug (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "/missing")
  (func $mix (param $x i64) (result i64)
    (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
    (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
    (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
  (func (export "kernel_run")
    (local $i i32) (local $x i64) (local $a i32)
    (local.set $x (i64.const 88172645463325252))
    (loop $l
      (local.set $x (call $mix (local.get $x)))
      (local.set $a (i32.and (i32.wrap_i64 (local.get $x)) (i32.const 0xfff8)))
      (i64.store (local.get $a) (i64.add (i64.load (local.get $a)) (local.get $x)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {iterations}))))
    (local.set $i (i32.const 0))
    (loop $h
      (call $debug (i32.const 0) (i32.const 8))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $h (i32.lt_u (local.get $i) (i32.const {host_calls}))))))"#
    ))
    .expect("wat")
}

struct NoReveal;
impl RevealHandler for NoReveal {
    fn reveal(&mut self, _: &[u8]) -> Result<Vec<u8>, RevealError> {
        Ok(Vec::new())
    }
}

fn pvm_run(engine: &mut WasmtimeEngine, k: &[u8], hash: &Hash) -> Duration {
    let mut durable = Durable::new(Tree::empty());
    let mut input = InputBuffer::new();
    let mut output = OutputBuffer::new(10, 100);
    let mut reveal = NoReveal;
    let mut host = HostState::new(
        PvmVersion::V6,
        &mut durable,
        &mut input,
        &mut output,
        &mut reveal,
        None,
    );
    let t = Instant::now();
    let out = engine.run(k, hash, &mut host).expect("run");
    let d = t.elapsed();
    assert_eq!(out, RunOutcome::Returned);
    d
}

fn bare_run(engine: &wasmtime::Engine, module: &wasmtime::Module) -> Duration {
    let mut linker = wasmtime::Linker::new(engine);
    linker
        .func_wrap("smart_rollup_core", "write_debug", |_: i32, _: i32| {})
        .expect("define");
    let mut store = wasmtime::Store::new(engine, ());
    store.set_epoch_deadline(1);
    let t = Instant::now();
    let instance = linker.instantiate(&mut store, module).expect("instantiate");
    if let Some(g) = instance.get_global(&mut store, pvm_wasmtime::instrument::BUDGET_EXPORT) {
        g.set(&mut store, wasmtime::Val::I32(59_999))
            .expect("budget");
    }
    let run = instance
        .get_typed_func::<(), ()>(&mut store, "kernel_run")
        .expect("kernel_run");
    run.call(&mut store, ()).expect("call");
    t.elapsed()
}

/// Minimum of the runs: the machine is shared, the minimum is the least disturbed run.
fn best(v: Vec<Duration>) -> Duration {
    v.into_iter().min().unwrap_or_default()
}

struct Measures {
    pvm: Duration,
    pvm_uninterruptible: Duration,
    bare: Duration,
    instrumented: Duration,
    epoch: Duration,
    both: Duration,
}

fn bare(k: &[u8], epoch: bool) -> Duration {
    let mut config = wasmtime::Config::new();
    config.cranelift_nan_canonicalization(true);
    config.epoch_interruption(epoch);
    let engine = wasmtime::Engine::new(&config).expect("bare engine");
    let module = wasmtime::Module::new(&engine, k).expect("compile");
    bare_run(&engine, &module);
    best((0..RUNS).map(|_| bare_run(&engine, &module)).collect())
}

fn measure(iterations: u32, host_calls: u32) -> Measures {
    let k = kernel(iterations, host_calls);
    let mut pvm = WasmtimeEngine::new().expect("engine");
    let hash = Hash([7; 32]);
    pvm_run(&mut pvm, &k, &hash); // compile + warm up
    let ours = best((0..RUNS).map(|_| pvm_run(&mut pvm, &k, &hash)).collect());
    let mut pvm = WasmtimeEngine::with_options(pvm_wasmtime::Options {
        interruptible: false,
    })
    .expect("engine");
    pvm_run(&mut pvm, &k, &hash);
    let uninterruptible = best((0..RUNS).map(|_| pvm_run(&mut pvm, &k, &hash)).collect());
    let info = pvm_wasmtime::validate::validate(&k).expect("valid");
    let instrumented = pvm_wasmtime::instrument::instrument(&k, &info).expect("instrument");
    Measures {
        pvm: ours,
        pvm_uninterruptible: uninterruptible,
        bare: bare(&k, false),
        instrumented: bare(&instrumented, false),
        epoch: bare(&k, true),
        both: bare(&instrumented, true),
    }
}

/// A synthetic kernel of `n` mid-sized functions calling each other, to time compilation.
fn big_kernel(n: u32) -> Vec<u8> {
    let mut funcs = String::new();
    for i in 0..n {
        let next = (i + 1) % n;
        funcs.push_str(&format!(
            r#"(func $f{i} (param $x i64) (result i64) (local $i i32)
                 (loop $l
                   (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005))
                     (i64.const 1442695040888963407)))
                   (i64.store (i32.and (i32.wrap_i64 (local.get $x)) (i32.const 0xfff8))
                     (local.get $x))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))
                 (if (result i64) (i64.eqz (local.get $x))
                   (then (call $f{next} (local.get $x)))
                   (else (i64.xor (local.get $x) (i64.const 17)))))"#
        ));
    }
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) {funcs}
             (func (export "kernel_run") (drop (call $f0 (i64.const 1)))))"#
    ))
    .expect("wat")
}

fn main() {
    let big = big_kernel(5000);
    let mut pvm = WasmtimeEngine::new().expect("engine");
    let t = Duration::ZERO + {
        let t = Instant::now();
        pvm_run(&mut pvm, &big, &Hash([9; 32]));
        t.elapsed()
    };
    println!(
        "validate + instrument + compile + run of a {} KiB kernel: {t:?}",
        big.len() / 1024
    );
    let m = measure(ITERATIONS, 0);
    let r = |d: Duration| d.as_secs_f64() / m.bare.as_secs_f64();
    println!(
        "compute ({ITERATIONS} iterations): pvm {:?} ({:.2}x), pvm without epochs {:?} ({:.2}x), \
         bare {:?}, bare+instrumentation \
         {:?} ({:.2}x), bare+epoch {:?} ({:.2}x), bare+both {:?} ({:.2}x)",
        m.pvm,
        r(m.pvm),
        m.pvm_uninterruptible,
        r(m.pvm_uninterruptible),
        m.bare,
        m.instrumented,
        r(m.instrumented),
        m.epoch,
        r(m.epoch),
        m.both,
        r(m.both)
    );
    let m = measure(0, HOST_CALLS);
    let per = |d: Duration| d.as_nanos() as f64 / f64::from(HOST_CALLS);
    println!(
        "host calls ({HOST_CALLS}): pvm {:.1} ns/call, bare {:.1} ns/call",
        per(m.pvm),
        per(m.bare)
    );
    let m = measure(0, 0);
    println!("empty kernel_run: pvm {:?}, bare {:?}", m.pvm, m.bare);
}
