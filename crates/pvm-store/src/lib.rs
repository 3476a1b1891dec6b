//! The rollup context: PVM states committed into the durable-tree [`Repo`] under
//! `<data-dir>/context/` (octez-rollup-node.md §5.5). A block's `context` column holds the
//! [`SmartRollupContextHash`] of its committed PVM state tree: the tree's root hash, equal to
//! the PVM state hash ([`context_hash`]). Read-side accessors
//! for the RPC server live here too ([`DurableState`], block state queries).
//!
//! GC of the context (§5.4, full mode): [`Context::gc`] keeps the objects reachable from
//! the given roots and from every root committed while it runs; commits wait only for
//! its final phase (see there). When to run one is the store's GC policy
//! (`node_store::gc`); running it in the background is the follower's job.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use durable_tree::durable::{Durable, Key, KeyError};
use durable_tree::{Hash, Repo};
use parking_lot::Mutex;
use wasm_pvm::PvmState;

use node_store::{L2Block, SmartRollupContextHash};

/// Context failures (operational: I/O or a missing object).
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The on-disk store failed.
    #[error("context store: {0}")]
    Store(#[from] durable_tree::StoreError),
    /// Tree access failed.
    #[error("context tree: {0}")]
    Tree(#[from] durable_tree::TreeError),
    /// A committed tree does not decode as a PVM state.
    #[error("context does not hold a PVM state: {0}")]
    Decode(#[from] wasm_pvm::DecodeError),
    /// The block has no committed context.
    #[error("block {0} has no committed context")]
    NoContext(i32),
    /// [`Context::gc`] stopped by [`Context::cancel_gc`] before it deleted anything.
    #[error("context GC canceled (GET /admin/cancel_gc)")]
    GcCanceled,
    /// The context store holds damaged data: the node refuses to start rather than drop it
    /// (`crates/pack-store/src/pack.rs`, torn tail vs corruption).
    #[error(
        "{0}.\nNothing was discarded. To go on, either:\n\
         - restart with `run --repair-context`: the store is cut at offset {offset} and the \
         levels it held are replayed from the L1 node (which must still have those blocks);\n\
         - or restore the data directory from a snapshot or a backup, or start from an empty \
         one.",
        offset = .0.offset
    )]
    Corrupted(Box<durable_tree::StoreCorruption>),
    /// A commit handed to the writer thread ([`Context::commit_beside`]) could not run or
    /// ended wrong (the thread not started or gone, the write panicked, or another hash than
    /// the one computed before it).
    #[error("context commit on the writer thread: {0}")]
    Beside(String),
}

impl ContextError {
    /// Store errors, with corruption told apart.
    fn from_store(e: durable_tree::StoreError) -> Self {
        match e {
            durable_tree::StoreError::Corrupted(c) => ContextError::Corrupted(c),
            e => ContextError::Store(e),
        }
    }
}

/// `run --repair-context`: opens the context store in `dir`, cutting a corrupted pack file at
/// its first damaged batch (everything from there on is dropped, and said so in the log).
/// The follower then finds the L2 head's context missing and replays the lost levels from L1
/// (`reset_to_last_committed` in `node_follower::main_loop`). Returns the damage that was cut, if any.
pub fn repair(
    dir: &std::path::Path,
) -> Result<Option<durable_tree::StoreCorruption>, ContextError> {
    let path = dir.join(CONTEXT_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let (_repo, damage) = pack_store::open_repo_with(&path, pack_store::Recovery::Truncate)
        .map_err(ContextError::from_store)?;
    match &damage {
        Some(d) => tracing::warn!(
            "--repair-context: {d}. The store was cut at offset {}; the lost levels will be \
             replayed from the L1 node.",
            d.offset
        ),
        None => tracing::info!(
            "--repair-context: the context store {} is sound; nothing to repair",
            path.display()
        ),
    }
    Ok(damage)
}

/// The repo file inside `<data-dir>/context/`.
pub const CONTEXT_FILE: &str = "store";

/// The committed PVM states.
#[derive(Clone)]
pub struct Context {
    repo: Arc<Repo>,
    /// Held by [`Context::commit`] and by the final phase of [`Context::gc`]: no commit may
    /// land between the last mark and the sweep.
    commit_lock: Arc<Mutex<()>>,
    /// Roots committed since [`Context::gc_snapshot`] (`None`: no GC under way). A root
    /// already in the snapshot may be committed again (a level re-processed after a crash
    /// or a reorg): it must survive the GC too.
    gc_commits: Arc<Mutex<Option<Vec<Hash>>>>,
    /// [`Context::gc`] running now, and asked to stop ([`Context::cancel_gc`]).
    gc_state: Arc<GcState>,
    /// The state trees read last by the RPC server ([`DurableState`]), most recent first: a
    /// lazily loaded tree keeps the nodes it loaded, so the next read of the same block walks
    /// memory instead of reading and decoding the pack file again.
    read_cache: Arc<Mutex<Vec<(Hash, durable_tree::Tree)>>>,
    /// [`Context::commit_beside`]'s writer thread.
    writer: Arc<Writer>,
}

/// Threads for commits made beside a running kernel ([`Context::commit_beside`]): the
/// cores the kernel's thread leaves ([`durable_tree::default_threads`] less one, at least
/// one). On two cores, one commit thread beside the kernel's.
pub fn commit_threads_beside_a_kernel() -> usize {
    durable_tree::default_threads().saturating_sub(1).max(1)
}

/// A commit running on the context's writer thread ([`Context::commit_beside`]). Dropping
/// it without [`PendingCommit::wait`] leaves the write going, like a commit whose result
/// nobody reads: a state never waited for is not in the context as far as the caller knows.
#[must_use = "the state is in the context only once `wait` has returned"]
pub struct PendingCommit {
    /// The state hash, computed before the write was handed over.
    hash: Hash,
    written: std::sync::mpsc::Receiver<Result<Hash, ContextError>>,
}

impl PendingCommit {
    /// The hash of the state being committed.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Waits until the state's objects are written (not synced: [`Context::sync`]); returns
    /// its hash, or the commit's error.
    pub fn wait(self) -> Result<Hash, ContextError> {
        let written = self
            .written
            .recv()
            .map_err(|_| ContextError::Beside("the writer thread stopped".into()))??;
        if written != self.hash {
            return Err(ContextError::Beside(format!(
                "wrote root {written}, but the state hashed to {}",
                self.hash
            )));
        }
        Ok(written)
    }
}

/// A tree to write, and where to say how it went.
type WriteJob = (
    durable_tree::Tree,
    std::sync::mpsc::SyncSender<Result<Hash, ContextError>>,
);

/// The thread that writes [`Context::commit_beside`]'s trees, one after the other, started
/// at the first of them. It lives as long as a clone of the context does (it holds the
/// repo, not the context, so the last clone's drop closes its queue and ends it): one thread
/// for the node's life rather than one started at every level.
#[derive(Default)]
struct Writer(std::sync::OnceLock<std::sync::mpsc::Sender<WriteJob>>);

/// Marks the calling thread `SCHED_BATCH` (Linux, `sched(7)`): same share of the CPU, but
/// its wake-up never preempts the running thread. Woken by the follower's thread, the writer
/// otherwise took that thread's core in 31–69% of the levels and held back the next level's
/// start by ~1 ms, while the other core was idle (`BENCHMARKS.md`, "Every issue-15 point on
/// one code"). Best effort: a refusal leaves the thread as it was.
fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid `sched_param` for the call's duration; pid 0 is the
        // calling thread.
        #[expect(
            unsafe_code,
            reason = "sched_setscheduler(2) has no safe wrapper in std"
        )]
        let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &raw const param) };
        if r != 0 {
            tracing::debug!(
                "the context writer stays in the default scheduling class: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// State trees kept by [`Context::read_cache`] (the head and a few blocks behind it).
const READ_CACHE: usize = 4;

/// Whether a GC runs, and whether it was asked to stop.
#[derive(Default)]
struct GcState {
    running: AtomicBool,
    cancel: AtomicBool,
}

/// The context hash (`l2_blocks.context`) of a committed state: the root hash of the tree.
pub fn context_hash(h: &Hash) -> SmartRollupContextHash {
    SmartRollupContextHash::new(h.0)
}

/// The tree root of a context hash.
fn root_of(c: &SmartRollupContextHash) -> Hash {
    Hash(c.0)
}

impl Context {
    /// Opens (creating) the on-disk repo in directory `dir` (file [`CONTEXT_FILE`]).
    pub fn open(dir: &std::path::Path) -> Result<Self, ContextError> {
        let path = dir.join(CONTEXT_FILE);
        let repo = pack_store::open_repo(&path).map_err(ContextError::from_store)?;
        // The copy of an interrupted GC (the pack file itself is replaced atomically),
        // removed once the repo (and its lock) is ours.
        let _ = std::fs::remove_file(path.with_extension("gc-tmp"));
        Ok(Self::over(repo))
    }

    /// An in-memory context (tests).
    pub fn in_memory() -> Self {
        Self::over(Repo::in_memory())
    }

    fn over(repo: Repo) -> Self {
        Self {
            repo: Arc::new(repo),
            commit_lock: Arc::new(Mutex::new(())),
            gc_commits: Arc::new(Mutex::new(None)),
            gc_state: Arc::default(),
            read_cache: Arc::default(),
            writer: Arc::default(),
        }
    }

    /// Commits a PVM state; returns its hash (the state hash).
    pub fn commit(&self, state: &PvmState) -> Result<Hash, ContextError> {
        self.commit_tree(&state.to_tree()?)
    }

    /// Hashes `state` on this thread, then hands its objects to the context's writer
    /// thread, so that the caller goes on meanwhile (the follower runs the next level's
    /// kernel while its predecessor's objects are written: `BENCHMARKS.md`, P7). The returned
    /// hash is the state hash, but the state is in the context only once
    /// [`PendingCommit::wait`] has returned: wait before the next commit, before
    /// [`Context::sync`], and before reading this state back. Levels sharing nodes with the
    /// state being written copy them when they change them (copy-on-write), as they would any
    /// shared node.
    pub fn commit_beside(&self, state: &PvmState) -> Result<PendingCommit, ContextError> {
        let tree = state.to_tree()?;
        let hash = tree.hash()?;
        let (reply, written) = std::sync::mpsc::sync_channel(1);
        self.writer()?
            .send((tree, reply))
            .map_err(|_| ContextError::Beside("the writer thread stopped".into()))?;
        Ok(PendingCommit { hash, written })
    }

    /// The writer thread's queue, the thread started on first use. A commit that panics
    /// answers its [`PendingCommit`] with an error; the thread goes on with the next.
    fn writer(&self) -> Result<&std::sync::mpsc::Sender<WriteJob>, ContextError> {
        if let Some(w) = self.writer.0.get() {
            return Ok(w);
        }
        let (tx, rx) = std::sync::mpsc::channel::<WriteJob>();
        // A clone without the writer (a clone holding it would keep the queue open): the
        // last context's drop must close the queue.
        let writes = Self {
            writer: Arc::default(),
            ..self.clone()
        };
        std::thread::Builder::new()
            .name("context-commit".into())
            .spawn(move || {
                batch_scheduling();
                for (tree, reply) in rx {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        writes.commit_tree(&tree)
                    }))
                    .unwrap_or_else(|_| Err(ContextError::Beside("the write panicked".into())));
                    let _ = reply.send(r);
                    // Nodes the next state has replaced since are freed here, not on the
                    // committing thread, and after the answer.
                    drop(tree);
                }
            })
            .map_err(|e| ContextError::Beside(format!("cannot start its thread: {e}")))?;
        // Another clone may have started one meanwhile: then this one's queue is dropped
        // unused and its thread ends at once.
        Ok(self.writer.0.get_or_init(|| tx))
    }

    /// Commits a PVM state tree as given (built elsewhere, e.g. converted from an Octez
    /// context on snapshot import: `docs/reference/octez-rollup-node.md` §7); returns its
    /// root hash, the state hash when the tree is a PVM state. The tree is not decoded: check
    /// the hash against the expected state hash.
    pub fn commit_tree(&self, tree: &durable_tree::Tree) -> Result<Hash, ContextError> {
        let _guard = self.commit_lock.lock();
        let hash = self.repo.commit(tree)?;
        if let Some(commits) = self.gc_commits.lock().as_mut() {
            commits.push(hash);
        }
        Ok(hash)
    }

    /// Run each commit on `n` threads (default: the machine's, at most 4;
    /// [`durable_tree::Repo::set_commit_threads`]). State hashes do not depend on it.
    pub fn set_commit_threads(&self, n: usize) {
        self.repo.set_commit_threads(n);
    }

    /// The tree committed under `root` (loaded lazily, as reads need it).
    pub fn tree(&self, root: &Hash) -> Result<durable_tree::Tree, ContextError> {
        Ok(self.repo.checkout(*root)?)
    }

    /// The roots stored now, to pass to [`Context::gc`]; from now on every committed root
    /// is recorded and kept by that GC. Call it on the committing thread.
    pub fn gc_snapshot(&self) -> Result<HashSet<Hash>, ContextError> {
        let _guard = self.commit_lock.lock();
        *self.gc_commits.lock() = Some(Vec::new());
        Ok(self.repo.roots()?.into_iter().collect())
    }

    /// With `on`, [`Context::commit`]s are not synced each; [`Context::sync`] makes them
    /// durable. The follower syncs before the SQLite commit that references them, so the
    /// store never points at a context that is not durable.
    pub fn set_deferred_sync(&self, on: bool) {
        self.repo.store().set_deferred_sync(on);
    }

    /// Makes every committed state durable.
    pub fn sync(&self) -> Result<(), ContextError> {
        Ok(self.repo.store().sync()?)
    }

    /// The committed roots still stored.
    pub fn roots(&self) -> Result<Vec<Hash>, ContextError> {
        Ok(self.repo.roots()?)
    }

    /// Whether the context of `c` is stored.
    pub fn has(&self, c: &SmartRollupContextHash) -> Result<bool, ContextError> {
        Ok(self.repo.has(&root_of(c))?)
    }

    /// Stops recording commits for a GC that will not run (see [`Context::gc_snapshot`]).
    pub fn gc_cancel(&self) {
        *self.gc_commits.lock() = None;
    }

    /// Context GC (§5.4): deletes every object not reachable from `keep` nor from a root
    /// committed after `snapshot` ([`Context::gc_snapshot`], taken when `keep` was chosen),
    /// and forgets the other roots. Missing `keep` roots are skipped.
    ///
    /// Phases: the mark of `keep` runs without blocking commits; then, under the commit
    /// lock, the roots committed meanwhile are marked (only their new objects are walked)
    /// and the pack file is rewritten with the live objects (a copy renamed over the old
    /// file: a crash at any point leaves either the old or the new file, both complete for
    /// the kept roots). Commits wait for that last phase only; reads go on during the copy
    /// (from the old file) and wait only for the switch to the copy
    /// (`crates/pack-store/src/pack.rs`, `retain`).
    ///
    /// [`Context::cancel_gc`] stops it between two roots of the mark or before the sweep,
    /// with [`ContextError::GcCanceled`]; nothing is deleted then.
    pub fn gc(
        &self,
        keep: &[SmartRollupContextHash],
        snapshot: &HashSet<Hash>,
    ) -> Result<durable_tree::GcStats, ContextError> {
        self.gc_state.cancel.store(false, Ordering::SeqCst);
        self.gc_state.running.store(true, Ordering::SeqCst);
        let r = self.gc_phases(keep, snapshot);
        self.gc_state.running.store(false, Ordering::SeqCst);
        r
    }

    /// Asks a running [`Context::gc`] to stop (`GET /admin/cancel_gc`); whether one was running.
    pub fn cancel_gc(&self) -> bool {
        self.gc_state.cancel.store(true, Ordering::SeqCst);
        self.gc_state.running.load(Ordering::SeqCst)
    }

    fn canceled(&self) -> Result<(), ContextError> {
        if self.gc_state.cancel.load(Ordering::SeqCst) {
            Err(ContextError::GcCanceled)
        } else {
            Ok(())
        }
    }

    fn gc_phases(
        &self,
        keep: &[SmartRollupContextHash],
        snapshot: &HashSet<Hash>,
    ) -> Result<durable_tree::GcStats, ContextError> {
        let mut roots = Vec::with_capacity(keep.len());
        for c in keep {
            let h = root_of(c);
            if self.repo.has(&h)? {
                roots.push(h);
            } else {
                tracing::warn!("GC: context {c} is not stored; skipped");
            }
        }
        let mut live = HashSet::new();
        // Root by root (subtrees shared with an earlier root are not walked again), so that a
        // cancel is seen soon.
        for r in &roots {
            self.canceled()?;
            self.repo.mark_live(std::slice::from_ref(r), &mut live)?;
        }
        let _guard = self.commit_lock.lock();
        let recorded = self.gc_commits.lock().take().unwrap_or_default();
        self.canceled()?;
        let mut newer: Vec<Hash> = self
            .repo
            .roots()?
            .into_iter()
            .filter(|r| !snapshot.contains(r))
            .collect();
        newer.extend(recorded);
        newer.sort_unstable();
        newer.dedup();
        self.repo.mark_live(&newer, &mut live)?;
        roots.extend(newer);
        Ok(self.repo.sweep(&live, &roots)?)
    }

    /// The PVM state committed under `hash`.
    pub fn checkout(&self, hash: &SmartRollupContextHash) -> Result<PvmState, ContextError> {
        let tree = self.repo.checkout(root_of(hash))?;
        Ok(PvmState::from_tree(&tree)?)
    }

    /// The PVM state after `block`.
    pub fn state_of(&self, block: &L2Block) -> Result<PvmState, ContextError> {
        match &block.context {
            Some(c) => self.checkout(c),
            None => Err(ContextError::NoContext(block.level.get())),
        }
    }

    /// The PVM state tree of `block` as committed (proofs are built on it: its hash is the
    /// block's state hash).
    pub fn state_tree(&self, block: &L2Block) -> Result<durable_tree::Tree, ContextError> {
        let c = block
            .context
            .as_ref()
            .ok_or(ContextError::NoContext(block.level.get()))?;
        Ok(self.repo.checkout(root_of(c))?)
    }

    /// Raw value at `key` (`a/b/c`) of the PVM state tree of `block` (`state?key=` RPC).
    pub fn state_value(&self, block: &L2Block, key: &str) -> Result<Option<Vec<u8>>, ContextError> {
        let c = block
            .context
            .as_ref()
            .ok_or(ContextError::NoContext(block.level.get()))?;
        let tree = self.repo.checkout(root_of(c))?;
        let path: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
        Ok(tree.get_contents(&path)?)
    }

    fn durable_of(&self, block: &L2Block) -> Result<Durable, ContextError> {
        let c = block
            .context
            .as_ref()
            .ok_or(ContextError::NoContext(block.level.get()))?;
        let root = root_of(c);
        let cached = {
            let mut cache = self.read_cache.lock();
            match cache.iter().position(|(h, _)| *h == root) {
                Some(i) => {
                    let entry = cache.remove(i);
                    let tree = entry.1.clone();
                    cache.insert(0, entry);
                    Some(tree)
                }
                None => None,
            }
        };
        let tree = match cached {
            Some(t) => t,
            None => {
                let t = self.repo.checkout(root)?;
                let mut cache = self.read_cache.lock();
                cache.insert(0, (root, t.clone()));
                cache.truncate(READ_CACHE);
                t
            }
        };
        let d = tree
            .get(&["durable"])?
            .unwrap_or_else(durable_tree::Tree::empty);
        Ok(Durable::new(d))
    }
}

/// Why a read of the durable storage of a block failed (the `durable` RPCs answer it as
/// `smart_rollup_node.durable_storage`).
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    /// The key is not a durable storage path (`src/lib_scoru_wasm/durable.ml` key rules).
    #[error("Invalid durable key {key:?}: {source:?}")]
    BadKey {
        /// The key as requested.
        key: String,
        /// Why it is rejected.
        source: KeyError,
    },
    /// The block's context cannot be read.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The durable tree cannot be read.
    #[error(transparent)]
    Tree(#[from] durable_tree::TreeError),
}

/// Access to the PVM durable storage of a block (the RPC server reads it; [`Context`]
/// implements it).
///
/// The RPC server may call these on an async worker inside [`durable_tree::in_memory_only`]:
/// an implementation whose read can wait (I/O, a lock another thread holds) must refuse there,
/// with `durable_tree::refuse_store_read()` then `TreeError::NotInMemory` ([`Context`] does,
/// through its tree and its checkouts); the server then reads again on a blocking thread.
pub trait DurableState: Send + Sync {
    /// Value at `key` (`None` if absent).
    fn value(&self, block: &L2Block, key: &str) -> Result<Option<Vec<u8>>, DurableError>;
    /// Length of the value at `key`.
    fn length(&self, block: &L2Block, key: &str) -> Result<Option<u64>, DurableError>;
    /// Direct subkeys of `key`, in storage order.
    fn subkeys(&self, block: &L2Block, key: &str) -> Result<Vec<String>, DurableError>;
}

fn key(k: &str) -> Result<Key, DurableError> {
    if k.is_empty() || k == "/" {
        return Ok(Key::root());
    }
    Key::from_str_checked(k).map_err(|source| DurableError::BadKey {
        key: k.to_string(),
        source,
    })
}

impl DurableState for Context {
    fn value(&self, block: &L2Block, k: &str) -> Result<Option<Vec<u8>>, DurableError> {
        Ok(self.durable_of(block)?.read_all(&key(k)?)?)
    }

    fn length(&self, block: &L2Block, k: &str) -> Result<Option<u64>, DurableError> {
        Ok(self.durable_of(block)?.value_size(&key(k)?)?)
    }

    fn subkeys(&self, block: &L2Block, k: &str) -> Result<Vec<String>, DurableError> {
        Ok(self.durable_of(block)?.subkeys(&key(k)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A genesis state with `n` durable values under `/big`.
    fn state_with(n: u32) -> PvmState {
        let mut st = PvmState::genesis(
            wasm_pvm::PvmVersion::V6,
            b"\0asm\x01\0\0\0",
            &wasm_pvm::GenesisParams::default(),
        )
        .unwrap();
        for i in 0..n {
            let k = Key::parse(format!("/big/{i:05}").as_bytes()).unwrap();
            st.durable_mut().write(&k, 0, &i.to_le_bytes()).unwrap();
        }
        st
    }

    /// A state committed beside the next level (which changes it meanwhile, sharing its
    /// nodes) is stored as a plain commit stores it, and so is the next one.
    #[test]
    fn a_commit_beside_stores_what_a_commit_stores() {
        let (plain, beside) = (Context::in_memory(), Context::in_memory());
        let mut st = state_with(20_000);
        let mut pending = None::<PendingCommit>;
        for level in 0..4u32 {
            let expected = plain.commit(&st).unwrap();
            if let Some(p) = pending.take() {
                p.wait().unwrap();
            }
            let p = beside.commit_beside(&st).unwrap();
            assert_eq!(p.hash(), expected, "level {level}");
            // The next level writes while the objects are being written.
            for i in (0..20_000).step_by(97) {
                let k = Key::parse(format!("/big/{i:05}").as_bytes()).unwrap();
                st.durable_mut().write(&k, 0, &[level as u8; 9]).unwrap();
            }
            pending = Some(p);
        }
        let last = pending.unwrap().wait().unwrap();
        let back = beside.checkout(&context_hash(&last)).unwrap();
        assert_eq!(back.hash().unwrap(), last);
        let mut roots = beside.roots().unwrap();
        let mut expected = plain.roots().unwrap();
        roots.sort_unstable();
        expected.sort_unstable();
        assert_eq!(roots, expected);
    }

    /// A write handed over before the last clone of the context is dropped still lands, and
    /// the writer thread then ends and lets go of the store (its file lock): the directory
    /// opens again, with the state in it.
    #[test]
    fn the_writer_thread_ends_with_the_context() {
        let dir = tempfile::tempdir().unwrap();
        let st = state_with(2_000);
        let ctx = Context::open(dir.path()).unwrap();
        let other = ctx.clone();
        let p = ctx.commit_beside(&st).unwrap();
        drop(ctx);
        drop(other);
        let h = p.wait().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let reopened = loop {
            match Context::open(dir.path()) {
                Ok(c) => break c,
                Err(e) if std::time::Instant::now() > deadline => {
                    panic!("the store is still held 10 s after the last context: {e}")
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        };
        assert!(reopened.has(&context_hash(&h)).unwrap());
    }

    #[test]
    fn commit_checkout_round_trip() {
        let ctx = Context::in_memory();
        let st = PvmState::genesis(
            wasm_pvm::PvmVersion::V6,
            b"\0asm\x01\0\0\0",
            &wasm_pvm::GenesisParams::default(),
        )
        .unwrap();
        let h = ctx.commit(&st).unwrap();
        assert_eq!(h, st.hash().unwrap());
        let c = context_hash(&h);
        assert_eq!(c.0, h.0);
        let back = ctx.checkout(&c).unwrap();
        assert_eq!(back.hash().unwrap(), h);
        // The same tree committed as a tree, into another context, has the same root.
        let other = Context::in_memory();
        assert_eq!(other.commit_tree(&st.to_tree().unwrap()).unwrap(), h);
        assert_eq!(other.checkout(&c).unwrap().hash().unwrap(), h);
        assert_eq!(other.tree(&h).unwrap().hash().unwrap(), h);
        assert!(
            ctx.checkout(&SmartRollupContextHash::new([0x5a; 32]))
                .is_err()
        );
        let mut b = node_store::fixtures::sample_block(3);
        b.context = Some(c);
        assert_eq!(
            ctx.value(&b, "/readonly/wasm_version").unwrap(),
            Some(b"2.0.0-r6".to_vec())
        );
        assert_eq!(ctx.length(&b, "/readonly/wasm_version").unwrap(), Some(8));
        assert_eq!(ctx.value(&b, "/nope").unwrap(), None);
        let sub = ctx.subkeys(&b, "/kernel").unwrap();
        assert!(sub.contains(&"boot.wasm".to_string()), "{sub:?}");
        // Durable reads keep their typed errors (and the messages of the untyped version).
        let e = DurableState::value(&ctx, &b, "no-slash").unwrap_err();
        assert!(
            matches!(&e, DurableError::BadKey { key, .. } if key == "no-slash"),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("Invalid durable key \"no-slash\": "),
            "{e}"
        );
        b.context = None;
        let e = DurableState::value(&ctx, &b, "/x").unwrap_err();
        assert!(
            matches!(e, DurableError::Context(ContextError::NoContext(3))),
            "{e:?}"
        );
    }
}
