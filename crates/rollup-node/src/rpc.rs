//! RPC server (octez-rollup-node.md §4): axum over a [`NodeView`], Octez JSON shapes
//! (int64/Zarith as strings), Octez-like JSON error bodies, default ACL (§2 "Default RPC ACL").

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tezos_types::{BlockHash, CommitmentHash};

use crate::config::Config;
use crate::store::{Commitment, L2Block, Store, StoreError};

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

/// L1 connection state reported by `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L1Connection {
    /// Receiving heads.
    Connected,
    /// Lost, retrying.
    Reconnecting,
    /// Not connected (yet).
    Disconnected,
}

impl L1Connection {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting",
            Self::Disconnected => "disconnected",
        }
    }
}

/// Last L1 head seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Head {
    /// Hash.
    pub hash: BlockHash,
    /// Level.
    pub level: i32,
    /// RFC 3339 timestamp.
    pub timestamp: String,
    /// Age of the head's timestamp in seconds, as measured by the daemon.
    pub age_secs: u64,
}

/// Worker status for `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerStatus {
    /// Running.
    Running,
    /// Crashed with a message.
    Crashed(String),
}

/// Daemon status shared with the RPC server (the L1 follower updates it).
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// L1 connection.
    pub l1_connection: L1Connection,
    /// Last L1 head seen.
    pub l1_head: Option<L1Head>,
    /// Degraded mode.
    pub degraded: bool,
    /// Active workers, in Octez order.
    pub workers: Vec<(String, WorkerStatus)>,
}

impl Default for NodeStatus {
    fn default() -> Self {
        Self {
            l1_connection: L1Connection::Disconnected,
            l1_head: None,
            degraded: false,
            workers: vec![],
        }
    }
}

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
    let workers_ok = status
        .workers
        .iter()
        .all(|(_, s)| *s == WorkerStatus::Running);
    let healthy = !status.degraded
        && status.l1_connection == L1Connection::Connected
        && blocks_late <= max_late
        && fresh
        && workers_ok;
    let mut l1 = serde_json::Map::new();
    l1.insert("connection".into(), json!(status.l1_connection.as_str()));
    l1.insert("blocks_late".into(), json!(blocks_late));
    if let Some(h) = &status.l1_head {
        l1.insert(
            "last_seen_head".into(),
            json!({"hash": h.hash.to_b58check(), "level": h.level, "timestamp": h.timestamp}),
        );
    }
    let workers: Vec<Value> = status
        .workers
        .iter()
        .map(|(n, s)| match s {
            WorkerStatus::Running => json!([n, "running"]),
            WorkerStatus::Crashed(e) => json!([n, {"crashed": e}]),
        })
        .collect();
    json!({"healthy": healthy, "degraded": status.degraded, "l1": l1, "active_workers": workers})
}

/// Errors of RPC handlers, rendered as Octez error arrays.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// 404.
    #[error("Not found")]
    NotFound,
    /// 400: unparsable path or query argument.
    #[error("Failed to parse argument '{0}' ({1:?})")]
    BadArgument(&'static str, String),
    /// 500 with an Octez error id.
    #[error("{1}")]
    Failed(&'static str, String),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        let (status, id) = match &self {
            RpcError::NotFound => (StatusCode::NOT_FOUND, "rpc.not_found"),
            RpcError::BadArgument(..) => (StatusCode::BAD_REQUEST, "rpc.bad_argument"),
            RpcError::Failed(id, _) => (StatusCode::INTERNAL_SERVER_ERROR, *id),
            RpcError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "smart_rollup.node.store"),
        };
        let body = json!([{"kind": "permanent", "id": id, "msg": self.to_string()}]);
        (status, axum::Json(body)).into_response()
    }
}

/// Access to the PVM durable storage of a block (implemented by the PVM wiring).
pub trait DurableState: Send + Sync {
    /// Value at `key` (`None` if absent).
    fn value(&self, block: &L2Block, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Length of the value at `key`.
    fn length(&self, block: &L2Block, key: &str) -> Result<Option<u64>, String>;
    /// Direct subkeys of `key`, in storage order.
    fn subkeys(&self, block: &L2Block, key: &str) -> Result<Vec<String>, String>;
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
    Level(i32),
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
                .filter(|l| *l >= 0)
                .map(Self::Level)
                .or_else(|| s.parse().ok().map(Self::Hash)),
        }
    }
}

/// `(first_published_at_level, published_at_level)` of a commitment.
pub type Published = (i32, Option<i32>);

/// What the RPC server reads; the daemon implements it (see [`StoreView`]).
pub trait NodeView: Send + Sync + 'static {
    /// The effective configuration.
    fn config(&self) -> Config;
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

/// [`NodeView`] over the SQLite store and a shared [`NodeStatus`].
pub struct StoreView {
    /// Configuration.
    pub config: Config,
    /// Store (one connection, serialized).
    pub store: Arc<Mutex<Store>>,
    /// Status updated by the daemon.
    pub status: Arc<Mutex<NodeStatus>>,
    /// Durable storage, when available.
    pub durable: Option<Arc<dyn DurableState>>,
    /// Committed PVM states (inbox/outbox/state RPCs), when available.
    pub context: Option<crate::context::Context>,
}

impl StoreView {
    fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, RpcError> {
        let s = self.store.lock().map_err(|_| {
            RpcError::Failed("smart_rollup.node.store", "store lock poisoned".into())
        })?;
        Ok(f(&s)?)
    }
}

impl NodeView for StoreView {
    fn config(&self) -> Config {
        self.config.clone()
    }

    fn status(&self) -> NodeStatus {
        let mut s = self.status.lock().map(|s| s.clone()).unwrap_or_default();
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
                Some(self.outbox_json(block, level))
            }
            ["outbox", level, "messages"] => Some(self.outbox_json(block, level)),
            ["state"] => {
                let ctx = self.context.as_ref()?;
                let key = query.get("key").map_or("", String::as_str);
                Some(match ctx.state_value(block, key) {
                    Ok(Some(v)) => Ok(json!(hex::encode(v))),
                    Ok(None) => Err(RpcError::Failed(
                        "smart_rollup_node.no_such_key",
                        "No such key in PVM state".into(),
                    )),
                    Err(e) => Err(ctx_err(e)),
                })
            }
            _ => None,
        }
    }
}

/// Outbox message summary (§4.2): `{"transactions":[{"destination","entrypoint",
/// "parameters","parameters_ty"?}]}`, `{"whitelist_update": [pkh] | null}` or
/// `{"canonical_rollup_signal": hex}`; undecodable bytes as `{"raw": hex}`.
pub fn outbox_summary(bytes: &[u8]) -> Value {
    use tezos_types::BinDecode;
    use tezos_types::outbox::OutboxMessage;
    let txs = |ts: &[tezos_types::outbox::OutboxTransaction]| -> Value {
        let list: Vec<Value> = ts
            .iter()
            .map(|t| {
                let mut o = json!({
                    "destination": t.destination.to_b58check(),
                    "entrypoint": t.entrypoint,
                    "parameters": serde_json::to_value(&t.parameters).unwrap_or(Value::Null),
                });
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
            json!({ "canonical_rollup_signal": hex::encode(payload) })
        }
        Err(_) => json!({ "raw": hex::encode(bytes) }),
    }
}

fn ctx_err(e: crate::context::ContextError) -> RpcError {
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

    /// Outbox messages of `level` in the state of `block`, in Octez's list shape
    /// (`{"outbox_level","message_index","message": summary}`).
    fn outbox_json(&self, block: &L2Block, level: &str) -> Result<Value, RpcError> {
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
                    json!({"outbox_level": outbox_level, "message_index": i.to_string(),
                           "message": outbox_summary(m)})
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
        o.insert("context".into(), json!(c.0));
    }
    o.insert("inbox_witness".into(), json!(b.inbox_witness.to_b58check()));
    o.insert("inbox_hash".into(), json!(b.inbox_hash.to_b58check()));
    o.insert("initial_tick".into(), json!(b.initial_tick.to_string()));
    o.insert("num_ticks".into(), json!(b.num_ticks.to_string()));
    if let Some(s) = b.state_hash {
        o.insert("state_hash".into(), json!(s.to_b58check()));
    }
    if let Some(s) = &b.pvm_status {
        o.insert("pvm_status".into(), json!(s));
    }
    Value::Object(o)
}

async fn health(State(v): State<AppState>) -> RpcResult {
    let level = v.block(&BlockId::Head)?.map(|b| b.level);
    ok(health_json(
        &v.status(),
        level,
        v.config().l1_monitor_finalized,
    ))
}

async fn version() -> RpcResult {
    ok(
        json!({"version": crate::VERSION, "store_version": crate::store::STORE_VERSION, "context_version": "0"}),
    )
}

async fn config(State(v): State<AppState>) -> RpcResult {
    let mut c = v.config();
    c.history_mode = Some(c.effective_history_mode());
    ok(c.to_json(true).to_value())
}

async fn rollup_address(State(v): State<AppState>) -> RpcResult {
    ok(json!(v.config().rollup_address.to_b58check()))
}

async fn tezos_head(State(v): State<AppState>) -> RpcResult {
    ok(json!(
        v.block(&BlockId::Head)?.map(|b| b.block_hash.to_b58check())
    ))
}

async fn tezos_level(State(v): State<AppState>) -> RpcResult {
    ok(json!(v.block(&BlockId::Head)?.map(|b| b.level)))
}

async fn last_stored_commitment(State(v): State<AppState>) -> RpcResult {
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

async fn local_commitment(State(v): State<AppState>, Path(h): Path<String>) -> RpcResult {
    let hash: CommitmentHash = h
        .parse()
        .map_err(|_| RpcError::BadArgument("commitment_hash", h.clone()))?;
    match v.commitment(&hash)? {
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

async fn synchronized(State(v): State<AppState>) -> RpcResult {
    let status = v.status();
    let head = v.block(&BlockId::Head)?.map(|b| b.level);
    match (&status.l1_head, head) {
        (Some(l1), Some(l2)) if l2 >= l1.level => ok(json!("synchronized")),
        (l1, l2) => {
            let l1_level = l1.as_ref().map_or(0, |h| h.level);
            let processed = l2.unwrap_or(0);
            let pct = if l1_level > 0 {
                f64::from(processed) * 100.0 / f64::from(l1_level)
            } else {
                0.0
            };
            ok(json!({"synchronizing": {
                "processed_level": processed,
                "l1_head_level": l1_level,
                "percentage_done": pct,
            }}))
        }
    }
}

async fn openapi() -> RpcResult {
    let paths: serde_json::Map<String, Value> = SERVED_PATHS
        .iter()
        .map(|p| {
            (
                (*p).to_string(),
                json!({"get": {"responses": {"200": {"description": ""}}}}),
            )
        })
        .collect();
    ok(json!({
        "openapi": "3.0.0",
        "info": {"title": "Smart rollup node RPCs", "version": crate::VERSION},
        "paths": paths,
    }))
}

const SERVED_PATHS: &[&str] = &[
    "/health",
    "/version",
    "/config",
    "/openapi",
    "/global/smart_rollup_address",
    "/global/tezos_head",
    "/global/tezos_level",
    "/global/last_stored_commitment",
    "/global/block/{block_id}",
    "/global/block/{block_id}/hash",
    "/global/block/{block_id}/level",
    "/global/block/{block_id}/inbox",
    "/global/block/{block_id}/ticks",
    "/global/block/{block_id}/total_ticks",
    "/global/block/{block_id}/num_messages",
    "/global/block/{block_id}/state_hash",
    "/global/block/{block_id}/state_current_level",
    "/global/block/{block_id}/status",
    "/global/block/{block_id}/committed_status",
    "/global/block/{block_id}/outbox",
    "/global/block/{block_id}/outbox/{outbox_level}/messages",
    "/global/block/{block_id}/durable/wasm_2_0_0/value",
    "/global/block/{block_id}/durable/wasm_2_0_0/length",
    "/global/block/{block_id}/durable/wasm_2_0_0/subkeys",
    "/global/block/{block_id}/durable/wasm_2_0_0/values",
    "/local/commitments/{commitment_hash}",
    "/local/synchronized",
];

fn resolve_block(v: &AppState, id: &str) -> Result<L2Block, RpcError> {
    let bid = BlockId::parse(id).ok_or_else(|| RpcError::BadArgument("block_id", id.into()))?;
    v.block(&bid)?.ok_or_else(|| {
        RpcError::Failed(
            "smart_rollup_node.block_not_found",
            format!("Block {id} is not known by the rollup node."),
        )
    })
}

async fn block_root(
    State(v): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> RpcResult {
    let b = resolve_block(&v, &id)?;
    let mut j = block_json(&b);
    // Content fields (`sc_rollup_block.ml`): inbox, messages, commitment, [outbox].
    // (Absent when the store lacks the inbox, e.g. blocks written by other tools.)
    if let Some(Ok(inbox)) = v.pvm_rpc(&b, "inbox", &q) {
        j["inbox"] = inbox;
    }
    if let Some(messages) = v.pvm_rpc(&b, "messages", &q) {
        j["messages"] = messages?;
    }
    if let Some(h) = &b.commitment_hash
        && let Some((c, _)) = v.commitment(h)?
    {
        j["commitment"] = commitment_json(&c);
    }
    if q.get("outbox").is_some_and(|o| o == "true")
        && let Some(outbox) = v.pvm_rpc(&b, &format!("outbox/{}/messages", b.level), &q)
    {
        let list: Vec<Value> = outbox?
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|m| {
                        let mut o = json!({"message_index": m["message_index"]});
                        if let (Some(o), Some(s)) = (o.as_object_mut(), m["message"].as_object()) {
                            o.extend(s.clone());
                        }
                        o
                    })
                    .collect()
            })
            .unwrap_or_default();
        j["outbox"] = Value::Array(list);
    }
    ok(j)
}

async fn block_sub(
    State(v): State<AppState>,
    Path((id, rest)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> RpcResult {
    let b = resolve_block(&v, &id)?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["hash"] => ok(json!(b.block_hash.to_b58check())),
        ["level"] => ok(json!(b.level)),
        ["ticks"] => ok(json!(b.num_ticks.to_string())),
        ["total_ticks"] => {
            let total = b
                .initial_tick
                .checked_add(u128::try_from(b.num_ticks).unwrap_or(0))
                .ok_or_else(|| {
                    RpcError::Failed("smart_rollup_node.overflow", "tick overflow".into())
                })?;
            ok(json!(total.to_string()))
        }
        ["state_hash"] => match b.state_hash {
            Some(s) => ok(json!(s.to_b58check())),
            None => pvm_or_unsupported(&v, &b, &rest, &q),
        },
        ["status"] => match &b.pvm_status {
            Some(s) => ok(json!(s)),
            None => pvm_or_unsupported(&v, &b, &rest, &q),
        },
        ["durable", "wasm_2_0_0", what] => durable(&v, &b, what, &q),
        ["inbox"]
        | ["num_messages"]
        | ["state_current_level"]
        | ["committed_status"]
        | ["outbox"]
        | ["outbox", _, "messages"]
        | ["state"] => {
            if let ["outbox", l, "messages"] = parts.as_slice() {
                l.parse::<i32>()
                    .map_err(|_| RpcError::BadArgument("outbox_level", (*l).into()))?;
            }
            if parts == ["outbox"] && !q.contains_key("outbox_level") {
                return Err(RpcError::BadArgument("outbox_level", "missing".into()));
            }
            pvm_or_unsupported(&v, &b, &rest, &q)
        }
        _ => Err(RpcError::NotFound),
    }
}

fn pvm_or_unsupported(
    v: &AppState,
    b: &L2Block,
    path: &str,
    q: &HashMap<String, String>,
) -> RpcResult {
    match v.pvm_rpc(b, path, q) {
        Some(r) => ok(r?),
        None => Err(RpcError::Failed(
            "smart_rollup_node.not_supported",
            format!("/{path} is not supported yet by this rollup node"),
        )),
    }
}

fn durable(v: &AppState, b: &L2Block, what: &str, q: &HashMap<String, String>) -> RpcResult {
    if !matches!(what, "value" | "length" | "subkeys" | "values") {
        return Err(RpcError::NotFound);
    }
    let Some(d) = v.durable() else {
        return Err(RpcError::NotFound);
    };
    let key = q.get("key").map(String::as_str).unwrap_or("");
    let fail = |e: String| RpcError::Failed("smart_rollup_node.durable_storage", e);
    match what {
        "value" => ok(json!(d.value(b, key).map_err(fail)?.map(hex::encode))),
        "length" => ok(json!(
            d.length(b, key).map_err(fail)?.map(|l| l.to_string())
        )),
        "subkeys" => ok(json!(d.subkeys(b, key).map_err(fail)?)),
        _ => {
            let mut out = vec![];
            for sub in d.subkeys(b, key).map_err(fail)? {
                let full = format!("{}/{sub}", key.trim_end_matches('/'));
                if let Some(val) = d.value(b, &full).map_err(fail)? {
                    out.push(json!({"key": sub, "value": hex::encode(val)}));
                }
            }
            ok(Value::Array(out))
        }
    }
}

async fn not_found() -> Response {
    RpcError::NotFound.into_response()
}

/// Whether a request is denied by the secure ACL (`METHOD /path` matchers, `*` = one
/// segment, `**` = any suffix).
pub fn secure_acl_denies(method: &str, path: &str) -> bool {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    SECURE_ACL_DENY.iter().any(|m| {
        let (meth, pat) = match m.split_once(' ') {
            Some((meth, pat)) => (Some(meth), pat),
            None => (None, *m),
        };
        if meth.is_some_and(|mm| mm != method) {
            return false;
        }
        let pat: Vec<&str> = pat.trim_matches('/').split('/').collect();
        let mut i = 0;
        for p in &pat {
            if *p == "**" {
                return true;
            }
            match segs.get(i) {
                Some(s) if *p == "*" || p == s => i += 1,
                _ => return false,
            }
        }
        i == segs.len()
    })
}

async fn acl_layer(State(secure): State<bool>, req: Request, next: Next) -> Response {
    if secure && secure_acl_denies(req.method().as_str(), req.uri().path()) {
        let body = json!([{"kind": "permanent", "id": "rpc.unauthorized",
                           "msg": "Access to this RPC is denied by the ACL"}]);
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    next.run(req).await
}

/// Whether the secure ACL applies: no policy configured for `addr:port` and a non-loopback
/// listening address.
pub fn secure_acl_applies(config: &Config) -> bool {
    let address = format!("{}:{}", config.rpc_addr, config.rpc_port);
    if let Some(p) = config
        .acl
        .iter()
        .find(|p| p.get("address").and_then(Value::as_str) == Some(address.as_str()))
    {
        return p
            .get("blacklist")
            .and_then(Value::as_array)
            .is_some_and(|l| !l.is_empty())
            || p.get("whitelist").is_some();
    }
    let host = config
        .rpc_addr
        .trim_start_matches('[')
        .trim_end_matches(']');
    !(host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

/// The RPC router.
pub fn router(view: Arc<dyn NodeView>) -> Router {
    let secure = secure_acl_applies(&view.config());
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/config", get(config))
        .route("/openapi", get(openapi))
        .route("/global/smart_rollup_address", get(rollup_address))
        .route("/global/tezos_head", get(tezos_head))
        .route("/global/tezos_level", get(tezos_level))
        .route(
            "/global/last_stored_commitment",
            get(last_stored_commitment),
        )
        .route("/global/block/{id}", get(block_root))
        .route("/global/block/{id}/{*rest}", get(block_sub))
        .route("/local/commitments/{hash}", get(local_commitment))
        .route("/local/synchronized", get(synchronized))
        .fallback(not_found)
        .with_state(view)
        .layer(middleware::from_fn_with_state(secure, acl_layer))
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
        s.workers
            .push(("publisher".into(), WorkerStatus::Crashed("boom".into())));
        let j = health_json(&s, Some(10), false);
        assert_eq!(j["healthy"], json!(false));
        assert_eq!(
            j["active_workers"],
            json!([["publisher", {"crashed": "boom"}]])
        );
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
        assert_eq!(BlockId::parse("12"), Some(BlockId::Level(12)));
        assert_eq!(BlockId::parse("-1"), None);
        assert_eq!(BlockId::parse("nope"), None);
        let h = BlockHash::new([3; 32]);
        assert_eq!(BlockId::parse(&h.to_b58check()), Some(BlockId::Hash(h)));
    }
}
