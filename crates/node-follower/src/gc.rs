//! History modes and garbage collection (octez-rollup-node.md §5.3–§5.5, Octez
//! `node_context.ml` `gc`, `Store.gc`).
//!
//! * The history mode is recorded in the store (`rollup_node_state.history_mode`); the
//!   configured mode wins, archive → full is allowed, full → archive refused
//!   ([`node_store::gc::resolve_history_mode`], with the rest of the pure policy).
//! * In full mode a GC is attempted after every processed head (`gc_after_head` in
//!   [`crate::main_loop`], then [`maybe_gc`]): its target is the LCC level; it runs when `target − last_gc_target ≥ frequency` and the previous
//!   context GC finished ([`node_store::gc::gc_target`], [`node_store::gc::gc_frequency`]).
//! * A GC first records `last_gc_target`/`last_gc_triggered_at` and deletes the SQL rows of
//!   levels below the target in ONE transaction (on the follower's thread: indexed deletes),
//!   then GCs the context in a background thread under `<data-dir>/gc_lock`, keeping the
//!   contexts of every stored block (all at levels ≥ target) and everything committed
//!   meanwhile ([`Context::gc`]). Its completion is recorded as `last_context_gc_target`;
//!   after a crash during the context GC the next start resumes it, after a failure the
//!   next head retries it.
//! * Blocking: the SQL part is one indexed-delete transaction on the follower's thread; the
//!   context mark runs concurrently with block processing; commits and pack reads wait
//!   for the sweep (the copy of the live objects into a new pack file).
//! * Archive mode never runs a GC.

use parking_lot::Mutex;
use std::path::PathBuf;

use node_config::HistoryMode;
use node_store::gc::gc_target;
use node_store::{LevelKey, Store, StoreError};
use pvm_store::{Context, ContextError};
use tezos_types::Level;

/// GC failures (operational: logged, the GC is attempted again after the next head).
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// Store failure.
    #[error("GC: {0}")]
    Store(#[from] StoreError),
    /// Context failure.
    #[error("GC: {0}")]
    Context(#[from] ContextError),
    /// I/O on `<data-dir>/gc_lock` or thread creation.
    #[error("GC: {0}; check the data directory's permissions and free space")]
    Io(String),
    /// The challenge window could not be read from L1.
    #[error("GC: cannot read the L1 constants ({0}); retrying at the next head")]
    Constants(String),
}

/// State of the background context GC, kept by the follower (`LoopConfig::gc`).
#[derive(Default)]
pub struct GcRuntime {
    /// The background context GC; `true` when it completed.
    job: Option<std::thread::JoinHandle<bool>>,
    resumed: bool,
    /// The L1 challenge window, read once (the default GC frequency derives from it).
    pub(crate) challenge_window: Option<u32>,
}

/// What a GC attempt needs.
#[derive(Debug, Clone)]
pub struct GcParams {
    /// GC frequency in blocks ([`node_store::gc::gc_frequency`]).
    pub frequency: i32,
    /// Rollup origination (genesis) level: `last_gc_target` before the first GC.
    pub origination_level: Level,
    /// `<data-dir>/store.sqlite` (the background job records its completion there).
    pub store_path: PathBuf,
    /// `<data-dir>/gc_lock`.
    pub lock_path: PathBuf,
    /// Test only ([`crate::main_loop::TestKnobs::gc_delay`]): a sleep between the SQL part and
    /// the context sweep; `None` in production.
    pub test_delay: Option<std::time::Duration>,
}

/// Starts a GC if one is due and the previous context GC finished; returns its target.
/// The SQL part is done when this returns; the context part runs in the background
/// ([`wait_gc`] waits for it).
pub fn maybe_gc(
    store: &mut Store,
    ctx: &Context,
    gc: &Mutex<GcRuntime>,
    params: &GcParams,
) -> Result<Option<Level>, GcError> {
    let mut rt = gc.lock();
    if rt.job.as_ref().is_some_and(|j| !j.is_finished()) {
        return Ok(None);
    }
    if let Some(j) = rt.job.take()
        && !j.join().unwrap_or(false)
    {
        // Failed: retried now, as after a crash.
        rt.resumed = false;
    }
    let mode = store.history_mode()?.unwrap_or(HistoryMode::Full);
    if mode == HistoryMode::Archive {
        return Ok(None);
    }
    let started = store.level_state(LevelKey::LastGcTarget)?;
    if !rt.resumed {
        let done = store.level_state(LevelKey::LastContextGcTarget)?;
        if let Some(t) = started
            && done.is_none_or(|d| d < t)
        {
            tracing::info!("Resuming the interrupted context GC (target level {t})");
            rt.job = Some(spawn_context_gc(store, ctx, params, t)?);
            rt.resumed = true;
            return Ok(None);
        }
        rt.resumed = true;
    }
    let last = started.unwrap_or(params.origination_level);
    let lcc = store.lcc()?.map(|(_, l)| l);
    let head = store.head()?.map(|b| b.level);
    let Some(target) = gc_target(mode, lcc, head, last, params.frequency) else {
        return Ok(None);
    };
    let head_level = head.unwrap_or(target);
    tracing::info!("Calling GC for level {target} at head level {head_level}");
    // Durable before the context GC deletes anything, even on power loss.
    let deleted = store.durable_transaction(|w| {
        w.set_level_state(LevelKey::LastGcTarget, target)?;
        w.set_level_state(LevelKey::LastGcTriggeredAt, head_level)?;
        w.delete_before(target)
    })?;
    tracing::debug!(?deleted, "GC: SQL rows below level {target} deleted");
    rt.job = Some(spawn_context_gc(store, ctx, params, target)?);
    Ok(Some(target))
}

/// Waits for the background context GC, if any.
pub fn wait_gc(gc: &Mutex<GcRuntime>) {
    let mut rt = gc.lock();
    if let Some(j) = rt.job.take()
        && !j.join().unwrap_or(false)
    {
        rt.resumed = false;
    }
}

/// Spawns the context GC keeping the contexts of the blocks at levels ≥ `target`.
/// Must run on the committing thread (the root snapshot must precede any later commit), between
/// two `follow` steps: no level's write is pending then (`Processor::commit_batch` waited for it),
/// so the snapshot holds every root committed so far.
fn spawn_context_gc(
    store: &Store,
    ctx: &Context,
    params: &GcParams,
    target: Level,
) -> Result<std::thread::JoinHandle<bool>, GcError> {
    let keep = store.contexts_from(target)?;
    let snapshot = ctx.gc_snapshot()?;
    let ctx2 = ctx.clone();
    let ctx = ctx.clone();
    let params = params.clone();
    let spawned = std::thread::Builder::new()
        .name("context-gc".into())
        .spawn(move || {
            let r = (|| -> Result<durable_tree::GcStats, GcError> {
                let _lock = lock_file(&params.lock_path)?;
                // Test knob: widen the crash window between the SQL part and the context
                // GC (kill -9 tests).
                if let Some(delay) = params.test_delay {
                    std::thread::sleep(delay);
                }
                let stats = ctx.gc(&keep, &snapshot);
                if stats.is_err() {
                    ctx.gc_cancel();
                }
                let stats = stats?;
                // The follower's batches hold the write lock for up to a level (they start
                // with `BEGIN IMMEDIATE`): wait for it rather than fail.
                let mut s = Store::open(&params.store_path)?;
                s.set_busy_timeout(std::time::Duration::from_secs(120))?;
                s.transaction(|w| w.set_level_state(LevelKey::LastContextGcTarget, target))?;
                Ok(stats)
            })();
            match r {
                Ok(st) => {
                    tracing::info!(
                        "GC finished for level {target}: {} objects kept, {} deleted",
                        st.live,
                        st.deleted
                    );
                    true
                }
                Err(GcError::Context(ContextError::GcCanceled)) => {
                    tracing::info!(
                        "Context GC for level {target} canceled; retried after the next head"
                    );
                    ctx.gc_cancel();
                    false
                }
                Err(e) => {
                    tracing::warn!(
                        "{e} (context GC for level {target}; retried after the next head)"
                    );
                    ctx.gc_cancel();
                    false
                }
            }
        });
    spawned.map_err(|e| {
        ctx2.gc_cancel();
        GcError::Io(format!("cannot start the GC thread: {e}"))
    })
}

/// `<data-dir>/gc_lock`, held while the context GC runs.
fn lock_file(path: &std::path::Path) -> Result<std::fs::File, GcError> {
    let io = |e: std::io::Error| GcError::Io(format!("{}: {e}", path.display()));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io)?;
    // Never wait: another process holding the lock (e.g. a snapshot export) makes this GC
    // fail; it is attempted again after the next head.
    f.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => GcError::Io(format!(
            "{} is held by another process; GC postponed",
            path.display()
        )),
        std::fs::TryLockError::Error(e) => io(e),
    })?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use node_store::fixtures::sample_block;
    use node_store::gc::gc_info;
    use serde_json::json;

    use super::*;
    use pvm_store::context_hash;

    fn lv(v: i32) -> Level {
        Level::new(v).unwrap()
    }

    fn state(n: u8) -> wasm_pvm::PvmState {
        wasm_pvm::PvmState::genesis(
            wasm_pvm::PvmVersion::V6,
            &[0, b'a', b's', b'm', 1, 0, 0, 0, n],
            &wasm_pvm::GenesisParams::default(),
        )
        .unwrap()
    }

    struct Node {
        _dir: tempfile::TempDir,
        store: Store,
        ctx: Context,
        gc: Mutex<GcRuntime>,
        params: GcParams,
        contexts: Vec<node_store::SmartRollupContextHash>,
    }

    /// Blocks 1..=10, each with its own committed context; LCC at `lcc`.
    fn node(lcc: i32) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let params = GcParams {
            frequency: 2,
            origination_level: lv(1),
            store_path: dir.path().join("store.sqlite"),
            lock_path: dir.path().join("gc_lock"),
            test_delay: None,
        };
        let mut store = Store::open(&params.store_path).unwrap();
        let ctx = Context::open(dir.path()).unwrap();
        let mut contexts = vec![];
        for l in 1..=10 {
            let h = ctx.commit(&state(u8::try_from(l).unwrap())).unwrap();
            let mut b = sample_block(l);
            b.context = Some(context_hash(&h));
            contexts.push(b.context.unwrap());
            store
                .transaction(|w| {
                    w.insert_block(&b)?;
                    w.set_level(lv(l), &b.block_hash)?;
                    w.insert_inbox(&b.inbox_hash, lv(l), b"inbox")?;
                    w.insert_messages(&b.inbox_witness, lv(l), b"msgs")?;
                    w.set_outbox_messages(&node_store::OutboxLevel {
                        outbox_level: lv(l),
                        messages: vec![0],
                        executed: vec![],
                    })?;
                    w.set_head(&b.block_hash, lv(l))
                })
                .unwrap();
        }
        store
            .transaction(|w| {
                w.set_history_mode(HistoryMode::Full)?;
                w.set_lcc(&tezos_types::CommitmentHash::new([1; 32]), lv(lcc))
            })
            .unwrap();
        Node {
            _dir: dir,
            store,
            ctx,
            gc: Mutex::default(),
            params,
            contexts,
        }
    }

    #[test]
    fn full_mode_gc_drops_old_levels_and_contexts() {
        let mut n = node(6);
        let info = gc_info(&n.store, Some(lv(1))).unwrap();
        assert_eq!(info, json!({"first_available_level": 1}));
        let t = maybe_gc(&mut n.store, &n.ctx, &n.gc, &n.params).unwrap();
        assert_eq!(t, Some(lv(6)));
        wait_gc(&n.gc);
        for l in 1..=10 {
            let b = n.store.block_by_level(lv(l)).unwrap();
            let idx = usize::try_from(l - 1).unwrap();
            let has = n.ctx.has(&n.contexts[idx]).unwrap();
            assert_eq!(b.is_some(), l >= 6, "level {l}");
            assert_eq!(has, l >= 6, "context of level {l}");
            // Outbox rows are kept.
            assert!(n.store.outbox_messages(lv(l)).unwrap().is_some());
            let sb = sample_block(l);
            assert_eq!(
                n.store.inbox_blob(&sb.inbox_hash).unwrap().is_some(),
                l >= 6
            );
            assert_eq!(
                n.store.messages_blob(&sb.inbox_witness).unwrap().is_some(),
                l >= 6
            );
        }
        // Kept states are intact.
        let b = n.store.block_by_level(lv(8)).unwrap().unwrap();
        assert_eq!(
            n.ctx.state_of(&b).unwrap().hash().unwrap(),
            state(8).hash().unwrap()
        );
        assert_eq!(
            gc_info(&n.store, Some(lv(1))).unwrap(),
            json!({"first_available_level": 6, "last_gc_level": 10,
                   "last_successful_gc_target": 6})
        );
        // Not due again until the LCC moves by the frequency.
        n.store
            .transaction(|w| w.set_lcc(&tezos_types::CommitmentHash::new([2; 32]), lv(7)))
            .unwrap();
        assert_eq!(
            maybe_gc(&mut n.store, &n.ctx, &n.gc, &n.params).unwrap(),
            None
        );
        n.store
            .transaction(|w| w.set_lcc(&tezos_types::CommitmentHash::new([2; 32]), lv(8)))
            .unwrap();
        assert_eq!(
            maybe_gc(&mut n.store, &n.ctx, &n.gc, &n.params).unwrap(),
            Some(lv(8))
        );
        wait_gc(&n.gc);
        assert!(!n.ctx.has(&n.contexts[6]).unwrap());
        assert!(n.ctx.has(&n.contexts[7]).unwrap());
        // Commits after a GC still work and survive a reopen.
        let h = n.ctx.commit(&state(42)).unwrap();
        drop(n.ctx);
        let ctx = Context::open(n._dir.path()).unwrap();
        assert!(ctx.has(&context_hash(&h)).unwrap());
        assert!(ctx.has(&n.contexts[9]).unwrap());
    }

    #[test]
    fn roots_committed_during_a_context_gc_are_kept() {
        let n = node(6);
        let keep = n.contexts[8..].to_vec();
        let snapshot = n.ctx.gc_snapshot().unwrap();
        // Committed after the snapshot, as by the follower while the GC marks.
        let later = n.ctx.commit(&state(77)).unwrap();
        n.ctx.gc(&keep, &snapshot).unwrap();
        assert!(n.ctx.has(&context_hash(&later)).unwrap());
        assert!(n.ctx.has(&n.contexts[9]).unwrap());
        assert!(!n.ctx.has(&n.contexts[7]).unwrap());
        let mut roots = n.ctx.roots().unwrap();
        roots.sort();
        let mut want = vec![later, state(9).hash().unwrap(), state(10).hash().unwrap()];
        want.sort();
        assert_eq!(roots, want);
        assert_eq!(
            n.ctx
                .checkout(&context_hash(&later))
                .unwrap()
                .hash()
                .unwrap(),
            later
        );
    }

    #[test]
    fn a_root_committed_again_during_a_context_gc_is_kept() {
        let n = node(6);
        // Stored before the snapshot without a block (a level interrupted by a crash),
        // then committed again while the GC runs (the level re-processed).
        let again = n.ctx.commit(&state(88)).unwrap();
        let snapshot = n.ctx.gc_snapshot().unwrap();
        assert!(snapshot.contains(&again));
        assert_eq!(n.ctx.commit(&state(88)).unwrap(), again);
        n.ctx.gc(&n.contexts[8..], &snapshot).unwrap();
        assert!(n.ctx.has(&context_hash(&again)).unwrap());
        assert!(!n.ctx.has(&n.contexts[7]).unwrap());
        // The recording stopped with the GC: the next one may drop that root.
        let snapshot = n.ctx.gc_snapshot().unwrap();
        n.ctx.gc(&n.contexts[9..], &snapshot).unwrap();
        assert!(!n.ctx.has(&context_hash(&again)).unwrap());
    }

    #[test]
    fn failed_context_gc_is_retried() {
        let mut n = node(6);
        let good = n.params.clone();
        n.params.lock_path = n._dir.path().join("missing").join("gc_lock");
        assert_eq!(
            maybe_gc(&mut n.store, &n.ctx, &n.gc, &n.params).unwrap(),
            Some(lv(6))
        );
        wait_gc(&n.gc);
        assert_eq!(
            n.store.level_state(LevelKey::LastContextGcTarget).unwrap(),
            None
        );
        assert_eq!(
            gc_info(&n.store, Some(lv(1))).unwrap(),
            json!({"first_available_level": 6, "last_gc_level": 10})
        );
        assert_eq!(maybe_gc(&mut n.store, &n.ctx, &n.gc, &good).unwrap(), None);
        wait_gc(&n.gc);
        assert_eq!(
            n.store.level_state(LevelKey::LastContextGcTarget).unwrap(),
            Some(lv(6))
        );
        // Done: not run again.
        assert_eq!(maybe_gc(&mut n.store, &n.ctx, &n.gc, &good).unwrap(), None);
        assert!(n.gc.lock().job.is_none());
    }

    #[test]
    fn archive_mode_never_collects() {
        let mut n = node(8);
        n.store
            .transaction(|w| w.set_history_mode(HistoryMode::Archive))
            .unwrap();
        assert_eq!(
            maybe_gc(&mut n.store, &n.ctx, &n.gc, &n.params).unwrap(),
            None
        );
        wait_gc(&n.gc);
        for (i, c) in n.contexts.iter().enumerate() {
            assert!(n.ctx.has(c).unwrap(), "{i}");
        }
        assert_eq!(n.store.first_stored_level().unwrap(), Some(lv(1)));
        assert_eq!(
            gc_info(&n.store, None).unwrap(),
            json!({"first_available_level": 1})
        );
    }

    #[test]
    fn interrupted_context_gc_is_resumed() {
        let mut n = node(6);
        // As after a crash between the SQL part and the end of the context GC.
        n.store
            .transaction(|w| {
                w.set_level_state(LevelKey::LastGcTarget, lv(6))?;
                w.set_level_state(LevelKey::LastGcTriggeredAt, lv(10))?;
                w.delete_before(lv(6))
            })
            .unwrap();
        assert!(n.ctx.has(&n.contexts[0]).unwrap());
        assert_eq!(
            maybe_gc(&mut n.store, &n.ctx, &n.gc, &n.params).unwrap(),
            None
        );
        wait_gc(&n.gc);
        assert!(!n.ctx.has(&n.contexts[0]).unwrap());
        assert!(n.ctx.has(&n.contexts[5]).unwrap());
        assert_eq!(
            n.store.level_state(LevelKey::LastContextGcTarget).unwrap(),
            Some(lv(6))
        );
    }
}
