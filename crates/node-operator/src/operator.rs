//! The operator's work after each L1 head (docs/reference/octez-rollup-node.md §3, §6.2):
//! conflicts and cementations found while processing, then publication and cementation, each a
//! decision of the [`publisher`] crate queued in the injector.

use std::collections::HashSet;

use inbox::BlockHeader;
use l1_operation::{L1Operation, OperationKind};
use node_config::Mode;
use node_follower::follower::{FollowError, FollowEvent, Processor, Role};
use publisher::RollupConstants;
use tezos_types::{CommitmentHash, Level, PublicKeyHash};

use crate::startup::{self, Stake};
use crate::store::{StoreCommitments, position};

/// Where the operator's operations go: the injector in the node.
pub trait OperationSink: Send {
    /// Queues `op`. An operation already queued, in flight or recently included is not
    /// queued twice.
    ///
    /// # Errors
    /// The sink's failure (operational: retried at the next head).
    fn add(&mut self, op: L1Operation) -> Result<(), FollowError>;
    /// [`Self::add`], returning the injector's id of `op` when the sink has one.
    ///
    /// # Errors
    /// As [`Self::add`].
    fn add_tracked(
        &mut self,
        op: L1Operation,
    ) -> Result<Option<injector::InjectorOpHash>, FollowError> {
        self.add(op)?;
        Ok(None)
    }
    /// Whether operation `id` is still queued, in flight or recently included (not forgotten
    /// after a failure).
    fn knows(&self, _id: &injector::InjectorOpHash) -> bool {
        false
    }
    /// A new L1 head: track inclusions, inject what is queued (the node's injector does it on
    /// its own worker and returns at once: `crate::sink`).
    ///
    /// # Errors
    /// The sink's failure (operational: retried at the next head).
    fn on_head(&mut self, head: &BlockHeader) -> Result<(), FollowError>;
}

/// The operator side of one node.
pub struct NodeOperator<S> {
    mode: Mode,
    role: Role,
    /// The `operating` key (publishes, stakes).
    operator: Option<PublicKeyHash>,
    sink: S,
    /// The batcher, in modes that batch: its batches go to the injector at each head.
    batcher: Option<std::sync::Arc<parking_lot::Mutex<batcher::Batcher>>>,
    constants: Option<RollupConstants>,
    /// Commitments whose inbox was compared with the L1's (Octez `inbox_checked`).
    inbox_checked: HashSet<CommitmentHash>,
    /// Conflicts reported so far (inbox level, theirs), for the log and `/health`-like
    /// reporting.
    conflicts: Vec<publisher::l1_ops::Conflict>,
    /// Automatic outbox execution, with an `executing_outbox` key.
    outbox: Option<crate::outbox::OutboxExecutor>,
    /// The DAL injection queue, in batching modes with a DAL node.
    dal: Option<crate::dal::DalInjection>,
    /// The refutation games of the operating key, in modes that refute.
    refutation: Option<crate::refutation::Coordinator>,
    /// The commitments handed to the injector for cementation at the last head: each head
    /// hands them all again (as Octez's publisher), only the new ones are logged.
    cementing: HashSet<CommitmentHash>,
    /// The commitments whose publication was delayed at the last head (logged once).
    delayed: HashSet<CommitmentHash>,
}

impl<S: OperationSink> NodeOperator<S> {
    /// The operator of a node in `mode` with the `operating` key `operator`.
    pub fn new(mode: Mode, operator: Option<PublicKeyHash>, sink: S) -> Self {
        let refutes = mode.can_inject(OperationKind::Refute);
        Self {
            role: node_follower::main_loop::role_of(&mode),
            mode,
            operator,
            sink,
            batcher: None,
            constants: None,
            inbox_checked: HashSet::new(),
            conflicts: Vec::new(),
            outbox: None,
            dal: None,
            refutation: operator
                .filter(|_| refutes)
                .map(crate::refutation::Coordinator::new),
            cementing: HashSet::new(),
            delayed: HashSet::new(),
        }
    }

    /// With the DAL injection queue, whose slots are posted at each head.
    #[must_use]
    pub fn with_dal(mut self, dal: crate::dal::DalInjection) -> Self {
        self.dal = Some(dal);
        self
    }

    /// With automatic outbox execution (docs/reference/octez-rollup-node.md §6.3).
    #[must_use]
    pub fn with_outbox(mut self, outbox: crate::outbox::OutboxExecutor) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// With the batcher whose remaining messages are batched at each head.
    #[must_use]
    pub fn with_batcher(
        mut self,
        batcher: std::sync::Arc<parking_lot::Mutex<batcher::Batcher>>,
    ) -> Self {
        self.batcher = Some(batcher);
        self
    }

    /// Conflicts seen since start.
    pub fn conflicts(&self) -> &[publisher::l1_ops::Conflict] {
        &self.conflicts
    }

    fn can_inject(&self, kind: OperationKind) -> bool {
        self.mode.can_inject(kind)
    }

    fn constants(&mut self, p: &Processor) -> Result<RollupConstants, FollowError> {
        if let Some(c) = self.constants {
            return Ok(c);
        }
        let c = p.l1.call(p.l1.client.constants("main", "head"))?;
        let too_big = |what: &str| FollowError::Inconsistent(format!("{what} out of range"));
        let c = RollupConstants {
            challenge_window: c.smart_rollup_challenge_window_in_blocks,
            max_lookahead: u32::try_from(c.smart_rollup_max_lookahead_in_blocks)
                .map_err(|_| too_big("smart_rollup_max_lookahead_in_blocks"))?,
        };
        self.constants = Some(c);
        Ok(c)
    }

    /// Bailout: recover the bond once the operator is staked on nothing newer than the LCC.
    fn maybe_recover(&mut self, p: &Processor) -> Result<(), FollowError> {
        let Some(op) = self.operator else {
            return Err(FollowError::Fatal(
                "Missing operators for purposes operating.".into(),
            ));
        };
        match startup::stake_of(&p.l1, &p.rollup.address, &op)? {
            Stake::NotStaked => Err(FollowError::Fatal(
                "This implicit account is not a staker of this smart rollup.".into(),
            )),
            Stake::OnCemented => {
                tracing::info!("Recovering the bond of {op}");
                self.sink.add(L1Operation::Recover {
                    rollup: p.rollup.address,
                    staker: op,
                })
            }
            Stake::Active => Ok(()),
        }
    }

    /// Publishes `hash` after comparing the inbox of its level with the L1's, once per
    /// commitment (Octez `run_inbox_checks`).
    fn publish(
        &mut self,
        p: &Processor,
        hash: CommitmentHash,
        commitment: tezos_types::Commitment,
    ) -> Result<(), FollowError> {
        if !self.inbox_checked.contains(&hash) {
            check_l1_inbox(p, commitment.inbox_level)?;
            self.inbox_checked.insert(hash);
        }
        tracing::info!(
            "Publishing commitment {hash} for inbox level {}",
            commitment.inbox_level
        );
        self.sink.add(L1Operation::Publish {
            rollup: p.rollup.address,
            commitment,
        })
    }
}

/// The inbox the node built for `level` must be the L1's (Octez `same_as_layer_1`), else the
/// node would publish a commitment of another history: fatal `Inconsistent_inbox`.
fn check_l1_inbox(p: &Processor, level: Level) -> Result<(), FollowError> {
    let block = p.store.block_by_level(level)?.ok_or_else(|| {
        FollowError::Inconsistent(format!("no processed block at inbox level {level}"))
    })?;
    let l1 = p.l1.global_inbox(&block.block_hash)?;
    if l1.hash() != block.inbox_hash {
        return Err(FollowError::Fatal(format!(
            "Inconsistent inbox at level {level}: the node's inbox {} differs from the L1's {}; \
             the node will not publish a commitment of another history.",
            block.inbox_hash,
            l1.hash()
        )));
    }
    Ok(())
}

impl<S: OperationSink> node_follower::main_loop::Operator for NodeOperator<S> {
    fn start(&mut self, p: &mut Processor) -> Result<(), FollowError> {
        // The DAL constants, so that the DAL RPCs work before the first head.
        if let Some(d) = &mut self.dal
            && let Err(e) = d.ensure_params(p)
        {
            tracing::warn!("DAL injection: cannot read the DAL constants yet: {e}");
        }
        let Some(op) = self.operator else {
            return Ok(());
        };
        // Private rollups: the operating key must be whitelisted (unless bailing out).
        let whitelist = startup::whitelist(&p.l1, &p.rollup.address)?;
        startup::check_whitelist(whitelist.as_deref(), &op, self.role.bailout)
            .map_err(FollowError::Fatal)?;
        let stake = startup::stake_of(&p.l1, &p.rollup.address, &op)?;
        if self.role.bailout {
            // Bailout: not a staker → exit 1; staked on a cemented commitment → recover now.
            return self.maybe_recover(p);
        }
        if self.can_inject(OperationKind::Publish) {
            let balance = p.l1.call(p.l1.client.balance("main", "head", &op))?;
            startup::check_stake(&op, stake != Stake::NotStaked, balance)
                .map_err(FollowError::Fatal)?;
        }
        Ok(())
    }

    fn on_head(
        &mut self,
        p: &mut Processor,
        head: &BlockHeader,
        events: Vec<FollowEvent>,
    ) -> Result<(), FollowError> {
        let constants = self.constants(p)?;
        let mut cemented = false;
        for e in events {
            match e {
                FollowEvent::Conflict(c) => {
                    if self.role.accuser
                        && p.store.lcc()?.is_none_or(|(_, lcc)| c.inbox_level > lcc)
                    {
                        let (h, ours) = c.ours;
                        self.publish(p, h, ours)?;
                    }
                    self.conflicts.push(c);
                }
                FollowEvent::Cemented { .. } => cemented = true,
            }
        }
        if self.role.bailout && cemented {
            self.maybe_recover(p)?;
        }
        let genesis = (p.rollup.genesis_commitment, p.rollup.origination_level);
        if let Some(pos) = position(&p.store, genesis)? {
            let store = StoreCommitments(&p.store);
            if self.role.publishes && self.can_inject(OperationKind::Publish) {
                let out = publisher::publish::commitments_to_publish(&store, &pos, &constants)?;
                let last = std::mem::take(&mut self.delayed);
                for (h, c) in &out.delayed {
                    if !last.contains(h) {
                        tracing::info!(
                            "Publication of commitment {h} for inbox level {} delayed: beyond \
                             the lookahead of the LCC",
                            c.inbox_level
                        );
                    }
                    self.delayed.insert(*h);
                }
                for (h, c) in out.now {
                    self.publish(p, h, c)?;
                }
            }
            if self.can_inject(OperationKind::Cement) {
                let cementable =
                    publisher::cement::cementable_commitments(&store, &pos, &constants)?;
                let last = std::mem::take(&mut self.cementing);
                for h in cementable {
                    if !last.contains(&h) {
                        tracing::info!("Cementing commitment {h}");
                    }
                    self.sink.add(L1Operation::Cement {
                        rollup: p.rollup.address,
                        commitment: h,
                    })?;
                    self.cementing.insert(h);
                }
            }
        }
        if let Some(x) = &mut self.outbox {
            x.on_head(p, &mut self.sink, cemented)?;
        }
        // Refutation games (Octez `Refutation_coordinator.process`): a failed move is retried
        // at the next head; only a lost game stops the node.
        if let Some(r) = &mut self.refutation {
            match r.on_head(p, &mut self.sink, head) {
                Err(e @ FollowError::Fatal(_)) => return Err(e),
                Err(e) => tracing::warn!("Refutation game: {e}; retrying at the next head"),
                Ok(()) => {}
            }
        }
        // The batcher hands its remaining messages over at each head (Octez `batcher.ml`
        // `on_new_head`); a refused batch stays queued.
        if let Some(b) = &self.batcher
            && let Err(e) = b.lock().on_new_head()
        {
            tracing::warn!("Batcher: {e}");
        }
        // The DAL injection queue posts its slots and queues their publications (Octez
        // `Dal_injection_queue.produce_dal_slots` on each head).
        if let Some(d) = &mut self.dal {
            d.ensure_params(p)?;
            d.produce_slots(head.shell.level.into())?;
        }
        self.sink.on_head(head)
    }
}
