//! The rollup node's L1 injector (Octez `src/lib_injector`; docs/reference/octez-rollup-node.md
//! §9, §4.3–§4.4; docs/reference/l1-and-signer.md §1.7–§1.9).
//!
//! * [`core`]: the pure queues, batches, status machine, retry/forget rules and reorgs.
//! * [`fees`]: fee parameters, limits and the fee fixpoint (pure).
//! * [`store`]: the SQLite database (WAL, one transaction per change) with the signing
//!   protection table of every `publish` ever signed.
//! * [`Injector`]: the shell. [`Injector::add`] persists before returning;
//!   [`Injector::on_new_head`] tracks inclusion and reorgs from L1 blocks, then signs and
//!   injects one batch per worker (one worker per signer).
//!
//! Crash safety: a batch is recorded as injected (with its L1 hash and manager counter)
//! before `POST /injection/operation`; an injection not known to have been answered is looked
//! up in the mempool and the account counter before being queued again, so an operation is
//! never injected twice and never lost.

pub mod core;
pub mod fees;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use inbox::{BlockHeader, Content, OperationStatus};
use l1_client::{L1Client, L1Error, ResultStatus};
use l1_operation::{L1Operation, OperationKind};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tezos_types::hash::InjectorOperationId;
use tezos_types::{
    BinEncode, BlockHash, ChainId, Level, ManagerOperation, Mutez, OperationContent, OperationHash,
    PublicKeyHash, SmartRollupAddress, UnsignedOperation, Watermark,
};

use crate::core::{AddError, Core, Entry, Event, Outcome, Rules, State, WorkerTags};
use crate::fees::{FeeConfigError, FeeParameters};
use crate::store::{Store, StoreError};

pub use crate::core::Event as InjectorEvent;
pub use tezos_types::hash::InjectorOperationId as InjectorOpHash;

/// Chain of every RPC.
const CHAIN: &str = "main";

/// One signer and the kinds it injects (purposes sharing a key share a worker).
#[derive(Clone)]
pub struct WorkerSpec {
    /// The key (local or remote signer). Its calls block: they run in `spawn_blocking`.
    pub signer: Arc<dyn signer::Signer + Send + Sync>,
    /// Kinds injected with this key.
    pub kinds: Vec<OperationKind>,
}

impl std::fmt::Debug for WorkerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSpec")
            .field("signer", &self.signer.public_key_hash())
            .field("kinds", &self.kinds)
            .finish()
    }
}

/// Injector settings from config.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `injector` section.
    pub rules: Rules,
    /// `fee-parameters`.
    pub fees: FeeParameters,
}

impl Settings {
    /// From the node configuration.
    ///
    /// # Errors
    /// [`FeeConfigError`] for a malformed `fee-parameters` entry.
    pub fn from_config(c: &node_config::Config) -> Result<Self, FeeConfigError> {
        Ok(Self {
            rules: Rules::from_config(&c.injector),
            fees: FeeParameters::from_config(c.fee_parameters.as_ref())?,
        })
    }
}

/// Errors of the injector.
#[derive(Debug, thiserror::Error)]
pub enum InjectorError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An operation no worker injects.
    #[error(transparent)]
    Add(#[from] AddError),
    /// An L1 RPC failed (retried at the next head).
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The key could not sign or give its public key (retried at the next head).
    #[error("the signer of {pkh} failed: {source}; the operations stay queued for the next head")]
    Signer {
        /// The key.
        pkh: PublicKeyHash,
        /// Cause.
        #[source]
        source: signer::SignerError,
    },
    /// A blocking task panicked or was cancelled.
    #[error("the signing task of {pkh} did not complete: {message}")]
    Task {
        /// The key.
        pkh: PublicKeyHash,
        /// Details.
        message: String,
    },
}

struct Locked {
    core: Core,
    store: Store,
    head_level: Option<Level>,
}

impl Locked {
    /// Writes the pending changes in one transaction, then returns the events.
    fn persist(&mut self) -> Result<Vec<Event>, StoreError> {
        let dirty = self.core.take_dirty();
        if !dirty.is_empty() {
            let core = &self.core;
            self.store
                .save(&dirty, |id| core.get(id), core.next_counter())?;
        }
        Ok(self.core.take_events())
    }
}

#[derive(Default)]
struct HeadCache {
    /// Manager operation hashes (pass 3) of blocks already read.
    op_hashes: HashMap<BlockHash, (Level, Vec<OperationHash>)>,
    constants: Option<Limits>,
    chain_id: Option<ChainId>,
}

struct Inner {
    state: Mutex<Locked>,
    workers: Vec<WorkerSpec>,
    l1: L1Client,
    rollup: SmartRollupAddress,
    fees: FeeParameters,
    events: tokio::sync::broadcast::Sender<Event>,
    head: tokio::sync::Mutex<HeadCache>,
    /// Applied inclusions seen since this process started, by kind (metrics).
    included_since_start: Mutex<BTreeMap<OperationKind, u64>>,
}

/// The sizes of one worker's queues (Octez `injector_metrics.ml`: `queue_size`,
/// `injected_size`, `included_size`, labelled by the worker's tags and index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSizes {
    /// Position of the worker.
    pub index: usize,
    /// Its kinds, as Octez prints its tags (`publish, cement`).
    pub tags: String,
    /// Operations waiting to be injected.
    pub queued: usize,
    /// Operations injected, not included yet.
    pub injected: usize,
    /// Operations included, kept until the retention period.
    pub included: usize,
}

/// The injector. Cheap to clone.
#[derive(Clone)]
pub struct Injector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Injector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injector")
            .field("workers", &self.inner.workers)
            .field("rollup", &self.inner.rollup)
            .finish()
    }
}

fn merge_workers(specs: Vec<WorkerSpec>) -> Vec<WorkerSpec> {
    let mut out: Vec<WorkerSpec> = Vec::new();
    for s in specs {
        let pkh = s.signer.public_key_hash();
        match out.iter_mut().find(|w| w.signer.public_key_hash() == pkh) {
            Some(w) => {
                for k in s.kinds {
                    if !w.kinds.contains(&k) {
                        w.kinds.push(k);
                    }
                }
            }
            None => out.push(s),
        }
    }
    out
}

/// Binary size of an operation's content with generous envelope fields (for batching).
fn content_size(op: &L1Operation, source: PublicKeyHash) -> usize {
    ManagerOperation {
        content: op.to_content(),
        source,
        fee: Mutez(u64::from(u32::MAX)),
        counter: u64::from(u32::MAX),
        gas_limit: 1 << 24,
        storage_limit: 1 << 24,
    }
    .to_bin()
    .len()
}

fn outcome_of(status: OperationStatus, errors: &[Value]) -> Outcome {
    match status {
        OperationStatus::Applied => Outcome::Applied,
        OperationStatus::Backtracked | OperationStatus::Skipped => Outcome::BacktrackedOrSkipped,
        OperationStatus::Failed => Outcome::Failed {
            errors: errors
                .iter()
                .map(|e| e["id"].as_str().unwrap_or("unknown error").to_owned())
                .collect(),
            permanent: errors
                .iter()
                .any(|e| matches!(e["kind"].as_str(), Some("permanent" | "outdated"))),
        },
    }
}

fn error_ids(errors: &[Value]) -> String {
    let ids: Vec<&str> = errors
        .iter()
        .map(|e| e["id"].as_str().unwrap_or("unknown error"))
        .collect();
    if ids.is_empty() {
        "no error given".to_owned()
    } else {
        ids.join(", ")
    }
}

impl Injector {
    /// Opens the database at `path` (the node passes `<data-dir>/injector/injector.sqlite`)
    /// and restores the queues. `workers` with the same key are merged.
    ///
    /// # Errors
    /// [`InjectorError::Store`].
    pub fn open(
        path: &Path,
        settings: Settings,
        workers: Vec<WorkerSpec>,
        l1: L1Client,
        rollup: SmartRollupAddress,
    ) -> Result<Self, InjectorError> {
        let workers = merge_workers(workers);
        let store = Store::open(path)?;
        let (entries, next) = store.load()?;
        let tags = workers
            .iter()
            .map(|w| WorkerTags {
                signer: w.signer.public_key_hash(),
                kinds: w.kinds.clone(),
            })
            .collect();
        let core = Core::new(settings.rules, tags, entries, next);
        let (events, _) = tokio::sync::broadcast::channel(1024);
        Ok(Self {
            inner: Arc::new(Inner {
                state: Mutex::new(Locked {
                    core,
                    store,
                    head_level: None,
                }),
                workers,
                l1,
                rollup,
                fees: settings.fees,
                events,
                head: tokio::sync::Mutex::new(HeadCache::default()),
                included_since_start: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The rollup.
    pub fn rollup(&self) -> &SmartRollupAddress {
        &self.inner.rollup
    }

    /// Events (inclusions, forgotten operations) from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn emit(&self, events: Vec<Event>) {
        for e in events {
            match &e {
                Event::Forgotten { id, op, reason } => {
                    tracing::warn!("Injector: forgetting {} ({id}): {reason}", op.describe());
                }
                Event::Included { op, .. } => {
                    let mut counts = self.inner.included_since_start.lock();
                    let n = counts.entry(op.kind()).or_insert(0);
                    *n = n.saturating_add(1);
                }
            }
            // No receiver is fine.
            let _ = self.inner.events.send(e);
        }
    }

    /// Queues an operation; it is on disk when this returns. A unique operation already
    /// known returns its id without being queued twice.
    ///
    /// # Errors
    /// [`InjectorError::Add`] when no worker injects its kind, [`InjectorError::Store`].
    pub fn add(
        &self,
        op: L1Operation,
        order: Option<i64>,
    ) -> Result<InjectorOperationId, InjectorError> {
        let mut st = self.inner.state.lock();
        let id = st.core.add(op, order)?;
        let events = st.persist()?;
        drop(st);
        self.emit(events);
        Ok(id)
    }

    /// A copy of an entry.
    pub fn entry(&self, id: &InjectorOperationId) -> Option<Entry> {
        self.inner.state.lock().core.get(id).cloned()
    }

    /// Operations queued or in flight (not yet included).
    pub fn total(&self) -> usize {
        self.inner
            .state
            .lock()
            .core
            .entries()
            .filter(|e| !matches!(e.state, State::Included { .. }))
            .count()
    }

    /// Applied inclusions of operations of `kind` seen since this process started.
    pub fn included_since_start(&self, kind: OperationKind) -> u64 {
        self.inner
            .included_since_start
            .lock()
            .get(&kind)
            .copied()
            .unwrap_or(0)
    }

    /// The queue sizes of each worker.
    pub fn worker_sizes(&self) -> Vec<WorkerSizes> {
        let st = self.inner.state.lock();
        let mut sizes: Vec<WorkerSizes> = st
            .core
            .workers()
            .iter()
            .enumerate()
            .map(|(index, w)| WorkerSizes {
                index,
                tags: w
                    .kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                queued: 0,
                injected: 0,
                included: 0,
            })
            .collect();
        for e in st.core.entries() {
            let Some(w) = st
                .core
                .worker_of(e.op.kind())
                .and_then(|i| sizes.get_mut(i))
            else {
                continue;
            };
            match e.state {
                State::Pending => w.queued += 1,
                State::Injected { .. } => w.injected += 1,
                State::Included { .. } => w.included += 1,
            }
        }
        sizes
    }

    /// `GET /local/injector/operation/<hash>/status` (docs/reference/octez-rollup-node.md §4.3):
    /// `unknown`, `pending_injection`, `injected` (with `layer1.operation_hash`,
    /// `operation_index`), `included` (with `layer1.block_hash`, `level`, `finalized`).
    pub fn status_json(&self, id: &InjectorOperationId) -> Value {
        let st = self.inner.state.lock();
        let Some(e) = st.core.get(id) else {
            return json!({"status": "unknown"});
        };
        match &e.state {
            State::Pending => json!({"status": "pending_injection", "operation": e.op.to_json()}),
            State::Injected { oph, index, .. } => json!({
                "status": "injected",
                "operation": e.op.to_json(),
                "layer1": {"operation_hash": oph.to_b58check(), "operation_index": index},
            }),
            State::Included {
                oph,
                index,
                block,
                level,
                ..
            } => json!({
                "status": "included",
                "operation": e.op.to_json(),
                "layer1": {
                    "operation_hash": oph.to_b58check(),
                    "operation_index": index,
                    "block_hash": block.to_b58check(),
                    "level": level,
                },
                "finalized": st
                    .head_level
                    .and_then(|h| h.distance_from(*level))
                    .is_some_and(|d| d >= 2),
                "cemented": false,
            }),
        }
    }

    /// `GET /admin/injector/queues[?tag=]` (§4.4): per worker, its tags and queued operations
    /// in injection order, each with `errors` when it failed before.
    pub fn queues_json(&self, tag: Option<OperationKind>) -> Value {
        let st = self.inner.state.lock();
        let mut out = Vec::new();
        for (w, tags) in st.core.workers().iter().enumerate() {
            if tag.is_some_and(|t| !tags.kinds.contains(&t)) {
                continue;
            }
            let queue: Vec<Value> = st
                .core
                .queue(w)
                .into_iter()
                .map(|e| {
                    let mut j = e.op.to_json();
                    if e.errors > 0 {
                        j["errors"] = json!({"count": e.errors, "last": e.last_error});
                    }
                    j
                })
                .collect();
            out.push(json!({
                "tags": tags.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                "queue": queue,
            }));
        }
        Value::Array(out)
    }

    /// `GET /admin/injector/queues/total` (§4.4).
    pub fn total_json(&self) -> Value {
        let st = self.inner.state.lock();
        let mut total = 0usize;
        let injectors: Vec<Value> = st
            .core
            .workers()
            .iter()
            .enumerate()
            .map(|(w, tags)| {
                let n = st.core.queue(w).len();
                total = total.saturating_add(n);
                json!({
                    "tags": tags.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                    "queue_size": n,
                })
            })
            .collect();
        json!({"injectors": injectors, "total": total})
    }

    /// `DELETE /admin/injector/queues` (§4.4): drops queued operations; returns how many.
    ///
    /// # Errors
    /// [`InjectorError::Store`].
    pub fn clear(
        &self,
        tag: Option<OperationKind>,
        order_below: Option<i64>,
        drop_no_order: bool,
    ) -> Result<usize, InjectorError> {
        let mut st = self.inner.state.lock();
        let n = st.core.clear(tag, order_below, drop_no_order);
        let events = st.persist()?;
        drop(st);
        self.emit(events);
        Ok(n)
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut Core) -> T) -> Result<T, InjectorError> {
        let mut st = self.inner.state.lock();
        let r = f(&mut st.core);
        let events = st.persist()?;
        drop(st);
        self.emit(events);
        Ok(r)
    }

    /// A new L1 head: reads the blocks since the operations in flight were injected, records
    /// inclusions (and failures), puts back in the queue what a reorg removed, then injects
    /// one batch per worker. Errors of one worker (L1 or signer down) are logged and retried
    /// at the next head.
    ///
    /// # Errors
    /// [`InjectorError`] when tracking failed (nothing was injected then).
    pub async fn on_new_head(&self, head: &BlockHeader) -> Result<(), InjectorError> {
        let mut cache = self.inner.head.lock().await;
        self.inner.state.lock().head_level = Some(head.shell.level);
        self.track(&mut cache, head).await?;
        for w in 0..self.inner.workers.len() {
            if let Err(e) = self.inject_worker(&mut cache, w, head).await {
                tracing::warn!(
                    "Injector for {}: {e}; will retry at the next head",
                    self.inner.workers[w].signer.public_key_hash()
                );
            }
        }
        Ok(())
    }

    async fn track(&self, cache: &mut HeadCache, head: &BlockHeader) -> Result<(), InjectorError> {
        let level = head.shell.level;
        // What is in flight or included.
        let (min_level, injected) = {
            let st = self.inner.state.lock();
            let mut min_level: Option<Level> = None;
            let mut injected: BTreeMap<OperationHash, (Level, bool, u64, usize)> = BTreeMap::new();
            for e in st.core.entries() {
                match &e.state {
                    State::Injected {
                        oph,
                        level,
                        op_counter,
                        confirmed,
                        ..
                    } => {
                        min_level = Some(min_level.map_or(*level, |m| m.min(*level)));
                        let w = st.core.worker_of(e.op.kind()).unwrap_or(0);
                        injected.insert(*oph, (*level, *confirmed, *op_counter, w));
                    }
                    State::Included { level, .. } => {
                        min_level = Some(min_level.map_or(*level, |m| m.min(*level)));
                    }
                    State::Pending => {}
                }
            }
            (min_level, injected)
        };
        let Some(min_level) = min_level else {
            return self.with_state(|c| c.on_head(level, |_| None));
        };
        // The chain from the head down to the oldest tracked level, within the injection ttl
        // (older blocks are final: Tenderbake finalizes after two blocks).
        let window = self
            .inner
            .state
            .lock()
            .core
            .rules()
            .injection_ttl
            .max(64)
            .saturating_add(2);
        // 0 when the oldest tracked level is above the head (a reorganisation).
        let depth = level.distance_from(min_level).unwrap_or(0).min(window);
        let length = depth.saturating_add(1);
        let hashes = self.inner.l1.ancestors(CHAIN, &head.hash, length).await?;
        let at = |l: Level| -> Option<BlockHash> {
            let i = usize::try_from(level.distance_from(l)?).ok()?;
            hashes.get(i).copied()
        };
        // Find the operations in flight in the blocks since their injection.
        let min_injected = injected.values().map(|v| v.0).min();
        let mut found: BTreeMap<OperationHash, (BlockHash, Level)> = BTreeMap::new();
        if let Some(min_injected) = min_injected {
            cache.op_hashes.retain(|_, (l, _)| *l > min_injected);
            let mut next = min_injected.succ();
            while let Some(l) = next
                && l <= level
            {
                if let Some(b) = at(l) {
                    if let std::collections::hash_map::Entry::Vacant(v) = cache.op_hashes.entry(b) {
                        let ops = self
                            .inner
                            .l1
                            .operation_hashes(CHAIN, &b.to_b58check(), 3)
                            .await?;
                        v.insert((l, ops));
                    }
                    if let Some((_, ops)) = cache.op_hashes.get(&b) {
                        for h in ops {
                            if injected.contains_key(h) {
                                found.insert(*h, (b, l));
                            }
                        }
                    }
                }
                next = l.succ();
            }
        }
        // Outcomes from the receipts.
        let mut outcomes: Vec<(OperationHash, BlockHash, Level, Vec<Outcome>)> = Vec::new();
        let mut blocks: BTreeMap<BlockHash, Vec<OperationHash>> = BTreeMap::new();
        for (h, (b, _)) in &found {
            blocks.entry(*b).or_default().push(*h);
        }
        for (b, hs) in blocks {
            let block = self.inner.l1.block(CHAIN, &b.to_b58check()).await?;
            for op in block.operations.get(3).into_iter().flatten() {
                if hs.contains(&op.hash) {
                    let list = op
                        .contents
                        .iter()
                        .map(|c| match c {
                            Content::Manager(m) => outcome_of(m.status, &m.errors),
                            Content::Other { kind } => Outcome::Failed {
                                errors: vec![format!("unexpected {kind} content")],
                                permanent: true,
                            },
                        })
                        .collect();
                    outcomes.push((op.hash, b, block.header.level, list));
                }
            }
        }
        // Operations in flight not found in a block are looked up when the injection was never
        // answered (crash, reorg) or when a block went by without them: still in the mempool,
        // consumed by a block (the account counter reached theirs), or gone.
        let lookup: Vec<(OperationHash, u64, usize, bool)> = injected
            .iter()
            .filter(|(h, v)| {
                !found.contains_key(*h)
                    && (!v.1 || level.distance_from(v.0).is_some_and(|d| d >= 2))
            })
            .map(|(h, v)| (*h, v.2, v.3, v.1))
            .collect();
        let mut gone = Vec::new();
        let mut in_mempool = Vec::new();
        if !lookup.is_empty() {
            // Mempool first, then the counter: an operation leaving the mempool for a block
            // in between is seen by the counter.
            let mempool = self.inner.l1.mempool_operation_hashes(CHAIN).await?;
            for (h, op_counter, w, confirmed) in lookup {
                if mempool.contains(&h) {
                    in_mempool.push(h);
                    continue;
                }
                let pkh = self.inner.workers[w].signer.public_key_hash();
                let counter = self.inner.l1.counter(CHAIN, "head", &pkh).await?;
                if counter < op_counter {
                    gone.push((h, confirmed));
                }
            }
        }
        self.with_state(|c| {
            for (h, b, l, list) in &outcomes {
                for (index, id) in c.injected_as(h) {
                    let outcome = list
                        .get(index as usize)
                        .cloned()
                        .unwrap_or(Outcome::Failed {
                            errors: vec!["content missing from the included operation".into()],
                            permanent: false,
                        });
                    c.on_included(&id, *b, *l, &outcome);
                }
            }
            for h in &in_mempool {
                c.mark_confirmed(h);
            }
            for (h, confirmed) in &gone {
                for (_, id) in c.injected_as(h) {
                    if *confirmed {
                        c.register_error(
                            &id,
                            &format!("{h} left the L1 mempool without being included"),
                        );
                    } else {
                        c.requeue(&id);
                    }
                }
                tracing::info!(
                    "Injector: {h} is neither in the L1 mempool nor in a block; queued again"
                );
            }
            c.on_head(level, at);
        })
    }

    async fn constants(&self, cache: &mut HeadCache) -> Result<(Limits, ChainId), L1Error> {
        let limits = match cache.constants {
            Some(l) => l,
            None => {
                let c = self.inner.l1.constants(CHAIN, "head").await?;
                let l = Limits {
                    hard_gas: c.hard_gas_limit_per_operation,
                    hard_gas_per_block: c.hard_gas_limit_per_block,
                    hard_storage: c.hard_storage_limit_per_operation,
                    cost_per_byte: c.cost_per_byte.0,
                };
                cache.constants = Some(l);
                l
            }
        };
        let chain_id = match cache.chain_id {
            Some(id) => id,
            None => {
                let id = self.inner.l1.chain_id().await?;
                cache.chain_id = Some(id);
                id
            }
        };
        Ok((limits, chain_id))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        w: usize,
        f: impl FnOnce(&(dyn signer::Signer + Send + Sync)) -> Result<T, signer::SignerError>
        + Send
        + 'static,
    ) -> Result<T, InjectorError> {
        let signer = self.inner.workers[w].signer.clone();
        let pkh = signer.public_key_hash();
        tokio::task::spawn_blocking(move || f(signer.as_ref()))
            .await
            .map_err(|e| InjectorError::Task {
                pkh,
                message: e.to_string(),
            })?
            .map_err(|source| InjectorError::Signer { pkh, source })
    }

    async fn inject_worker(
        &self,
        cache: &mut HeadCache,
        w: usize,
        head: &BlockHeader,
    ) -> Result<(), InjectorError> {
        let pkh = self.inner.workers[w].signer.public_key_hash();
        let mut cap = usize::MAX;
        // Operations that failed in this head wait for the next one.
        let mut skip: Vec<InjectorOperationId> = Vec::new();
        // Each round drops what made the previous one fail; bounded by the batch size.
        for _ in 0..64 {
            let batch: Vec<(InjectorOperationId, L1Operation)> = {
                let mut st = self.inner.state.lock();
                if st.core.in_flight(w) {
                    return Ok(());
                }
                let (ids, too_large) = st.core.next_batch(w, &skip, |op| content_size(op, pkh));
                for id in &too_large {
                    st.core
                        .forget(id, "larger than the 32 KiB limit of an L1 operation");
                }
                let events = st.persist()?;
                let batch = ids
                    .into_iter()
                    .take(cap)
                    .filter_map(|id| st.core.get(&id).map(|e| (id, e.op.clone())))
                    .collect();
                drop(st);
                self.emit(events);
                batch
            };
            if batch.is_empty() {
                return Ok(());
            }
            match self.inject_batch(cache, w, pkh, head, &batch).await? {
                Round::Done => return Ok(()),
                Round::Again(failed) => {
                    skip.extend(failed);
                    cap = usize::MAX;
                }
                Round::Halve => cap = (batch.len() / 2).max(1),
            }
        }
        Ok(())
    }

    async fn inject_batch(
        &self,
        cache: &mut HeadCache,
        w: usize,
        pkh: PublicKeyHash,
        head: &BlockHeader,
        batch: &[(InjectorOperationId, L1Operation)],
    ) -> Result<Round, InjectorError> {
        // A publish conflicting with a commitment already signed is dropped before anything
        // else (checked again, and recorded, right before signing).
        let publishes: Vec<(
            usize,
            (SmartRollupAddress, Level, tezos_types::CommitmentHash),
        )> = batch
            .iter()
            .enumerate()
            .filter_map(|(i, (_, op))| match op {
                L1Operation::Publish { rollup, commitment } => {
                    Some((i, (*rollup, commitment.inbox_level, commitment.hash())))
                }
                _ => None,
            })
            .collect();
        let list: Vec<_> = publishes.iter().map(|(_, p)| *p).collect();
        if !list.is_empty() {
            let mut st = self.inner.state.lock();
            let conflicts = st.store.conflicts(&list)?;
            for (j, conflict) in &conflicts {
                tracing::error!("{conflict}");
                st.core
                    .forget(&batch[publishes[*j].0].0, &conflict.to_string());
            }
            let events = st.persist()?;
            drop(st);
            self.emit(events);
            if !conflicts.is_empty() {
                return Ok(Round::Again(Vec::new()));
            }
        }
        let l1 = &self.inner.l1;
        let head_hash = head.hash.to_b58check();
        let (limits, chain_id) = self.constants(cache).await?;
        let Limits {
            hard_gas,
            hard_gas_per_block,
            hard_storage,
            cost_per_byte,
        } = limits;
        let counter = l1.counter(CHAIN, &head_hash, &pkh).await?;
        let mut contents = Vec::new();
        if l1.manager_key(CHAIN, &head_hash, &pkh).await?.is_none() {
            let (public_key, proof) = self
                .blocking(w, |s| Ok((s.public_key()?, s.reveal_proof()?)))
                .await?;
            contents.push(OperationContent::Reveal { public_key, proof });
        }
        let first = u32::try_from(contents.len()).unwrap_or(0);
        contents.extend(batch.iter().map(|(_, op)| op.to_content()));
        let branch = match l1.block_hash(CHAIN, &format!("{head_hash}~2")).await {
            Ok(b) => b,
            Err(_) => head.hash,
        };
        // Provisional gas of each content for the simulation: the per-operation limit, within
        // the block's limit shared by the batch.
        let share = u64::try_from(contents.len())
            .ok()
            .filter(|n| *n > 0)
            .map_or(hard_gas, |n| (hard_gas_per_block / n).min(hard_gas));
        let mut ops: Vec<ManagerOperation> = Vec::with_capacity(contents.len());
        for (i, content) in contents.into_iter().enumerate() {
            let c = counter
                .checked_add(1)
                .and_then(|c| c.checked_add(u64::try_from(i).ok()?))
                .ok_or_else(|| L1Error::Decode {
                    url: "counter".into(),
                    path: ".".into(),
                    message: format!("counter {counter} overflows"),
                    snippet: String::new(),
                })?;
            ops.push(ManagerOperation {
                content,
                source: pkh,
                fee: Mutez(0),
                counter: c,
                gas_limit: share,
                storage_limit: hard_storage,
            });
        }
        let unsigned = UnsignedOperation {
            branch,
            contents: ops,
        };
        let sim = match l1
            .simulate_operation(CHAIN, &head_hash, &unsigned, &chain_id)
            .await
        {
            Ok(s) => s,
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => {
                if batch.len() > 1 {
                    tracing::warn!(
                        "Injector: simulation of {} operations refused ({e}); halving the batch",
                        batch.len()
                    );
                    return Ok(Round::Halve);
                }
                self.with_state(|c| {
                    c.register_error(&batch[0].0, &format!("simulation refused: {e}"))
                })?;
                return Ok(Round::Again(vec![batch[0].0]));
            }
        };
        if sim.contents.len() != unsigned.contents.len() {
            return Err(L1Error::Decode {
                url: "simulate_operation".into(),
                path: ".contents".into(),
                message: format!(
                    "expected {} contents, got {}",
                    unsigned.contents.len(),
                    sim.contents.len()
                ),
                snippet: String::new(),
            }
            .into());
        }
        // Failed contents leave the batch with an error.
        let failed: Vec<(InjectorOperationId, String)> = batch
            .iter()
            .zip(sim.contents.iter().skip(first as usize))
            .filter(|(_, s)| s.status == ResultStatus::Failed)
            .map(|((id, _), s)| (*id, format!("simulation failed: {}", error_ids(&s.errors))))
            .collect();
        if first > 0 && sim.contents[0].status == ResultStatus::Failed {
            return Err(InjectorError::L1(L1Error::Decode {
                url: "simulate_operation".into(),
                path: ".contents[0]".into(),
                message: format!(
                    "the reveal of {pkh} failed: {}",
                    error_ids(&sim.contents[0].errors)
                ),
                snippet: String::new(),
            }));
        }
        if !failed.is_empty() {
            // Cementations skipped after a failed one are bound to fail: forgotten rather
            // than simulated again one by one (the node hands them over again at its next
            // head; Octez `injector.ml` `retry_unsuccessful_operation`, `Skipped`).
            let cement_failed = batch.iter().any(|(id, op)| {
                op.kind() == OperationKind::Cement && failed.iter().any(|f| f.0 == *id)
            });
            let doomed: Vec<InjectorOperationId> = if cement_failed {
                batch
                    .iter()
                    .zip(sim.contents.iter().skip(first as usize))
                    .filter(|((_, op), s)| {
                        op.kind() == OperationKind::Cement && s.status == ResultStatus::Skipped
                    })
                    .map(|((id, _), _)| *id)
                    .collect()
            } else {
                Vec::new()
            };
            self.with_state(|c| {
                for (id, msg) in &failed {
                    c.register_error(id, msg);
                }
                for id in &doomed {
                    c.forget(id, "skipped after a failed cementation: bound to fail");
                }
            })?;
            let mut out: Vec<InjectorOperationId> = failed.into_iter().map(|(id, _)| id).collect();
            out.extend(doomed);
            return Ok(Round::Again(out));
        }
        // Limits, caps and fees.
        let mut unsigned = unsigned;
        let mut refused: Vec<(InjectorOperationId, String)> = Vec::new();
        for (i, (op, s)) in unsigned.contents.iter_mut().zip(&sim.contents).enumerate() {
            let kind = i
                .checked_sub(first as usize)
                .and_then(|j| batch.get(j))
                .map(|(_, o)| o.kind());
            let guard = match kind {
                Some(k) => fees::BASE_GAS_SAFETY.saturating_add(k.safety_guard()),
                None => 0,
            };
            op.gas_limit = fees::gas_limit(s.consumed_milligas, guard, hard_gas);
            op.storage_limit = fees::storage_limit(s.paid_storage_size_diff, hard_storage);
            let p = self
                .inner
                .fees
                .get(kind.unwrap_or(OperationKind::AddMessages));
            let extra = if i == 0 {
                32u64.saturating_add(fees::signature_size(&pkh))
            } else {
                0
            };
            let fee = fees::set_fee(op, &p, extra).unwrap_or(u64::MAX);
            let burn = s.paid_storage_size_diff.saturating_mul(cost_per_byte);
            if let (Some(k), Some((id, _))) = (
                kind,
                i.checked_sub(first as usize).and_then(|j| batch.get(j)),
            ) {
                if fee > p.fee_cap {
                    refused.push((*id, format!("fee {fee} mutez exceeds the {k} fee cap of {} mutez (fee-parameters.{k}.fee-cap)", p.fee_cap)));
                } else if burn > p.burn_cap {
                    refused.push((*id, format!("burn {burn} mutez exceeds the {k} burn cap of {} mutez (fee-parameters.{k}.burn-cap)", p.burn_cap)));
                }
            }
        }
        if !refused.is_empty() {
            self.with_state(|c| {
                for (id, msg) in &refused {
                    c.register_error(id, msg);
                }
            })?;
            return Ok(Round::Again(
                refused.into_iter().map(|(id, _)| id).collect(),
            ));
        }
        // Signing protection (recorded in one transaction), then signature.
        if !list.is_empty() {
            let mut st = self.inner.state.lock();
            let conflicts = st.store.protect(&list)?;
            for (j, conflict) in &conflicts {
                let (i, _) = publishes[*j];
                tracing::error!("{conflict}");
                st.core.forget(&batch[i].0, &conflict.to_string());
            }
            let events = st.persist()?;
            drop(st);
            self.emit(events);
            if !conflicts.is_empty() {
                return Ok(Round::Again(Vec::new()));
            }
        }
        let mut to_sign = Watermark::GenericOperation.to_bytes();
        to_sign.extend_from_slice(&unsigned.to_bin());
        let signature = self.blocking(w, move |s| s.sign(&to_sign)).await?;
        let signed = unsigned.with_signature(signature);
        let oph = signed.hash();
        let ids: Vec<InjectorOperationId> = batch.iter().map(|(id, _)| *id).collect();
        // Recorded before it is sent; abandoned if the queue changed meanwhile.
        let recorded = self.with_state(|c| {
            if ids
                .iter()
                .any(|id| c.get(id).is_none_or(|e| e.state != State::Pending))
            {
                return false;
            }
            let first_counter = counter.saturating_add(1).saturating_add(u64::from(first));
            c.mark_injected(&ids, oph, branch, head.shell.level, first, first_counter);
            true
        })?;
        if !recorded {
            return Ok(Round::Done);
        }
        match l1.inject_operation(CHAIN, &signed.to_bin()).await {
            Ok(h) => {
                if h != oph {
                    tracing::warn!(
                        "Injector: the L1 node hashed the injected operation {h}, expected {oph}"
                    );
                }
                tracing::info!(
                    "Injector: injected {oph} with {} operation(s) from {pkh}: {}",
                    ids.len(),
                    batch
                        .iter()
                        .map(|(_, o)| o.describe())
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                self.with_state(|c| c.mark_confirmed(&oph))?;
            }
            Err(e) if e.status().is_some() => {
                // Refused by the L1 node: back to the queue with the error.
                tracing::warn!("Injector: injection of {oph} refused: {e}");
                self.with_state(|c| {
                    for id in &ids {
                        c.register_error(id, &format!("injection refused: {e}"));
                    }
                })?;
            }
            Err(e) => {
                // Unknown whether the node received it: the next head looks it up.
                tracing::warn!(
                    "Injector: injection of {oph} unanswered ({e}); checking at the next head"
                );
            }
        }
        Ok(Round::Done)
    }
}

/// L1 limits read once from the constants.
#[derive(Debug, Clone, Copy)]
struct Limits {
    hard_gas: u64,
    hard_gas_per_block: u64,
    hard_storage: u64,
    cost_per_byte: u64,
}

/// What an injection attempt asks of the next one in the same head.
enum Round {
    /// Nothing more this head.
    Done,
    /// Try again without these operations.
    Again(Vec<InjectorOperationId>),
    /// The L1 refused the batch as a whole: try half of it.
    Halve,
}
