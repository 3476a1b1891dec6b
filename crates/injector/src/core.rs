//! The injector's pure core: queues, batches, the status machine, retry/forget rules and
//! reorgs (docs/reference/octez-rollup-node.md §9; Octez `src/lib_injector/injector_functor.ml`,
//! `src/lib_smart_rollup_node/injector.ml`). No I/O: the shell persists what [`Core::take_dirty`]
//! returns after every change.

use std::collections::{BTreeMap, BTreeSet};

use l1_operation::{L1Operation, OperationKind, Priority, injector_id};
use tezos_types::hash::InjectorOperationId;
use tezos_types::{BlockHash, Level, OperationHash, PublicKeyHash};

/// Largest manager operation (Octez `max_operation_data_length`, 32 KiB).
pub const MAX_OPERATION_SIZE: usize = 32 * 1024;

/// Bytes of a signed batch besides its contents: 32-byte branch and a signature (≤ 96 + 2).
pub const BATCH_OVERHEAD: usize = 32 + 98;

/// Where an operation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Queued.
    Pending,
    /// Signed into L1 operation `oph` (content `index`, manager counter `op_counter`) at head
    /// `level`; `confirmed` once the L1 node accepted the injection.
    Injected {
        /// L1 operation hash.
        oph: OperationHash,
        /// Branch of the batch.
        branch: BlockHash,
        /// Head level when injected.
        level: Level,
        /// Index of the content in the batch.
        index: u32,
        /// Manager counter of the content.
        op_counter: u64,
        /// Whether `POST /injection/operation` answered.
        confirmed: bool,
    },
    /// Included and applied in `block` at `level`.
    Included {
        /// L1 operation hash.
        oph: OperationHash,
        /// Branch of the batch.
        branch: BlockHash,
        /// Index of the content in the batch.
        index: u32,
        /// Manager counter of the content.
        op_counter: u64,
        /// Block.
        block: BlockHash,
        /// Its level.
        level: Level,
    },
}

/// One operation of the injector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Injector id.
    pub id: InjectorOperationId,
    /// The operation.
    pub op: L1Operation,
    /// Explicit order.
    pub order: Option<i64>,
    /// Insertion counter.
    pub counter: u64,
    /// Errors so far.
    pub errors: u32,
    /// Last error.
    pub last_error: Option<String>,
    /// State.
    pub state: State,
}

impl Entry {
    /// Queue position.
    pub fn priority(&self) -> Priority {
        Priority {
            kind: self.op.kind(),
            order: self.order,
            counter: self.counter,
        }
    }
}

/// A worker: one signer and the kinds it injects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerTags {
    /// The signer.
    pub signer: PublicKeyHash,
    /// Kinds.
    pub kinds: Vec<OperationKind>,
}

/// Result status of an included content (block receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied.
    Applied,
    /// Backtracked or skipped: not at fault.
    BacktrackedOrSkipped,
    /// Failed with these error ids; `permanent` when one is of kind permanent/outdated.
    Failed {
        /// Error ids.
        errors: Vec<String>,
        /// Whether the trace is permanent (or outdated).
        permanent: bool,
    },
}

/// What happened to an operation, for the node (events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Included and applied in an L1 block.
    Included {
        /// Injector id.
        id: InjectorOperationId,
        /// The operation.
        op: L1Operation,
        /// L1 operation hash.
        oph: OperationHash,
        /// Block.
        block: BlockHash,
        /// Level.
        level: Level,
    },
    /// Dropped: never to be injected again (failed permanently, too many attempts, never
    /// included, refused by the signing protection, cleared).
    Forgotten {
        /// Injector id.
        id: InjectorOperationId,
        /// The operation.
        op: L1Operation,
        /// Why.
        reason: String,
    },
}

/// Limits of the retry/forget rules (node_config::InjectorConfig).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Errors after which an operation is discarded.
    pub attempts: u32,
    /// Blocks after which an injected, never included operation is forgotten.
    pub injection_ttl: u32,
    /// Blocks an included operation is remembered.
    pub retention_period: u32,
    /// Largest number of operations in a batch.
    pub max_batch_length: Option<usize>,
}

impl Rules {
    /// From the `injector` section of config.json.
    pub fn from_config(c: &node_config::InjectorConfig) -> Self {
        Self {
            attempts: u32::from(c.attempts),
            injection_ttl: u32::from(c.injection_ttl),
            retention_period: u32::from(c.retention_period),
            max_batch_length: c
                .max_batch_length
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0),
        }
    }
}

/// All operations of an injector and the workers' tags.
#[derive(Debug, Clone)]
pub struct Core {
    rules: Rules,
    workers: Vec<WorkerTags>,
    ops: BTreeMap<InjectorOperationId, Entry>,
    next_counter: u64,
    dirty: BTreeSet<InjectorOperationId>,
    events: Vec<Event>,
}

/// Why an operation cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// No worker injects this kind.
    #[error("no operator key injects {0} operations (check the mode and the operators)")]
    NoWorker(OperationKind),
}

impl Core {
    /// A core over persisted entries.
    pub fn new(
        rules: Rules,
        workers: Vec<WorkerTags>,
        entries: Vec<Entry>,
        next_counter: u64,
    ) -> Self {
        let next_counter = entries
            .iter()
            .map(|e| e.counter.saturating_add(1))
            .fold(next_counter, u64::max);
        Self {
            rules,
            workers,
            ops: entries.into_iter().map(|e| (e.id, e)).collect(),
            next_counter,
            dirty: BTreeSet::new(),
            events: Vec::new(),
        }
    }

    /// The rules.
    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// The workers.
    pub fn workers(&self) -> &[WorkerTags] {
        &self.workers
    }

    /// Next insertion counter.
    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    /// The worker injecting `kind` (the first listing it).
    pub fn worker_of(&self, kind: OperationKind) -> Option<usize> {
        self.workers.iter().position(|w| w.kinds.contains(&kind))
    }

    /// Ids changed since the last call (to upsert, or delete when [`Self::get`] is `None`).
    pub fn take_dirty(&mut self) -> BTreeSet<InjectorOperationId> {
        std::mem::take(&mut self.dirty)
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// An entry.
    pub fn get(&self, id: &InjectorOperationId) -> Option<&Entry> {
        self.ops.get(id)
    }

    /// All entries.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.ops.values()
    }

    /// Queues an operation (`add_pending_operation`). A unique operation already known keeps
    /// its id and state (it is not queued twice).
    ///
    /// # Errors
    /// [`AddError::NoWorker`] when no worker injects the kind.
    pub fn add(
        &mut self,
        op: L1Operation,
        order: Option<i64>,
    ) -> Result<InjectorOperationId, AddError> {
        let kind = op.kind();
        if self.worker_of(kind).is_none() {
            return Err(AddError::NoWorker(kind));
        }
        let counter = self.next_counter;
        let id = injector_id(&op, counter);
        if self.ops.contains_key(&id) {
            return Ok(id);
        }
        self.next_counter = counter.saturating_add(1);
        self.ops.insert(
            id,
            Entry {
                id,
                op,
                order,
                counter,
                errors: 0,
                last_error: None,
                state: State::Pending,
            },
        );
        self.dirty.insert(id);
        Ok(id)
    }

    /// Pending operations of a worker, in priority order.
    pub fn queue(&self, worker: usize) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self
            .ops
            .values()
            .filter(|e| e.state == State::Pending && self.worker_of(e.op.kind()) == Some(worker))
            .collect();
        v.sort_by_key(|e| e.priority());
        v
    }

    /// Whether a worker has an operation injected but not yet included (its counter is in
    /// flight: the next batch waits, so that counters never collide).
    pub fn in_flight(&self, worker: usize) -> bool {
        self.ops.values().any(|e| {
            matches!(e.state, State::Injected { .. }) && self.worker_of(e.op.kind()) == Some(worker)
        })
    }

    /// The next batch of a worker (ignoring `skip`): queued operations in priority order while the batch (each
    /// content measured by `size`) stays within [`MAX_OPERATION_SIZE`] and `max_batch_length`.
    /// Returns the batch and the ids of operations too large to be ever injected alone.
    pub fn next_batch(
        &self,
        worker: usize,
        skip: &[InjectorOperationId],
        size: impl Fn(&L1Operation) -> usize,
    ) -> (Vec<InjectorOperationId>, Vec<InjectorOperationId>) {
        let mut batch = Vec::new();
        let mut too_large = Vec::new();
        let mut total = BATCH_OVERHEAD;
        let max_len = self.rules.max_batch_length.unwrap_or(usize::MAX);
        // Once an operation does not fit, later ones wait (priority order is kept); the scan
        // goes on only to find operations that can never fit.
        let mut full = false;
        for e in self.queue(worker) {
            if skip.contains(&e.id) {
                continue;
            }
            let s = size(&e.op);
            if BATCH_OVERHEAD.saturating_add(s) > MAX_OPERATION_SIZE {
                too_large.push(e.id);
                continue;
            }
            if full || batch.len() >= max_len {
                full = true;
                continue;
            }
            match total.checked_add(s) {
                Some(t) if t <= MAX_OPERATION_SIZE => {
                    total = t;
                    batch.push(e.id);
                }
                _ => full = true,
            }
        }
        (batch, too_large)
    }

    /// Records the signed batch: `ids[i]` is content `first_index + i` with manager counter
    /// `first_counter + i`.
    pub fn mark_injected(
        &mut self,
        ids: &[InjectorOperationId],
        oph: OperationHash,
        branch: BlockHash,
        level: Level,
        first_index: u32,
        first_counter: u64,
    ) {
        for ((id, index), op_counter) in ids.iter().zip(first_index..).zip(first_counter..) {
            if let Some(e) = self.ops.get_mut(id) {
                e.state = State::Injected {
                    oph,
                    branch,
                    level,
                    index,
                    op_counter,
                    confirmed: false,
                };
                self.dirty.insert(*id);
            }
        }
    }

    /// The L1 node accepted the injection of `oph`.
    pub fn mark_confirmed(&mut self, oph: &OperationHash) {
        for e in self.ops.values_mut() {
            if let State::Injected {
                oph: h, confirmed, ..
            } = &mut e.state
                && h == oph
            {
                *confirmed = true;
                self.dirty.insert(e.id);
            }
        }
    }

    /// An included operation whose block left the chain: injected again, unconfirmed, from the
    /// level before its former block (so that the blocks of the new branch are searched).
    pub fn unconfirm(&mut self, id: &InjectorOperationId) {
        if let Some(e) = self.ops.get_mut(id)
            && let State::Included {
                oph,
                branch,
                index,
                op_counter,
                level,
                ..
            } = e.state
        {
            e.state = State::Injected {
                oph,
                branch,
                level: level.pred().unwrap_or(Level::ZERO),
                index,
                op_counter,
                confirmed: false,
            };
            self.dirty.insert(*id);
        }
    }

    /// Puts an operation back in the queue without counting an error (injection never
    /// sent).
    pub fn requeue(&mut self, id: &InjectorOperationId) {
        if let Some(e) = self.ops.get_mut(id) {
            e.state = State::Pending;
            self.dirty.insert(*id);
        }
    }

    /// Registers an error (`register_error`): back to the queue, or discarded once it has
    /// failed `attempts` times. Returns whether it was discarded.
    pub fn register_error(&mut self, id: &InjectorOperationId, error: &str) -> bool {
        let Some(e) = self.ops.get_mut(id) else {
            return false;
        };
        e.errors = e.errors.saturating_add(1);
        e.last_error = Some(error.to_owned());
        e.state = State::Pending;
        self.dirty.insert(*id);
        if e.errors >= self.rules.attempts {
            let reason = format!("failed {} times, last error: {error}", e.errors);
            self.forget(id, &reason);
            return true;
        }
        false
    }

    /// Drops an operation for good.
    pub fn forget(&mut self, id: &InjectorOperationId, reason: &str) {
        if let Some(e) = self.ops.remove(id) {
            self.dirty.insert(*id);
            self.events.push(Event::Forgotten {
                id: *id,
                op: e.op,
                reason: reason.to_owned(),
            });
        }
    }

    /// Operations injected as `oph` (by content index).
    pub fn injected_as(&self, oph: &OperationHash) -> Vec<(u32, InjectorOperationId)> {
        self.ops
            .values()
            .filter_map(|e| match &e.state {
                State::Injected { oph: h, index, .. } if h == oph => Some((*index, e.id)),
                _ => None,
            })
            .collect()
    }

    /// Content `index` of `oph` was included in `block` at `level` with `outcome`: applied ⇒
    /// included; backtracked/skipped ⇒ retried; failed ⇒ forgotten for publish, cement and
    /// execute_outbox_message (the node derives them again) and for permanent errors, retried
    /// otherwise (`injector.ml` `retry_unsuccessful_operation`).
    pub fn on_included(
        &mut self,
        id: &InjectorOperationId,
        block: BlockHash,
        level: Level,
        outcome: &Outcome,
    ) {
        let Some(e) = self.ops.get_mut(id) else {
            return;
        };
        let State::Injected {
            oph,
            index,
            branch,
            op_counter,
            ..
        } = e.state.clone()
        else {
            return;
        };
        match outcome {
            Outcome::Applied => {
                e.state = State::Included {
                    oph,
                    branch,
                    index,
                    op_counter,
                    block,
                    level,
                };
                self.dirty.insert(*id);
                self.events.push(Event::Included {
                    id: *id,
                    op: e.op.clone(),
                    oph,
                    block,
                    level,
                });
            }
            Outcome::BacktrackedOrSkipped => {
                self.register_error(id, &format!("backtracked or skipped in {oph}"));
            }
            Outcome::Failed { errors, permanent } => {
                let msg = format!("failed in {oph} at level {level}: {}", errors.join(", "));
                let kind = e.op.kind();
                let forget = *permanent
                    || matches!(
                        kind,
                        OperationKind::Publish
                            | OperationKind::Cement
                            | OperationKind::ExecuteOutboxMessage
                    );
                if forget {
                    self.forget(id, &msg);
                } else {
                    self.register_error(id, &msg);
                }
            }
        }
    }

    /// Per head: included operations whose block is no longer in the chain (`chain(level)`
    /// gives the chain's block at a level, `None` when unknown) are in flight again, not
    /// confirmed (the L1 node put them back in its mempool, or dropped them: the shell looks
    /// them up before injecting them again, as after a restart); injected
    /// operations older than `injection_ttl` are forgotten; included ones older than
    /// `retention_period` are dropped.
    pub fn on_head(&mut self, head_level: Level, chain: impl Fn(Level) -> Option<BlockHash>) {
        let mut requeue = Vec::new();
        let mut expired = Vec::new();
        let mut retired = Vec::new();
        for e in self.ops.values() {
            match &e.state {
                State::Included { block, level, .. } => {
                    if chain(*level).is_some_and(|b| b != *block) || *level > head_level {
                        requeue.push(e.id);
                    } else if head_level
                        .distance_from(*level)
                        .is_some_and(|d| d > self.rules.retention_period)
                    {
                        retired.push(e.id);
                    }
                }
                State::Injected { level, .. }
                    if head_level
                        .distance_from(*level)
                        .is_some_and(|d| d > self.rules.injection_ttl) =>
                {
                    expired.push(e.id);
                }
                _ => {}
            }
        }
        for id in requeue {
            self.unconfirm(&id);
        }
        for id in expired {
            let ttl = self.rules.injection_ttl;
            self.forget(&id, &format!("never included in {ttl} blocks"));
        }
        for id in retired {
            if self.ops.remove(&id).is_some() {
                self.dirty.insert(id);
            }
        }
    }

    /// `DELETE /admin/injector/queues`: drops queued (pending) operations of the workers
    /// injecting `tag` (all workers when `None`) whose order is below `order_below` (all when
    /// `None`), and those without order when `drop_no_order`. Returns how many were dropped.
    pub fn clear(
        &mut self,
        tag: Option<OperationKind>,
        order_below: Option<i64>,
        drop_no_order: bool,
    ) -> usize {
        let workers: Vec<usize> = (0..self.workers.len())
            .filter(|w| tag.is_none_or(|t| self.workers[*w].kinds.contains(&t)))
            .collect();
        let victims: Vec<InjectorOperationId> = self
            .ops
            .values()
            .filter(|e| e.state == State::Pending)
            .filter(|e| {
                self.worker_of(e.op.kind())
                    .is_some_and(|w| workers.contains(&w))
            })
            .filter(|e| match (order_below, e.order) {
                (None, _) => true,
                (Some(b), Some(o)) => o < b,
                (Some(_), None) => drop_no_order,
            })
            .map(|e| e.id)
            .collect();
        for id in &victims {
            self.forget(id, "cleared from the injector queue");
        }
        victims.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(v: i32) -> Level {
        Level::new(v).unwrap()
    }
    use tezos_types::{Commitment, CommitmentHash, SmartRollupAddress, StateHash};

    fn rollup() -> SmartRollupAddress {
        "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap()
    }
    fn pkh() -> PublicKeyHash {
        "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap()
    }
    fn publish(level: i32) -> L1Operation {
        L1Operation::Publish {
            rollup: rollup(),
            commitment: Commitment {
                compressed_state: StateHash::ZERO,
                inbox_level: tezos_types::Level::new(level).unwrap(),
                predecessor: CommitmentHash::ZERO,
                number_of_ticks: 1,
            },
        }
    }
    fn cement() -> L1Operation {
        L1Operation::Cement {
            rollup: rollup(),
            commitment: CommitmentHash::ZERO,
        }
    }
    fn msgs(n: usize, len: usize) -> L1Operation {
        L1Operation::AddMessages {
            messages: vec![vec![0; len]; n],
        }
    }
    fn rules() -> Rules {
        Rules {
            attempts: 3,
            injection_ttl: 5,
            retention_period: 10,
            max_batch_length: None,
        }
    }
    fn core() -> Core {
        Core::new(
            rules(),
            vec![WorkerTags {
                signer: pkh(),
                kinds: OperationKind::ALL.to_vec(),
            }],
            vec![],
            0,
        )
    }
    fn bh(b: u8) -> BlockHash {
        BlockHash::new([b; 32])
    }
    fn oh(b: u8) -> OperationHash {
        OperationHash::new([b; 32])
    }
    fn size(op: &L1Operation) -> usize {
        op.to_bin().len()
    }

    #[test]
    fn unique_ops_are_queued_once_and_order_is_by_priority() {
        let mut c = core();
        let a = c.add(msgs(1, 1), None).unwrap();
        let p = c.add(publish(10), None).unwrap();
        assert_eq!(c.add(publish(10), Some(3)).unwrap(), p);
        let c1 = c.add(cement(), None).unwrap();
        let c2 = c.add(cement(), None).unwrap();
        assert_ne!(c1, c2, "cement is not unique: two additions, two ids");
        let o = c.add(msgs(1, 2), Some(1)).unwrap();
        let q: Vec<_> = c.queue(0).iter().map(|e| e.id).collect();
        assert_eq!(q, vec![c1, c2, p, o, a]);
        assert_eq!(c.take_dirty().len(), 5);
        let mut none = Core::new(
            rules(),
            vec![WorkerTags {
                signer: pkh(),
                kinds: vec![OperationKind::Cement],
            }],
            vec![],
            0,
        );
        assert_eq!(
            none.add(publish(1), None),
            Err(AddError::NoWorker(OperationKind::Publish))
        );
    }

    #[test]
    fn batches_respect_the_size_and_length_limits() {
        let mut c = core();
        // Four ~10 KiB messages: three fit in 32 KiB, the fourth waits.
        let ids: Vec<_> = (0..4)
            .map(|i| c.add(msgs(1, 10_000 + i), None).unwrap())
            .collect();
        let big = c.add(msgs(1, 40_000), None).unwrap();
        let (batch, too_large) = c.next_batch(0, &[], size);
        assert_eq!(batch, ids[..3].to_vec());
        assert_eq!(too_large, vec![big]);
        let total: usize = batch.iter().map(|i| size(&c.get(i).unwrap().op)).sum();
        assert!(total + BATCH_OVERHEAD <= MAX_OPERATION_SIZE);
        c.rules.max_batch_length = Some(2);
        assert_eq!(c.next_batch(0, &[], size).0, ids[..2].to_vec());
        assert_eq!(c.next_batch(0, &ids[..1], size).0, ids[1..3].to_vec());
    }

    #[test]
    fn status_machine_inclusion_reorg_ttl_and_retention() {
        let mut c = core();
        let p = c.add(publish(10), None).unwrap();
        let m = c.add(msgs(1, 1), None).unwrap();
        c.mark_injected(&[p, m], oh(1), bh(0), lv(100), 0, 41);
        assert!(c.in_flight(0));
        assert!(matches!(
            c.get(&m).unwrap().state,
            State::Injected {
                index: 1,
                op_counter: 42,
                confirmed: false,
                ..
            }
        ));
        c.mark_confirmed(&oh(1));
        assert!(matches!(
            c.get(&p).unwrap().state,
            State::Injected {
                confirmed: true,
                ..
            }
        ));
        assert_eq!(c.injected_as(&oh(1)).len(), 2);
        c.on_included(&p, bh(7), lv(101), &Outcome::Applied);
        c.on_included(&m, bh(7), lv(101), &Outcome::Applied);
        assert!(matches!(
            c.take_events().as_slice(),
            [Event::Included { level, .. }, Event::Included { .. }] if *level == lv(101)
        ));
        // Still on the chain: stays included.
        c.on_head(lv(102), |l| (l == lv(101)).then_some(bh(7)));
        assert!(matches!(c.get(&p).unwrap().state, State::Included { .. }));
        // Block 101 replaced: in flight again, unconfirmed, no error counted.
        c.on_head(lv(102), |l| (l == lv(101)).then_some(bh(8)));
        assert_eq!(
            c.get(&p).unwrap().state,
            State::Injected {
                oph: oh(1),
                branch: bh(0),
                level: lv(100),
                index: 0,
                op_counter: 41,
                confirmed: false
            }
        );
        assert_eq!(c.get(&p).unwrap().errors, 0);
        // The shell found it neither in the mempool nor in a block: queued again.
        c.requeue(&p);
        c.requeue(&m);
        assert_eq!(c.get(&p).unwrap().state, State::Pending);
        // Re-injected, never included: forgotten after the ttl.
        c.mark_injected(&[p], oh(2), bh(0), lv(103), 0, 50);
        c.on_head(lv(108), |_| None);
        assert!(c.get(&p).is_some());
        c.on_head(lv(109), |_| None);
        assert!(c.get(&p).is_none());
        assert!(matches!(
            c.take_events().as_slice(),
            [Event::Forgotten { .. }]
        ));
        // Included m retired after the retention period.
        c.mark_injected(&[m], oh(3), bh(0), lv(110), 0, 60);
        c.on_included(&m, bh(9), lv(111), &Outcome::Applied);
        c.on_head(lv(121), |_| Some(bh(9)));
        assert!(c.get(&m).is_some());
        c.on_head(lv(122), |_| Some(bh(9)));
        assert!(c.get(&m).is_none());
        assert!(c.take_dirty().contains(&m));
    }

    #[test]
    fn failures_retry_or_forget_by_kind_and_attempts() {
        let mut c = core();
        let p = c.add(publish(10), None).unwrap();
        let m = c.add(msgs(1, 1), None).unwrap();
        let failed = |permanent| Outcome::Failed {
            errors: vec!["proto.x".into()],
            permanent,
        };
        c.mark_injected(&[p, m], oh(1), bh(0), lv(1), 0, 1);
        c.on_included(&p, bh(2), lv(2), &failed(false));
        assert!(c.get(&p).is_none(), "a failed publish is forgotten");
        c.on_included(&m, bh(2), lv(2), &failed(false));
        let e = c.get(&m).unwrap();
        assert_eq!((e.errors, e.state.clone()), (1, State::Pending));
        assert!(e.last_error.as_deref().unwrap().contains("proto.x"));
        c.mark_injected(&[m], oh(2), bh(0), lv(3), 0, 2);
        c.on_included(&m, bh(4), lv(4), &Outcome::BacktrackedOrSkipped);
        assert_eq!(c.get(&m).unwrap().errors, 2);
        assert!(
            c.register_error(&m, "boom"),
            "third error reaches attempts = 3"
        );
        assert!(c.get(&m).is_none());
        let m2 = c.add(msgs(2, 1), None).unwrap();
        c.mark_injected(&[m2], oh(3), bh(0), lv(5), 0, 3);
        c.on_included(&m2, bh(6), lv(6), &failed(true));
        assert!(c.get(&m2).is_none(), "permanent errors are not retried");
    }

    #[test]
    fn clear_by_tag_and_order() {
        let mut c = Core::new(
            rules(),
            vec![
                WorkerTags {
                    signer: pkh(),
                    kinds: vec![OperationKind::Publish, OperationKind::Cement],
                },
                WorkerTags {
                    signer: pkh(),
                    kinds: vec![OperationKind::AddMessages],
                },
            ],
            vec![],
            0,
        );
        let a = c.add(msgs(1, 1), Some(1)).unwrap();
        let b = c.add(msgs(1, 2), Some(5)).unwrap();
        let n = c.add(msgs(1, 3), None).unwrap();
        let p = c.add(publish(1), None).unwrap();
        assert_eq!(c.clear(Some(OperationKind::AddMessages), Some(3), false), 1);
        assert!(c.get(&a).is_none() && c.get(&b).is_some() && c.get(&n).is_some());
        assert_eq!(c.clear(Some(OperationKind::AddMessages), Some(3), true), 1);
        assert!(c.get(&n).is_none());
        assert_eq!(c.clear(None, None, false), 2);
        assert!(c.get(&p).is_none() && c.get(&b).is_none());
        // Counters keep increasing after a restart from persisted entries.
        let c2 = Core::new(rules(), c.workers().to_vec(), vec![], c.next_counter());
        assert_eq!(c2.next_counter(), 4);
    }
}
