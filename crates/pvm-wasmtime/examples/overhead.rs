//! Overhead of the PVM engine over bare wasmtime (performance goal: ≤ 1.3×).
//!
//! `cargo run --release -p pvm-wasmtime --example overhead` (`-- --store-only`: only the
//! host-call-heavy workloads). "pvm" is the default engine (cancellation at host calls), "pvm
//! with epochs" the `Options { interruptible: true }` one.
//!
//! Workload: a xorshift64 loop with one function call and one memory read-modify-write per
//! iteration (compute), then a loop of host calls (`write_debug` without a debug sink through
//! the PVM, i.e. the dispatch cost only; an empty host function on bare wasmtime). Bare
//! wasmtime is also measured with the depth instrumentation and with epoch interruption, to
//! attribute the overhead.
//!
//! Host-call-heavy workloads (`store_write`, `store_value_size`, `store_read`, `store_exists`,
//! and a mix of the four over 8 keys) compare the PVM's real host functions (durable storage)
//! with bare wasmtime whose host keeps values in a `HashMap` (the P1 baseline).

use std::collections::HashMap;
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
const STORE_ITERATIONS: u32 = 100_000;

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
    pvm_epochs: Duration,
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
        interruptible: true,
    })
    .expect("engine");
    pvm_run(&mut pvm, &k, &hash);
    let epochs = best((0..RUNS).map(|_| pvm_run(&mut pvm, &k, &hash)).collect());
    let info = pvm_wasmtime::validate::validate(&k).expect("valid");
    let instrumented = pvm_wasmtime::instrument::instrument(&k, &info).expect("instrument");
    Measures {
        pvm: ours,
        pvm_epochs: epochs,
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

/// A kernel writing 8 keys `/bench/key/0`..`7` (32 bytes each), then running `body` (which
/// may use `$k` = key length 12 at address 0, with the key digit set from `$i`) `n` times.
fn store_kernel(body: &str, n: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "smart_rollup_core" "store_write" (func $w (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_read" (func $r (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_value_size" (func $s (param i32 i32) (result i32)))
  (import "smart_rollup_core" "store_exists" (func $e (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "/bench/key/0")
  (func $digit (param $i i32)
    (i32.store8 (i32.const 11) (i32.add (i32.const 48) (i32.and (local.get $i) (i32.const 7)))))
  (func (export "kernel_run") (local $i i32)
    (loop $init
      (call $digit (local.get $i))
      (drop (call $w (i32.const 0) (i32.const 12) (i32.const 0) (i32.const 256) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $init (i32.lt_u (local.get $i) (i32.const 8))))
    (local.set $i (i32.const 0))
    (loop $l
      (call $digit (local.get $i))
      {body}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))))"#
    ))
    .expect("wat")
}

const WRITE: &str =
    "(drop (call $w (i32.const 0) (i32.const 12) (i32.const 0) (i32.const 256) (i32.const 32)))";
const READ: &str =
    "(drop (call $r (i32.const 0) (i32.const 12) (i32.const 0) (i32.const 512) (i32.const 32)))";
const SIZE: &str = "(drop (call $s (i32.const 0) (i32.const 12)))";
const EXISTS: &str = "(drop (call $e (i32.const 0) (i32.const 12)))";

/// Bare wasmtime host state: values in a map, guest memory bound after instantiation.
#[derive(Default)]
struct MapHost {
    values: HashMap<Vec<u8>, Vec<u8>>,
    memory: Option<wasmtime::Memory>,
}

type MapCaller<'a> = wasmtime::Caller<'a, MapHost>;

fn slice(mem: &[u8], addr: i32, len: i32) -> Option<std::ops::Range<usize>> {
    let a = addr as u32 as usize;
    let end = a.checked_add(usize::try_from(len).ok()?)?;
    (end <= mem.len()).then_some(a..end)
}

fn map_linker(engine: &wasmtime::Engine) -> wasmtime::Linker<MapHost> {
    let mut l = wasmtime::Linker::new(engine);
    let m = "smart_rollup_core";
    l.func_wrap(
        m,
        "store_write",
        |mut c: MapCaller<'_>, k: i32, kl: i32, off: i32, src: i32, n: i32| -> i32 {
            let memory = c.data().memory.expect("memory");
            let (mem, host) = memory.data_and_store_mut(&mut c);
            let (Some(kr), Some(sr)) = (slice(mem, k, kl), slice(mem, src, n)) else {
                return -6;
            };
            let (key, data) = (&mem[kr], &mem[sr]);
            let v = match host.values.get_mut(key) {
                Some(v) => v,
                None => host.values.entry(key.to_vec()).or_default(),
            };
            let off = off as usize;
            if off > v.len() {
                return -4;
            }
            let end = off + data.len();
            if end > v.len() {
                v.resize(end, 0);
            }
            v[off..end].copy_from_slice(data);
            0
        },
    )
    .expect("define");
    l.func_wrap(
        m,
        "store_read",
        |mut c: MapCaller<'_>, k: i32, kl: i32, off: i32, dst: i32, n: i32| -> i32 {
            let memory = c.data().memory.expect("memory");
            let (mem, host) = memory.data_and_store_mut(&mut c);
            let Some(kr) = slice(mem, k, kl) else {
                return -6;
            };
            let Some(v) = host.values.get(&mem[kr]) else {
                return -3;
            };
            let off = off as usize;
            if off >= v.len() {
                return -4;
            }
            let data = &v[off..v.len().min(off + n as usize)];
            let Some(dr) = slice(mem, dst, data.len() as i32) else {
                return -6;
            };
            mem[dr].copy_from_slice(data);
            data.len() as i32
        },
    )
    .expect("define");
    l.func_wrap(
        m,
        "store_value_size",
        |mut c: MapCaller<'_>, k: i32, kl: i32| -> i32 {
            let memory = c.data().memory.expect("memory");
            let (mem, host) = memory.data_and_store_mut(&mut c);
            let Some(kr) = slice(mem, k, kl) else {
                return -6;
            };
            host.values.get(&mem[kr]).map_or(-3, |v| v.len() as i32)
        },
    )
    .expect("define");
    l.func_wrap(
        m,
        "store_exists",
        |mut c: MapCaller<'_>, k: i32, kl: i32| -> i32 {
            let memory = c.data().memory.expect("memory");
            let (mem, host) = memory.data_and_store_mut(&mut c);
            let Some(kr) = slice(mem, k, kl) else {
                return -6;
            };
            i32::from(host.values.contains_key(&mem[kr]))
        },
    )
    .expect("define");
    l
}

fn map_run(
    engine: &wasmtime::Engine,
    linker: &wasmtime::Linker<MapHost>,
    module: &wasmtime::Module,
) -> Duration {
    let mut store = wasmtime::Store::new(engine, MapHost::default());
    store.set_epoch_deadline(1);
    let t = Instant::now();
    let instance = linker.instantiate(&mut store, module).expect("instantiate");
    let memory = instance
        .get_memory(&mut store, "memory")
        .expect("memory export");
    store.data_mut().memory = Some(memory);
    let run = instance
        .get_typed_func::<(), ()>(&mut store, "kernel_run")
        .expect("kernel_run");
    run.call(&mut store, ()).expect("call");
    t.elapsed()
}

/// ns per host call of a store workload: (pvm default, pvm with epochs, bare map host).
fn measure_store(body: &str, calls_per_iteration: u32) -> (f64, f64, f64) {
    let k = store_kernel(body, STORE_ITERATIONS);
    let hash = Hash([5; 32]);
    let per =
        |d: Duration| d.as_nanos() as f64 / f64::from(STORE_ITERATIONS * calls_per_iteration + 8);
    let mut pvm = WasmtimeEngine::new().expect("engine");
    pvm_run(&mut pvm, &k, &hash);
    let ours = best((0..RUNS).map(|_| pvm_run(&mut pvm, &k, &hash)).collect());
    let mut pvm = WasmtimeEngine::with_options(pvm_wasmtime::Options {
        interruptible: true,
    })
    .expect("engine");
    pvm_run(&mut pvm, &k, &hash);
    let epochs = best((0..RUNS).map(|_| pvm_run(&mut pvm, &k, &hash)).collect());
    let mut config = wasmtime::Config::new();
    config.cranelift_nan_canonicalization(true);
    let engine = wasmtime::Engine::new(&config).expect("bare engine");
    let module = wasmtime::Module::new(&engine, &k).expect("compile");
    let linker = map_linker(&engine);
    map_run(&engine, &linker, &module);
    let bare = best(
        (0..RUNS)
            .map(|_| map_run(&engine, &linker, &module))
            .collect(),
    );
    (per(ours), per(epochs), per(bare))
}

fn store_workloads() {
    let mixed = format!("{WRITE} {SIZE} {READ} {EXISTS}");
    for (name, body, calls) in [
        ("store_write", WRITE, 1),
        ("store_value_size", SIZE, 1),
        ("store_read", READ, 1),
        ("store_exists", EXISTS, 1),
        ("mixed", mixed.as_str(), 4),
    ] {
        let (pvm, epochs, bare) = measure_store(body, calls);
        println!(
            "{name} ({STORE_ITERATIONS} x {calls}): pvm {pvm:.1} ns/call ({:.2}x), \
             pvm with epochs {epochs:.1} ns/call, bare map host {bare:.1} ns/call",
            pvm / bare
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--empty-only") {
        let k = kernel(0, 0);
        let mut pvm = WasmtimeEngine::new().expect("engine");
        let hash = Hash([3; 32]);
        let runs = 2000u32;
        let total: Duration = (0..runs).map(|_| pvm_run(&mut pvm, &k, &hash)).sum();
        println!("empty kernel_run: pvm {:?} per run", total / runs);
        let t = Instant::now();
        for _ in 0..runs {
            std::thread::Builder::new()
                .stack_size(pvm_wasmtime::config::RUN_THREAD_STACK)
                .spawn(|| std::hint::black_box(0))
                .expect("spawn")
                .join()
                .expect("join");
        }
        println!(
            "(a thread with the run stack costs {:?} to spawn and join; the engine keeps one)",
            t.elapsed() / runs
        );
        return;
    }
    if std::env::args().any(|a| a == "--store-only") {
        store_workloads();
        return;
    }
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
        "compute ({ITERATIONS} iterations): pvm {:?} ({:.2}x), pvm with epochs {:?} ({:.2}x), \
         bare {:?}, bare+instrumentation \
         {:?} ({:.2}x), bare+epoch {:?} ({:.2}x), bare+both {:?} ({:.2}x)",
        m.pvm,
        r(m.pvm),
        m.pvm_epochs,
        r(m.pvm_epochs),
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
    store_workloads();
}
