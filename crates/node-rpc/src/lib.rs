//! RPC server (octez-rollup-node.md §4): axum over a [`NodeView`], Octez JSON shapes
//! (int64/Zarith as strings, base58 hashes), JSON error traces for every error
//! ([`error`]), one route table for the router and `/openapi` ([`routes`], [`openapi`]), the
//! ACL of the listening address (§2 "Default RPC ACL"), `/health` over the shared
//! [`NodeStatus`], the streamed RPCs (`monitor_blocks`, `monitor_finalized_blocks`,
//! `local/synchronized`: chunked, one JSON value per line, polling the store, ending on
//! disconnect or shutdown), the metrics ([`metrics`]) and CORS ([`cors`]).

mod batcher_routes;
pub mod cors;
pub mod error;
mod injector_routes;
pub mod metrics;
pub mod openapi;
pub mod outbox_routes;
pub mod routes;
pub mod simulate;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tezos_types::{BlockHash, CommitmentHash, Level};

pub use error::RpcError;
pub use routes::{Call, QueryTy, ROUTES, Route};

use node_config::Config;
use node_context::{L1Connection, NodeStatus, RollupConstants, WorkerStatus};
use node_store::{Commitment, L2Block, ReadPool, Store, StoreError};
use pvm_store::DurableState;

/// Paths denied by Octez's "secure" ACL (`rpc_server.ml`), as resto path matchers.
pub const SECURE_ACL_DENY: &[&str] = &[
    "GET /global/block/*/durable/wasm_2_0_0/subkeys",
    "GET /global/block/*/durable/wasm_2_0_0/values",
    "/local/batcher/**",
    "/local/dal/**",
    "/admin/**",
    "/stats/**",
    "/config",
];

/// `/health` rules (§4.1): healthy = ¬degraded ∧ connected ∧ blocks_late ≤ 1 (3 when
/// monitoring finalized heads) ∧ head not older than 60 s ∧ all workers running.
pub fn health_json(
    status: &NodeStatus,
    l2_level: Option<i32>,
    l1_monitor_finalized: bool,
) -> Value {
    let blocks_late = match (&status.l1_head, l2_level) {
        (Some(h), Some(l)) => h.level.checked_sub(l).unwrap_or(0),
        _ => 0,
    };
    let max_late = if l1_monitor_finalized { 3 } else { 1 };
    let fresh = status.l1_head.as_ref().is_some_and(|h| h.age_secs <= 60);
    let active = status.workers.snapshot();
    let workers_ok = active.iter().all(|(_, s)| *s == WorkerStatus::Running);
    let healthy = !status.degraded
        && status.l1_connection == L1Connection::Connected
        && blocks_late <= max_late
        && fresh
        && workers_ok;
    let mut l1 = serde_json::Map::new();
    l1.insert("connection".into(), json!(status.l1_connection.as_str()));
    l1.insert("blocks_late".into(), json!(blocks_late));
    if let Some(e) = &status.l1_error {
        l1.insert("error".into(), json!(e));
    }
    if let Some(h) = &status.l1_head {
        l1.insert(
            "last_seen_head".into(),
            json!({"hash": h.hash.to_b58check(), "level": h.level, "timestamp": h.timestamp}),
        );
    }
    let workers: Vec<Value> = active
        .iter()
        .map(|(n, s)| match s {
            WorkerStatus::Running => json!([n, "running"]),
            WorkerStatus::Crashed(e) => json!([n, {"crashed": e}]),
        })
        .collect();
    let mut health = json!({"healthy": healthy, "degraded": status.degraded, "l1": l1, "active_workers": workers});
    if !status.open_conflicts.is_empty() {
        health["conflicts"] = status
            .open_conflicts
            .iter()
            .map(|c| {
                json!({"inbox_level": c.inbox_level, "ours": c.ours, "theirs": c.theirs,
                       "staker": c.staker})
            })
            .collect();
    }
    health
}

/// Block identifiers (§4 `<block_id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockId {
    /// Last processed block.
    Head,
    /// Last finalized block.
    Finalized,
    /// Block at the LCC level.
    Cemented,
    /// Level.
    Level(Level),
    /// L1 hash.
    Hash(BlockHash),
}

impl BlockId {
    /// Parses `head | finalized | cemented | <level> | <hash>`.
    pub fn parse(s: &str) -> Option<BlockId> {
        match s {
            "head" => Some(Self::Head),
            "finalized" => Some(Self::Finalized),
            "cemented" => Some(Self::Cemented),
            s => s
                .parse::<i32>()
                .ok()
                .and_then(Level::new)
                .map(Self::Level)
                .or_else(|| s.parse().ok().map(Self::Hash)),
        }
    }
}

/// `(first_published_at_level, published_at_level)` of a commitment.
pub type Published = (Level, Option<Level>);

/// What the RPC server reads; the daemon implements it (see [`StoreView`]).
pub trait NodeView: Send + Sync + 'static {
    /// The effective configuration.
    fn config(&self) -> &Config;
    /// Daemon status.
    fn status(&self) -> NodeStatus;
    /// A block by id (`None` when unknown).
    fn block(&self, id: &BlockId) -> Result<Option<L2Block>, RpcError>;
    /// A commitment and its publication levels.
    fn commitment(
        &self,
        hash: &CommitmentHash,
    ) -> Result<Option<(Commitment, Option<Published>)>, RpcError>;
    /// Durable storage accessor (WASM rollups), when the PVM is wired.
    fn durable(&self) -> Option<Arc<dyn DurableState>>;
    /// Last cemented commitment known locally `(hash, inbox level)`.
    fn lcc(&self) -> Result<Option<(CommitmentHash, Level)>, RpcError> {
        Ok(None)
    }
    /// Last published commitment known locally `(hash, inbox level)`.
    fn lpc(&self) -> Result<Option<(CommitmentHash, Level)>, RpcError> {
        Ok(None)
    }
    /// `GET /local/gc_info` (§4.3, `node_store::gc::gc_info`); `None` when not available.
    fn gc_info(&self) -> Result<Option<Value>, RpcError> {
        Ok(None)
    }
    /// First level the GC kept (`None` before any GC): blocks below it were deleted.
    fn first_available_level(&self) -> Result<Option<Level>, RpcError> {
        Ok(None)
    }
    /// Serialized inbox messages of `block` (`None` when not stored).
    fn messages(&self, _block: &L2Block) -> Result<Option<Vec<Vec<u8>>>, RpcError> {
        Ok(None)
    }
    /// The messages not executed yet of the outbox levels in `[min_level, max_level]`, by
    /// level ascending (`node_store::Store::pending_outbox_messages`).
    fn pending_outbox_messages(
        &self,
        _min_level: Level,
        _max_level: Level,
    ) -> Result<Vec<(Level, Vec<u32>)>, RpcError> {
        Ok(vec![])
    }
    /// The batcher, when this node runs one (`batcher`, `operator`, custom modes with
    /// `add_messages`): `None` makes the batcher RPCs answer Octez's `no_batcher` error.
    fn batcher(&self) -> Option<Arc<parking_lot::Mutex<batcher::Batcher>>> {
        None
    }
    /// The DAL injection queue, when this node runs one (batching modes with a DAL node):
    /// `None` makes the `/local/dal/…` RPCs answer Octez's `no_dal_injector` error.
    fn dal_queue(&self) -> Option<Arc<parking_lot::Mutex<batcher::dal::DalQueue>>> {
        None
    }
    /// The injector's status of operation `id`, as `GET /local/injector/operation/<id>/status`
    /// answers it (`{"status": "pending_injection", "operation": …}`, …); `None` when the
    /// injector does not know it (the status is then `unknown`).
    fn injector_operation_status(
        &self,
        _id: &tezos_types::InjectorOperationId,
    ) -> Result<Option<Value>, RpcError> {
        Ok(None)
    }
    /// What runs `POST /global/block/<block_id>/simulate` ([`simulate::PvmSimulator`]);
    /// `None` answers 501.
    fn simulator(&self) -> Option<Arc<dyn simulate::Simulator>> {
        None
    }
    /// The injector, when this node injects (every mode but observer).
    fn injector(&self) -> Option<injector::Injector> {
        None
    }
    /// `GET /admin/cancel_gc`: stops a running context GC; whether one was running.
    fn cancel_gc(&self) -> bool {
        false
    }
    /// PVM-dependent data not available from the store alone (inbox, messages, outbox):
    /// `None` means "not supported yet".
    fn pvm_rpc(
        &self,
        _block: &L2Block,
        _path: &str,
        _query: &HashMap<String, String>,
    ) -> Option<Result<Value, RpcError>> {
        None
    }
}

/// [`NodeView`] over the SQLite store and a shared [`NodeStatus`]. Its methods block (SQLite,
/// durable-tree reads): the router calls them from blocking threads
/// (`tokio::task::spawn_blocking`), never on the async workers.
pub struct StoreView {
    /// Configuration.
    pub config: Config,
    /// Read-only connections to the store (the follower owns the writer).
    pub store: Arc<ReadPool>,
    /// Status updated by the daemon.
    pub status: Arc<parking_lot::Mutex<NodeStatus>>,
    /// Durable storage, when available.
    pub durable: Option<Arc<dyn DurableState>>,
    /// Committed PVM states (inbox/outbox/state RPCs), when available.
    pub context: Option<pvm_store::Context>,
    /// The operator's services (injector, batcher) and the simulator, when running.
    pub services: Services,
}

/// The node's services beyond its store and context (`Default`: none, as in an observer
/// without a simulator).
#[derive(Clone, Default)]
pub struct Services {
    /// The injector.
    pub injector: Option<injector::Injector>,
    /// The batcher.
    pub batcher: Option<Arc<parking_lot::Mutex<batcher::Batcher>>>,
    /// The DAL injection queue.
    pub dal_queue: Option<Arc<parking_lot::Mutex<batcher::dal::DalQueue>>>,
    /// The simulation RPC's PVM runner.
    pub simulator: Option<Arc<dyn simulate::Simulator>>,
}

std::thread_local! {
    /// [`from_memory`] state of this thread: 0 off, 1 on, 2 on and a wait was refused.
    static NOWAIT: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// Run `f` where nothing may wait (an async worker): store and context reads that could wait
/// (a pooled SQLite connection, a pack-file read or a checkout: [`durable_tree::in_memory_only`])
/// are refused. `Some` with its answer when it needed none of them, `None` otherwise (the
/// caller runs it again on a blocking thread). Only the cached head block is served
/// ([`node_store::ReadPool::head_nowait`]).
pub(crate) fn from_memory<R>(f: impl FnOnce() -> R) -> Option<R> {
    NOWAIT.with(|c| c.set(1));
    let r = durable_tree::in_memory_only(f);
    let refused = NOWAIT.with(|c| c.replace(0)) == 2;
    r.filter(|_| !refused)
}

/// Inside [`from_memory`]: record that a read would wait and return the error the handler
/// sees (its answer is dropped); `None` elsewhere.
fn refuse_wait() -> Option<RpcError> {
    NOWAIT.with(|c| {
        (c.get() != 0).then(|| {
            c.set(2);
            RpcError::Failed(
                "smart_rollup_node.rpc",
                "read refused on an async worker (retried on a blocking thread)".into(),
            )
        })
    })
}

impl StoreView {
    fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, RpcError> {
        if let Some(e) = refuse_wait() {
            return Err(e);
        }
        Ok(self.store.with(f)?)
    }
}

impl NodeView for StoreView {
    fn config(&self) -> &Config {
        &self.config
    }

    fn injector(&self) -> Option<injector::Injector> {
        self.services.injector.clone()
    }

    fn cancel_gc(&self) -> bool {
        self.context
            .as_ref()
            .is_some_and(pvm_store::Context::cancel_gc)
    }

    fn batcher(&self) -> Option<Arc<parking_lot::Mutex<batcher::Batcher>>> {
        self.services.batcher.clone()
    }

    fn dal_queue(&self) -> Option<Arc<parking_lot::Mutex<batcher::dal::DalQueue>>> {
        self.services.dal_queue.clone()
    }

    fn simulator(&self) -> Option<Arc<dyn simulate::Simulator>> {
        self.services.simulator.clone()
    }

    fn injector_operation_status(
        &self,
        id: &tezos_types::InjectorOperationId,
    ) -> Result<Option<Value>, RpcError> {
        Ok(self
            .services
            .injector
            .as_ref()
            .map(|i| i.status_json(id))
            .filter(|v| v.get("status").and_then(Value::as_str) != Some("unknown")))
    }

    fn status(&self) -> NodeStatus {
        let mut s = self.status.lock().clone();
        if let Some(h) = &mut s.l1_head
            && let Some(t) = tezos_types::Timestamp::parse(&h.timestamp)
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            h.age_secs = u64::try_from(now.saturating_sub(t.0)).unwrap_or(0);
        }
        s
    }

    fn block(&self, id: &BlockId) -> Result<Option<L2Block>, RpcError> {
        if *id == BlockId::Head {
            if NOWAIT.with(std::cell::Cell::get) != 0 {
                return match self.store.head_nowait() {
                    Some(head) => Ok(head?),
                    None => Err(refuse_wait().unwrap_or(RpcError::NotFound)),
                };
            }
            return Ok(self.store.head()?);
        }
        self.with_store(|s| match id {
            BlockId::Head => s.head(),
            BlockId::Finalized => s.finalized(),
            BlockId::Cemented => match s.lcc()? {
                Some((_, level)) => s.block_by_level(level),
                None => Ok(None),
            },
            BlockId::Level(l) => s.block_by_level(*l),
            BlockId::Hash(h) => s.block_by_hash(h),
        })
    }

    fn commitment(
        &self,
        hash: &CommitmentHash,
    ) -> Result<Option<(Commitment, Option<Published>)>, RpcError> {
        self.with_store(|s| {
            Ok(match s.commitment(hash)? {
                Some(c) => Some((c, s.commitment_published_at(hash)?)),
                None => None,
            })
        })
    }

    fn durable(&self) -> Option<Arc<dyn DurableState>> {
        self.durable.clone()
    }

    fn gc_info(&self) -> Result<Option<Value>, RpcError> {
        self.with_store(|s| node_store::gc::gc_info(s, None))
            .map(Some)
    }

    fn first_available_level(&self) -> Result<Option<Level>, RpcError> {
        self.with_store(|s| s.level_state(node_store::LevelKey::LastGcTarget))
    }

    fn lcc(&self) -> Result<Option<(CommitmentHash, Level)>, RpcError> {
        self.with_store(Store::lcc)
    }

    fn lpc(&self) -> Result<Option<(CommitmentHash, Level)>, RpcError> {
        self.with_store(Store::lpc)
    }

    fn messages(&self, block: &L2Block) -> Result<Option<Vec<Vec<u8>>>, RpcError> {
        self.with_store(|s| s.messages(&block.inbox_witness))
    }

    fn pending_outbox_messages(
        &self,
        min_level: Level,
        max_level: Level,
    ) -> Result<Vec<(Level, Vec<u32>)>, RpcError> {
        self.with_store(|s| s.pending_outbox_messages(min_level, max_level))
    }

    fn pvm_rpc(
        &self,
        block: &L2Block,
        path: &str,
        query: &HashMap<String, String>,
    ) -> Option<Result<Value, RpcError>> {
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["inbox"] => Some(self.inbox_json(block)),
            ["num_messages"] => Some(
                self.with_store(|s| s.messages(&block.inbox_witness))
                    .map(|m| json!(m.map_or(0, |m| m.len()).to_string())),
            ),
            ["messages"] => Some(
                self.with_store(|s| s.messages(&block.inbox_witness))
                    .map(|m| {
                        json!(
                            m.unwrap_or_default()
                                .iter()
                                .map(hex::encode)
                                .collect::<Vec<_>>()
                        )
                    }),
            ),
            ["state_current_level"] => {
                let ctx = self.context.as_ref()?;
                Some(
                    ctx.state_of(block)
                        .map_err(ctx_err)
                        .map(|st| json!(st.last_input().map(|i| i.level))),
                )
            }
            ["outbox"] => {
                let level = query.get("outbox_level")?;
                Some(self.outbox_json(block, level, false))
            }
            ["outbox", level, "messages"] => Some(self.outbox_json(block, level, false)),
            ["outbox_summary", level] => Some(self.outbox_json(block, level, true)),
            ["helpers", "proofs", "outbox", level, "messages"] => {
                let ctx = self.context.as_ref()?;
                Some(output_proof_hex(ctx, block, level, query.get("index")))
            }
            ["state"] => {
                let ctx = self.context.as_ref()?;
                let key = query.get("key").map_or("", String::as_str);
                Some(match ctx.state_value(block, key) {
                    Ok(Some(v)) => Ok(json!(hex::encode(v))),
                    Ok(None) => Err(RpcError::Missing("No such key in PVM state".into())),
                    Err(e) => Err(ctx_err(e)),
                })
            }
            _ => None,
        }
    }
}

/// Hex of the output proof of message `index` (default 0) of outbox `level` in the state of
/// `block` (`wasm_pvm::output_proof`; Octez `Outbox.proof_of_output_simple`).
fn output_proof_hex(
    ctx: &pvm_store::Context,
    block: &L2Block,
    level: &str,
    index: Option<&String>,
) -> Result<Value, RpcError> {
    let outbox_level: u32 = level
        .parse()
        .map_err(|_| RpcError::BadArgument("level", level.into()))?;
    let index: u64 = match index {
        None => 0,
        Some(i) => i
            .parse()
            .map_err(|_| RpcError::BadArgument("index", i.clone()))?,
    };
    let tree = ctx.state_tree(block).map_err(ctx_err)?;
    let proof =
        wasm_pvm::output_proof::produce_output_proof(&tree, outbox_level, index).map_err(|e| {
            RpcError::Failed(
                "smart_rollup_node.outbox_proof",
                format!("Error producing outbox proof ({e})"),
            )
        })?;
    Ok(json!(hex::encode(proof)))
}

/// JSON string of Data_encoding's `string` (`unistring`): the text when it is UTF-8, else
/// `{"invalid_utf8_string":[bytes]}`.
fn unistring(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => json!(s),
        Err(_) => json!({ "invalid_utf8_string": bytes }),
    }
}

/// Outbox message in the protocol's kind-tagged encoding (`sc_rollup_outbox_message_repr.ml`,
/// items of `/outbox/<l>/messages`): `{"kind":"untyped"|"typed","transactions":[…]}`,
/// `{"kind":"whitelist_update","whitelist"?:[pkh]}`,
/// `{"kind":"canonical_rollup_signal","payload":<string>}`; undecodable bytes as `{"raw": hex}`.
pub fn outbox_message_json(bytes: &[u8]) -> Value {
    use tezos_types::BinDecode;
    use tezos_types::outbox::OutboxMessage;
    match OutboxMessage::from_bin(bytes) {
        // The payload is a Data_encoding `string`, not hex.
        Ok(OutboxMessage::CanonicalRollupSignal { payload }) => {
            json!({"payload": unistring(&payload), "kind": "canonical_rollup_signal"})
        }
        Ok(m) => serde_json::to_value(&m).unwrap_or_else(|_| json!({ "raw": hex::encode(bytes) })),
        Err(_) => json!({ "raw": hex::encode(bytes) }),
    }
}

/// Outbox message summary (`outbox_message.ml` `summary_encoding`, block `?outbox=true`
/// items): `{"transactions":[{"destination","entrypoint"?,"parameters"?,"parameters_ty"?}]}`
/// (`entrypoint` omitted when `default`, `parameters` when `Unit`),
/// `{"whitelist_update": [pkh] | null}` or `{"canonical_rollup_signal": <string>}`;
/// undecodable bytes as `{"raw": hex}`.
pub fn outbox_summary(bytes: &[u8]) -> Value {
    use tezos_types::BinDecode;
    use tezos_types::outbox::OutboxMessage;
    let txs = |ts: &[tezos_types::outbox::OutboxTransaction]| -> Value {
        let list: Vec<Value> = ts
            .iter()
            .map(|t| {
                let mut o = json!({ "destination": t.destination.to_b58check() });
                if t.entrypoint != "default" {
                    o["entrypoint"] = json!(t.entrypoint);
                }
                let params = serde_json::to_value(&t.parameters).unwrap_or(Value::Null);
                if params != json!({"prim": "Unit"}) {
                    o["parameters"] = params;
                }
                if let Some(ty) = &t.parameters_ty {
                    o["parameters_ty"] = serde_json::to_value(ty).unwrap_or(Value::Null);
                }
                o
            })
            .collect();
        json!({ "transactions": list })
    };
    match OutboxMessage::from_bin(bytes) {
        Ok(
            OutboxMessage::AtomicTransactionBatch { transactions }
            | OutboxMessage::AtomicTransactionBatchTyped { transactions },
        ) => txs(&transactions),
        Ok(OutboxMessage::WhitelistUpdate { whitelist }) => json!({
            "whitelist_update": whitelist.map(|l| l.iter().map(|p| p.to_b58check()).collect::<Vec<_>>())
        }),
        Ok(OutboxMessage::CanonicalRollupSignal { payload }) => {
            json!({ "canonical_rollup_signal": unistring(&payload) })
        }
        Err(_) => json!({ "raw": hex::encode(bytes) }),
    }
}

fn ctx_err(e: pvm_store::ContextError) -> RpcError {
    RpcError::Failed("smart_rollup_node.context", e.to_string())
}

impl StoreView {
    fn inbox_json(&self, block: &L2Block) -> Result<Value, RpcError> {
        use tezos_types::BinDecode;
        let blob = self.with_store(|s| s.inbox_blob(&block.inbox_hash))?;
        let Some((_, bytes)) = blob else {
            return Err(RpcError::Failed(
                "smart_rollup_node.inbox_not_found",
                format!("No inbox {} in the store", block.inbox_hash),
            ));
        };
        let inbox = tezos_types::inbox::Inbox::from_bin(&bytes).map_err(|e| {
            RpcError::Failed("smart_rollup_node.store", format!("stored inbox: {e:?}"))
        })?;
        serde_json::to_value(&inbox)
            .map_err(|e| RpcError::Failed("smart_rollup_node.store", e.to_string()))
    }

    /// Outbox messages of `level` in the state of `block`: Octez's list shape
    /// `{"outbox_level","message_index":"<n>","message":<kind-tagged message>}`, or with
    /// `summary` the block field shape `{"message_index":<n>} ∪ <summary>`.
    fn outbox_json(&self, block: &L2Block, level: &str, summary: bool) -> Result<Value, RpcError> {
        let outbox_level: u32 = level
            .parse()
            .map_err(|_| RpcError::BadArgument("outbox_level", level.into()))?;
        let Some(ctx) = &self.context else {
            return Ok(json!([]));
        };
        let st = ctx.state_of(block).map_err(ctx_err)?;
        let msgs = st
            .outbox(outbox_level)
            .map(<[Vec<u8>]>::to_vec)
            .unwrap_or_default();
        Ok(Value::Array(
            msgs.iter()
                .enumerate()
                .map(|(i, m)| {
                    if summary {
                        let mut o = json!({ "message_index": i });
                        if let (Some(o), Value::Object(s)) = (o.as_object_mut(), outbox_summary(m))
                        {
                            o.extend(s);
                        }
                        o
                    } else {
                        json!({"outbox_level": outbox_level, "message_index": i.to_string(),
                               "message": outbox_message_json(m)})
                    }
                })
                .collect(),
        ))
    }
}

type AppState = Arc<dyn NodeView>;
type RpcResult = Result<Response, RpcError>;

fn ok(v: Value) -> RpcResult {
    Ok(axum::Json(v).into_response())
}

/// Commitment JSON `C` (§4.2).
pub fn commitment_json(c: &Commitment) -> Value {
    json!({
        "compressed_state": c.compressed_state.to_b58check(),
        "inbox_level": c.inbox_level,
        "predecessor": c.predecessor.to_b58check(),
        "number_of_ticks": c.number_of_ticks.to_string(),
    })
}

/// L2 block header + summary JSON (`sc_rollup_block.ml`; content fields need the PVM wiring).
pub fn block_json(b: &L2Block) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("block_hash".into(), json!(b.block_hash.to_b58check()));
    o.insert("level".into(), json!(b.level));
    o.insert("predecessor".into(), json!(b.predecessor.to_b58check()));
    o.insert(
        "commitment_hash".into(),
        json!(b.commitment_hash.map(|c| c.to_b58check())),
    );
    o.insert(
        "previous_commitment_hash".into(),
        json!(b.previous_commitment_hash.to_b58check()),
    );
    if let Some(c) = &b.context {
        o.insert("context".into(), json!(c.to_b58check()));
    }
    o.insert("inbox_witness".into(), json!(b.inbox_witness.to_b58check()));
    o.insert("inbox_hash".into(), json!(b.inbox_hash.to_b58check()));
    o.insert("initial_tick".into(), json!(b.initial_tick.to_string()));
    o.insert("num_ticks".into(), json!(b.num_ticks.to_string()));
    if let Some(s) = b.state_hash {
        o.insert("state_hash".into(), json!(s.to_b58check()));
    }
    if let Some(s) = &b.pvm_status {
        o.insert("pvm_status".into(), json!(s.as_str()));
    }
    Value::Object(o)
}

/// `/health` reads the shared status only (the L2 level is the follower's last processed
/// level, `ProcessingStats::last_level`, which the daemon seeds from the store at start): it
/// never waits for the store, the context or a GC, so it answers while they are busy
/// (issue 17 item 2; docs/reference/octez-rollup-node.md §4.1).
fn health(c: &Call) -> RpcResult {
    let v = &c.view;
    let status = v.status();
    let level = status.processing.last_level;
    ok(health_json(&status, level, v.config().l1_monitor_finalized))
}

fn ping(_: &Call) -> RpcResult {
    ok(json!({}))
}

/// `/stats/memory` (§4.1): the `Linux_proc_statm` figures of `/proc/self/statm` (pages).
fn stats_memory(_: &Call) -> RpcResult {
    let fail = |e: String| RpcError::Failed("smart_rollup_node.stats", e);
    let text = std::fs::read_to_string("/proc/self/statm")
        .map_err(|e| fail(format!("/proc/self/statm: {e} (only Linux is supported)")))?;
    let f: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| fail(format!("/proc/self/statm: {e}")))?;
    let [size, resident, shared, text, lib, data, dt] = f[..] else {
        return Err(fail(format!("/proc/self/statm: unexpected {text:?}")));
    };
    let s = |n: u64| json!(n.to_string());
    ok(
        json!({"page_size": page_size(), "size": s(size), "resident": s(resident), "shared": s(shared),
              "text": s(text), "lib": s(lib), "data": s(data), "dt": s(dt)}),
    )
}

/// The kernel page size (`KernelPageSize` of the first mapping in `/proc/self/smaps`),
/// 4096 when unreadable.
fn page_size() -> u64 {
    use std::io::BufRead;
    std::fs::File::open("/proc/self/smaps")
        .ok()
        .and_then(|f| {
            std::io::BufReader::new(f).lines().find_map(|l| {
                let l = l.ok()?;
                let kb = l
                    .strip_prefix("KernelPageSize:")?
                    .trim()
                    .strip_suffix("kB")?;
                kb.trim().parse::<u64>().ok()?.checked_mul(1024)
            })
        })
        .unwrap_or(4096)
}

fn version(_: &Call) -> RpcResult {
    ok(
        json!({"version": node_context::VERSION, "store_version": node_store::STORE_VERSION, "context_version": "0"}),
    )
}

fn config(c: &Call) -> RpcResult {
    let mut config = c.view.config().clone();
    config.history_mode = Some(config.effective_history_mode());
    ok(config.to_json(true).to_value())
}

fn rollup_address(c: &Call) -> RpcResult {
    let v = &c.view;
    ok(json!(v.config().rollup_address.to_b58check()))
}

fn tezos_head(c: &Call) -> RpcResult {
    let v = &c.view;
    ok(json!(
        v.block(&BlockId::Head)?.map(|b| b.block_hash.to_b58check())
    ))
}

fn tezos_level(c: &Call) -> RpcResult {
    let v = &c.view;
    ok(json!(v.block(&BlockId::Head)?.map(|b| b.level)))
}

fn last_stored_commitment(c: &Call) -> RpcResult {
    let v = &c.view;
    let Some(head) = v.block(&BlockId::Head)? else {
        return ok(Value::Null);
    };
    let hash = head
        .commitment_hash
        .unwrap_or(head.previous_commitment_hash);
    match v.commitment(&hash)? {
        Some((c, _)) => ok(json!({"commitment": commitment_json(&c), "hash": hash.to_b58check()})),
        None => ok(Value::Null),
    }
}

fn local_gc_info(c: &Call) -> RpcResult {
    let v = &c.view;
    v.gc_info()?.map_or(Err(RpcError::NotFound), ok)
}

/// `GET /admin/cancel_gc` (§4.3, `Rollup_node_services.Admin.cancel_gc`): a GET with a side
/// effect, as Octez's; `true` when a context GC was running and was asked to stop.
fn admin_cancel_gc(c: &Call) -> RpcResult {
    ok(Value::Bool(c.view.cancel_gc()))
}

/// `GET /local/last_published_commitment` (§4.3): the commitment this node's operator last
/// published (seen in an L1 block), with its publication levels; `null` before any.
fn local_last_published_commitment(c: &Call) -> RpcResult {
    match c.view.lpc()? {
        None => ok(Value::Null),
        Some((hash, _)) => commitment_with_publication(c, hash),
    }
}

fn local_commitment(c: &Call) -> RpcResult {
    commitment_with_publication(c, c.commitment_hash()?)
}

/// `{"commitment", "hash", "first_published_at_level"?, "published_at_level"?}` or `null`.
fn commitment_with_publication(c: &Call, hash: CommitmentHash) -> RpcResult {
    match c.view.commitment(&hash)? {
        None => ok(Value::Null),
        Some((c, published)) => {
            let mut o = json!({"commitment": commitment_json(&c), "hash": hash.to_b58check()});
            if let Some((first, at)) = published {
                o["first_published_at_level"] = json!(first);
                if let Some(at) = at {
                    o["published_at_level"] = json!(at);
                }
            }
            ok(o)
        }
    }
}

/// The `/local/synchronized` item of the current state: `"synchronized"` once the L2 head
/// reaches the L1 head, else the progress.
fn sync_state(v: &AppState) -> Result<Value, RpcError> {
    // (Called from a blocking thread.)
    let status = v.status();
    let head = v.block(&BlockId::Head)?.map(|b| b.level);
    Ok(match (&status.l1_head, head) {
        (Some(l1), Some(l2)) if l2.get() >= l1.level => json!("synchronized"),
        (l1, l2) => {
            // The L1 head's level is the L1 client's `int32`.
            let l1_level = l1.as_ref().map_or(0, |h| h.level);
            let processed = l2.map_or(0, Level::get);
            let pct = if l1_level > 0 {
                f64::from(processed) * 100.0 / f64::from(l1_level)
            } else {
                0.0
            };
            json!({"synchronizing": {
                "processed_level": processed,
                "l1_head_level": l1_level,
                "percentage_done": pct,
            }})
        }
    })
}

/// `/local/synchronized` (§4.3): a stream of progress items (one JSON value and a newline
/// each, sent when the progress changes) ending with `"synchronized"`.
fn synchronized(c: Call) -> RpcResult {
    let Call { view: v, stop, .. } = c;
    let first = sync_state(&v)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(async move {
        let stop = stop.wait();
        tokio::pin!(stop);
        let mut item = Ok(first);
        let mut last = Value::Null;
        loop {
            let current = match item {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("synchronized: {e}");
                    return;
                }
            };
            if current != last {
                let mut chunk = current.to_string().into_bytes();
                chunk.push(b'\n');
                if tx.send(chunk).await.is_err() || current == json!("synchronized") {
                    return;
                }
                last = current;
            }
            tokio::select! {
                () = &mut stop => return,
                () = tx.closed() => return,
                () = tokio::time::sleep(MONITOR_POLL) => {}
            }
            item = blocking(&v, sync_state).await;
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(ChannelBody(rx)),
    )
        .into_response())
}

/// `GET /openapi` ([`openapi::document`]; the `protocol` argument is checked, and the one
/// document describes every protocol).
fn openapi_rpc(_: &Call) -> RpcResult {
    ok(openapi::document())
}

/// The block of `id`: 404 with Octez's `failure` trace when unknown, 410 with
/// `access_below_first_available_level` when the GC deleted it ([`error`]).
fn resolve_block(v: &AppState, id: &BlockId) -> Result<L2Block, RpcError> {
    if let Some(b) = v.block(id)? {
        return Ok(b);
    }
    if let BlockId::Level(l) = id
        && let Some(first) = v.first_available_level()?
        && *l < first
    {
        return Err(RpcError::BelowFirstAvailableLevel {
            first,
            accessed: *l,
        });
    }
    // The texts of Octez's `Node_context` / `Block_directory_helpers` failures.
    Err(RpcError::Missing(match id {
        BlockId::Head => "No head".into(),
        BlockId::Finalized => "No finalized L2 block yet".into(),
        BlockId::Cemented => "No L2 block at the level of the last cemented commitment".into(),
        BlockId::Level(l) => format!("Could not retrieve L2 block for level {l}"),
        BlockId::Hash(h) => format!("Could not retrieve L2 block for {h}"),
    }))
}

fn block_root(c: &Call) -> RpcResult {
    let v = &c.view;
    let b = c.block()?;
    let q = &c.query;
    let mut j = block_json(&b);
    // Content fields (`sc_rollup_block.ml`): inbox, messages, commitment, [outbox].
    // (Absent when the store lacks the inbox, e.g. blocks written by other tools.)
    if let Some(Ok(inbox)) = v.pvm_rpc(&b, "inbox", q) {
        j["inbox"] = inbox;
    }
    if let Some(messages) = v.pvm_rpc(&b, "messages", q) {
        j["messages"] = messages?;
    }
    if let Some(h) = &b.commitment_hash
        && let Some((c, _)) = v.commitment(h)?
    {
        j["commitment"] = commitment_json(&c);
    }
    if routes::flag(c, "outbox")
        && let Some(outbox) = v.pvm_rpc(&b, &format!("outbox_summary/{}", b.level), q)
    {
        j["outbox"] = outbox?;
    }
    ok(j)
}

fn block_hash(c: &Call) -> RpcResult {
    ok(json!(c.block()?.block_hash.to_b58check()))
}

fn block_level(c: &Call) -> RpcResult {
    ok(json!(c.block()?.level))
}

fn block_ticks(c: &Call) -> RpcResult {
    ok(json!(c.block()?.num_ticks.to_string()))
}

fn block_total_ticks(c: &Call) -> RpcResult {
    let b = c.block()?;
    // The store refuses a negative stored count (a corrupt row, never read as 0 ticks).
    let total = b
        .initial_tick
        .checked_add(b.num_ticks)
        .ok_or_else(|| RpcError::Failed("smart_rollup_node.overflow", "tick overflow".into()))?;
    ok(json!(total))
}

fn block_state_hash(c: &Call) -> RpcResult {
    let b = c.block()?;
    match b.state_hash {
        Some(s) => ok(json!(s.to_b58check())),
        None => pvm_or_unsupported(c, &b, "state_hash"),
    }
}

fn block_status(c: &Call) -> RpcResult {
    let b = c.block()?;
    match &b.pvm_status {
        Some(s) => ok(json!(s.as_str())),
        None => pvm_or_unsupported(c, &b, "status"),
    }
}

fn block_inbox(c: &Call) -> RpcResult {
    pvm_or_unsupported(c, &c.block()?, "inbox")
}

fn block_num_messages(c: &Call) -> RpcResult {
    pvm_or_unsupported(c, &c.block()?, "num_messages")
}

fn block_state_current_level(c: &Call) -> RpcResult {
    pvm_or_unsupported(c, &c.block()?, "state_current_level")
}

fn block_state(c: &Call) -> RpcResult {
    pvm_or_unsupported(c, &c.block()?, "state")
}

/// `…/outbox?outbox_level=<l>` (Octez's `outbox_level` is required here).
fn block_outbox(c: &Call) -> RpcResult {
    let b = c.block()?;
    if c.query("outbox_level").is_none() {
        return Err(RpcError::BadQuery(
            "Missing argument 'outbox_level' in query string.".into(),
        ));
    }
    pvm_or_unsupported(c, &b, "outbox")
}

fn block_outbox_messages(c: &Call) -> RpcResult {
    let b = c.block()?;
    let level = c.level()?;
    pvm_or_unsupported(c, &b, &format!("outbox/{level}/messages"))
}

/// Seconds since the epoch.
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn overflow() -> RpcError {
    RpcError::Failed(
        "smart_rollup_node.overflow",
        "level arithmetic overflow".into(),
    )
}

/// Estimated time of level `level` when the head is at `head_level` (`publisher.ml`
/// `estimated_time_of_level`): `now + (level − head_level) × minimal_block_delay`, RFC 3339.
fn estimated_time(
    level: Level,
    head_level: Level,
    c: &RollupConstants,
    now: i64,
) -> Result<Value, RpcError> {
    let secs = i64::from(level)
        .checked_sub(i64::from(head_level))
        .and_then(|d| d.checked_mul(i64::try_from(c.minimal_block_delay).ok()?))
        .and_then(|d| d.checked_add(now))
        .ok_or_else(overflow)?;
    tezos_types::Timestamp(secs)
        .to_rfc3339()
        .map(Value::String)
        .ok_or_else(overflow)
}

/// `committed_status` of a block at `block_level` (§4.2, `publisher.ml`
/// `Helpers.committed_status`): `next` is the commitment that will contain the block
/// (its hash when computed, and its inbox level), `published` its publication levels.
/// Published and `block_level ≤ lcc_level` → `cemented`; published → `committed` (cementation
/// estimated at first publication + challenge window); else `uncommitted` (publication
/// estimated at the commitment level + 2, cementation at commitment level + challenge window).
pub fn committed_status_json(
    block_level: Level,
    head_level: Level,
    next: (Option<CommitmentHash>, Level),
    published: Option<Published>,
    lcc_level: Option<Level>,
    c: &RollupConstants,
    now: i64,
) -> Result<Value, RpcError> {
    let (hash, commitment_level) = next;
    let window = c.challenge_window;
    match (hash, published) {
        (Some(h), Some((first, at))) => {
            if lcc_level.is_some_and(|lcc| block_level <= lcc) {
                let since = lcc_level
                    .and_then(|lcc| lcc.distance_from(block_level))
                    .ok_or_else(overflow)?;
                Ok(json!({"cemented": {
                    "commitment_hash": h.to_b58check(),
                    "commitment_level": commitment_level,
                    "first_published_level": first,
                    "published_level": at,
                    "blocks_since_cemented": since,
                }}))
            } else {
                let cementation = first.checked_add(window).ok_or_else(overflow)?;
                Ok(json!({"committed": {
                    "commitment_hash": h.to_b58check(),
                    "commitment_level": commitment_level,
                    "first_published_level": first,
                    "published_level": at,
                    "estimated_cementation_time": estimated_time(cementation, head_level, c, now)?,
                }}))
            }
        }
        _ => {
            let publication = commitment_level
                .checked_add(inbox::BLOCK_FINALITY_TIME)
                .ok_or_else(overflow)?;
            let cementation = commitment_level.checked_add(window).ok_or_else(overflow)?;
            Ok(json!({"uncommitted": {
                "commitment_level": commitment_level,
                "estimated_commitment_time": estimated_time(publication, head_level, c, now)?,
                "estimated_cementation_time": estimated_time(cementation, head_level, c, now)?,
            }}))
        }
    }
}

/// `/global/block/<id>/committed_status`: finds the commitment after the block's previous
/// commitment (`previous.inbox_level + commitment_period`) and its publication.
fn committed_status(call: &Call) -> RpcResult {
    let v = &call.view;
    let b = &call.block()?;
    let c = v.status().constants.ok_or_else(|| {
        RpcError::Failed(
            "smart_rollup_node.constants_unknown",
            "The protocol constants are not known yet: retry once the rollup node has \
             connected to its L1 node."
                .into(),
        )
    })?;
    let head = v.block(&BlockId::Head)?.ok_or_else(|| {
        RpcError::Failed(
            "smart_rollup_node.no_head",
            "The rollup node has not processed any block yet: retry later.".into(),
        )
    })?;
    let (prev, _) = v.commitment(&b.previous_commitment_hash)?.ok_or_else(|| {
        RpcError::Failed(
            "smart_rollup_node.missing_commitment",
            format!(
                "Commitment {} is not in the store.",
                b.previous_commitment_hash
            ),
        )
    })?;
    let next_level =
        inbox::next_commitment_level(prev.inbox_level, c.commitment_period).ok_or_else(overflow)?;
    let next = match v.block(&BlockId::Level(next_level))? {
        Some(n) => (n.commitment_hash, n.level),
        None => (None, next_level),
    };
    let published = match next.0 {
        Some(h) => v.commitment(&h)?.and_then(|(_, p)| p),
        None => None,
    };
    let lcc = v.lcc()?.map(|(_, l)| l);
    ok(committed_status_json(
        b.level,
        head.level,
        next,
        published,
        lcc,
        &c,
        now_secs(),
    )?)
}

/// Poll period of `/global/monitor_blocks` on the store's head.
const MONITOR_POLL: std::time::Duration = std::time::Duration::from_millis(100);
/// At most this many intermediate levels are streamed when the head jumped.
const MONITOR_MAX_GAP: u32 = 1000;

/// Set to `true` when the server shuts down: streams end so that the graceful shutdown
/// does not wait for them.
#[derive(Clone)]
pub struct Shutdown(Option<tokio::sync::watch::Receiver<bool>>);

impl Shutdown {
    async fn wait(self) {
        match self.0 {
            Some(mut rx) => {
                let _ = rx.wait_for(|s| *s).await;
            }
            None => std::future::pending().await,
        }
    }
}

/// Runs the blocking `f` (store or context reads) on a blocking thread of the runtime, so that
/// the async workers stay free for `/health` and the other requests.
async fn blocking<T: Send + 'static>(
    v: &AppState,
    f: impl FnOnce(&AppState) -> Result<T, RpcError> + Send + 'static,
) -> Result<T, RpcError> {
    let v = v.clone();
    tokio::task::spawn_blocking(move || f(&v))
        .await
        .unwrap_or_else(|e| Err(RpcError::Failed("smart_rollup_node.rpc", e.to_string())))
}

/// A chunked body fed by a channel.
struct ChannelBody(tokio::sync::mpsc::Receiver<Vec<u8>>);

impl futures_core::Stream for ChannelBody {
    type Item = Result<Vec<u8>, std::convert::Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|o| o.map(Ok))
    }
}

/// `/global/monitor_blocks` (§4.2): a chunked stream of L2 blocks (header + summary, one JSON
/// value and a newline per block), the current head first, then each new head (and the
/// levels in between when the head jumped). Ends when the client disconnects or the server
/// stops.
fn monitor_blocks(c: Call) -> RpcResult {
    Ok(monitor(c.view, c.stop, BlockId::Head))
}

/// `/global/monitor_finalized_blocks` (§4.2): as [`monitor_blocks`] for the finalized block.
fn monitor_finalized_blocks(c: Call) -> RpcResult {
    Ok(monitor(c.view, c.stop, BlockId::Finalized))
}

/// Streams block `watched` (head or finalized) each time it changes.
fn monitor(v: AppState, stop: Shutdown, watched: BlockId) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(async move {
        let stop = stop.wait();
        tokio::pin!(stop);
        let mut last: Option<(BlockHash, Level)> = None;
        loop {
            let w = watched.clone();
            let head = match blocking(&v, move |v| v.block(&w)).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!("monitor_blocks: {e}");
                    return;
                }
            };
            if let Some(h) = head
                && last.is_none_or(|(hash, _)| hash != h.block_hash)
            {
                let mut blocks = vec![];
                if let Some((_, l)) = last
                    && let Some(from) = l.succ()
                {
                    let from =
                        from.max(h.level.checked_sub(MONITOR_MAX_GAP).unwrap_or(Level::ZERO));
                    let levels = from.get()..h.level.get();
                    let gap = blocking(&v, move |v| {
                        Ok(levels
                            .filter_map(Level::new)
                            .filter_map(|l| v.block(&BlockId::Level(l)).ok().flatten())
                            .collect::<Vec<_>>())
                    })
                    .await;
                    blocks.extend(gap.unwrap_or_default());
                }
                last = Some((h.block_hash, h.level));
                blocks.push(h);
                for b in blocks {
                    let mut chunk = block_json(&b).to_string().into_bytes();
                    chunk.push(b'\n');
                    if tx.send(chunk).await.is_err() {
                        return;
                    }
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = tx.closed() => return,
                () = tokio::time::sleep(MONITOR_POLL) => {}
            }
        }
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(ChannelBody(rx)),
    )
        .into_response()
}

/// `POST /global/block/<block_id>/simulate` ([`simulate`]): on a blocking thread, like every
/// value route.
fn simulate_rpc(c: &Call) -> RpcResult {
    let b = c.block()?;
    let sim = c.view.simulator().ok_or_else(|| {
        RpcError::NotSupported("POST /global/block/<block_id>/simulate (no PVM wired)".into())
    })?;
    let input = simulate::parse_input(&c.body)?;
    ok(simulate::run(&*sim, &b, &input)?)
}

/// PVM-dependent answers ([`NodeView::pvm_rpc`]): 501 when this view cannot give them.
fn pvm_or_unsupported(c: &Call, b: &L2Block, path: &str) -> RpcResult {
    match c.view.pvm_rpc(b, path, &c.query) {
        Some(r) => ok(r?),
        None => Err(RpcError::NotSupported(format!(
            "GET /global/block/<block_id>/{path}"
        ))),
    }
}

/// The durable storage and the checked `key` of a durable RPC (404 for a rollup without a
/// WASM PVM, as Octez registers these RPCs for `wasm_2_0_0` only).
fn durable_key(c: &Call) -> Result<(Arc<dyn DurableState>, &str), RpcError> {
    let d = c.view.durable().ok_or(RpcError::NotFound)?;
    let key = c.query("key").unwrap_or("");
    if !(key.is_empty() || key == "/") && durable_tree::durable::Key::from_str_checked(key).is_err()
    {
        return Err(RpcError::BadQueryArgument(
            "key",
            key.into(),
            "not a durable storage key (`/` then segments of [A-Za-z0-9._-])".into(),
        ));
    }
    Ok((d, key))
}

fn durable_fail(e: pvm_store::DurableError) -> RpcError {
    RpcError::Failed("smart_rollup_node.durable_storage", e.to_string())
}

fn durable_value(c: &Call) -> RpcResult {
    let b = c.block()?;
    let (d, key) = durable_key(c)?;
    ok(json!(
        d.value(&b, key).map_err(durable_fail)?.map(hex::encode)
    ))
}

fn durable_length(c: &Call) -> RpcResult {
    let b = c.block()?;
    let (d, key) = durable_key(c)?;
    ok(json!(
        d.length(&b, key)
            .map_err(durable_fail)?
            .map(|l| l.to_string())
    ))
}

fn durable_subkeys(c: &Call) -> RpcResult {
    let b = c.block()?;
    let (d, key) = durable_key(c)?;
    ok(json!(d.subkeys(&b, key).map_err(durable_fail)?))
}

fn durable_values(c: &Call) -> RpcResult {
    let b = c.block()?;
    let (d, key) = durable_key(c)?;
    let mut out = vec![];
    for sub in d.subkeys(&b, key).map_err(durable_fail)? {
        let full = format!("{}/{sub}", key.trim_end_matches('/'));
        if let Some(val) = d.value(&b, &full).map_err(durable_fail)? {
            out.push(json!({"key": sub, "value": hex::encode(val)}));
        }
    }
    ok(Value::Array(out))
}

/// Whether `METHOD /path` matches a resto ACL matcher (`[METHOD ]/seg/…`, `*` = one segment,
/// `**` = any suffix).
fn acl_matches(matcher: &str, method: &str, segs: &[&str]) -> bool {
    let (meth, pat) = match matcher.split_once(' ') {
        Some((meth, pat)) => (Some(meth), pat),
        None => (None, matcher),
    };
    if meth.is_some_and(|mm| !mm.eq_ignore_ascii_case(method)) {
        return false;
    }
    let mut i = 0;
    for p in pat.trim_matches('/').split('/') {
        if p == "**" {
            return true;
        }
        match segs.get(i) {
            Some(s) if p == "*" || p == *s => i += 1,
            _ => return false,
        }
    }
    i == segs.len()
}

fn path_segments(path: &str) -> Vec<&str> {
    path.trim_matches('/').split('/').collect()
}

/// Whether a request is denied by the secure ACL (`METHOD /path` matchers, `*` = one
/// segment, `**` = any suffix).
pub fn secure_acl_denies(method: &str, path: &str) -> bool {
    let segs = path_segments(path);
    SECURE_ACL_DENY
        .iter()
        .any(|m| acl_matches(m, method, &segs))
}

/// The RPC access policy of the listening address (§2 "Default RPC ACL", `acl` field of the
/// configuration, `--acl-override`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclPolicy {
    /// Everything allowed (loopback address without a configured policy).
    AllowAll,
    /// Requests matching one of these matchers are denied (the secure ACL is the blacklist
    /// [`SECURE_ACL_DENY`]).
    Blacklist(Vec<String>),
    /// Only requests matching one of these matchers are allowed.
    Whitelist(Vec<String>),
}

impl AclPolicy {
    /// Whether `method path` is denied.
    pub fn denies(&self, method: &str, path: &str) -> bool {
        let segs = path_segments(path);
        match self {
            Self::AllowAll => false,
            Self::Blacklist(l) => l.iter().any(|m| acl_matches(m, method, &segs)),
            Self::Whitelist(l) => !l.iter().any(|m| acl_matches(m, method, &segs)),
        }
    }
}

/// The policy of `config`'s RPC address: the configured policy whose `address` is
/// `rpc-addr:rpc-port` (or `rpc-addr`), else the secure ACL unless the address is loopback.
pub fn acl_policy(config: &Config) -> AclPolicy {
    let with_port = format!("{}:{}", config.rpc_addr, config.rpc_port);
    let list = |p: &Value, k: &str| -> Option<Vec<String>> {
        p.get(k)?.as_array().map(|l| {
            l.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
    };
    let configured = config.acl.iter().find(|p| {
        let a = p.get("address").and_then(Value::as_str);
        a == Some(with_port.as_str()) || a == Some(config.rpc_addr.as_str())
    });
    if let Some(p) = configured {
        if let Some(w) = list(p, "whitelist") {
            return AclPolicy::Whitelist(w);
        }
        return AclPolicy::Blacklist(list(p, "blacklist").unwrap_or_default());
    }
    let host = config
        .rpc_addr
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        AclPolicy::AllowAll
    } else {
        AclPolicy::Blacklist(SECURE_ACL_DENY.iter().map(|m| (*m).to_string()).collect())
    }
}

/// Denies what the ACL of the address denies: 401 ([`error::unauthorized`]).
async fn acl_layer(State(policy): State<Arc<AclPolicy>>, req: Request, next: Next) -> Response {
    if policy.denies(req.method().as_str(), req.uri().path()) {
        let uri = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
        return error::unauthorized(req.method(), &uri);
    }
    next.run(req).await
}

/// The RPC router.
pub fn router(view: Arc<dyn NodeView>) -> Router {
    router_inner(view, Shutdown(None))
}

/// The RPC router; streaming RPCs end when `shutdown` becomes `true` (so that a graceful
/// shutdown of the server does not wait for them).
pub fn router_with_shutdown(
    view: Arc<dyn NodeView>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Router {
    router_inner(view, Shutdown(Some(shutdown)))
}

/// The routes of [`ROUTES`] behind the ACL; every answer has a content type (JSON unless
/// set).
fn router_inner(view: Arc<dyn NodeView>, shutdown: Shutdown) -> Router {
    let policy = Arc::new(acl_policy(view.config()));
    routes::build()
        .with_state(view)
        .layer(axum::Extension(shutdown))
        .layer(middleware::from_fn_with_state(policy, acl_layer))
        .layer(middleware::map_response(
            |mut r: Response<Body>| async move {
                r.headers_mut()
                    .entry(header::CONTENT_TYPE)
                    .or_insert(header::HeaderValue::from_static("application/json"));
                r
            },
        ))
}

/// Binds the RPC listener (`--rpc-addr`/`--rpc-port`).
pub async fn bind(config: &Config) -> std::io::Result<tokio::net::TcpListener> {
    let host = if config.rpc_addr == "localhost" {
        "127.0.0.1"
    } else {
        config
            .rpc_addr
            .trim_start_matches('[')
            .trim_end_matches(']')
    };
    let ip: IpAddr = host.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("invalid RPC address {}", config.rpc_addr),
        )
    })?;
    tokio::net::TcpListener::bind(SocketAddr::new(ip, config.rpc_port)).await
}

#[cfg(test)]
mod tests {
    use node_context::{L1Head, WorkerName};

    use super::*;

    #[test]
    fn health_rules() {
        let mut s = NodeStatus::default();
        let j = health_json(&s, None, false);
        assert_eq!(
            j,
            json!({"healthy": false, "degraded": false,
                   "l1": {"connection": "disconnected", "blocks_late": 0},
                   "active_workers": []})
        );
        s.l1_connection = L1Connection::Connected;
        s.l1_head = Some(L1Head {
            hash: BlockHash::new([1; 32]),
            level: 10,
            timestamp: "2026-01-01T00:00:06Z".into(),
            age_secs: 5,
        });
        assert_eq!(health_json(&s, Some(9), false)["healthy"], json!(true));
        assert_eq!(health_json(&s, Some(8), false)["healthy"], json!(false));
        assert_eq!(
            health_json(&s, Some(8), false)["l1"]["blocks_late"],
            json!(2)
        );
        assert_eq!(health_json(&s, Some(8), true)["healthy"], json!(true));
        s.workers.start(WorkerName::Publisher).crashed("boom");
        let j = health_json(&s, Some(10), false);
        assert_eq!(j["healthy"], json!(false));
        assert_eq!(
            j["active_workers"],
            json!([["publisher", {"crashed": "boom"}]])
        );
    }

    #[test]
    fn health_reports_open_conflicts_until_cemented() {
        use node_context::{ConflictLog, OpenConflict};
        use tezos_types::{CommitmentHash, Level, PublicKeyHash};
        let mut s = NodeStatus::default();
        let level = |l| Level::from_u32(l).unwrap();
        let conflict = |l, b| OpenConflict {
            inbox_level: level(l),
            ours: CommitmentHash::new([1; 32]),
            theirs: CommitmentHash::new([b; 32]),
            staker: PublicKeyHash::Ed25519([b; 20]),
        };
        let mut log = ConflictLog::default();
        log.open(conflict(20, 2), level(25));
        log.open(conflict(20, 2), level(26));
        log.open(conflict(40, 3), level(45));
        assert_eq!(ConflictLog::decode(&log.encode()).unwrap(), log);
        assert!(ConflictLog::decode("12 src1 x").is_err());
        s.open_conflicts = log.open_conflicts();
        let j = health_json(&s, None, false);
        let c = &j["conflicts"];
        assert_eq!(c.as_array().map(Vec::len), Some(2), "{j}");
        assert_eq!(c[0]["inbox_level"], json!(20));
        assert_eq!(
            c[0]["ours"],
            json!(CommitmentHash::new([1; 32]).to_b58check())
        );
        assert_eq!(
            c[1]["theirs"],
            json!(CommitmentHash::new([3; 32]).to_b58check())
        );
        assert_eq!(
            c[1]["staker"],
            json!(PublicKeyHash::Ed25519([3; 20]).to_b58check())
        );
        log.settle(level(39), level(50));
        s.open_conflicts = log.open_conflicts();
        assert_eq!(
            health_json(&s, None, false)["conflicts"][0]["inbox_level"],
            json!(40)
        );
        log.settle(level(40), level(51));
        s.open_conflicts = log.open_conflicts();
        assert!(health_json(&s, None, false).get("conflicts").is_none());
    }

    #[test]
    fn outbox_message_shapes() {
        use tezos_types::BinEncode;
        use tezos_types::micheline::Micheline;
        use tezos_types::outbox::{OutboxMessage, OutboxTransaction};
        let dest: tezos_types::ContractHash =
            "KT1BEqzn5Wx8uJrZNvuS9DVHmLvG9td3fDLi".parse().unwrap();
        let tx = |params: Micheline, entrypoint: &str| OutboxTransaction {
            parameters: (&params).into(),
            parameters_ty: None,
            destination: dest,
            entrypoint: entrypoint.into(),
        };
        let m = OutboxMessage::AtomicTransactionBatch {
            transactions: vec![
                tx(Micheline::unit(), "default"),
                tx(Micheline::int(5), "mint"),
            ],
        }
        .to_bin();
        let kt1 = dest.to_b58check();
        assert_eq!(
            outbox_message_json(&m),
            json!({"kind": "untyped", "transactions": [
                {"parameters": {"prim": "Unit"}, "destination": kt1},
                {"parameters": {"int": "5"}, "destination": kt1, "entrypoint": "mint"}]})
        );
        // Summary: `entrypoint` defaults to `default`, `parameters` to `Unit`.
        assert_eq!(
            outbox_summary(&m),
            json!({"transactions": [
                {"destination": kt1},
                {"destination": kt1, "entrypoint": "mint", "parameters": {"int": "5"}}]})
        );
        let signal = |payload: &[u8]| {
            OutboxMessage::CanonicalRollupSignal {
                payload: payload.to_vec(),
            }
            .to_bin()
        };
        assert_eq!(
            outbox_message_json(&signal(b"hi")),
            json!({"kind": "canonical_rollup_signal", "payload": "hi"})
        );
        assert_eq!(
            outbox_summary(&signal(&[0xff, 1])),
            json!({"canonical_rollup_signal": {"invalid_utf8_string": [255, 1]}})
        );
        assert_eq!(outbox_message_json(&[9, 9]), json!({"raw": "0909"}));
    }

    #[test]
    fn context_hashes_and_statuses_render_as_octez_does() {
        let mut b = node_store::fixtures::sample_block(3);
        b.context = Some(tezos_types::SmartRollupContextHash::new([7; 32]));
        b.pvm_status = Some(node_store::PvmStatus::WaitingForInputMessage);
        let j = block_json(&b);
        let b58 = j["context"].as_str().unwrap();
        assert!(b58.starts_with("SRCo"), "{b58}");
        assert_eq!(
            b58,
            tezos_types::SmartRollupContextHash::new([7; 32]).to_b58check()
        );
        assert_eq!(j["pvm_status"], json!("Waiting for input message"));
        b.pvm_status = Some(node_store::PvmStatus::Other("Waiting for reveal".into()));
        assert_eq!(block_json(&b)["pvm_status"], json!("Waiting for reveal"));
    }

    #[test]
    fn acl_policies() {
        let mut c = Config::new(
            "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            node_config::Mode::Observer,
        );
        c.rpc_addr = "127.0.0.1".into();
        assert_eq!(acl_policy(&c), AclPolicy::AllowAll);
        c.rpc_addr = "::1".into();
        assert_eq!(acl_policy(&c), AclPolicy::AllowAll);
        c.rpc_addr = "0.0.0.0".into();
        assert!(acl_policy(&c).denies("GET", "/config"));
        assert!(!acl_policy(&c).denies("GET", "/health"));
        c.acl = vec![json!({"address": format!("0.0.0.0:{}", c.rpc_port), "blacklist": []})];
        assert_eq!(acl_policy(&c), AclPolicy::Blacklist(vec![]));
        c.acl = vec![json!({"address": "0.0.0.0", "whitelist": ["GET /global/**"]})];
        let p = acl_policy(&c);
        assert!(!p.denies("GET", "/global/block/head/hash"));
        assert!(p.denies("POST", "/global/block/head/simulate"));
        assert!(p.denies("GET", "/health"));
    }

    #[test]
    fn acl_matching() {
        assert!(secure_acl_denies(
            "GET",
            "/global/block/head/durable/wasm_2_0_0/subkeys"
        ));
        assert!(!secure_acl_denies(
            "GET",
            "/global/block/head/durable/wasm_2_0_0/value"
        ));
        assert!(secure_acl_denies("POST", "/local/batcher/injection"));
        assert!(secure_acl_denies("GET", "/config"));
        assert!(!secure_acl_denies("GET", "/health"));
    }

    #[test]
    fn block_ids() {
        assert_eq!(BlockId::parse("head"), Some(BlockId::Head));
        assert_eq!(
            BlockId::parse("12"),
            Some(BlockId::Level(Level::from(12u8)))
        );
        assert_eq!(BlockId::parse("-1"), None);
        assert_eq!(BlockId::parse("nope"), None);
        let h = BlockHash::new([3; 32]);
        assert_eq!(BlockId::parse(&h.to_b58check()), Some(BlockId::Hash(h)));
    }
}
