//! RPC server (octez-rollup-node.md §4): axum over a [`NodeView`], Octez JSON shapes
//! (int64/Zarith as strings, base58 hashes), Octez-like JSON error bodies (400 bad argument,
//! 404 unknown path, 500 failure), the ACL of the listening address (§2 "Default RPC ACL"),
//! and the streamed RPCs (`monitor_blocks`, `monitor_finalized_blocks`, `local/synchronized`:
//! chunked, one JSON value per line, polling the store, ending on disconnect or shutdown).

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
    /// Protocol constants read from L1 (`None` until the follower has read them).
    pub constants: Option<RollupConstants>,
    /// Level processing figures (metrics).
    pub processing: ProcessingStats,
}

impl Default for NodeStatus {
    fn default() -> Self {
        Self {
            l1_connection: L1Connection::Disconnected,
            l1_head: None,
            degraded: false,
            workers: vec![],
            constants: None,
            processing: ProcessingStats::default(),
        }
    }
}

/// Protocol constants the RPCs and metrics need (`Rollup_constants`, read by the follower
/// from the L1 `/chains/main/blocks/<head>/context/constants`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupConstants {
    /// `smart_rollup_commitment_period_in_blocks`.
    pub commitment_period: u32,
    /// `smart_rollup_challenge_window_in_blocks`.
    pub challenge_window: u32,
    /// `minimal_block_delay` in seconds.
    pub minimal_block_delay: u64,
}

/// What the follower reports after each processed level (`inbox_process_time` metric).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessingStats {
    /// Levels processed since start.
    pub levels: u64,
    /// Last processed level.
    pub last_level: Option<i32>,
    /// Seconds spent processing the last level.
    pub last_secs: f64,
}

impl ProcessingStats {
    /// Records one processed level and the time it took.
    pub fn record(&mut self, level: i32, took: std::time::Duration) {
        self.levels = self.levels.saturating_add(1);
        self.last_level = Some(level);
        self.last_secs = took.as_secs_f64();
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
    /// Last cemented commitment known locally `(hash, inbox level)`.
    fn lcc(&self) -> Result<Option<(CommitmentHash, i32)>, RpcError> {
        Ok(None)
    }
    /// Last published commitment known locally `(hash, inbox level)`.
    fn lpc(&self) -> Result<Option<(CommitmentHash, i32)>, RpcError> {
        Ok(None)
    }
    /// `GET /local/gc_info` (§4.3, `crate::gc::gc_info`); `None` when not available.
    fn gc_info(&self) -> Result<Option<Value>, RpcError> {
        Ok(None)
    }
    /// Serialized inbox messages of `block` (`None` when not stored).
    fn messages(&self, _block: &L2Block) -> Result<Option<Vec<Vec<u8>>>, RpcError> {
        Ok(None)
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

    fn gc_info(&self) -> Result<Option<Value>, RpcError> {
        self.with_store(|s| crate::gc::gc_info(s, None)).map(Some)
    }

    fn lcc(&self) -> Result<Option<(CommitmentHash, i32)>, RpcError> {
        self.with_store(Store::lcc)
    }

    fn lpc(&self) -> Result<Option<(CommitmentHash, i32)>, RpcError> {
        self.with_store(Store::lpc)
    }

    fn messages(&self, block: &L2Block) -> Result<Option<Vec<Vec<u8>>>, RpcError> {
        self.with_store(|s| s.messages(&block.inbox_witness))
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

/// A stored context hash (64 hex digits) as the base58 `SRCo…` smart rollup context hash
/// (§4 JSON conventions); any other text is returned unchanged.
pub fn context_b58(c: &crate::store::RollupContextHash) -> String {
    match hex::decode(&c.0)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
    {
        Some(b) => tezos_types::SmartRollupContextHash::new(b).to_b58check(),
        None => c.0.clone(),
    }
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
        o.insert("context".into(), json!(context_b58(c)));
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

async fn ping() -> RpcResult {
    ok(json!({}))
}

/// `/stats/memory` (§4.1): the `Linux_proc_statm` figures of `/proc/self/statm` (pages).
async fn stats_memory() -> RpcResult {
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

async fn local_gc_info(State(v): State<AppState>) -> RpcResult {
    v.gc_info()?.map_or(Err(RpcError::NotFound), ok)
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

/// The `/local/synchronized` item of the current state: `"synchronized"` once the L2 head
/// reaches the L1 head, else the progress.
fn sync_state(v: &AppState) -> Result<Value, RpcError> {
    let status = v.status();
    let head = v.block(&BlockId::Head)?.map(|b| b.level);
    Ok(match (&status.l1_head, head) {
        (Some(l1), Some(l2)) if l2 >= l1.level => json!("synchronized"),
        (l1, l2) => {
            let l1_level = l1.as_ref().map_or(0, |h| h.level);
            let processed = l2.unwrap_or(0);
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
async fn synchronized(
    State(v): State<AppState>,
    axum::Extension(stop): axum::Extension<Shutdown>,
) -> RpcResult {
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
            item = sync_state(&v);
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(ChannelBody(rx)),
    )
        .into_response())
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
    "/global/monitor_blocks",
    "/global/monitor_finalized_blocks",
    "/ping",
    "/stats/memory",
    "/local/gc_info",
    "/global/block/{block_id}/state",
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
        && let Some(outbox) = v.pvm_rpc(&b, &format!("outbox_summary/{}", b.level), &q)
    {
        j["outbox"] = outbox?;
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
        ["committed_status"] => committed_status(&v, &b),
        ["inbox"]
        | ["num_messages"]
        | ["state_current_level"]
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
    level: i32,
    head_level: i32,
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
    block_level: i32,
    head_level: i32,
    next: (Option<CommitmentHash>, i32),
    published: Option<Published>,
    lcc_level: Option<i32>,
    c: &RollupConstants,
    now: i64,
) -> Result<Value, RpcError> {
    let (hash, commitment_level) = next;
    let window = i32::try_from(c.challenge_window).map_err(|_| overflow())?;
    match (hash, published) {
        (Some(h), Some((first, at))) => {
            if lcc_level.is_some_and(|lcc| block_level <= lcc) {
                let since = lcc_level
                    .and_then(|lcc| lcc.checked_sub(block_level))
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
fn committed_status(v: &AppState, b: &L2Block) -> RpcResult {
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
const MONITOR_MAX_GAP: i32 = 1000;

/// Set to `true` when the server shuts down: streams end so that the graceful shutdown
/// does not wait for them.
#[derive(Clone)]
struct Shutdown(Option<tokio::sync::watch::Receiver<bool>>);

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
async fn monitor_blocks(
    State(v): State<AppState>,
    axum::Extension(stop): axum::Extension<Shutdown>,
) -> Response {
    monitor(v, stop, BlockId::Head)
}

/// `/global/monitor_finalized_blocks` (§4.2): as [`monitor_blocks`] for the finalized block.
async fn monitor_finalized_blocks(
    State(v): State<AppState>,
    axum::Extension(stop): axum::Extension<Shutdown>,
) -> Response {
    monitor(v, stop, BlockId::Finalized)
}

/// Streams block `watched` (head or finalized) each time it changes.
fn monitor(v: AppState, stop: Shutdown, watched: BlockId) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(async move {
        let stop = stop.wait();
        tokio::pin!(stop);
        let mut last: Option<(BlockHash, i32)> = None;
        loop {
            let head = match v.block(&watched) {
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
                    && let Some(from) = l.checked_add(1)
                {
                    for level in from.max(h.level.saturating_sub(MONITOR_MAX_GAP))..h.level {
                        if let Ok(Some(b)) = v.block(&BlockId::Level(level)) {
                            blocks.push(b);
                        }
                    }
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
    if !(key.is_empty() || key == "/") && durable_tree::durable::Key::from_str_checked(key).is_err()
    {
        return Err(RpcError::BadArgument("key", key.into()));
    }
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

async fn acl_layer(State(policy): State<Arc<AclPolicy>>, req: Request, next: Next) -> Response {
    if policy.denies(req.method().as_str(), req.uri().path()) {
        let body = json!([{"kind": "permanent", "id": "rpc.unauthorized",
                           "msg": format!("Access to {} {} is denied by the RPC ACL of this \
                                           address; use --acl-override or the `acl` \
                                           configuration to allow it", req.method(),
                                          req.uri().path())}]);
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
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

fn router_inner(view: Arc<dyn NodeView>, shutdown: Shutdown) -> Router {
    let policy = Arc::new(acl_policy(&view.config()));
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
        .route("/global/monitor_blocks", get(monitor_blocks))
        .route(
            "/global/monitor_finalized_blocks",
            get(monitor_finalized_blocks),
        )
        .route("/ping", get(ping))
        .route("/stats/memory", get(stats_memory))
        .route("/global/block/{id}", get(block_root))
        .route("/global/block/{id}/{*rest}", get(block_sub))
        .route("/local/commitments/{hash}", get(local_commitment))
        .route("/local/gc_info", get(local_gc_info))
        .route("/local/synchronized", get(synchronized))
        .fallback(not_found)
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
    fn context_hashes_render_in_base58() {
        let c = crate::store::RollupContextHash(hex::encode([7u8; 32]));
        let b58 = context_b58(&c);
        assert!(b58.starts_with("SRCo"), "{b58}");
        assert_eq!(
            b58,
            tezos_types::SmartRollupContextHash::new([7; 32]).to_b58check()
        );
        let other = crate::store::RollupContextHash("SRCoalready".into());
        assert_eq!(context_b58(&other), "SRCoalready");
    }

    #[test]
    fn acl_policies() {
        let mut c = Config::new(
            "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            crate::config::Mode::Observer,
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
        assert_eq!(BlockId::parse("12"), Some(BlockId::Level(12)));
        assert_eq!(BlockId::parse("-1"), None);
        assert_eq!(BlockId::parse("nope"), None);
        let h = BlockHash::new([3; 32]);
        assert_eq!(BlockId::parse(&h.to_b58check()), Some(BlockId::Hash(h)));
    }
}
