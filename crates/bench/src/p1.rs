//! P1: one `kernel_run` of a WAT kernel through our PVM (`wasm-pvm` host
//! functions over the durable tree, run by `pvm-wasmtime`) against the same
//! kernel in bare wasmtime (default configuration) with a trivial `HashMap`
//! host. The kernel drains the inbox (`read_input`), then loops `store_write`
//! / `store_read` of 64-byte values over 64 keys, with `work` xorshift rounds
//! of arithmetic per iteration.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use durable_tree::Tree;
use durable_tree::durable::{Durable, Key};
use pvm_wasmtime::WasmtimeEngine;
use wasm_pvm::{
    HostState, InputBuffer, InputMessage, KernelEngine, OutputBuffer, PvmVersion, RevealError,
    RevealHandler, RunOutcome,
};
use wasmtime::{Caller, Engine, Extern, Linker, Memory, Module, Store};

use crate::util::{median, ms, timed};

const INPUTS: u32 = 100;
const INPUT_SIZE: usize = 100;
/// Timed runs of each side, alternated (the machine may be shared: the
/// ratio reported is the median of the ratios of consecutive pairs, which a
/// slow spell hits on both sides alike).
const RUNS: usize = 15;

fn kernel(iterations: u32, work: u32) -> String {
    format!(
        r#"(module
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_read" (func $store_read (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "/bench/k00/v")
  (func (export "kernel_run")
    (local $i i32) (local $j i32) (local $n i32) (local $x i64)
    (local.set $x (i64.const 88172645463325252))
    (block $done (loop $in
      (local.set $n (call $read_input (i32.const 100) (i32.const 1024) (i32.const 4096)))
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 31))
        (i64.load (i32.const 1024))))
      (br $in)))
    (loop $l
      (i32.store8 (i32.const 8) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 8))))
      (i32.store8 (i32.const 9)
        (i32.add (i32.const 48) (i32.rem_u (i32.div_u (local.get $i) (i32.const 8)) (i32.const 8))))
      (local.set $j (i32.const 0))
      (block $wd (loop $w
        (br_if $wd (i32.ge_u (local.get $j) (i32.const {work})))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (i64.store (i32.add (i32.const 2048) (i32.shl (i32.and (local.get $j) (i32.const 7)) (i32.const 3)))
          (local.get $x))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $w)))
      (drop (call $store_write (i32.const 0) (i32.const 12) (i32.const 0) (i32.const 2048) (i32.const 64)))
      (drop (call $store_read (i32.const 0) (i32.const 12) (i32.const 0) (i32.const 3072) (i32.const 64)))
      (local.set $x (i64.add (local.get $x) (i64.load (i32.const 3072))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {iterations}))))
    (i64.store (i32.const 3000) (local.get $x))
    (drop (call $store_write (i32.const 0) (i32.const 12) (i32.const 0) (i32.const 3000) (i32.const 8)))))"#
    )
}

fn payload(i: u32) -> Vec<u8> {
    (0..INPUT_SIZE)
        .map(|j| (i as usize * 7 + j) as u8)
        .collect()
}

pub(crate) struct NoReveals;

impl RevealHandler for NoReveals {
    fn reveal(&mut self, _request: &[u8]) -> Result<Vec<u8>, RevealError> {
        Err(RevealError("no reveals in the benchmark".into()))
    }
}

/// One run through our PVM, on a fresh durable tree; returns the durable storage it left.
fn run_pvm(
    engine: &mut WasmtimeEngine,
    wasm: &[u8],
    hash: &durable_tree::Hash,
) -> Result<(Duration, Durable), String> {
    let mut durable = Durable::new(Tree::empty());
    let mut input = InputBuffer::new();
    for i in 0..INPUTS {
        input
            .enqueue(InputMessage {
                level: 1,
                counter: u64::from(i),
                payload: payload(i),
            })
            .map_err(|e| e.to_string())?;
    }
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
    // The flush of the host's durable value cache into the tree is part of the run.
    let (r, d) = timed(|| {
        let outcome = engine
            .run(wasm, hash, &mut host)
            .map_err(|e| e.to_string())?;
        host.flush().map_err(|e| e.to_string())?;
        Ok::<_, String>(outcome)
    });
    match r? {
        RunOutcome::Returned => {
            drop(host);
            Ok((d, durable))
        }
        other => Err(format!("PVM run: {other:?}")),
    }
}

/// The bare host's store: key bytes → value.
pub(crate) type BareStore = HashMap<Vec<u8>, Vec<u8>>;

/// Writes logged by the bare host: key, offset, bytes.
pub(crate) type WriteLog = Vec<(Vec<u8>, usize, Vec<u8>)>;

/// The bare host: a `HashMap` store and an input queue.
pub(crate) struct Bare {
    pub(crate) store: BareStore,
    pub(crate) inputs: VecDeque<Vec<u8>>,
    pub(crate) memory: Option<Memory>,
    /// When set, every `store_write` is also appended here (key, offset, bytes).
    pub(crate) writes: Option<WriteLog>,
}

pub(crate) fn mem<'a>(c: &'a mut Caller<'_, Bare>) -> (&'a mut [u8], &'a mut Bare) {
    let m = c.data().memory.expect("memory set before the run");
    m.data_and_store_mut(c)
}

pub(crate) fn slice(m: &[u8], ptr: i32, len: i32) -> Option<std::ops::Range<usize>> {
    let (p, l) = (usize::try_from(ptr).ok()?, usize::try_from(len).ok()?);
    let end = p.checked_add(l)?;
    (end <= m.len()).then_some(p..end)
}

pub(crate) fn bare_linker(engine: &Engine) -> Result<Linker<Bare>, String> {
    let mut l = Linker::new(engine);
    let e = |e: wasmtime::Error| e.to_string();
    l.func_wrap(
        "smart_rollup_core",
        "read_input",
        |mut c: Caller<'_, Bare>, info: i32, dst: i32, max: i32| -> i32 {
            let (m, b) = mem(&mut c);
            let Some(msg) = b.inputs.pop_front() else {
                return 0;
            };
            let n = msg.len().min(max.max(0) as usize);
            let (Some(ir), Some(dr)) = (slice(m, info, 8), slice(m, dst, n as i32)) else {
                return -1;
            };
            m[ir.start..ir.start + 4].copy_from_slice(&1u32.to_le_bytes());
            m[ir.start + 4..ir.end].copy_from_slice(&0u32.to_le_bytes());
            m[dr].copy_from_slice(&msg[..n]);
            n as i32
        },
    )
    .map_err(e)?;
    l.func_wrap(
        "smart_rollup_core",
        "store_write",
        |mut c: Caller<'_, Bare>, kp: i32, kl: i32, off: i32, src: i32, n: i32| -> i32 {
            let (m, b) = mem(&mut c);
            let (Some(kr), Some(sr)) = (slice(m, kp, kl), slice(m, src, n)) else {
                return -1;
            };
            let off = off.max(0) as usize;
            let kr_log = kr.clone();
            // The key is only allocated the first time it is written.
            let v = match b.store.get_mut(&m[kr.clone()]) {
                Some(v) => v,
                None => b.store.entry(m[kr].to_vec()).or_default(),
            };
            if v.len() < off + sr.len() {
                v.resize(off + sr.len(), 0);
            }
            v[off..off + sr.len()].copy_from_slice(&m[sr.clone()]);
            if let Some(log) = b.writes.as_mut() {
                log.push((m[kr_log].to_vec(), off, m[sr].to_vec()));
            }
            0
        },
    )
    .map_err(e)?;
    l.func_wrap(
        "smart_rollup_core",
        "store_read",
        |mut c: Caller<'_, Bare>, kp: i32, kl: i32, off: i32, dst: i32, n: i32| -> i32 {
            let (m, b) = mem(&mut c);
            let Some(kr) = slice(m, kp, kl) else {
                return -1;
            };
            let Some(v) = b.store.get(&m[kr]) else {
                return -3;
            };
            let off = (off.max(0) as usize).min(v.len());
            let n = (v.len() - off).min(n.max(0) as usize);
            let Some(dr) = slice(m, dst, n as i32) else {
                return -1;
            };
            m[dr].copy_from_slice(&v[off..off + n]);
            n as i32
        },
    )
    .map_err(e)?;
    Ok(l)
}

/// One run in bare wasmtime (module compiled beforehand, as the PVM's cache does); returns the
/// store it left.
fn run_bare(
    engine: &Engine,
    linker: &Linker<Bare>,
    module: &Module,
) -> Result<(Duration, BareStore), String> {
    let bare = Bare {
        store: HashMap::new(),
        inputs: (0..INPUTS).map(payload).collect(),
        memory: None,
        writes: None,
    };
    let (d, bare) = run_bare_host(engine, linker, module, bare)?;
    Ok((d, bare.store))
}

/// One timed `kernel_run` of `module` (compiled beforehand) in bare wasmtime over the host
/// `bare`; returns the time and the host as the run left it.
pub(crate) fn run_bare_host(
    engine: &Engine,
    linker: &Linker<Bare>,
    module: &Module,
    bare: Bare,
) -> Result<(Duration, Bare), String> {
    let e = |e: wasmtime::Error| e.to_string();
    let mut store = Store::new(engine, bare);
    let (r, d) = timed(|| -> Result<(), String> {
        let inst = linker.instantiate(&mut store, module).map_err(e)?;
        let Some(Extern::Memory(m)) = inst.get_export(&mut store, "memory") else {
            return Err("no memory export".into());
        };
        store.data_mut().memory = Some(m);
        let run = inst
            .get_typed_func::<(), ()>(&mut store, "kernel_run")
            .map_err(e)?;
        run.call(&mut store, ()).map_err(e)
    });
    r?;
    Ok((d, store.into_data()))
}

/// Both runs must leave the same values (the PVM's durable storage holds every key of the
/// bare store, with the same bytes).
fn check_same(durable: &Durable, bare: &BareStore) -> Result<(), String> {
    if bare.is_empty() {
        return Err("the bare run stored nothing".into());
    }
    for (k, v) in bare {
        let key = Key::parse(k).map_err(|e| e.to_string())?;
        let got = durable.read_all(&key).map_err(|e| e.to_string())?;
        if got.as_ref() != Some(v) {
            return Err(format!("PVM and bare runs differ at {key}"));
        }
    }
    Ok(())
}

/// Run P1.
pub(crate) fn run() -> Result<(), String> {
    println!(
        "P1: kernel_run through our PVM vs bare wasmtime + HashMap host (goal <= 1.1x, issue 15)"
    );
    let mut pvm = WasmtimeEngine::new().map_err(|e| e.to_string())?;
    let bare_engine = Engine::new(&wasmtime::Config::new()).map_err(|e| e.to_string())?;
    let linker = bare_linker(&bare_engine)?;
    for (label, iterations, work) in [
        ("host-heavy", 100_000u32, 4u32),
        ("mixed", 20_000, 200),
        ("compute", 2_000, 20_000),
    ] {
        // `P1_ONLY=<label>` runs one workload (e.g. to profile it).
        if std::env::var("P1_ONLY").is_ok_and(|o| o != label) {
            continue;
        }
        let wasm = wat::parse_str(kernel(iterations, work)).map_err(|e| e.to_string())?;
        let hash = Tree::contents(wasm.clone())
            .hash()
            .map_err(|e| e.to_string())?;
        let module = Module::new(&bare_engine, &wasm).map_err(|e| e.to_string())?;
        // Warm up (compiles and caches the module in the PVM engine), checking the results.
        let (_, durable) = run_pvm(&mut pvm, &wasm, &hash)?;
        let (_, store) = run_bare(&bare_engine, &linker, &module)?;
        check_same(&durable, &store)?;
        let mut ours = Vec::new();
        let mut base = Vec::new();
        let mut pairs = Vec::new();
        for _ in 0..RUNS {
            let o = run_pvm(&mut pvm, &wasm, &hash)?.0;
            let b = run_bare(&bare_engine, &linker, &module)?.0;
            pairs.push(o.as_secs_f64() / b.as_secs_f64());
            ours.push(o);
            base.push(b);
        }
        pairs.sort_by(f64::total_cmp);
        let pair_ratio = pairs[pairs.len() / 2];
        let (o, b) = (median(&mut ours), median(&mut base));
        // `median` sorted the samples: the minimum is the least disturbed run of each side.
        let (o_min, b_min) = (ours[0], base[0]);
        println!(
            "  {label:<10} {iterations:>6} iterations x (2 host calls + {work} xorshift rounds): \
             PVM {:8.2} ms  bare {:8.2} ms (medians)  RATIO {:.2}x (median of paired runs)  \
             (min {:.2} / {:.2} ms: {:.2}x)",
            ms(o),
            ms(b),
            pair_ratio,
            ms(o_min),
            ms(b_min),
            o_min.as_secs_f64() / b_min.as_secs_f64()
        );
    }
    Ok(())
}
