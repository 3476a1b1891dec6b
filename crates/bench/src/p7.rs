//! P7: one level of a kernel that behaves like Etherlink, the whole way the node processes it:
//! the PVM runs the level (`PvmState::process_level_owned`, as the node: no copy of the starting
//! state; through `pvm-wasmtime`: SOL, Info_per_level, two external messages, EOL), the state is
//! committed to the on-disk context (`pvm-store`: hashed, then written on its own thread while
//! the next level runs, `Context::commit_beside`), and the level's rows go to the node's SQLite
//! store (`node-store`: inbox, messages, commitment, L2 block, head), as `node-follower` does per
//! level.
//!
//! The kernel (WAT, below) keeps a world state of `ACCOUNTS` accounts under
//! `/evm/world_state/eth_accounts/<40 hex>/balance` (created at the first level), and at every
//! level reads `READS` balances, updates `UPDATES` of them, writes `RECEIPTS` 160-byte receipts
//! under `/evm/blocks/<level>/receipts/<i>` (so the tree grows as Etherlink's does), and puts the
//! world state's `store_get_hash` under `/evm/blocks/<level>/state_root`, as Etherlink's block
//! state roots do.
//!
//! Split per level: PVM (of which: the same durable writes replayed alone on the level's
//! starting storage), commit (the hash, and the wait for the last level's writes), store (SQLite
//! transaction). Baseline: the same kernel run in bare wasmtime with a `HashMap` host (P1's),
//! whose `store_get_hash` answers zeros: the kernel's own work, the least any PVM does.

use std::collections::VecDeque;
use std::time::Duration;

use durable_tree::durable::Key;
use node_store::{L2Block, PvmStatus, Store};
use pvm_store::Context;
use pvm_wasmtime::WasmtimeEngine;
use tezos_types::{
    BlockHash, Commitment, CommitmentHash, InboxHash, MerkelizedPayloadHashesHash, StateHash,
};
use wasm_pvm::{GenesisParams, PvmState, PvmVersion};
use wasmtime::{Caller, Engine, Linker, Module};

use crate::p1::{Bare, BareStore, NoReveals, WriteLog, bare_linker, mem, run_bare_host, slice};
use crate::util::{median, ms, timed};

/// Accounts of the world state.
const ACCOUNTS: u32 = 20_000;
/// Balances read per level.
const READS: u32 = 256;
/// Balances updated per level.
const UPDATES: u32 = 200;
/// Receipts written per level.
const RECEIPTS: u32 = 150;
/// Levels measured (after the first, which creates the accounts, and a warm-up level); the
/// environment variable `BENCH_P7_LEVELS` sets another count (a longer run to profile).
const LEVELS: usize = 30;

/// Levels per batch, as the follower catching up (`BATCH_MAX_AGE`, 100 ms, at ~5 ms a level):
/// the last level's write is waited for and the context synced once per batch
/// (`Processor::commit_batch`). `BENCH_P7_BATCH=1` is a node at the L1 head: every level waited
/// for and synced at once, so nothing runs beside the next level.
const BATCH: u32 = 20;

/// The count in environment variable `name` if set to a positive count, else `default`.
fn count_from_env<T: std::str::FromStr + PartialOrd + Default>(
    name: &str,
    default: T,
) -> Result<T, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => match v.parse::<T>() {
            Ok(n) if n > T::default() => Ok(n),
            _ => Err(format!("{name}: not a positive count: {v:?}")),
        },
    }
}

fn kernel() -> String {
    format!(
        r#"(module
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_read" (func $store_read (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_has" (func $store_has (param i32 i32) (result i32)))
  (import "smart_rollup_core" "__internal_store_get_hash" (func $get_hash (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; account key: 0..30 prefix, 30..70 address (hex), 70..78 "/balance"
  (data (i32.const 0) "/evm/world_state/eth_accounts/")
  (data (i32.const 70) "/balance")
  ;; receipt key: 128..140 prefix, 140..148 level (hex), 148..158 "/receipts/", 158..162 index
  (data (i32.const 128) "/evm/blocks/")
  (data (i32.const 148) "/receipts/")
  (data (i32.const 192) "/evm/world_state")
  (data (i32.const 256) "/evm/counter")
  (data (i32.const 288) "0123456789abcdef")
  ;; state root key: 320..332 prefix, 332..340 level (hex), 340..351 "/state_root"
  (data (i32.const 320) "/evm/blocks/")
  (data (i32.const 340) "/state_root")
  (func $hex (param $dst i32) (param $x i64) (param $n i32)
    (local $j i32)
    (loop $l
      (i32.store8 (i32.add (local.get $dst) (local.get $j))
        (i32.load8_u (i32.add (i32.const 288)
          (i32.wrap_i64 (i64.and
            (i64.shr_u (local.get $x) (i64.extend_i32_u (i32.shl (local.get $j) (i32.const 2))))
            (i64.const 15))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $j) (local.get $n)))))
  (func $account_key (param $idx i32)
    (local $h i64)
    (local.set $h (i64.mul (i64.extend_i32_u (i32.add (local.get $idx) (i32.const 1)))
      (i64.const 0x9E3779B97F4A7C15)))
    (call $hex (i32.const 30) (local.get $h) (i32.const 16))
    (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0xC2B2AE3D27D4EB4F))
      (i64.shr_u (local.get $h) (i64.const 29))))
    (call $hex (i32.const 46) (local.get $h) (i32.const 16))
    (local.set $h (i64.mul (local.get $h) (i64.const 0x165667B19E3779F9)))
    (call $hex (i32.const 62) (local.get $h) (i32.const 8)))
  (func $next (param $x i64) (result i64)
    (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
    (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
    (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
  (func (export "kernel_run")
    (local $n i32) (local $i i32) (local $x i64) (local $lvl i64)
    (block $done (loop $in
      (local.set $n (call $read_input (i32.const 1016) (i32.const 1024) (i32.const 4096)))
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (br $in)))
    (if (i32.eqz (call $store_has (i32.const 256) (i32.const 12)))
      (then
        (loop $c
          (call $account_key (local.get $i))
          (i64.store (i32.const 8192) (i64.extend_i32_u (local.get $i)))
          (drop (call $store_write (i32.const 0) (i32.const 78) (i32.const 0) (i32.const 8192) (i32.const 32)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $c (i32.lt_u (local.get $i) (i32.const {ACCOUNTS}))))))
    (drop (call $store_read (i32.const 256) (i32.const 12) (i32.const 0) (i32.const 8400) (i32.const 8)))
    (local.set $lvl (i64.add (i64.load (i32.const 8400)) (i64.const 1)))
    (i64.store (i32.const 8400) (local.get $lvl))
    (drop (call $store_write (i32.const 256) (i32.const 12) (i32.const 0) (i32.const 8400) (i32.const 8)))
    (call $hex (i32.const 140) (local.get $lvl) (i32.const 8))
    (call $hex (i32.const 332) (local.get $lvl) (i32.const 8))
    (local.set $x (i64.or (i64.mul (local.get $lvl) (i64.const 0x9E3779B97F4A7C15)) (i64.const 1)))
    (local.set $i (i32.const 0))
    (loop $r
      (local.set $x (call $next (local.get $x)))
      (call $account_key (i32.wrap_i64 (i64.rem_u (local.get $x) (i64.const {ACCOUNTS}))))
      (drop (call $store_read (i32.const 0) (i32.const 78) (i32.const 0) (i32.const 8192) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $r (i32.lt_u (local.get $i) (i32.const {READS}))))
    (local.set $i (i32.const 0))
    (loop $u
      (local.set $x (call $next (local.get $x)))
      (call $account_key (i32.wrap_i64 (i64.rem_u (local.get $x) (i64.const {ACCOUNTS}))))
      (i64.store (i32.const 8192) (local.get $x))
      (drop (call $store_write (i32.const 0) (i32.const 78) (i32.const 0) (i32.const 8192) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $u (i32.lt_u (local.get $i) (i32.const {UPDATES}))))
    (local.set $i (i32.const 0))
    (loop $w
      (local.set $x (call $next (local.get $x)))
      (call $hex (i32.const 158) (i64.extend_i32_u (local.get $i)) (i32.const 4))
      (i64.store (i32.const 8192) (local.get $x))
      (i64.store (i32.const 8248) (local.get $lvl))
      (i64.store (i32.const 8344) (local.get $x))
      (drop (call $store_write (i32.const 128) (i32.const 34) (i32.const 0) (i32.const 8192) (i32.const 160)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $w (i32.lt_u (local.get $i) (i32.const {RECEIPTS}))))
    (drop (call $get_hash (i32.const 192) (i32.const 16) (i32.const 9000) (i32.const 32)))
    (drop (call $store_write (i32.const 320) (i32.const 31) (i32.const 0) (i32.const 9000) (i32.const 32)))))"#
    )
}

/// The level's messages: SOL, Info_per_level (epoch, zero hash), two external messages, EOL.
fn messages(level: u32) -> Vec<Vec<u8>> {
    let mut ipl = vec![0x00, 0x03];
    ipl.extend_from_slice(&i64::from(level).to_be_bytes());
    ipl.extend_from_slice(&[0; 32]);
    let ext = |i: u8| {
        let mut m = vec![0x01];
        m.extend((0..200u32).map(|j| (j as u8).wrapping_mul(i).wrapping_add(level as u8)));
        m
    };
    vec![vec![0x00, 0x01], ipl, ext(1), ext(2), vec![0x00, 0x02]]
}

/// The bare linker plus the two host functions P1's kernel does not use.
fn linker(engine: &Engine) -> Result<Linker<Bare>, String> {
    let mut l = bare_linker(engine)?;
    let e = |e: wasmtime::Error| e.to_string();
    l.func_wrap(
        "smart_rollup_core",
        "store_has",
        |mut c: Caller<'_, Bare>, kp: i32, kl: i32| -> i32 {
            let (m, b) = mem(&mut c);
            let Some(kr) = slice(m, kp, kl) else {
                return -1;
            };
            i32::from(b.store.contains_key(&m[kr]))
        },
    )
    .map_err(e)?;
    l.func_wrap(
        "smart_rollup_core",
        "__internal_store_get_hash",
        |mut c: Caller<'_, Bare>, _kp: i32, _kl: i32, dst: i32, max: i32| -> i32 {
            let (m, _) = mem(&mut c);
            let n = max.clamp(0, 32);
            let Some(dr) = slice(m, dst, n) else {
                return -1;
            };
            m[dr].fill(0);
            n
        },
    )
    .map_err(e)?;
    Ok(l)
}

/// One bare `kernel_run` on `store` (kept across levels); returns its time and its writes.
fn run_bare(
    engine: &Engine,
    linker: &Linker<Bare>,
    module: &Module,
    store: &mut BareStore,
    level: u32,
) -> Result<(Duration, WriteLog), String> {
    let inputs: VecDeque<Vec<u8>> = messages(level).into_iter().collect();
    let bare = Bare {
        store: std::mem::take(store),
        inputs,
        memory: None,
        writes: Some(Vec::new()),
    };
    let (d, data) = run_bare_host(engine, linker, module, bare)?;
    *store = data.store;
    Ok((d, data.writes.unwrap_or_default()))
}

/// Per-level figures of our side.
struct Level {
    pvm: Duration,
    writes: Duration,
    /// The wait for the last level's writes, then this level's hash.
    commit: Duration,
    /// Of which the wait.
    wait: Duration,
    store: Duration,
}

/// The node's rows for one level (shapes of `node-follower`'s `process_level`).
fn store_level(store: &mut Store, level: i32, state: StateHash, ticks: u128) -> Result<(), String> {
    let tag = |b: u8| {
        let mut h = [b; 32];
        h[..4].copy_from_slice(&level.to_be_bytes());
        h
    };
    let lvl = tezos_types::Level::new(level).ok_or("negative level")?;
    let commitment = Commitment {
        compressed_state: state,
        inbox_level: lvl,
        predecessor: CommitmentHash::new(tag(1)),
        number_of_ticks: i64::try_from(ticks).map_err(|e| e.to_string())?,
    };
    let chash = commitment.hash();
    let block = L2Block {
        block_hash: BlockHash::new(tag(2)),
        level: lvl,
        predecessor: BlockHash::new(tag(3)),
        commitment_hash: Some(chash),
        previous_commitment_hash: chash,
        context: Some(node_store::SmartRollupContextHash::new(state.0)),
        inbox_witness: MerkelizedPayloadHashesHash::new(tag(4)),
        inbox_hash: InboxHash::new(tag(5)),
        initial_tick: tezos_types::Tick::ZERO,
        num_ticks: tezos_types::Tick::try_from(commitment.number_of_ticks)
            .map_err(|e| e.to_string())?,
        state_hash: Some(state),
        pvm_status: Some(PvmStatus::WaitingForInputMessage),
    };
    let msgs = node_store::encode_message_list(&messages(level.unsigned_abs()));
    store
        .transaction(|w| {
            w.insert_inbox(&block.inbox_hash, lvl, &[7u8; 300])?;
            w.insert_messages(&block.inbox_witness, lvl, &msgs)?;
            w.insert_commitment(&chash, &commitment)?;
            w.insert_block(&block)?;
            w.set_level(lvl, &block.block_hash)?;
            w.set_head(&block.block_hash, lvl)
        })
        .map_err(|e| e.to_string())
}

/// Run P7.
pub(crate) fn run() -> Result<(), String> {
    println!(
        "P7: one Etherlink-like level ({ACCOUNTS} accounts; {READS} reads, {UPDATES} updates, \
         {RECEIPTS} receipts, store_get_hash of the world state): PVM + commit + store, \
         against the kernel in bare wasmtime + HashMap host"
    );
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let wasm = wat::parse_str(kernel()).map_err(|e| err(&e))?;
    let dir = tempfile::tempdir().map_err(|e| err(&e))?;
    let ctx = Context::open(dir.path()).map_err(|e| err(&e))?;
    // As the node (`node-follower`): commits run beside the next level's kernel.
    ctx.set_commit_threads(count_from_env(
        "BENCH_P7_COMMIT_THREADS",
        pvm_store::commit_threads_beside_a_kernel(),
    )?);
    // As the node: synced once per batch of levels.
    ctx.set_deferred_sync(true);
    let batch = count_from_env("BENCH_P7_BATCH", BATCH)?;
    let (mut batch_wait, mut batch_sync) = (Duration::ZERO, Duration::ZERO);
    let mut store = Store::open(&dir.path().join("store.sqlite")).map_err(|e| err(&e))?;
    let mut engine = WasmtimeEngine::new().map_err(|e| err(&e))?;
    let mut state =
        PvmState::genesis(PvmVersion::V6, &wasm, &GenesisParams::default()).map_err(|e| err(&e))?;
    let bare_engine = Engine::new(&wasmtime::Config::new()).map_err(|e| err(&e))?;
    let bare_linker = linker(&bare_engine)?;
    let module = Module::new(&bare_engine, &wasm).map_err(|e| err(&e))?;
    let mut bare_store = BareStore::new();

    // The state each level starts from is committed, as in the node: a level that must start
    // again reloads it (`PvmState::process_level_owned`).
    let mut committed = ctx.commit(&state).map_err(|e| err(&e))?;
    let mut pending: Option<pvm_store::PendingCommit> = None;
    let mut ours: Vec<Level> = Vec::new();
    let mut bare: Vec<Duration> = Vec::new();
    let mut pairs: Vec<f64> = Vec::new();
    let levels = count_from_env("BENCH_P7_LEVELS", LEVELS)?;
    let last = levels.checked_add(2).ok_or("BENCH_P7_LEVELS too large")?;
    let last = u32::try_from(last).map_err(|e| err(&e))?;
    // The bare run and the writes replayed alone, for `level` from `state`: done while no
    // commit runs beside, so that the level's commit gets no head start the node lacks.
    let prepare = |level: u32,
                   state: &PvmState,
                   bare_store: &mut BareStore|
     -> Result<(Duration, Duration), String> {
        let (b, log) = run_bare(&bare_engine, &bare_linker, &module, bare_store, level)?;
        // The same writes applied alone to the level's starting storage.
        let mut replay = state.durable().clone();
        let (r, writes) = timed(|| -> Result<(), String> {
            for (k, off, v) in &log {
                let key = Key::parse(k).map_err(|e| err(&e))?;
                replay.write(&key, *off as u64, v).map_err(|e| err(&e))?;
            }
            Ok(())
        });
        r?;
        // Released before the level, so that the state's nodes are not shared with it.
        drop(replay);
        Ok((b, writes))
    };
    let mut next = prepare(1, &state, &mut bare_store)?;
    for level in 1..=last {
        let (b, writes) = next;
        // The last level's context may still be being written (`commit_beside`, as the
        // node): a reload waits for it.
        let beside = std::cell::RefCell::new(pending.take());
        let start = || -> Result<PvmState, Box<dyn std::error::Error>> {
            let p = beside.borrow_mut().take();
            if let Some(p) = p {
                p.wait()?;
            }
            Ok(PvmState::from_tree(&ctx.tree(&committed)?)?)
        };
        // As the node runs a level (`node-follower`): without a copy of the starting state.
        let (r, pvm) = timed(|| {
            state.process_level_owned(
                level,
                &messages(level),
                &mut engine,
                &mut NoReveals,
                None,
                &wasm_pvm::loser::LoserMode::honest(),
                start,
            )
        });
        let ticks;
        (state, ticks) = r.map_err(|e| e.to_string())?;
        // As the node: the last level's write waited for, this level hashed, its objects
        // written beside the next level.
        let (r, wait) = timed(|| beside.into_inner().map(pvm_store::PendingCommit::wait));
        r.transpose().map_err(|e| err(&e))?;
        // The PVM's world state must be the bare run's (same kernel, same inputs).
        if level == 3 {
            for (k, v) in bare_store
                .iter()
                .filter(|(k, _)| k.starts_with(b"/evm/world_state"))
            {
                let key = Key::parse(k).map_err(|e| err(&e))?;
                let got = state.durable().read_all(&key).map_err(|e| err(&e))?;
                if got.as_ref() != Some(v) {
                    return Err(format!("PVM and bare runs differ at {key}"));
                }
            }
        }
        if level < last {
            next = prepare(level + 1, &state, &mut bare_store)?;
        }
        let (p, hash) = timed(|| ctx.commit_beside(&state));
        let p = p.map_err(|e| err(&e))?;
        let commit = wait + hash;
        let h = p.hash();
        committed = h;
        pending = Some(p);
        let (r, st) = timed(|| {
            store_level(
                &mut store,
                i32::try_from(level).unwrap_or(i32::MAX),
                StateHash(h.0),
                ticks,
            )
        });
        r?;
        // The end of a batch: the last write waited for, the context synced.
        if level % batch == 0 {
            let (r, wait) = timed(|| pending.take().map(pvm_store::PendingCommit::wait));
            r.transpose().map_err(|e| err(&e))?;
            let (r, sync) = timed(|| ctx.sync());
            r.map_err(|e| err(&e))?;
            if level > 2 {
                batch_wait += wait;
                batch_sync += sync;
            }
        }
        // Level 1 creates the accounts, level 2 warms up.
        if level > 2 {
            let total = pvm + commit + st;
            pairs.push(total.as_secs_f64() / b.as_secs_f64());
            ours.push(Level {
                pvm,
                writes,
                commit,
                wait,
                store: st,
            });
            bare.push(b);
        }
    }
    if let Some(p) = pending {
        p.wait().map_err(|e| err(&e))?;
    }
    let col = |f: fn(&Level) -> Duration| {
        let mut v: Vec<Duration> = ours.iter().map(f).collect();
        median(&mut v)
    };
    let (pvm, writes, commit, wait, st) = (
        col(|l| l.pvm),
        col(|l| l.writes),
        col(|l| l.commit),
        col(|l| l.wait),
        col(|l| l.store),
    );
    // The batches' syncs, spread over the levels measured.
    let per_level = |d: Duration| d / u32::try_from(ours.len().max(1)).unwrap_or(u32::MAX);
    let (batch_wait, sync) = (per_level(batch_wait), per_level(batch_sync));
    let mut totals: Vec<Duration> = ours.iter().map(|l| l.pvm + l.commit + l.store).collect();
    let total = median(&mut totals) + batch_wait + sync;
    let b = median(&mut bare);
    pairs.sort_by(f64::total_cmp);
    println!(
        "  level (median of {levels}): {:.2} ms = PVM {:.2} ms (durable writes alone: {:.2} ms) \
         + commit {:.2} ms (the wait for the last level's writes, {:.2} ms, then the hash) + \
         store {:.2} ms + batch sync {:.2} ms (every {batch} levels, spread over the levels: the \
         wait for the last write {:.2} ms, the context's fdatasync {:.2} ms)",
        ms(total),
        ms(pvm),
        ms(writes),
        ms(commit),
        ms(wait),
        ms(st),
        ms(batch_wait + sync),
        ms(batch_wait),
        ms(sync)
    );
    println!(
        "  bare kernel_run {:.2} ms; RATIO level/bare {:.2}x (median of paired levels), \
         PVM/bare {:.2}x",
        ms(b),
        pairs[pairs.len() / 2],
        pvm.as_secs_f64() / b.as_secs_f64()
    );
    Ok(())
}
