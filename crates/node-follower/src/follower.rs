//! Level processing (octez-rollup-node.md §5.2 step 4, §6.1): for one L1 block, rebuild the
//! rollup inbox, run the PVM over it, commit the state to the context, then record the L2
//! block, inbox, messages, outbox indexes, commitment (every commitment period), head and
//! finalized pointers in ONE SQLite savepoint. While catching up, levels are grouped in
//! batches ([`BATCH_LEVELS`]): their contexts are committed without a sync each, then one
//! context sync, then one SQLite commit, so the store never references a context that is not
//! durable and a crash (even `kill -9`) at any moment leaves a consistent store. A level's
//! state is hashed on this thread and its objects written on another while the next level
//! runs (`pvm_store::Context::commit_beside`); that write is waited for before the next
//! commit, a reload of the state, and the batch's sync, and a failed write rolls the batch
//! back (its levels are processed again).
//!
//! Runs on the follower's dedicated thread (PVM execution, SQLite): L1 calls go through the
//! async [`l1_client::L1Client`] driven by a runtime [`Handle`] ([`L1`]), and blocks are
//! prefetched concurrently ahead of processing while catching up (`prefetch_blocks`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use l1_client::{L1Client, L1Error};
use tokio::runtime::Handle;

use inbox::{
    Block, BlockHeader, ChainBlock, InboxError, ManagerBody, OperationStatus, ReorgError,
    RollupResult, UpdateKind, ancestry_fetch_length, finalized_level, next_commitment_level,
    next_inbox, plan_update, rollup_inbox_of_level_with_dal,
};
use node_config::unsafe_patches::{PatchKind, UnsafePatch};
use preimages::Revealer;
use pvm_wasmtime::WasmtimeEngine;
use tezos_types::inbox::Inbox;
use tezos_types::{
    BinDecode, BinEncode, BlockHash, CommitmentHash, Level, PublicKeyHash, SmartRollupAddress,
    StateHash, Tick,
};
use wasm_pvm::{GenesisParams, PvmError, PvmState, PvmVersion, Status};

use node_store::{
    Commitment, L2Block, OutboxLevel, ProtocolInfo, PvmStatus, Store, StoreError,
    encode_message_list,
};
use pvm_store::{Context, ContextError, context_hash};

/// Largest number of levels planned at once while catching up.
pub const CATCH_UP_CHUNK: i32 = 1000;

/// Levels whose SQLite writes are committed together while catching up (each level's context
/// is durably committed before the SQLite commit that references it).
pub const BATCH_LEVELS: usize = 64;

/// A batch is also committed once this old, so that RPC readers see a slow catch-up
/// progress level by level (and a crash loses little work).
pub const BATCH_MAX_AGE: std::time::Duration = std::time::Duration::from_millis(100);

/// Default number of L1 blocks fetched ahead of processing (Octez `prefetch_blocks`
/// defaults to `l1_blocks_cache_size`, 64).
pub const DEFAULT_PREFETCH: usize = 64;

/// Blocking façade over the async [`L1Client`] for the follower thread: each call runs on the
/// runtime behind `rt` (retries with backoff are the client's, l1-and-signer.md §1.1) and is
/// abandoned with [`FollowError::Stopped`] as soon as the node is asked to stop, so that a
/// shutdown never waits for an unreachable L1. Must not be called from a runtime worker thread.
#[derive(Clone)]
pub struct L1 {
    /// The async client.
    pub client: L1Client,
    /// The runtime that drives it.
    pub rt: Handle,
    /// Becomes `true` when the node stops.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// Where the follower's time goes (logged while catching up, to profile catch-up speed).
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    /// Levels processed.
    pub levels: u64,
    /// Waiting for (prefetched) L1 blocks.
    pub fetch: std::time::Duration,
    /// Inbox reconstruction and PVM execution.
    pub pvm: std::time::Duration,
    /// Context commits (hashing, writing, syncing).
    pub commit: std::time::Duration,
    /// SQLite transactions.
    pub sql: std::time::Duration,
}

impl std::fmt::Display for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = |d: std::time::Duration| {
            let n = u32::try_from(self.levels.max(1)).unwrap_or(u32::MAX);
            (d / n).as_secs_f64() * 1e3
        };
        write!(
            f,
            "{} levels, per level: fetch wait {:.3} ms, PVM {:.3} ms, context commit {:.3} ms, \
             SQL {:.3} ms",
            self.levels,
            per(self.fetch),
            per(self.pvm),
            per(self.commit),
            per(self.sql)
        )
    }
}

/// A block fetch running on the runtime.
type PendingBlock = tokio::task::JoinHandle<Result<Block, L1Error>>;

impl L1 {
    /// A façade over `client` driven by `rt`, cancelled when `stop` becomes `true`.
    pub fn new(client: L1Client, rt: Handle, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { client, rt, stop }
    }

    /// Whether the node was asked to stop.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Runs `fut` on the runtime until it completes or the node is asked to stop.
    pub fn call<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, L1Error>>,
    ) -> Result<T, FollowError> {
        let mut stop = self.stop.clone();
        self.rt.block_on(async move {
            tokio::select! {
                r = fut => r.map_err(FollowError::from),
                _ = stop.wait_for(|s| *s) => Err(FollowError::Stopped),
            }
        })
    }

    /// Full block with receipts.
    pub fn block(&self, hash: &BlockHash) -> Result<Block, FollowError> {
        self.call(self.client.block("main", &hash.to_b58check()))
    }

    /// Starts fetching a block on the runtime (prefetch).
    fn spawn_block(&self, hash: &BlockHash) -> PendingBlock {
        let client = self.client.clone();
        let id = hash.to_b58check();
        self.rt
            .spawn(async move { client.block("main", &id).await })
    }

    /// Waits for a prefetched block.
    fn join_block(&self, pending: PendingBlock) -> Result<Block, FollowError> {
        let mut stop = self.stop.clone();
        let joined = self.rt.block_on(async move {
            tokio::select! {
                r = pending => Some(r),
                _ = stop.wait_for(|s| *s) => None,
            }
        });
        match joined {
            None => Err(FollowError::Stopped),
            Some(Ok(r)) => Ok(r?),
            Some(Err(e)) => Err(FollowError::FetchTask(e)),
        }
    }

    /// Header (hash + shell) of a block.
    pub fn header(&self, hash: &BlockHash) -> Result<BlockHeader, FollowError> {
        let shell = self.call(self.client.shell_header("main", &hash.to_b58check()))?;
        Ok(BlockHeader { hash: *hash, shell })
    }

    /// Hash of the block at `level` on the current chain.
    pub fn hash_of_level(&self, level: Level) -> Result<BlockHash, FollowError> {
        self.call(self.client.block_hash("main", &level.to_string()))
    }

    /// Hashes of `head` and its predecessors, newest first.
    pub fn ancestors(&self, head: &BlockHash, length: u32) -> Result<Vec<BlockHash>, FollowError> {
        self.call(self.client.ancestors("main", head, length))
    }

    /// A commitment known to L1.
    pub fn commitment(
        &self,
        addr: &SmartRollupAddress,
        hash: &CommitmentHash,
    ) -> Result<tezos_types::Commitment, FollowError> {
        self.call(self.client.rollup_commitment("main", "head", addr, hash))
    }

    /// The global rollup inbox after `block`.
    pub fn global_inbox(&self, block: &BlockHash) -> Result<Inbox, FollowError> {
        self.call(self.client.global_inbox("main", &block.to_b58check()))
    }

    /// The whitelist of a private rollup at `block` (`None`: a public rollup).
    pub fn whitelist(
        &self,
        addr: &SmartRollupAddress,
        block: &BlockHash,
    ) -> Result<Option<Vec<String>>, FollowError> {
        self.call(self.client.get_json(&format!(
            "/chains/main/blocks/{}/context/smart_rollups/smart_rollup/{}/whitelist",
            block.to_b58check(),
            addr.to_b58check()
        )))
    }
}

/// Why processing stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// L1 unreachable or answering garbage: retry (boxed: the error is large).
    #[error(transparent)]
    L1(Box<L1Error>),
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
    /// A chain reorganisation that cannot be planned (crates/inbox/src/reorg.rs): retry.
    #[error(transparent)]
    Reorg(#[from] ReorgError),
    /// The rollup inbox of an L1 block cannot be built from its operations: retry.
    #[error(transparent)]
    Inbox(#[from] InboxError),
    /// An inbox read back from the store does not decode.
    #[error("stored inbox: {0:?}")]
    StoredInbox(#[source] tezos_types::DecodeError),
    /// A level, tick count or inbox index left its range (checked arithmetic).
    #[error("{0} overflow")]
    Overflow(&'static str),
    /// A negative L1 level where the PVM needs an unsigned one.
    #[error("negative level {0}")]
    NegativeLevel(i32),
    /// The runtime task fetching an L1 block panicked or was cancelled.
    #[error("L1 block fetch task failed: {0}")]
    FetchTask(#[source] tokio::task::JoinError),
    /// Unrecoverable: the node must exit.
    #[error("{0} Exiting.")]
    Fatal(String),
    /// An L1 configuration error (bad `--endpoint` URL, rejected certificate): retrying
    /// cannot help, the node must exit.
    #[error("{0}. Exiting.")]
    L1Config(#[source] Box<L1Error>),
    /// A bad `--pre-images-endpoint` (URL, rejected certificate): the node must exit.
    #[error("{0}. Exiting.")]
    PreimagesConfig(#[source] preimages::PreimageConfigError),
    /// The node is stopping: the operation was abandoned (not an error of the node).
    #[error("stopping")]
    Stopped,
    /// The operator side failed (injector store, signer): retried at the next head.
    #[error("{0}")]
    Operator(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Bailout mode: the operator's bond was recovered; the node exits successfully (Octez
    /// `Exit_bond_recovered_bailout_mode`).
    #[error("The rollup node is exiting after bailout mode.")]
    BondRecovered,
}

impl FollowError {
    /// Whether the node must exit (no retry, no degraded mode).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Fatal(_) | Self::L1Config(_) | Self::PreimagesConfig(_)
        )
    }
}

impl From<L1Error> for FollowError {
    fn from(e: L1Error) -> Self {
        FollowError::L1(Box::new(e))
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
    pub origination_level: Level,
    /// Genesis commitment (from L1).
    pub genesis_commitment: CommitmentHash,
    /// Commitment period in blocks.
    pub commitment_period: u32,
    /// Exit when a published commitment disagrees with ours (`--bail-on-disagree`).
    pub bail_on_disagree: bool,
    /// Last cemented commitment `(hash, level)` on L1 at startup.
    pub lcc: (CommitmentHash, Level),
    /// The operating key (`operating` purpose), whose publications set the LPC.
    pub operator: Option<PublicKeyHash>,
    /// What the node does on L1 (from its mode).
    pub role: Role,
}

/// What the node's mode makes it do on L1 (octez-rollup-node.md §1.4, §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Role {
    /// Bailout: exits once its operator's bond is recovered.
    pub bailout: bool,
    /// Accuser: publishes its commitment when it sees a conflicting one.
    pub accuser: bool,
    /// Publishes its commitments every period (maintenance, operator, custom with publish).
    pub publishes: bool,
}

/// What processing a level found that the operator side acts on
/// ([`Processor::take_events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowEvent {
    /// A commitment of another staker conflicts with ours (octez-rollup-node.md §3).
    Conflict(publisher::l1_ops::Conflict),
    /// A commitment was cemented on L1.
    Cemented {
        /// The commitment.
        hash: CommitmentHash,
        /// Its inbox level.
        inbox_level: Level,
    },
}

/// A commitment publication seen in an L1 block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// Commitment hash.
    pub hash: CommitmentHash,
    /// The commitment.
    pub commitment: Commitment,
    /// Its first publication level (from the receipt).
    pub first_published_at_level: Level,
    /// The staker who published it.
    pub source: PublicKeyHash,
}

/// What a block's applied manager operations did to this rollup (§5.2 step 4 scan).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RollupOps {
    /// Published commitments, in block order.
    pub published: Vec<Publication>,
    /// Cementations in the block, in order: (commitment hash, inbox level).
    pub cemented: Vec<(CommitmentHash, Level)>,
    /// Stakers whose bond was recovered.
    pub recovered: Vec<PublicKeyHash>,
    /// Outbox messages executed, as `(outbox level, message index)` read from the output
    /// proofs (Octez `process_included_l1_operation`; docs/reference/octez-rollup-node.md
    /// §6.3).
    pub executed: Vec<(Level, u32)>,
    /// Refutation games that ended: the two players and the result (`game_status.result`,
    /// `{"kind": "loser", "player", "reason"}` or `{"kind": "draw"}`).
    pub games_ended: Vec<([PublicKeyHash; 2], serde_json::Value)>,
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
            ) if r == rollup => out.published.push(Publication {
                hash: commitment.hash(),
                commitment: *commitment,
                first_published_at_level: *published_at_level,
                source: c.source,
            }),
            (
                ManagerBody::Cement { rollup: r },
                RollupResult::Cement {
                    commitment_hash,
                    inbox_level,
                },
            ) if r == rollup => out.cemented.push((*commitment_hash, *inbox_level)),
            (
                ManagerBody::Refute {
                    rollup: r,
                    opponent,
                },
                RollupResult::GameStatus(st),
            ) if r == rollup && st["result"].is_object() => {
                out.games_ended
                    .push(([c.source, *opponent], st["result"].clone()));
            }
            (
                ManagerBody::Timeout {
                    rollup: r,
                    alice,
                    bob,
                },
                RollupResult::GameStatus(st),
            ) if r == rollup && st["result"].is_object() => {
                out.games_ended.push(([*alice, *bob], st["result"].clone()));
            }
            (ManagerBody::RecoverBond { rollup: r, staker }, _) if r == rollup => {
                out.recovered.push(*staker);
            }
            (
                ManagerBody::ExecuteOutboxMessage {
                    rollup: r,
                    output_proof,
                    ..
                },
                _,
            ) if r == rollup => match executed_output(output_proof) {
                Some(e) => out.executed.push(e),
                None => tracing::warn!(
                    "An applied outbox message execution of {rollup} has an output proof \
                     this node cannot read: the message stays pending"
                ),
            },
            _ => {}
        }
    }
    out
}

/// `(outbox level, message index)` of the output an output proof shows
/// (`wasm_pvm::output_proof`); `None` when the proof does not decode or its values are out of
/// range.
fn executed_output(proof: &[u8]) -> Option<(Level, u32)> {
    let o = wasm_pvm::output_proof::verify_output_proof(proof)
        .ok()?
        .output;
    Some((
        Level::try_from(o.outbox_level).ok()?,
        u32::try_from(o.message_index).ok()?,
    ))
}

/// The PVM status stored with each block (its text is the `status` RPC's answer).
pub fn pvm_status(s: Status) -> PvmStatus {
    match s {
        Status::InputRequired => PvmStatus::WaitingForInputMessage,
        Status::Computing => PvmStatus::Computing,
    }
}

/// `Protocol_migration` version string of a protocol, from the one table in
/// [`inbox::protocols`] (crates/inbox/src/protocols.rs); `None` for an unknown protocol.
pub use inbox::protocol_version;

/// The genesis check (Octez `Invalid_genesis_state`, `rollup_node_errors.ml`): the commitment
/// of the PVM's initial state must be the rollup's genesis commitment on L1, otherwise the node
/// cannot continue (wrong `--boot-sector-file`, or a PVM bug).
pub fn check_genesis(
    computed: &CommitmentHash,
    l1: &CommitmentHash,
    computed_state: &StateHash,
    l1_state: &StateHash,
) -> Result<(), FollowError> {
    if computed == l1 && computed_state == l1_state {
        return Ok(());
    }
    Err(FollowError::Fatal(format!(
        "Genesis commitment computed ({computed}) is not equal to the rollup genesis ({l1}) \
         commitment. The rollup node cannot continue. If you used the argument \
         `--boot-sector-file` you probably provided the wrong boot sector. If not, please report \
         the bug. (Initial state computed {computed_state}, on L1 {l1_state}.)"
    )))
}

/// The node's self-check of its inbox (Octez `Inbox.same_as_layer_1`, error
/// `internal.inconsistent_inbox`): the inbox rebuilt from the blocks' operations must equal the
/// rollup inbox the L1 stores after the same block (level, history cell: witness, index, back
/// pointers, hence its hash; docs/reference/l1-and-signer.md §3.3).
pub fn check_inbox(
    block: &BlockHash,
    level: Level,
    ours: &Inbox,
    l1: &Inbox,
) -> Result<(), FollowError> {
    if ours == l1 {
        return Ok(());
    }
    Err(FollowError::Fatal(format!(
        "Internal error: the rollup node has an inconsistent inbox at level {level} (block \
         {block}): rebuilt inbox {} (level {}, {} levels of history) should be equal to the L1's \
         {} (level {}, {} levels of history). The inbox is rebuilt from the L1 blocks: check that \
         the L1 node is a correct Tezos node, then report the bug.",
        ours.hash(),
        ours.level,
        ours.old_levels_messages.index,
        l1.hash(),
        l1.level,
        l1.old_levels_messages.index,
    )))
}

/// State after the last processed block, kept in memory to avoid a checkout per level.
struct Cached {
    hash: BlockHash,
    state: PvmState,
    inbox: Inbox,
    header: BlockHeader,
    /// The L2 block stored for `hash` (saves reading it back for the next level).
    block: L2Block,
    /// The protocol of that level.
    protocol: Option<ProtocolInfo>,
}

/// The level processor.
pub struct Processor {
    /// L1 access.
    pub l1: L1,
    /// The store (the follower's own connection).
    pub store: Store,
    /// Committed PVM states.
    pub ctx: Context,
    /// Fast execution engine, with the tick-level PVM for the windows it only approximates
    /// (`pvm_tick::Exact`).
    pub engine: pvm_tick::Exact<WasmtimeEngine>,
    /// Reveal handler.
    pub reveal: Revealer,
    /// The rollup.
    pub rollup: RollupInfo,
    /// Kernel debug log, when enabled.
    pub kernel_log: Option<KernelLog>,
    /// Largest number of levels planned at once ([`CATCH_UP_CHUNK`]).
    pub catch_up_chunk: i32,
    /// Blocks fetched ahead of processing ([`DEFAULT_PREFETCH`], at least 1).
    pub prefetch: usize,
    /// Levels per SQLite commit while catching up ([`BATCH_LEVELS`], at least 1).
    pub batch_levels: usize,
    /// Time spent per phase since the last [`Timings`] reset.
    pub timings: Timings,
    /// Boot sector replacing the origination's (`--boot-sector-file`), already decoded.
    pub boot_sector: Option<Vec<u8>>,
    /// Unsafe patches of the genesis state (hard-coded, then `unsafe-pvm-patches`).
    pub unsafe_patches: Vec<(UnsafePatch, PatchKind)>,
    /// `--apply-unsafe-patches`: patches from the configuration may be applied.
    pub apply_unsafe_patches: bool,
    /// Compare the inbox of the level being processed with the L1's (last level of a step).
    check_inbox_now: bool,
    /// The commitment read or computed last, by hash.
    last_commitment: Option<(CommitmentHash, Commitment)>,
    cache: Option<Cached>,
    /// The last level's context, still being written on its own thread while the next
    /// level runs ([`Context::commit_beside`]); waited for before the next commit, a read of
    /// that state, and the batch's sync ([`Processor::commit_batch`]).
    pending_commit: Option<pvm_store::PendingCommit>,
    /// [`Processor::events`] held when the SQLite batch began: those of its levels are
    /// dropped with it ([`Processor::abandon_batch`]), since the levels are processed again.
    batch_events: usize,
    /// Found while processing levels, for the operator side ([`Self::take_events`]).
    events: Vec<FollowEvent>,
    /// DAL feature per protocol and DAL parameters per published level (docs/reference/dal.md §3).
    dal: crate::dal::DalInbox,
    /// `--loser-mode`: failures deliberately computed (tests of the refutation game only).
    pub loser: wasm_pvm::loser::LoserMode,
    /// Conflicts with our commitments, as stored with the last processed level
    /// (`open_conflicts`; the open ones are reported by `/health`).
    open_conflicts: node_context::ConflictLog,
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
    pub level: Option<Level>,
}

impl Processor {
    /// A processor.
    pub fn new(
        l1: L1,
        store: Store,
        ctx: Context,
        engine: pvm_tick::Exact<WasmtimeEngine>,
        reveal: Revealer,
        rollup: RollupInfo,
    ) -> Self {
        // Contexts are synced once per batch of levels, before the SQLite commit
        // ([`Processor::commit_batch`]).
        ctx.set_deferred_sync(true);
        // Each level's commit runs beside the next level's kernel (`commit_beside`).
        ctx.set_commit_threads(pvm_store::commit_threads_beside_a_kernel());
        Self {
            l1,
            store,
            ctx,
            engine,
            reveal,
            rollup,
            kernel_log: None,
            catch_up_chunk: CATCH_UP_CHUNK,
            prefetch: DEFAULT_PREFETCH,
            batch_levels: BATCH_LEVELS,
            timings: Timings::default(),
            boot_sector: None,
            unsafe_patches: Vec::new(),
            apply_unsafe_patches: false,
            check_inbox_now: false,
            last_commitment: None,
            cache: None,
            pending_commit: None,
            batch_events: 0,
            events: Vec::new(),
            dal: crate::dal::DalInbox::default(),
            loser: wasm_pvm::loser::LoserMode::honest(),
            open_conflicts: node_context::ConflictLog::default(),
        }
    }

    /// Reads the conflicts stored with the last processed level (startup), without what the
    /// blocks above the L2 head did (the head was reset below them, `reset_to_last_committed`):
    /// the list is stored again without them before anything else runs.
    ///
    /// # Errors
    /// The store unreadable or unwritable; a malformed row is logged and forgotten (it only
    /// feeds `/health`).
    pub fn load_open_conflicts(&mut self) -> Result<(), FollowError> {
        let stored = self.store.state(node_store::StateKey::OpenConflicts)?;
        let Some((value, at)) = stored else {
            self.open_conflicts = node_context::ConflictLog::default();
            return Ok(());
        };
        let mut log = node_context::ConflictLog::decode(&value).unwrap_or_else(|e| {
            tracing::warn!("Stored open conflicts ignored: {e}");
            node_context::ConflictLog::default()
        });
        let head = self.store.head()?.map(|b| b.level);
        if let Some(above) = head.and_then(Level::succ) {
            log.rewind(above);
        }
        if log.encode() != value {
            let at = head.unwrap_or(at);
            self.store.transaction(|w| {
                w.set_state(node_store::StateKey::OpenConflicts, &log.encode(), at)
            })?;
        }
        self.open_conflicts = log;
        Ok(())
    }

    /// The conflicts with our commitments not settled by a cementation, oldest first.
    pub fn open_conflicts(&self) -> Vec<node_context::OpenConflict> {
        self.open_conflicts.open_conflicts()
    }

    /// The events found since the last call, in order.
    pub fn take_events(&mut self) -> Vec<FollowEvent> {
        std::mem::take(&mut self.events)
    }

    /// Brings the L2 chain towards `head` (at most [`Self::catch_up_chunk`] levels);
    /// `on_level` is called after each level and stops the step when it returns `false`.
    pub fn follow(
        &mut self,
        head: &BlockHeader,
        mut on_level: impl FnMut(Level) -> bool,
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
        let chunk = u32::try_from(self.catch_up_chunk.max(1)).unwrap_or(1);
        let far = head.shell.level.distance_from(base).unwrap_or(0) > chunk;
        let target: ChainBlock = if far {
            let lvl = base
                .checked_add(chunk)
                .ok_or_else(|| FollowError::Overflow("level"))?;
            let h = self.l1.hash_of_level(lvl)?;
            ChainBlock::from(&self.l1.header(&h)?)
        } else {
            ChainBlock::from(head)
        };
        let from = last
            .map_or(orig, |l| l.checked_sub(128).unwrap_or(Level::ZERO))
            .max(orig);
        let processed: BTreeMap<Level, BlockHash> =
            self.store.levels_from(from)?.into_iter().collect();
        let (orig_level, last_level) = (orig, last);
        let length = ancestry_fetch_length(target.level, last_level, orig_level)
            .saturating_add(64)
            .min(65_536);
        let ancestors = self.l1.ancestors(&target.hash, length)?;
        let mut chain: HashMap<BlockHash, ChainBlock> = HashMap::new();
        for (i, w) in ancestors.windows(2).enumerate() {
            let level = u32::try_from(i)
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
        let plan = plan_update(&processed, orig_level, &target, |h| chain.get(h).copied())?;
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
        // Fetch blocks ahead of processing (at most `prefetch` in flight); dropped fetches of
        // an interrupted step are aborted.
        let mut pending: VecDeque<PendingBlock> = VecDeque::new();
        let mut next = plan.to_process.iter();
        let window = self.prefetch.max(1);
        let batch = self.batch_levels.max(1);
        let mut n = 0;
        // One SQLite commit per `batch` levels: every level stays atomic (a savepoint) and its
        // context is committed (synced) before, so a crash loses at most the uncommitted
        // levels, which are processed again.
        self.begin_batch()?;
        let mut in_batch = 0usize;
        let mut batch_start = std::time::Instant::now();
        let result = (|| {
            for b in &plan.to_process {
                while pending.len() < window
                    && let Some(f) = next.next()
                {
                    pending.push_back(self.l1.spawn_block(&f.hash));
                }
                let fetch = pending.pop_front().ok_or_else(|| {
                    FollowError::Inconsistent("prefetch queue out of sync".into())
                })?;
                let t = std::time::Instant::now();
                let block = self.l1.join_block(fetch)?;
                self.timings.fetch += t.elapsed();
                self.check_inbox_now = plan.to_process.last().is_some_and(|l| l.hash == b.hash);
                let processed = self.process_block(b, &block);
                self.check_inbox_now = false;
                processed?;
                self.timings.levels += 1;
                n += 1;
                in_batch += 1;
                if in_batch >= batch || batch_start.elapsed() >= BATCH_MAX_AGE {
                    let t = std::time::Instant::now();
                    self.commit_batch()?;
                    self.begin_batch()?;
                    self.timings.sql += t.elapsed();
                    in_batch = 0;
                    batch_start = std::time::Instant::now();
                }
                if !on_level(b.level) {
                    break;
                }
            }
            Ok::<(), FollowError>(())
        })();
        for p in pending {
            p.abort();
        }
        // Keep the levels processed before an error too: each is complete.
        let t = std::time::Instant::now();
        let committed = self.commit_batch();
        self.timings.sql += t.elapsed();
        result?;
        committed?;
        Ok(Progress {
            processed: n,
            reached_head: !far,
            level: self.store.head()?.map(|b| b.level),
        })
    }

    /// Processes one block whose predecessor is processed (or the origination block).
    pub fn process(&mut self, b: &ChainBlock) -> Result<(), FollowError> {
        let block = self.l1.block(&b.hash)?;
        self.begin_batch()?;
        let r = self.process_block(b, &block);
        let committed = self.commit_batch();
        r?;
        committed
    }

    /// Makes the contexts committed so far durable, then commits the SQLite batch that
    /// references them (the store never points at a context that is not durable). On
    /// failure the batch is rolled back (those levels are processed again); a failed context
    /// sync is fatal (the kernel may have dropped the unsynced pages: restart, which rescans
    /// the context file).
    fn commit_batch(&mut self) -> Result<(), FollowError> {
        self.wait_commit()?;
        if let Err(e) = self.ctx.sync() {
            self.abandon_batch();
            return Err(FollowError::Fatal(format!(
                "Cannot sync the context to disk ({e}); check the disk, then restart the node."
            )));
        }
        if let Err(e) = self.store.commit_batch() {
            self.abandon_batch();
            return Err(e.into());
        }
        Ok(())
    }

    /// Opens the SQLite batch of the next levels.
    fn begin_batch(&mut self) -> Result<(), FollowError> {
        self.batch_events = self.events.len();
        Ok(self.store.begin_batch()?)
    }

    /// Rolls the SQLite batch back: its levels are processed again, from their stored
    /// predecessor (the cached state is dropped), and their events are forgotten (they come
    /// again with the levels).
    fn abandon_batch(&mut self) {
        let _ = self.store.rollback_batch();
        self.cache = None;
        self.events.truncate(self.batch_events);
    }

    /// Waits for the context commit still running ([`Processor::pending_commit`]). If it
    /// failed, the batch is rolled back (its levels reference that context; they are
    /// processed again) and the error returned.
    fn wait_commit(&mut self) -> Result<(), FollowError> {
        let Some(pending) = self.pending_commit.take() else {
            return Ok(());
        };
        let t = std::time::Instant::now();
        let waited = pending.wait();
        self.timings.commit += t.elapsed();
        if let Err(e) = waited {
            self.abandon_batch();
            return Err(e.into());
        }
        Ok(())
    }

    /// Processes `block`, fetched for `b`.
    fn process_block(&mut self, b: &ChainBlock, block: &Block) -> Result<(), FollowError> {
        if block.hash != b.hash {
            return Err(FollowError::Inconsistent(format!(
                "L1 returned block {} for {}",
                block.hash, b.hash
            )));
        }
        if block.level() == self.rollup.origination_level {
            return self.genesis(block);
        }
        self.process_level(block)
    }

    /// Applies the unsafe patches to the genesis `state` (`Interpreter.apply_unsafe_patches`):
    /// patches from the configuration need `--apply-unsafe-patches`, and any patch needs a
    /// private rollup (a whitelist at the origination block).
    fn apply_unsafe_patches(&self, block: &Block, state: &mut PvmState) -> Result<(), FollowError> {
        if self.unsafe_patches.is_empty() {
            return Ok(());
        }
        let user_provided = self
            .unsafe_patches
            .iter()
            .any(|(_, k)| *k == PatchKind::UserProvided);
        if user_provided && !self.apply_unsafe_patches {
            return Err(FollowError::Fatal(
                node_config::unsafe_patches::needs_apply_unsafe_flag(&self.unsafe_patches),
            ));
        }
        if self
            .l1
            .whitelist(&self.rollup.address, &block.hash)?
            .is_none()
        {
            return Err(FollowError::Fatal(
                node_config::unsafe_patches::CANNOT_PATCH_PUBLIC_ROLLUP.to_owned(),
            ));
        }
        for (patch, _) in &self.unsafe_patches {
            tracing::warn!("Patching genesis PVM state: {patch}");
            let applied = match patch {
                UnsafePatch::IncreaseMaxNbTicks(n) => u128::try_from(*n)
                    .map_err(|_| format!("negative tick limit {n}"))
                    .and_then(|n| state.increase_max_nb_ticks(n)),
                UnsafePatch::PatchDurableStorage { key, value } => {
                    match durable_tree::durable::Key::from_str_checked(key) {
                        Ok(k) => state
                            .durable_mut()
                            .set(&k, value)
                            .map_err(|e| format!("cannot write {key}: {e}")),
                        Err(e) => Err(format!("invalid durable key {key:?}: {e:?}")),
                    }
                }
            };
            applied.map_err(|e| FollowError::Fatal(format!("Unsafe patch \"{patch}\": {e}")))?;
        }
        Ok(())
    }

    fn genesis(&mut self, block: &Block) -> Result<(), FollowError> {
        // Commits land in order.
        self.wait_commit()?;
        let rollup = &self.rollup;
        // `--boot-sector-file` replaces the origination's boot sector (Octez
        // `Interpreter.get_boot_sector`; docs/reference/octez-rollup-node.md §1.3).
        let kernel = match &self.boot_sector {
            Some(k) => k.clone(),
            None => block
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
                })?,
        };
        // The PVM version is the origination protocol's (wasm-pvm.md §1.2).
        let version = protocol_version(&block.protocol)
            .and_then(|name| PvmVersion::at_origination(name.as_bytes()))
            .unwrap_or_else(|| {
                tracing::warn!(
                    "Unknown origination protocol {}: assuming PVM {}",
                    block.protocol,
                    PvmVersion::V6
                );
                PvmVersion::V6
            });
        // The origination protocol's parameters: the L1's genesis commitment holds that state.
        let params = protocol_version(&block.protocol)
            .map_or_else(GenesisParams::default, |name| {
                GenesisParams::at_origination(name.as_bytes())
            });
        let mut state = PvmState::genesis(version, &kernel, &params)?;
        // The genesis commitment is the unpatched state's (`genesis_pvm_state`); the state the
        // node goes on from is patched (`Interpreter.genesis_state`, `Patched`).
        let unpatched = state.hash()?;
        self.apply_unsafe_patches(block, &mut state)?;
        let hash = self.ctx.commit(&state)?;
        let l1_genesis = self
            .l1
            .commitment(&rollup.address, &rollup.genesis_commitment)?;
        let commitment = Commitment {
            compressed_state: StateHash(unpatched.0),
            inbox_level: rollup.origination_level,
            predecessor: CommitmentHash::ZERO,
            number_of_ticks: 0,
        };
        let chash = commitment.hash();
        check_genesis(
            &chash,
            &rollup.genesis_commitment,
            &commitment.compressed_state,
            &l1_genesis.compressed_state,
        )?;
        let inbox = self.l1.global_inbox(&block.hash)?;
        let witness = inbox.old_levels_messages.witness;
        let level = rollup.origination_level;
        let l2 = L2Block {
            block_hash: block.hash,
            level,
            predecessor: block.header.predecessor,
            commitment_hash: Some(chash),
            previous_commitment_hash: chash,
            context: Some(context_hash(&hash)),
            inbox_witness: witness,
            inbox_hash: inbox.hash(),
            initial_tick: Tick::ZERO,
            num_ticks: Tick::ZERO,
            state_hash: Some(StateHash(hash.0)),
            pvm_status: Some(pvm_status(state.status())),
        };
        let c = commitment;
        let protocol = ProtocolInfo {
            hash: block.protocol,
            proto_level: i32::from(block.header.proto),
            first_level: level,
            first_is_activation: false,
        };
        self.store.transaction(|w| {
            w.insert_inbox(&inbox.hash(), level, &inbox.to_bin())?;
            w.insert_messages(&witness, level, &encode_message_list(&[]))?;
            w.insert_commitment(&chash, &c)?;
            w.insert_protocol(&protocol)?;
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
            block: l2,
            protocol: Some(protocol),
        });
        Ok(())
    }

    /// Our commitment at `inbox_level`: `current` (computed for the block being processed,
    /// not stored yet) or the stored one.
    fn our_commitment_at(
        &self,
        inbox_level: Level,
        current: Option<(Level, CommitmentHash, Commitment)>,
    ) -> Result<Option<(CommitmentHash, Commitment)>, FollowError> {
        if let Some((l, h, c)) = current
            && l == inbox_level
        {
            return Ok(Some((h, c)));
        }
        let Some(h) = self
            .store
            .block_by_level(inbox_level)?
            .and_then(|b| b.commitment_hash)
        else {
            return Ok(None);
        };
        Ok(self.store.commitment(&h)?.map(|c| (h, c)))
    }

    /// Reacts to a commitment published by another staker (Octez `check_other_commitment`):
    /// a conflict with ours is reported loudly, is fatal for an observer with
    /// `--bail-on-disagree` (`Disagree_with_commitment`), and is handed to the operator
    /// side ([`FollowEvent::Conflict`]): an accuser publishes its own commitment.
    fn check_other_commitment(
        &mut self,
        p: &Publication,
        current: Option<(Level, CommitmentHash, Commitment)>,
    ) -> Result<Option<node_context::OpenConflict>, FollowError> {
        let ours = self.our_commitment_at(p.commitment.inbox_level, current)?;
        let Some(found) = publisher::l1_ops::conflict(ours, p.hash, &p.commitment, p.source) else {
            return Ok(None);
        };
        let msg = format!(
            "Potential conflict detected: commitment {} published by {} for inbox level {} \
             disagrees with ours {}",
            p.hash, p.source, p.commitment.inbox_level, found.ours.0
        );
        let role = self.rollup.role;
        match publisher::l1_ops::conflict_action(
            role.accuser,
            role.publishes,
            self.rollup.bail_on_disagree,
        ) {
            publisher::l1_ops::ConflictAction::Stop => {
                return Err(FollowError::Fatal(format!("{msg}.")));
            }
            publisher::l1_ops::ConflictAction::PublishOurs
            | publisher::l1_ops::ConflictAction::Report => tracing::warn!("{msg}"),
        }
        let open = node_context::OpenConflict {
            inbox_level: found.inbox_level,
            ours: found.ours.0,
            theirs: found.theirs,
            staker: found.other,
        };
        self.events.push(FollowEvent::Conflict(found));
        Ok(Some(open))
    }

    /// What processing a successor of the processed block `pred_hash` needs: from the cache
    /// when it holds that block (the common case), else from the store and context.
    fn predecessor_data(&mut self, pred_hash: &BlockHash) -> Result<Cached, FollowError> {
        if let Some(c) = self.cache.take()
            && c.hash == *pred_hash
        {
            return Ok(c);
        }
        let pred = self.store.block_by_hash(pred_hash)?.ok_or_else(|| {
            FollowError::Inconsistent(format!("predecessor {pred_hash} is not processed"))
        })?;
        let protocol = self.store.protocol_of_level(pred.level)?;
        let state = self.ctx.state_of(&pred)?;
        let blob = self.store.inbox_blob(&pred.inbox_hash)?.ok_or_else(|| {
            FollowError::Inconsistent(format!("missing inbox {} in the store", pred.inbox_hash))
        })?;
        let inbox = Inbox::from_bin(&blob.1).map_err(FollowError::StoredInbox)?;
        let header = self.l1.header(&pred.block_hash)?;
        Ok(Cached {
            hash: pred.block_hash,
            state,
            inbox,
            header,
            block: pred,
            protocol,
        })
    }

    fn process_level(&mut self, block: &Block) -> Result<(), FollowError> {
        let level = block.level();
        let Cached {
            state,
            inbox: pred_inbox,
            header: pred_header,
            block: pred,
            protocol: prev_proto,
            ..
        } = self.predecessor_data(&block.header.predecessor)?;
        if pred.level.succ() != Some(level) {
            return Err(FollowError::Inconsistent(format!(
                "block {} at level {level} follows block {} at level {}",
                block.hash, pred.block_hash, pred.level
            )));
        }
        // First block of a new protocol: `Protocol_migration` (l1-and-signer.md §3.2).
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
        // `Dal_attested_slots` (U025 and later), before `End_of_level` (docs/reference/dal.md §3).
        let dal_messages = self.dal.messages(&self.l1, block)?;
        let messages =
            rollup_inbox_of_level_with_dal(block, &pred_header, migration, dal_messages)?;
        let (inbox, witness) =
            next_inbox(&pred_inbox, &messages).ok_or_else(|| FollowError::Overflow("inbox"))?;
        // Commitment every period (§6.1).
        let prev_hash = pred
            .commitment_hash
            .unwrap_or(pred.previous_commitment_hash);
        // Commitments are content-addressed: the one read last is reused while it is the
        // predecessor (a whole commitment period).
        let prev = match &self.last_commitment {
            Some((h, c)) if *h == prev_hash => *c,
            _ => {
                let c = self.store.commitment(&prev_hash)?.ok_or_else(|| {
                    FollowError::Inconsistent(format!(
                        "missing commitment {prev_hash} in the store"
                    ))
                })?;
                self.last_commitment = Some((prev_hash, c));
                c
            }
        };
        let commitment_level =
            next_commitment_level(prev.inbox_level, self.rollup.commitment_period) == Some(level);
        // Inbox self-check ([`check_inbox`]) before the PVM reads the inbox, as Octez's
        // `same_as_layer_1`: at each commitment level and at the last level of each step, so at
        // every level once caught up (one RPC per level), every commitment period while
        // catching up.
        if commitment_level || self.check_inbox_now {
            let l1_inbox = self.l1.global_inbox(&block.hash)?;
            check_inbox(&block.hash, level, &inbox, &l1_inbox)?;
        }
        let t_pvm = std::time::Instant::now();
        let serialized: Vec<Vec<u8>> = messages.iter().map(BinEncode::to_bin).collect();
        let initial_tick = Tick::new(state.current_tick());
        // No copy of the state is kept during the level: on failure it is dropped (the cache
        // was taken), and the retry starts from the predecessor's committed state, which
        // `process_level_owned` also reloads for a window it must replay exactly. The
        // predecessor's context may still be being written meanwhile (`pending_commit`):
        // a reload waits for it first.
        let ctx = &self.ctx;
        let pending = std::cell::RefCell::new(self.pending_commit.take());
        let pending_failed = std::cell::Cell::new(false);
        let ran = state.process_level_owned(
            level.to_u32(),
            &serialized,
            &mut self.engine,
            &mut self.reveal,
            self.kernel_log
                .as_mut()
                .map(|l| l as &mut dyn wasm_pvm::DebugSink),
            &self.loser,
            || -> Result<PvmState, FollowError> {
                let p = pending.borrow_mut().take();
                if let Some(p) = p {
                    p.wait().inspect_err(|_| pending_failed.set(true))?;
                }
                Ok(ctx.state_of(&pred)?)
            },
        );
        self.timings.pvm += t_pvm.elapsed();
        // The predecessor's context first: a failed write loses its batch, whatever the
        // level's outcome.
        if pending_failed.get() {
            self.abandon_batch();
        }
        self.pending_commit = pending.into_inner();
        self.wait_commit()?;
        let (state, ticks) = ran?;
        if let Some(l) = &mut self.kernel_log {
            l.flush();
        }
        let t_commit = std::time::Instant::now();
        // Hashed here, written beside the next level (waited for by `commit_batch`).
        let pending = self.ctx.commit_beside(&state)?;
        let hash = pending.hash();
        self.pending_commit = Some(pending);
        self.timings.commit += t_commit.elapsed();
        let state_hash = StateHash(hash.0);
        let commitment = if commitment_level {
            let prev_block = self
                .store
                .block_by_level(prev.inbox_level)?
                .ok_or_else(|| {
                    FollowError::Inconsistent(format!(
                        "missing block at level {}",
                        prev.inbox_level
                    ))
                })?;
            // The store refuses a negative stored tick count (a corrupt row, never 0 ticks).
            let prev_end = prev_block
                .initial_tick
                .checked_add(prev_block.num_ticks)
                .ok_or_else(|| FollowError::Overflow("tick"))?;
            let n = Tick::new(state.current_tick())
                .checked_sub(prev_end)
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| FollowError::Overflow("commitment ticks"))?;
            let c = Commitment {
                compressed_state: state_hash,
                inbox_level: level,
                predecessor: prev_hash,
                number_of_ticks: n,
            };
            Some((c.hash(), c))
        } else {
            None
        };
        let outbox = match state.outbox(level.to_u32()) {
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
            context: Some(context_hash(&hash)),
            inbox_witness: witness,
            inbox_hash: inbox.hash(),
            initial_tick,
            num_ticks: Tick::new(ticks),
            state_hash: Some(state_hash),
            pvm_status: Some(pvm_status(state.status())),
        };
        let orig = self.rollup.origination_level;
        let ops = rollup_ops(block, &self.rollup.address);
        // A game of ours that ended against us stops the node (Octez `Lost_game`, checked on
        // the included refute and timeout operations).
        if let Some(me) = self.rollup.operator {
            for (players, result) in &ops.games_ended {
                if !players.contains(&me) {
                    continue;
                }
                let lost = match result["kind"].as_str() {
                    Some("draw") => Some("a draw"),
                    Some("loser")
                        if result["player"] == serde_json::Value::String(me.to_b58check()) =>
                    {
                        Some(match result["reason"].as_str() {
                            Some("timeout") => "a timeout",
                            _ => "a conflict resolved against us",
                        })
                    }
                    _ => None,
                };
                if let Some(how) = lost {
                    return Err(FollowError::Fatal(format!(
                        "Lost_game: {me} lost its refutation game at level {level} ({how}); its \
                         stake is slashed and the node stops."
                    )));
                }
            }
        }
        let current = commitment.as_ref().map(|(h, c)| (level, *h, *c));
        // Publications: ours set the LPC; others' are recorded once, and checked against
        // ours (Octez `register_published_commitment`, `check_other_commitment`).
        let mut publications = Vec::with_capacity(ops.published.len());
        let mut lpc = None;
        // What the blocks at this level and above did is undone first: they were abandoned
        // (a reorganisation) or lost (a crash).
        let mut open_conflicts = self.open_conflicts.clone();
        open_conflicts.rewind(level);
        for p in &ops.published {
            let ours = self.rollup.operator == Some(p.source);
            if ours {
                publications.push((p.hash, p.first_published_at_level, Some(level)));
                lpc = Some((p.hash, p.commitment.inbox_level));
                tracing::info!(
                    "Last published commitment updated: {} for inbox level {} (included at \
                     level {level})",
                    p.hash,
                    p.commitment.inbox_level
                );
            } else {
                if self.store.commitment_published_at(&p.hash)?.is_none() {
                    publications.push((p.hash, p.first_published_at_level, None));
                }
                if let Some(c) = self.check_other_commitment(p, current)? {
                    open_conflicts.open(c, level);
                }
            }
        }
        // Cementations: of our commitment, or fatal (`Disagree_with_cemented`).
        for (h, l) in &ops.cemented {
            let ours = self.our_commitment_at(*l, current)?.map(|(h, _)| h);
            publisher::l1_ops::check_cemented(*l, ours, *h)
                .map_err(|e| FollowError::Fatal(e.to_string()))?;
            open_conflicts.settle(*l, level);
            self.events.push(FollowEvent::Cemented {
                hash: *h,
                inbox_level: *l,
            });
        }
        let t_sql = std::time::Instant::now();
        let finalized = finalized_level(level);
        if let Some(f) = finalized {
            open_conflicts.forget_settled(f);
        }
        self.store.transaction(|w| {
            for (h, first, at) in &publications {
                w.set_commitment_published_at(h, *first, *at)?;
            }
            if let Some((h, l)) = &lpc {
                w.set_lpc(h, *l)?;
            }
            if let Some((h, l)) = ops.cemented.last() {
                w.set_lcc(h, *l)?;
            }
            if open_conflicts != self.open_conflicts {
                w.set_state(
                    node_store::StateKey::OpenConflicts,
                    &open_conflicts.encode(),
                    level,
                )?;
            }
            w.insert_inbox(&inbox.hash(), level, &inbox.to_bin())?;
            w.insert_messages(&witness, level, &encode_message_list(&serialized))?;
            if let Some((h, c)) = &commitment {
                w.insert_commitment(h, c)?;
            }
            match &outbox {
                Some(o) => w.set_outbox_messages(o)?,
                None => w.delete_outbox_messages(level)?,
            }
            for (l, i) in &ops.executed {
                if w.set_outbox_message_executed(*l, *i)? {
                    tracing::info!("Outbox message {i} of level {l} executed on L1");
                }
            }
            if let Some(p) = &new_proto {
                w.insert_protocol(p)?;
            }
            w.insert_block(&l2)?;
            w.set_level(level, &block.hash)?;
            w.truncate_levels_above(level)?;
            w.set_head(&block.hash, level)?;
            if let Some(fl) = finalized.filter(|l| *l >= orig)
                && let Some(h) = w.level_hash(fl)?
            {
                w.set_finalized(&h, fl)?;
            }
            Ok(())
        })?;
        self.timings.sql += t_sql.elapsed();
        self.open_conflicts = open_conflicts;
        if let Some((h, c)) = &commitment {
            self.last_commitment = Some((*h, *c));
        }
        if let Some((h, _)) = &commitment {
            tracing::info!("Computed commitment {h} for inbox level {level}");
        }
        // Bailout ends once its operator's bond is recovered (the level is stored first).
        if ops.recovered.iter().any(|s| {
            publisher::l1_ops::bailout_done(
                self.rollup.role.bailout,
                self.rollup.operator.as_ref(),
                s,
            )
        }) {
            return Err(FollowError::BondRecovered);
        }
        tracing::debug!(
            "Processed level {level} ({} messages, {ticks} ticks, state {state_hash})",
            serialized.len()
        );
        let protocol = new_proto.or(prev_proto);
        self.cache = Some(Cached {
            hash: block.hash,
            state,
            inbox,
            header: block.block_header(),
            block: l2,
            protocol,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use tezos_types::ProtocolHash;

    #[test]
    fn follow_errors_keep_their_sources() {
        let reorg = ReorgError::MissingBlock {
            hash: BlockHash::new([3; 32]),
            level: tezos_types::Level::new(12).unwrap(),
        };
        let e = FollowError::from(reorg.clone());
        assert!(matches!(&e, FollowError::Reorg(r) if *r == reorg), "{e:?}");
        // Same message as before the error was typed.
        assert_eq!(e.to_string(), reorg.to_string());
        assert!(e.to_string().contains("archive mode"), "{e}");
        assert_eq!(FollowError::Overflow("tick").to_string(), "tick overflow");
        assert_eq!(
            FollowError::NegativeLevel(-1).to_string(),
            "negative level -1"
        );
        let decode = Inbox::from_bin(&[1, 2]).unwrap_err();
        let e = FollowError::StoredInbox(decode.clone());
        assert!(e.source().is_some());
        assert_eq!(e.to_string(), format!("stored inbox: {decode:?}"));
        assert!(!e.is_fatal());
        // A bad --endpoint is fatal and keeps the L1 error as its source.
        let l1 = L1Client::new(l1_client::L1Config::new("ftp://nope")).unwrap_err();
        assert!(l1.is_fatal_config(), "{l1}");
        let e = FollowError::L1Config(Box::new(l1));
        assert!(e.is_fatal());
        assert!(e.to_string().ends_with(". Exiting."), "{e}");
        assert!(e.source().is_some());
        assert!(FollowError::Fatal("x".into()).is_fatal());
        assert!(!FollowError::Stopped.is_fatal());
    }

    fn inbox(level: i32, index: u64) -> Inbox {
        let level = tezos_types::Level::new(level).unwrap();
        Inbox {
            level,
            old_levels_messages: tezos_types::inbox::InboxHistoryCell {
                witness: tezos_types::MerkelizedPayloadHashesHash([1; 32]),
                level,
                index,
                back_pointers: vec![],
            },
        }
    }

    #[test]
    fn the_inbox_self_check_compares_everything() {
        let b = BlockHash([3; 32]);
        let ours = inbox(7, 4);
        check_inbox(&b, Level::from(7u8), &ours, &ours.clone()).unwrap();
        let e = check_inbox(&b, Level::from(7u8), &ours, &inbox(7, 5)).unwrap_err();
        assert!(matches!(e, FollowError::Fatal(_)), "{e}");
        let m = e.to_string();
        assert!(m.contains("inconsistent inbox at level 7"), "{m}");
        assert!(m.contains(&inbox(7, 5).hash().to_string()), "{m}");
        let mut other_witness = ours.clone();
        other_witness.old_levels_messages.witness =
            tezos_types::MerkelizedPayloadHashesHash([2; 32]);
        assert!(check_inbox(&b, Level::from(7u8), &ours, &other_witness).is_err());
        assert!(check_inbox(&b, Level::from(7u8), &ours, &inbox(8, 4)).is_err());
    }

    #[test]
    fn a_genesis_mismatch_is_fatal() {
        let a = CommitmentHash([1; 32]);
        let b = CommitmentHash([2; 32]);
        let s = StateHash([5; 32]);
        check_genesis(&a, &a, &s, &s).unwrap();
        let e = check_genesis(&a, &b, &s, &s).unwrap_err();
        assert!(matches!(e, FollowError::Fatal(_)));
        let m = e.to_string();
        assert!(
            m.contains("Genesis commitment computed") && m.contains("--boot-sector-file"),
            "{m}"
        );
        assert!(check_genesis(&a, &a, &s, &StateHash([6; 32])).is_err());
    }

    #[test]
    fn protocol_versions() {
        let u: ProtocolHash = "PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY"
            .parse()
            .unwrap();
        assert_eq!(protocol_version(&u), Some("u025_025"));
        let paris_c: ProtocolHash = "PsParisCZo7KAh1Z1smVd9ZMZ1HHn5gkzbM94V3PLCpknFWhUAi"
            .parse()
            .unwrap();
        assert_eq!(protocol_version(&paris_c), Some("paris_020"));
        let oxford2: ProtocolHash = "ProxfordYmVfjWnRcgjWH36fW6PArwqykTFzotUxRs6gmTcZDuH"
            .parse()
            .unwrap();
        let origination =
            protocol_version(&oxford2).map(|n| PvmVersion::at_origination(n.as_bytes()));
        assert_eq!(origination, Some(Some(PvmVersion::V3)));
        assert_eq!(protocol_version(&ProtocolHash([0; 32])), None);
        assert_eq!(pvm_status(Status::Computing).as_str(), "Computing");
        assert_eq!(
            pvm_status(Status::InputRequired).as_str(),
            "Waiting for input message"
        );
    }
}
