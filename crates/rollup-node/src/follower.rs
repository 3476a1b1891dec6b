//! Level processing (octez-rollup-node.md §5.2 step 4, §6.1): for one L1 block, rebuild the
//! rollup inbox, run the PVM over it, commit the state to the context, then record the L2
//! block, inbox, messages, outbox indexes, commitment (every commitment period), head and
//! finalized pointers in ONE SQLite transaction. The context commit happens before the SQL
//! transaction that points at it, so a crash at any moment leaves a consistent store.
//!
//! Runs on the follower's dedicated thread (blocking L1 calls, PVM execution).

use std::collections::{BTreeMap, HashMap};

use inbox::{
    Block, BlockHeader, ChainBlock, ManagerBody, OperationStatus, ReorgError, RollupResult,
    UpdateKind, ancestry_fetch_length, finalized_level, next_commitment_level, next_inbox,
    plan_update, rollup_inbox_of_level,
};
use preimages::Revealer;
use pvm_wasmtime::WasmtimeEngine;
use tezos_types::inbox::Inbox;
use tezos_types::{
    BinDecode, BinEncode, BlockHash, CommitmentHash, ProtocolHash, SmartRollupAddress, StateHash,
};
use wasm_pvm::{GenesisParams, PvmError, PvmState, PvmVersion, Status};

use crate::context::{Context, ContextError, context_hash_text};
use crate::l1::{L1Error, L1Rpc};
use crate::store::{
    Commitment, L2Block, OutboxLevel, ProtocolInfo, Store, StoreError, encode_message_list,
};

/// Largest number of levels planned at once while catching up.
pub const CATCH_UP_CHUNK: i32 = 1000;

/// Why processing stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// L1 unreachable or answering garbage: retry.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// Store failure: retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Context failure: retry.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// PVM failure (missing pre-image, engine failure): retry.
    #[error("PVM: {0}")]
    Pvm(#[from] PvmError),
    /// Inconsistent L1 data or store (retry after refetching).
    #[error("{0}")]
    Inconsistent(String),
    /// Unrecoverable: the node must exit.
    #[error("{0} Exiting.")]
    Fatal(String),
}

impl From<ReorgError> for FollowError {
    fn from(e: ReorgError) -> Self {
        FollowError::Inconsistent(e.to_string())
    }
}

impl From<durable_tree::TreeError> for FollowError {
    fn from(e: durable_tree::TreeError) -> Self {
        FollowError::Context(e.into())
    }
}

/// What the node knows about its rollup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupInfo {
    /// Address.
    pub address: SmartRollupAddress,
    /// Origination level.
    pub origination_level: i32,
    /// Genesis commitment (from L1).
    pub genesis_commitment: CommitmentHash,
    /// Commitment period in blocks.
    pub commitment_period: u32,
    /// Exit when a published commitment disagrees with ours (`--bail-on-disagree`).
    pub bail_on_disagree: bool,
    /// Last cemented commitment `(hash, level)` on L1 at startup.
    pub lcc: (CommitmentHash, i32),
}

/// What a block's applied manager operations did to this rollup (§5.2 step 4 scan).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RollupOps {
    /// Published commitments: (hash, commitment, first publication level).
    pub published: Vec<(CommitmentHash, tezos_types::Commitment, i32)>,
    /// Last cementation in the block: (commitment hash, inbox level).
    pub cemented: Option<(CommitmentHash, i32)>,
}

/// Scans `block` for applied publish / cement operations on `rollup`.
pub fn rollup_ops(block: &Block, rollup: &SmartRollupAddress) -> RollupOps {
    let mut out = RollupOps::default();
    for (_, c) in block.manager_contents() {
        if c.status != OperationStatus::Applied {
            continue;
        }
        match (&c.body, &c.result) {
            (
                ManagerBody::Publish {
                    rollup: r,
                    commitment,
                },
                RollupResult::Publish {
                    published_at_level, ..
                },
            ) if r == rollup => {
                out.published
                    .push((commitment.hash(), *commitment, *published_at_level));
            }
            (
                ManagerBody::Cement { rollup: r },
                RollupResult::Cement {
                    commitment_hash,
                    inbox_level,
                },
            ) if r == rollup => out.cemented = Some((*commitment_hash, *inbox_level)),
            _ => {}
        }
    }
    out
}

/// The PVM status string stored with each block.
pub fn status_string(s: Status) -> &'static str {
    match s {
        Status::InputRequired => "Waiting for input message",
        Status::Computing => "Computing",
    }
}

/// `Protocol_migration` version string of a protocol (`constants_repr.ml` `version_value`),
/// recognised by the vanity prefix of its hash; `None` for an unknown protocol.
pub fn protocol_version(protocol: &ProtocolHash) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("PsUshuai", "u025_025"),
        ("PtTALLiN", "t024_024"),
        ("PtSeouLo", "s023_023"),
        ("PsRiotum", "r022_022"),
        ("PsQuebec", "quebec_021"),
        ("ProtoALpha", "alpha_current"),
    ];
    let b58 = protocol.to_b58check();
    TABLE
        .iter()
        .find(|(prefix, _)| b58.starts_with(prefix))
        .map(|(_, v)| *v)
}

/// State after the last processed block, kept in memory to avoid a checkout per level.
struct Cached {
    hash: BlockHash,
    state: PvmState,
    inbox: Inbox,
    header: BlockHeader,
}

/// The level processor.
pub struct Processor {
    /// L1 access.
    pub l1: L1Rpc,
    /// The store (the follower's own connection).
    pub store: Store,
    /// Committed PVM states.
    pub ctx: Context,
    /// Fast execution engine.
    pub engine: WasmtimeEngine,
    /// Reveal handler.
    pub reveal: Revealer,
    /// The rollup.
    pub rollup: RollupInfo,
    /// Kernel debug log, when enabled.
    pub kernel_log: Option<KernelLog>,
    /// Largest number of levels planned at once ([`CATCH_UP_CHUNK`]).
    pub catch_up_chunk: i32,
    cache: Option<Cached>,
}

/// Kernel debug output (`write_debug`) appended to a file (`--log-kernel-debug`).
pub struct KernelLog {
    out: std::io::BufWriter<std::fs::File>,
}

impl KernelLog {
    /// Appends to `path` (created if missing).
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            out: std::io::BufWriter::new(f),
        })
    }

    fn flush(&mut self) {
        use std::io::Write;
        if let Err(e) = self.out.flush() {
            tracing::warn!("kernel log: {e}");
        }
    }
}

impl wasm_pvm::DebugSink for KernelLog {
    fn debug(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let _ = self.out.write_all(bytes);
    }
}

/// Outcome of one [`Processor::follow`] step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Levels processed in this step.
    pub processed: usize,
    /// Whether the head was reached (otherwise call again: catching up by chunks).
    pub reached_head: bool,
    /// Level of the L2 head after the step.
    pub level: Option<i32>,
}

fn to_u32(level: i32) -> Result<u32, FollowError> {
    u32::try_from(level).map_err(|_| FollowError::Inconsistent(format!("negative level {level}")))
}

impl Processor {
    /// A processor.
    pub fn new(
        l1: L1Rpc,
        store: Store,
        ctx: Context,
        engine: WasmtimeEngine,
        reveal: Revealer,
        rollup: RollupInfo,
    ) -> Self {
        Self {
            l1,
            store,
            ctx,
            engine,
            reveal,
            rollup,
            kernel_log: None,
            catch_up_chunk: CATCH_UP_CHUNK,
            cache: None,
        }
    }

    /// Brings the L2 chain towards `head` (at most [`Self::catch_up_chunk`] levels);
    /// `on_level` is called after each level and stops the step when it returns `false`.
    pub fn follow(
        &mut self,
        head: &BlockHeader,
        mut on_level: impl FnMut(i32) -> bool,
    ) -> Result<Progress, FollowError> {
        let orig = self.rollup.origination_level;
        let last = self.store.head()?.map(|b| b.level);
        if head.shell.level < orig {
            return Ok(Progress {
                processed: 0,
                reached_head: true,
                level: last,
            });
        }
        let base = last.unwrap_or(orig);
        let chunk = self.catch_up_chunk.max(1);
        let far = head.shell.level.checked_sub(base).unwrap_or(0) > chunk;
        let target: ChainBlock = if far {
            let lvl = base
                .checked_add(chunk)
                .ok_or_else(|| FollowError::Inconsistent("level overflow".into()))?;
            let h = self.l1.hash_of_level(lvl)?;
            ChainBlock::from(&self.l1.header(&h)?)
        } else {
            ChainBlock::from(head)
        };
        let from = last.map_or(orig, |l| l.saturating_sub(128)).max(orig);
        let processed: BTreeMap<i32, BlockHash> =
            self.store.levels_from(from)?.into_iter().collect();
        let length = ancestry_fetch_length(target.level, last, orig)
            .saturating_add(64)
            .min(65_536);
        let ancestors = self.l1.ancestors(&target.hash, length)?;
        let mut chain: HashMap<BlockHash, ChainBlock> = HashMap::new();
        for (i, w) in ancestors.windows(2).enumerate() {
            let level = i32::try_from(i)
                .ok()
                .and_then(|i| target.level.checked_sub(i));
            if let Some(level) = level {
                chain.insert(
                    w[0],
                    ChainBlock {
                        hash: w[0],
                        level,
                        predecessor: w[1],
                    },
                );
            }
        }
        chain.insert(target.hash, target);
        let plan = plan_update(&processed, orig, &target, |h| chain.get(h).copied())?;
        match plan.kind {
            UpdateKind::Reorg => tracing::info!(
                abandoned = ?plan.abandoned.iter().map(|(l, h)| format!("{l}:{h}")).collect::<Vec<_>>(),
                "L1 reorganisation: processing the new branch of {} blocks",
                plan.to_process.len()
            ),
            UpdateKind::Behind => tracing::info!("L1 head {} is behind the L2 head", target.level),
            UpdateKind::Extend if plan.to_process.len() > 1 => tracing::info!(
                "Catching up on {} levels (to {})",
                plan.to_process.len(),
                target.level
            ),
            _ => {}
        }
        let mut n = 0;
        for b in &plan.to_process {
            self.process(b)?;
            n += 1;
            if !on_level(b.level) {
                break;
            }
        }
        Ok(Progress {
            processed: n,
            reached_head: !far,
            level: self.store.head()?.map(|b| b.level),
        })
    }

    /// Processes one block whose predecessor is processed (or the origination block).
    pub fn process(&mut self, b: &ChainBlock) -> Result<(), FollowError> {
        let block = self.l1.block(&b.hash.to_b58check())?;
        if block.hash != b.hash {
            return Err(FollowError::Inconsistent(format!(
                "L1 returned block {} for {}",
                block.hash, b.hash
            )));
        }
        if block.level() == self.rollup.origination_level {
            return self.genesis(&block);
        }
        self.process_level(&block)
    }

    fn genesis(&mut self, block: &Block) -> Result<(), FollowError> {
        let rollup = &self.rollup;
        let kernel = block
            .manager_contents()
            .find_map(|(_, c)| match (&c.body, &c.result) {
                (
                    ManagerBody::Originate { kernel, .. },
                    RollupResult::Originate { address, .. },
                ) if *address == rollup.address && c.status == OperationStatus::Applied => {
                    Some(kernel.clone())
                }
                _ => None,
            })
            .ok_or_else(|| {
                FollowError::Fatal(format!(
                    "No origination of rollup {} in block {} at level {}.",
                    rollup.address, block.hash, rollup.origination_level
                ))
            })?;
        let state = PvmState::genesis(PvmVersion::V6, &kernel, &GenesisParams::default())?;
        let hash = self.ctx.commit(&state)?;
        let l1_genesis = self
            .l1
            .commitment(&rollup.address, &rollup.genesis_commitment)?;
        let commitment = tezos_types::Commitment {
            compressed_state: StateHash(hash.0),
            inbox_level: rollup.origination_level,
            predecessor: CommitmentHash::ZERO,
            number_of_ticks: 0,
        };
        let chash = commitment.hash();
        if l1_genesis.compressed_state != commitment.compressed_state
            || chash != rollup.genesis_commitment
        {
            tracing::error!(
                "Invalid genesis state: computed {} (commitment {chash}), L1 has {} (commitment {})",
                commitment.compressed_state,
                l1_genesis.compressed_state,
                rollup.genesis_commitment
            );
        }
        let inbox = self.l1.global_inbox(&block.hash.to_b58check())?;
        let witness = inbox.old_levels_messages.witness;
        let level = rollup.origination_level;
        let l2 = L2Block {
            block_hash: block.hash,
            level,
            predecessor: block.header.predecessor,
            commitment_hash: Some(chash),
            previous_commitment_hash: chash,
            context: Some(context_hash_text(&hash)),
            inbox_witness: witness,
            inbox_hash: inbox.hash(),
            initial_tick: 0,
            num_ticks: 0,
            state_hash: Some(StateHash(hash.0)),
            pvm_status: Some(status_string(state.status()).into()),
        };
        let c = Commitment {
            compressed_state: commitment.compressed_state,
            inbox_level: level,
            predecessor: CommitmentHash::ZERO,
            number_of_ticks: 0,
        };
        self.store.transaction(|w| {
            w.insert_inbox(&inbox.hash(), level, &inbox.to_bin())?;
            w.insert_messages(&witness, level, &encode_message_list(&[]))?;
            w.insert_commitment(&chash, &c)?;
            w.insert_protocol(&ProtocolInfo {
                hash: block.protocol,
                proto_level: i32::from(block.header.proto),
                first_level: level,
                first_is_activation: false,
            })?;
            w.insert_block(&l2)?;
            w.set_level(level, &block.hash)?;
            w.truncate_levels_above(level)?;
            w.set_head(&block.hash, level)
        })?;
        tracing::info!(
            "Genesis of rollup {} at level {level}: state {}",
            rollup.address,
            commitment.compressed_state
        );
        self.cache = Some(Cached {
            hash: block.hash,
            state,
            inbox,
            header: block.block_header(),
        });
        Ok(())
    }

    /// Compares a commitment published on L1 with ours for the same inbox level (Octez
    /// `potential_conflict_detected`; fatal `Disagree_with_commitment` with
    /// `--bail-on-disagree`). `current` is the commitment computed for the block being
    /// processed, not stored yet.
    fn check_agreement(
        &self,
        hash: &CommitmentHash,
        c: &tezos_types::Commitment,
        current: Option<(i32, CommitmentHash)>,
    ) -> Result<(), FollowError> {
        let ours = match current {
            Some((l, h)) if l == c.inbox_level => Some(h),
            _ => self
                .store
                .block_by_level(c.inbox_level)?
                .and_then(|b| b.commitment_hash),
        };
        let Some(ours) = ours else {
            return Ok(());
        };
        if ours != *hash {
            let ours_pred = self.store.commitment(&ours)?.map(|o| o.predecessor);
            if ours_pred.is_none_or(|p| p == c.predecessor) {
                let msg = format!(
                    "Potential conflict detected: commitment {hash} published for inbox level \
                     {} disagrees with ours {ours}",
                    c.inbox_level
                );
                if self.rollup.bail_on_disagree {
                    return Err(FollowError::Fatal(format!("{msg}.")));
                }
                tracing::warn!("{msg}");
            }
        }
        Ok(())
    }

    fn predecessor_data(&mut self, pred: &L2Block) -> Result<Cached, FollowError> {
        if let Some(c) = self.cache.take()
            && c.hash == pred.block_hash
        {
            return Ok(c);
        }
        let state = self.ctx.state_of(pred)?;
        let blob = self.store.inbox_blob(&pred.inbox_hash)?.ok_or_else(|| {
            FollowError::Inconsistent(format!("missing inbox {} in the store", pred.inbox_hash))
        })?;
        let inbox = Inbox::from_bin(&blob.1)
            .map_err(|e| FollowError::Inconsistent(format!("stored inbox: {e:?}")))?;
        let header = self.l1.header(&pred.block_hash)?;
        Ok(Cached {
            hash: pred.block_hash,
            state,
            inbox,
            header,
        })
    }

    fn process_level(&mut self, block: &Block) -> Result<(), FollowError> {
        let level = block.level();
        let pred = self
            .store
            .block_by_hash(&block.header.predecessor)?
            .ok_or_else(|| {
                FollowError::Inconsistent(format!(
                    "predecessor {} of block {} is not processed",
                    block.header.predecessor, block.hash
                ))
            })?;
        let Cached {
            mut state,
            inbox: pred_inbox,
            header: pred_header,
            ..
        } = self.predecessor_data(&pred)?;
        // First block of a new protocol: `Protocol_migration` (l1-and-signer.md §3.2).
        let prev_proto = self.store.protocol_of_level(level.saturating_sub(1))?;
        let new_proto = match &prev_proto {
            Some(p) if p.hash == block.protocol => None,
            _ => Some(ProtocolInfo {
                hash: block.protocol,
                proto_level: i32::from(block.header.proto),
                first_level: level,
                first_is_activation: prev_proto.is_some(),
            }),
        };
        let migration = match (&prev_proto, &new_proto) {
            (Some(_), Some(p)) => {
                let v = protocol_version(&p.hash);
                if v.is_none() {
                    tracing::warn!("Unknown protocol {}: no migration message", p.hash);
                }
                v
            }
            _ => None,
        };
        let messages = rollup_inbox_of_level(block, &pred_header, migration)
            .map_err(|e| FollowError::Inconsistent(e.to_string()))?;
        let (inbox, witness) = next_inbox(&pred_inbox, &messages)
            .ok_or_else(|| FollowError::Inconsistent("inbox overflow".into()))?;
        let serialized: Vec<Vec<u8>> = messages.iter().map(BinEncode::to_bin).collect();
        let initial_tick = state.current_tick();
        let ticks = state.process_level(
            to_u32(level)?,
            &serialized,
            &mut self.engine,
            &mut self.reveal,
            self.kernel_log
                .as_mut()
                .map(|l| l as &mut dyn wasm_pvm::DebugSink),
        )?;
        if let Some(l) = &mut self.kernel_log {
            l.flush();
        }
        let hash = self.ctx.commit(&state)?;
        let state_hash = StateHash(hash.0);
        // Commitment every period (§6.1).
        let prev_hash = pred
            .commitment_hash
            .unwrap_or(pred.previous_commitment_hash);
        let prev = self.store.commitment(&prev_hash)?.ok_or_else(|| {
            FollowError::Inconsistent(format!("missing commitment {prev_hash} in the store"))
        })?;
        let commitment = if next_commitment_level(prev.inbox_level, self.rollup.commitment_period)
            == Some(level)
        {
            let prev_block = self
                .store
                .block_by_level(prev.inbox_level)?
                .ok_or_else(|| {
                    FollowError::Inconsistent(format!(
                        "missing block at level {}",
                        prev.inbox_level
                    ))
                })?;
            let prev_end = prev_block
                .initial_tick
                .checked_add(u128::try_from(prev_block.num_ticks).unwrap_or(0))
                .ok_or_else(|| FollowError::Inconsistent("tick overflow".into()))?;
            let n = state
                .current_tick()
                .checked_sub(prev_end)
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| FollowError::Inconsistent("commitment ticks overflow".into()))?;
            let c = tezos_types::Commitment {
                compressed_state: state_hash,
                inbox_level: level,
                predecessor: prev_hash,
                number_of_ticks: n,
            };
            Some((
                c.hash(),
                Commitment {
                    compressed_state: state_hash,
                    inbox_level: level,
                    predecessor: prev_hash,
                    number_of_ticks: n,
                },
            ))
        } else {
            None
        };
        let outbox = match state.outbox(to_u32(level)?) {
            Ok(m) if !m.is_empty() => Some(OutboxLevel {
                outbox_level: level,
                messages: (0..u32::try_from(m.len()).unwrap_or(u32::MAX)).collect(),
                executed: vec![],
            }),
            _ => None,
        };
        let l2 = L2Block {
            block_hash: block.hash,
            level,
            predecessor: block.header.predecessor,
            commitment_hash: commitment.as_ref().map(|(h, _)| *h),
            previous_commitment_hash: prev_hash,
            context: Some(context_hash_text(&hash)),
            inbox_witness: witness,
            inbox_hash: inbox.hash(),
            initial_tick,
            num_ticks: i64::try_from(ticks)
                .map_err(|_| FollowError::Inconsistent("ticks overflow".into()))?,
            state_hash: Some(state_hash),
            pvm_status: Some(status_string(state.status()).into()),
        };
        let orig = self.rollup.origination_level;
        let ops = rollup_ops(block, &self.rollup.address);
        for (h, c, _) in &ops.published {
            self.check_agreement(h, c, commitment.as_ref().map(|(h, _)| (level, *h)))?;
        }
        self.store.transaction(|w| {
            for (h, _, first) in &ops.published {
                w.set_commitment_published_at(h, *first, None)?;
            }
            if let Some((h, l)) = &ops.cemented {
                w.set_lcc(h, *l)?;
            }
            w.insert_inbox(&inbox.hash(), level, &inbox.to_bin())?;
            w.insert_messages(&witness, level, &encode_message_list(&serialized))?;
            if let Some((h, c)) = &commitment {
                w.insert_commitment(h, c)?;
            }
            if let Some(o) = &outbox {
                w.set_outbox_messages(o)?;
            }
            if let Some(p) = &new_proto {
                w.insert_protocol(p)?;
            }
            w.insert_block(&l2)?;
            w.set_level(level, &block.hash)?;
            w.truncate_levels_above(level)?;
            w.set_head(&block.hash, level)?;
            if let Some(fl) = finalized_level(level).filter(|l| *l >= orig)
                && let Some(h) = w.level_hash(fl)?
            {
                w.set_finalized(&h, fl)?;
            }
            Ok(())
        })?;
        if let Some((h, _)) = &commitment {
            tracing::info!("Computed commitment {h} for inbox level {level}");
        }
        tracing::debug!(
            "Processed level {level} ({} messages, {ticks} ticks, state {state_hash})",
            serialized.len()
        );
        self.cache = Some(Cached {
            hash: block.hash,
            state,
            inbox,
            header: block.block_header(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_versions() {
        let u: ProtocolHash = "PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY"
            .parse()
            .unwrap();
        assert_eq!(protocol_version(&u), Some("u025_025"));
        assert_eq!(protocol_version(&ProtocolHash([0; 32])), None);
        assert_eq!(status_string(Status::Computing), "Computing");
    }
}
