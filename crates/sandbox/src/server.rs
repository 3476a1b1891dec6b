//! The I/O shell: RPC server (JSON media type), block timer, journal writes and head
//! notifications. Paths and JSON shapes: l1-and-signer.md §1.
//!
//! Control RPCs for tests: `POST /sandbox/bake` (bake now, returns the new head; body
//! `{"count":N}` bakes N blocks),
//! `POST /sandbox/reorg {"depth":N}` (replace the last N blocks), `GET /sandbox/info`
//! (chain id, bootstrap accounts with secret keys, bridge address).

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tezos_types::{BinEncode, CommitmentHash, Contract, PublicKeyHash, SmartRollupAddress};
use tokio::sync::mpsc;

use crate::accounts::bootstrap_accounts;
use crate::chain::{Block, Chain, GENESIS_PROTOCOL, PROTOCOL};
use crate::journal::{Config, Entry, Journal, JournalError, load_or_init_config, replay};
use crate::ops::{Operation, pvm_kind_name};
use crate::state::{ErrorCategory, ProtoError, State, bridge_address, errors_json};

/// Options of `run`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Block time; `None` bakes only on `POST /sandbox/bake`.
    pub block_time: Option<Duration>,
    /// Constants used on first start.
    pub constants: crate::constants::Constants,
}

/// Operational errors of the shell.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Persistence.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Socket.
    #[error("RPC server: {0}")]
    Io(#[from] std::io::Error),
}

/// Shared sandbox state.
pub struct Sandbox {
    chain: Mutex<Chain>,
    journal: Mutex<Journal>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Bytes>>>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sandbox {
    /// Opens (or creates) the sandbox in `opts.data_dir`, replaying its journal.
    pub fn open(opts: &Options) -> Result<Arc<Self>, ServerError> {
        let config = load_or_init_config(
            &opts.data_dir,
            &Config {
                genesis_timestamp: now().saturating_sub(1),
                constants: opts.constants.clone(),
            },
        )?;
        let (journal, entries) = Journal::open(&opts.data_dir)?;
        let chain = replay(&config, &entries)?;
        Ok(Arc::new(Self {
            chain: Mutex::new(chain),
            journal: Mutex::new(journal),
            subscribers: Mutex::new(Vec::new()),
        }))
    }

    /// A human-readable banner (bootstrap keys, chain id, head).
    pub fn banner(&self) -> String {
        let chain = lock(&self.chain);
        let mut s = format!(
            "chain id {}  protocol {}  head level {}\nbridge contract {}\n",
            chain.chain_id,
            PROTOCOL,
            chain.head().header.level,
            bridge_address()
        );
        for a in bootstrap_accounts() {
            s.push_str(&format!(
                "{}: {} {} unencrypted:{}\n",
                a.alias,
                a.pkh,
                a.secret_key.public_key(),
                a.secret_key.to_b58check()
            ));
        }
        s
    }

    fn notify(&self, chain: &Chain) {
        let head = chain.head();
        let mut line = serde_json::to_vec(&head.header.raw_json(&head.hash)).unwrap_or_default();
        line.push(b'\n');
        let line = Bytes::from(line);
        lock(&self.subscribers).retain(|s| s.send(line.clone()).is_ok());
    }

    /// Bakes one block now (journal first, then announce).
    pub fn bake(&self) -> Result<Value, JournalError> {
        let mut chain = lock(&self.chain);
        let record = chain.bake(now());
        if let Err(e) = lock(&self.journal).append(&Entry::from(&record)) {
            // Not persisted: undo (the operations go back to the mempool).
            let _ = chain.pop(1);
            return Err(e);
        }
        self.notify(&chain);
        let head = chain.head();
        Ok(head.header.raw_json(&head.hash))
    }

    /// Replaces the last `depth` blocks by a new branch.
    pub fn reorg(&self, depth: u32) -> Result<Value, ProtoError> {
        let mut chain = lock(&self.chain);
        let backup = chain.clone();
        let records = chain.reorg(depth).map_err(|e| {
            ProtoError::new(ErrorCategory::Permanent, "sandbox.reorg").with("msg", e.to_string())
        })?;
        let mut journal = lock(&self.journal);
        let written = journal.append(&Entry::Pop { depth }).and_then(|()| {
            records
                .iter()
                .try_for_each(|r| journal.append(&Entry::from(r)))
        });
        if let Err(e) = written {
            *chain = backup;
            return Err(ProtoError::new(ErrorCategory::Temporary, "sandbox.journal")
                .with("msg", e.to_string()));
        }
        self.notify(&chain);
        let head = chain.head();
        Ok(head.header.raw_json(&head.hash))
    }
}

/// Builds the router.
pub fn router(sb: Arc<Sandbox>) -> Router {
    Router::new().fallback(handle).with_state(sb)
}

/// Serves until the listener fails; bakes on the timer if configured.
pub async fn serve(
    sb: Arc<Sandbox>,
    listener: tokio::net::TcpListener,
    block_time: Option<Duration>,
) -> Result<(), ServerError> {
    if let Some(period) = block_time {
        let sb = sb.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(period);
            t.tick().await;
            loop {
                t.tick().await;
                if let Err(e) = sb.bake() {
                    tracing::error!("bake failed: {e}");
                }
            }
        });
    }
    axum::serve(listener, router(sb)).await?;
    Ok(())
}

/// Streaming body of newline-delimited JSON.
struct LineStream {
    first: Option<Bytes>,
    rx: mpsc::UnboundedReceiver<Bytes>,
}

impl futures_core::Stream for LineStream {
    type Item = Result<Bytes, std::convert::Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(b) = self.first.take() {
            return Poll::Ready(Some(Ok(b)));
        }
        self.rx.poll_recv(cx).map(|o| o.map(Ok))
    }
}

fn json_resp(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v).unwrap_or_default(),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    json_resp(StatusCode::OK, &v)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "").into_response()
}

fn proto_err(e: &ProtoError) -> Response {
    json_resp(
        StatusCode::INTERNAL_SERVER_ERROR,
        &errors_json(std::slice::from_ref(e)),
    )
}

fn bad_request(msg: &str) -> Response {
    json_resp(
        StatusCode::BAD_REQUEST,
        &errors_json(&[ProtoError::new(
            ErrorCategory::Permanent,
            "node.prevalidation.parse_error",
        )
        .with("msg", msg)]),
    )
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

async fn handle(
    AxState(sb): AxState<Arc<Sandbox>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').collect();
    let q = query(&uri);
    match (&method, segs.as_slice()) {
        (&Method::GET, ["monitor", "heads", c]) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let first = {
                let chain = lock(&sb.chain);
                if !chain_matches(&chain, c) {
                    return not_found();
                }
                let head = chain.head();
                let mut line =
                    serde_json::to_vec(&head.header.raw_json(&head.hash)).unwrap_or_default();
                line.push(b'\n');
                lock(&sb.subscribers).push(tx);
                Bytes::from(line)
            };
            let stream = LineStream {
                first: Some(first),
                rx,
            };
            (
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        (&Method::GET, ["monitor", "bootstrapped"]) => {
            let chain = lock(&sb.chain);
            let head = chain.head();
            let line = format!(
                "{}\n",
                json!({"block": head.hash.to_b58check(),
                       "timestamp": crate::block::rfc3339(head.header.timestamp)})
            );
            ([(header::CONTENT_TYPE, "application/json")], line).into_response()
        }
        (&Method::GET, ["protocols"]) => ok(json!([GENESIS_PROTOCOL, PROTOCOL])),
        (&Method::POST, ["injection", "operation"]) => {
            let bytes = match injection_bytes(&headers, &body) {
                Ok(b) => b,
                Err(m) => return bad_request(&m),
            };
            let op = match Operation::from_signed_bytes(&bytes) {
                Ok(op) => op,
                Err(e) => return bad_request(&e.0),
            };
            match lock(&sb.chain).inject(op) {
                Ok(h) => ok(json!(h.to_b58check())),
                Err(e) => proto_err(&e),
            }
        }
        (&Method::POST, ["sandbox", "bake"]) => {
            // Optional body `{"count": N}` (1 ≤ N ≤ 100000): bake N blocks in a row.
            let count = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("count").and_then(Value::as_u64));
            let count = match count {
                None => 1,
                Some(n @ 1..=100_000) => n,
                Some(_) => return bad_request("count must be between 1 and 100000"),
            };
            let mut last = Value::Null;
            for _ in 0..count {
                match sb.bake() {
                    Ok(v) => last = v,
                    Err(e) => {
                        return json_resp(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            &json!([{"kind":"temporary","id":"sandbox.journal","msg":e.to_string()}]),
                        );
                    }
                }
            }
            ok(last)
        }
        (&Method::POST, ["sandbox", "reorg"]) => {
            let depth = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("depth").and_then(Value::as_u64))
                .and_then(|d| u32::try_from(d).ok());
            match depth {
                None => bad_request("expected {\"depth\": N}"),
                Some(d) => match sb.reorg(d) {
                    Ok(v) => ok(v),
                    Err(e) => proto_err(&e),
                },
            }
        }
        (&Method::GET, ["sandbox", "info"]) => {
            let chain = lock(&sb.chain);
            ok(json!({
                "chain_id": chain.chain_id.to_b58check(),
                "protocol": PROTOCOL,
                "bridge": bridge_address().to_b58check(),
                "bootstrap_accounts": bootstrap_accounts().iter().map(|a| json!({
                    "alias": a.alias,
                    "pkh": a.pkh.to_b58check(),
                    "public_key": a.secret_key.public_key().to_b58check(),
                    "secret_key": format!("unencrypted:{}", a.secret_key.to_b58check()),
                })).collect::<Vec<_>>(),
            }))
        }
        (_, ["chains", c, rest @ ..]) => {
            let chain = lock(&sb.chain);
            if !chain_matches(&chain, c) {
                return not_found();
            }
            chain_rpc(&chain, &method, rest, &q, &body)
        }
        _ => not_found(),
    }
}

fn chain_matches(chain: &Chain, c: &str) -> bool {
    c == "main" || c == chain.chain_id.to_b58check()
}

/// Injection body: a JSON hex string, or `4-byte length ‖ bytes` in the binary media type.
fn injection_bytes(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, String> {
    let binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    if binary {
        if body.len() < 4 {
            return Err("truncated body".into());
        }
        return Ok(body[4..].to_vec());
    }
    let s: String =
        serde_json::from_slice(body).map_err(|e| format!("expected a hex string: {e}"))?;
    hex::decode(s).map_err(|e| format!("invalid hex: {e}"))
}

fn chain_rpc(
    chain: &Chain,
    method: &Method,
    rest: &[&str],
    q: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    match (method, rest) {
        (&Method::GET, ["chain_id"]) => ok(json!(chain.chain_id.to_b58check())),
        (&Method::GET, ["protocols"]) => ok(json!([
            {"protocol": GENESIS_PROTOCOL, "proto_level": 0,
             "activation_block": {"block_hash": chain.blocks()[0].hash.to_b58check(), "level": 0}},
            {"protocol": PROTOCOL, "proto_level": 1,
             "activation_block": {"block_hash": chain.blocks()[1].hash.to_b58check(), "level": 1}},
        ])),
        (&Method::GET, ["levels", _]) => ok(json!({
            "block_hash": chain.blocks()[0].hash.to_b58check(), "level": 0
        })),
        (&Method::GET, ["mempool", "pending_operations"]) => ok(json!({
            "validated": chain.mempool.iter().map(|(h, op)| {
                let mut j = op.to_json();
                j["hash"] = json!(h.to_b58check());
                j
            }).collect::<Vec<_>>(),
            "refused": [], "outdated": [], "branch_refused": [],
            "branch_delayed": [], "unprocessed": [],
        })),
        (&Method::GET, ["blocks"]) => {
            let length: usize = q.get("length").and_then(|l| l.parse().ok()).unwrap_or(1);
            let heads: Vec<&str> = q
                .get("head")
                .map(|h| h.split(',').collect())
                .unwrap_or_else(|| vec!["head"]);
            let mut out = vec![];
            for h in heads {
                let Some(b) = chain.resolve(h) else {
                    return not_found();
                };
                let list: Vec<Value> = (0..length)
                    .map_while(|i| chain.ancestor(b, i64::try_from(i).ok()?))
                    .map(|a| json!(a.hash.to_b58check()))
                    .collect();
                out.push(Value::Array(list));
            }
            ok(Value::Array(out))
        }
        (_, ["blocks", id, sub @ ..]) => {
            let Some(b) = chain.resolve(id) else {
                return not_found();
            };
            block_rpc(chain, b, method, sub, body)
        }
        _ => not_found(),
    }
}

fn block_rpc(chain: &Chain, b: &Block, method: &Method, sub: &[&str], body: &[u8]) -> Response {
    let st: &State = &b.state;
    match (method, sub) {
        (&Method::GET, []) => ok(chain.block_json(b)),
        (&Method::GET, ["hash"]) => ok(json!(b.hash.to_b58check())),
        (&Method::GET, ["header"]) => {
            ok(b.header.full_json(&b.hash, b.protocol(), &chain.chain_id))
        }
        (&Method::GET, ["header", "shell"]) => ok(Value::Object(b.header.shell_json())),
        (&Method::GET, ["header", "protocol_data", "raw"]) => {
            ok(json!(hex::encode(b.header.protocol_data())))
        }
        (&Method::GET, ["protocols"]) => ok(json!({
            "protocol": b.protocol(), "next_protocol": b.next_protocol()
        })),
        (&Method::GET, ["metadata"]) => ok(chain.block_json(b)["metadata"].clone()),
        (&Method::GET, ["operation_hashes"]) => ok(json!([
            [],
            [],
            [],
            b.operations
                .iter()
                .map(|a| a.hash.to_b58check())
                .collect::<Vec<_>>()
        ])),
        (&Method::GET, ["operation_hashes", pass]) => ok(if *pass == "3" {
            json!(
                b.operations
                    .iter()
                    .map(|a| a.hash.to_b58check())
                    .collect::<Vec<_>>()
            )
        } else {
            json!([])
        }),
        (&Method::GET, ["operations"]) => ok(chain.block_json(b)["operations"].clone()),
        (&Method::GET, ["operations", pass]) => {
            let all = chain.block_json(b)["operations"].clone();
            match pass.parse::<usize>().ok().and_then(|p| all.get(p)) {
                Some(v) => ok(v.clone()),
                None => not_found(),
            }
        }
        (&Method::GET, ["context", "constants"]) => ok(chain.constants.to_rpc_json()),
        (&Method::GET, ["context", "contracts", c, what]) => {
            let Ok(dest) = Contract::from_b58check(c) else {
                return bad_request("invalid contract");
            };
            let account = match dest {
                Contract::Implicit(p) => st.accounts.get(&p),
                _ => None,
            };
            match *what {
                "balance" => ok(json!(st.balance(&dest).unwrap_or(0).to_string())),
                "counter" => match account {
                    Some(a) => ok(json!(a.counter.to_string())),
                    None if matches!(dest, Contract::Implicit(_)) => ok(json!("0")),
                    None => not_found(),
                },
                "manager_key" => ok(account
                    .and_then(|a| a.manager_key.as_ref())
                    .map(|k| json!(k.to_b58check()))
                    .unwrap_or(Value::Null)),
                _ => not_found(),
            }
        }
        (&Method::GET, ["context", "smart_rollups", "all"]) => ok(json!(
            st.rollups
                .keys()
                .map(|k| k.to_b58check())
                .collect::<Vec<_>>()
        )),
        (&Method::GET, ["context", "smart_rollups", "all", "inbox"]) => match &st.inbox {
            Some(i) => ok(serde_json::to_value(i).unwrap_or(Value::Null)),
            None => not_found(),
        },
        (&Method::GET, ["context", "smart_rollups", "smart_rollup", addr, rest @ ..]) => {
            rollup_rpc(chain, b, addr, rest)
        }
        (&Method::POST, ["helpers", "forge", "operations"]) => {
            match serde_json::from_slice::<Value>(body)
                .map_err(|e| e.to_string())
                .and_then(|v| Operation::from_json(&v).map_err(|e| e.0))
            {
                Ok(op) => ok(json!(hex::encode(op.unsigned_bytes()))),
                Err(e) => bad_request(&e),
            }
        }
        (&Method::POST, ["helpers", "parse", "operations"]) => {
            // Body: {"operations":[{"data":"<hex signed>","branch":"B…"}]}.
            let v: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return bad_request(&e.to_string()),
            };
            let mut out = vec![];
            for o in v["operations"].as_array().cloned().unwrap_or_default() {
                let data = o["data"].as_str().unwrap_or("");
                let mut bytes = match o["branch"]
                    .as_str()
                    .map(str::parse::<tezos_types::BlockHash>)
                {
                    Some(Ok(b)) => b.0.to_vec(),
                    _ => vec![],
                };
                match hex::decode(data) {
                    Ok(d) => bytes.extend(d),
                    Err(e) => return bad_request(&e.to_string()),
                }
                match Operation::from_signed_bytes(&bytes) {
                    Ok(op) => {
                        let j = op.to_json();
                        out.push(json!({"contents": j["contents"], "signature": j["signature"]}));
                    }
                    Err(e) => return bad_request(&e.0),
                }
            }
            ok(Value::Array(out))
        }
        (&Method::POST, ["helpers", "scripts", "simulate_operation" | "run_operation"]) => {
            let parsed = serde_json::from_slice::<Value>(body)
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    Operation::from_json(v.get("operation").unwrap_or(&Value::Null))
                        .map_err(|e| e.0)
                });
            match parsed {
                Ok(op) => match chain.simulate(&op, false) {
                    Ok(v) => ok(strip_envelope(v)),
                    Err(e) => proto_err(&e),
                },
                Err(e) => bad_request(&e),
            }
        }
        (&Method::POST, ["helpers", "preapply", "operations"]) => {
            let ops = match serde_json::from_slice::<Vec<Value>>(body) {
                Ok(v) => v,
                Err(e) => return bad_request(&e.to_string()),
            };
            let mut out = vec![];
            for v in ops {
                let op = match Operation::from_json(&v) {
                    Ok(op) => op,
                    Err(e) => return bad_request(&e.0),
                };
                match chain.simulate(&op, true) {
                    Ok(r) => out.push(json!({
                        "contents": r["contents"].clone(),
                        "signature": r.get("signature").cloned().unwrap_or(Value::Null),
                    })),
                    Err(e) => return proto_err(&e),
                }
            }
            ok(Value::Array(out))
        }
        _ => not_found(),
    }
}

/// Simulation output: `{"contents":[…with metadata], ["signature"]}`.
fn strip_envelope(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("protocol");
        m.remove("chain_id");
        m.remove("hash");
        m.remove("branch");
    }
    v
}

fn rollup_rpc(chain: &Chain, b: &Block, addr: &str, rest: &[&str]) -> Response {
    let Ok(addr) = addr.parse::<SmartRollupAddress>() else {
        return bad_request("invalid smart rollup address");
    };
    let Some(r) = b.state.rollups.get(&addr) else {
        return proto_err(
            &ProtoError::permanent("smart_rollup_does_not_exist")
                .with("rollup", addr.to_b58check()),
        );
    };
    let commitment_json = |h: &CommitmentHash| {
        r.commitments
            .get(h)
            .map(|i| serde_json::to_value(i.commitment).unwrap_or(Value::Null))
            .unwrap_or(Value::Null)
    };
    match rest {
        ["genesis_info"] => ok(json!({
            "level": r.origination_level,
            "commitment_hash": r.genesis_commitment.to_b58check(),
        })),
        ["kind"] => ok(json!(pvm_kind_name(r.kind))),
        ["boot_sector"] => ok(json!(hex::encode(r.boot_sector.as_slice()))),
        ["parameters_type"] | ["parameters_ty"] => ok(r
            .parameters_ty
            .decode()
            .map(|m| m.to_json())
            .unwrap_or(Value::Null)),
        ["last_cemented_commitment_hash_with_level"] => ok(json!({
            "hash": r.lcc.to_b58check(), "level": r.lcc_level
        })),
        ["stakers"] => ok(json!(
            r.stakers
                .keys()
                .map(|k| k.to_b58check())
                .collect::<Vec<_>>()
        )),
        ["whitelist"] => ok(r
            .whitelist
            .as_ref()
            .map(|l| json!(l.iter().map(|p| p.to_b58check()).collect::<Vec<_>>()))
            .unwrap_or(Value::Null)),
        ["last_whitelist_update"] => ok(Value::Null),
        ["staker", pkh, what] => {
            let Ok(pkh) = pkh.parse::<PublicKeyHash>() else {
                return bad_request("invalid public key hash");
            };
            let not_staked = || proto_err(&ProtoError::permanent("smart_rollup_not_staked"));
            match *what {
                "staked_on_commitment" => match r.stakers.get(&pkh) {
                    None => not_staked(),
                    Some(h) => {
                        let info = r.commitments.get(h);
                        match info {
                            Some(i) if i.commitment.inbox_level > r.lcc_level => {
                                let mut j =
                                    serde_json::to_value(i.commitment).unwrap_or(Value::Null);
                                j["hash"] = json!(h.to_b58check());
                                ok(j)
                            }
                            _ => ok(Value::Null),
                        }
                    }
                },
                "index" => match r.stakers.keys().position(|k| *k == pkh) {
                    Some(i) => ok(json!(i.to_string())),
                    None => not_staked(),
                },
                "games" | "conflicts" => ok(json!([])),
                _ => not_found(),
            }
        }
        ["commitment", h, tail @ ..] => {
            let Ok(h) = h.parse::<CommitmentHash>() else {
                return bad_request("invalid commitment hash");
            };
            let Some(info) = r.commitments.get(&h) else {
                return proto_err(
                    &ProtoError::permanent("smart_rollup_unknown_commitment")
                        .with("commitment", h.to_b58check()),
                );
            };
            match tail {
                [] => ok(commitment_json(&h)),
                ["can_be_cemented"] => ok(json!(
                    info.commitment.predecessor == r.lcc
                        && !info.stakers.is_empty()
                        && b.header.level
                            >= info.first_published_at_level.saturating_add(
                                chain.constants.smart_rollup_challenge_window_in_blocks
                            )
                        && r.commitments
                            .values()
                            .filter(|i| i.commitment.predecessor == r.lcc && !i.stakers.is_empty())
                            .count()
                            == 1
                )),
                ["stakers_indexes"] => ok(json!(
                    r.stakers
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, c))| **c == h)
                        .map(|(i, _)| i.to_string())
                        .collect::<Vec<_>>()
                )),
                _ => not_found(),
            }
        }
        ["inbox_level", l, "commitments"] => {
            let l: i32 = l.parse().unwrap_or(-1);
            let hs: Vec<String> = r
                .commitments
                .iter()
                .filter(|(_, i)| i.commitment.inbox_level == l && !i.stakers.is_empty())
                .map(|(h, _)| h.to_b58check())
                .collect();
            ok(if hs.is_empty() {
                Value::Null
            } else {
                json!(hs)
            })
        }
        ["initial_pvm_state_hash"] => ok(r
            .commitments
            .get(&r.genesis_commitment)
            .map(|i| json!(i.commitment.compressed_state.to_b58check()))
            .unwrap_or(Value::Null)),
        ["address_bytes"] => ok(json!(hex::encode(addr.to_bin()))),
        _ => not_found(),
    }
}
