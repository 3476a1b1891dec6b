//! The I/O shell: RPC server (JSON media type), block timer, journal writes and head
//! notifications. Paths and JSON shapes: l1-and-signer.md §1.
//!
//! Control RPCs for tests: `POST /sandbox/bake` (bake now, returns the new head; body
//! `{"count":N}` bakes N blocks),
//! `POST /sandbox/reorg {"depth":N}` (replace the last N blocks), `GET /sandbox/info`
//! (chain id, bootstrap accounts with secret keys, bridge address).
//!
//! Errors: a client's mistake (unknown path, block or chain, wrong method, a path argument,
//! query or body that does not parse) is a 4xx with a JSON error array ([`ClientError`]); a
//! protocol refusal (an operation that does not validate, an unknown rollup) is a 500 with the
//! protocol's error array, as an Octez node answers; a panic is a 500, never a dropped
//! connection.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tezos_types::{
    BinEncode, ChainId, CommitmentHash, Contract, DalSkipListHash, PublicKeyHash,
    SmartRollupAddress,
};
use tokio::sync::mpsc;

use crate::accounts::bootstrap_accounts;
use crate::chain::{Block, BlockId, Chain, ChainError, GENESIS_PROTOCOL, PROTOCOL};
use crate::journal::{Config, Entry, Journal, JournalError, load_or_init_config, replay};
use crate::ops::{Operation, OperationContent, pvm_kind_name};
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

/// Failure of `POST /sandbox/reorg`.
#[derive(Debug, thiserror::Error)]
pub enum ReorgError {
    /// The chain refused (e.g. deeper than its protocol blocks).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The new branch could not be journaled (the chain is left unchanged).
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

/// Shared sandbox state.
pub struct Sandbox {
    chain: Mutex<Chain>,
    /// The DAL node's slot contents, one file per commitment (`<data-dir>/dal-slots/sh1…`).
    dal_slots: PathBuf,
    journal: Mutex<Journal>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Bytes>>>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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
            dal_slots: opts.data_dir.join("dal-slots"),
            journal: Mutex::new(journal),
            subscribers: Mutex::new(Vec::new()),
        }))
    }

    /// A human-readable banner (bootstrap keys, chain id, head).
    pub fn banner(&self) -> String {
        let chain = self.chain.lock();
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
        self.subscribers
            .lock()
            .retain(|s| s.send(line.clone()).is_ok());
    }

    /// Bakes one block now (journal first, then announce).
    pub fn bake(&self) -> Result<Value, JournalError> {
        let mut chain = self.chain.lock();
        let record = chain.bake(now());
        if let Err(e) = self.journal.lock().append(&Entry::from(&record)) {
            // Not persisted: undo (the operations go back to the mempool).
            let _ = chain.pop(1);
            return Err(e);
        }
        self.notify(&chain);
        let head = chain.head();
        Ok(head.header.raw_json(&head.hash))
    }

    /// Replaces the last `depth` blocks by a new branch (journal first; on a journal failure
    /// the chain is restored).
    pub fn reorg(&self, depth: u32, drop_operations: bool) -> Result<Value, ReorgError> {
        let mut chain = self.chain.lock();
        let backup = chain.clone();
        let before: std::collections::HashSet<tezos_types::OperationHash> =
            chain.mempool.iter().map(|(h, _)| *h).collect();
        let records = chain.reorg(depth)?;
        if drop_operations {
            // The operations of the replaced blocks are lost (as when the new branch's baker
            // never saw them): their injectors must inject them again.
            chain.mempool.retain(|(h, _)| before.contains(h));
        }
        let mut journal = self.journal.lock();
        let written = journal.append(&Entry::Pop { depth }).and_then(|()| {
            records
                .iter()
                .try_for_each(|r| journal.append(&Entry::from(r)))
        });
        if let Err(e) = written {
            *chain = backup;
            return Err(e.into());
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

fn ok(v: Value) -> Answer {
    Ok(json_resp(StatusCode::OK, &v))
}

/// A protocol refusal (validation or simulation of an operation, unknown rollup or
/// commitment): `500` with the protocol's error array, as an Octez node answers an RPC whose
/// handler fails (`resto/src/server.ml`, `` `Error `` → 500).
fn proto_err(e: &ProtoError) -> Answer {
    Ok(json_resp(
        StatusCode::INTERNAL_SERVER_ERROR,
        &errors_json(std::slice::from_ref(e)),
    ))
}

/// Largest request body read, in bytes (an operation is at most 32 KiB,
/// `max_operation_data_length`); a larger body is answered `413`.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// A client's mistake, answered with a 4xx status and a JSON error trace ([`Self::trace`]),
/// never a 500.
///
/// The statuses are those of Octez's RPC server (`resto/src/server.ml` in tezos/tezos-mirror,
/// `handle_error`): 404 for an unknown path or an unknown block, chain or resource
/// (`Not_found`), 405 with `Allow` for a known path with another method, 400 for a path
/// argument, query or body that does not parse. Octez sends these with an empty or
/// `text/plain` body; the sandbox sends a JSON trace so that every error reads the same way.
/// Octez answers a hex body that is not an operation with a 500 (`failwith "Can't parse the
/// operation"`, `src/lib_shell/injection_directory.ml`); the sandbox answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No such path, block, chain or resource.
    #[error("Not found: {0}")]
    NotFound(String),
    /// The path exists with another method.
    #[error("Method not allowed; this path accepts {allowed} only")]
    MethodNotAllowed {
        /// The method the path accepts.
        allowed: Method,
    },
    /// A path argument that does not parse.
    #[error(
        "Failed to parse an argument in path: the value \"{value}\" is not acceptable for type \"{ty}\""
    )]
    BadPath {
        /// The path segment.
        value: String,
        /// The expected type (Octez's argument name).
        ty: &'static str,
    },
    /// A query string that does not parse.
    #[error("Failed to parse the query string: {0}")]
    BadQuery(String),
    /// A body that does not parse (JSON, hex, binary operation).
    #[error("Failed to parse the request body: {0}")]
    BadBody(String),
    /// A body above [`MAX_BODY_BYTES`].
    #[error("Request body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// A well-formed sandbox control request that cannot be done (e.g. a reorg deeper than
    /// the chain).
    #[error("{0}")]
    Refused(String),
}

impl ClientError {
    /// HTTP status (type doc).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadPath { .. } | Self::BadQuery(_) | Self::BadBody(_) | Self::Refused(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The JSON error trace answering `method uri`: the error Octez's RPC client reports for
    /// that status (`src/lib_rpc/RPC_context.ml` `Not_found`, `src/lib_rpc_http/
    /// RPC_client_errors.ml` `rpc_client.request_failed`), as the rollup node answers
    /// (`crates/node-rpc/src/error.rs`); a 404 adds an item saying what is missing.
    pub fn trace(&self, method: &Method, uri: &str) -> Value {
        let failed = |error: Value| {
            json!({"kind": "permanent", "id": "rpc_client.request_failed",
                   "meth": method.as_str(), "uri": uri, "error": error})
        };
        let msg = self.to_string();
        match self {
            Self::NotFound(_) => json!([
                {"kind": "branch", "id": "RPC_context.Not_found",
                 "method": method.as_str(), "uri": uri},
                {"kind": "permanent", "id": "sandbox.rpc_not_found", "msg": msg},
            ]),
            Self::MethodNotAllowed { allowed } => json!([failed(
                json!({"kind": "method_not_allowed", "allowed": [allowed.as_str()]})
            )]),
            Self::BadPath { .. } | Self::BadQuery(_) | Self::BadBody(_) => {
                json!([failed(json!({"kind": "bad_request", "message": msg}))])
            }
            Self::TooLarge => json!([failed(json!({
                "kind": "unexpected_status_code", "code": 413, "content": msg
            }))]),
            Self::Refused(_) => json!([{"kind": "permanent", "id": "sandbox.refused", "msg": msg}]),
        }
    }

    /// The answer to `method uri`: [`Self::status`], [`Self::trace`] and, for a 405, `Allow`.
    pub fn response(&self, method: &Method, uri: &str) -> Response {
        let mut r = json_resp(self.status(), &self.trace(method, uri));
        if let Self::MethodNotAllowed { allowed } = self
            && let Ok(v) = header::HeaderValue::from_str(allowed.as_str())
        {
            r.headers_mut().insert(header::ALLOW, v);
        }
        r
    }
}

/// The answer of a route: a response, or a client's mistake.
type Answer = Result<Response, ClientError>;

/// Runs `f` when the request's method is `allowed`, else 405.
fn on(method: &Method, allowed: Method, f: impl FnOnce() -> Answer) -> Answer {
    if *method == allowed {
        f()
    } else {
        Err(ClientError::MethodNotAllowed { allowed })
    }
}

fn not_found(what: impl Into<String>) -> ClientError {
    ClientError::NotFound(what.into())
}

fn bad_path(value: &str, ty: &'static str) -> ClientError {
    ClientError::BadPath {
        value: value.to_string(),
        ty,
    }
}

fn bad_body(msg: impl std::fmt::Display) -> ClientError {
    ClientError::BadBody(msg.to_string())
}

/// Parses a JSON body.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(bad_body)
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
    body: Body,
) -> Response {
    let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    // Read up to the limit before answering (answering first would reset a client still
    // sending); a body above it is a 413, one that cannot be read a 400.
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let declared = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let err = if declared.is_none_or(|n| n > MAX_BODY_BYTES as u64) {
                ClientError::TooLarge
            } else {
                bad_body(format_args!("could not read it: {e}"))
            };
            return err.response(&method, &target);
        }
    };
    // A panic is a sandbox bug: answer 500 rather than dropping the connection.
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        route(&sb, &method, &uri, &headers, &body)
    }));
    match answer {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.response(&method, &target),
        Err(_) => {
            tracing::error!("{method} {uri}: the handler panicked");
            json_resp(
                StatusCode::INTERNAL_SERVER_ERROR,
                &errors_json(&[ProtoError::new(ErrorCategory::Temporary, "sandbox.bug")
                    .with("msg", format!("{method} {uri}: internal error (panic)"))]),
            )
        }
    }
}

fn route(sb: &Sandbox, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Answer {
    let path = uri.path().trim_matches('/');
    let segs: Vec<&str> = path.split('/').collect();
    let q = query(uri);
    match segs.as_slice() {
        ["monitor", "heads", c] => on(method, Method::GET, || monitor_heads(sb, c)),
        ["monitor", "bootstrapped"] => on(method, Method::GET, || {
            let chain = sb.chain.lock();
            let head = chain.head();
            let line = format!(
                "{}\n",
                json!({"block": head.hash.to_b58check(),
                       "timestamp": crate::block::rfc3339(head.header.timestamp)})
            );
            Ok(([(header::CONTENT_TYPE, "application/json")], line).into_response())
        }),
        ["protocols"] => on(method, Method::GET, || {
            ok(json!([GENESIS_PROTOCOL, PROTOCOL]))
        }),
        ["injection", "operation"] => on(method, Method::POST, || {
            let bytes = injection_bytes(headers, body)?;
            let op = Operation::from_signed_bytes(&bytes)
                .map_err(|e| bad_body(format_args!("Can't parse the operation: {e}")))?;
            match sb.chain.lock().inject(op) {
                Ok(h) => ok(json!(h.to_b58check())),
                Err(e) => proto_err(&e),
            }
        }),
        ["sandbox", "bake"] => on(method, Method::POST, || bake_rpc(sb, body)),
        ["slots"] => on(method, Method::POST, || post_slot(sb, headers, body, &q)),
        ["levels", level, "slots", index, "pages"] => {
            on(method, Method::GET, || slot_pages(sb, level, index))
        }
        ["levels", level, "slots", index, "pages", page, "proof"] => {
            on(method, Method::GET, || page_proof(sb, level, index, page))
        }
        ["plugin", protocol, "commitments_history", "hash", hash] => {
            on(method, Method::GET, || skip_list_cell(sb, protocol, hash))
        }
        ["sandbox", "reorg"] => on(method, Method::POST, || {
            let v: Value = json_body(body)?;
            let depth = v
                .get("depth")
                .and_then(Value::as_u64)
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| bad_body("expected {\"depth\": N} with 0 ≤ N < 2^32"))?;
            let drop_operations = match v.get("drop_operations") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(x) => {
                    return Err(bad_body(format_args!(
                        "drop_operations must be a boolean, not {x}"
                    )));
                }
            };
            match sb.reorg(depth, drop_operations) {
                Ok(v) => ok(v),
                Err(ReorgError::Chain(e @ ChainError::ReorgTooDeep { .. })) => {
                    Err(ClientError::Refused(e.to_string()))
                }
                Err(e) => Ok(json_resp(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &errors_json(&[ProtoError::new(ErrorCategory::Temporary, "sandbox.reorg")
                        .with("msg", e.to_string())]),
                )),
            }
        }),
        ["sandbox", "info"] => on(method, Method::GET, || {
            let chain = sb.chain.lock();
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
        }),
        ["chains", c, rest @ ..] => {
            let chain = sb.chain.lock();
            check_chain(&chain, c)?;
            chain_rpc(&chain, method, rest, &q, body)
        }
        _ => Err(not_found(format!("no RPC at /{path}"))),
    }
}

fn monitor_heads(sb: &Sandbox, c: &str) -> Answer {
    let (tx, rx) = mpsc::unbounded_channel();
    let first = {
        let chain = sb.chain.lock();
        check_chain(&chain, c)?;
        let head = chain.head();
        let mut line = serde_json::to_vec(&head.header.raw_json(&head.hash)).unwrap_or_default();
        line.push(b'\n');
        sb.subscribers.lock().push(tx);
        Bytes::from(line)
    };
    let stream = LineStream {
        first: Some(first),
        rx,
    };
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /sandbox/bake`: an empty body bakes one block, `{"count": N}` (1 ≤ N ≤ 100000) N.
fn bake_rpc(sb: &Sandbox, body: &[u8]) -> Answer {
    let count = if body.iter().all(u8::is_ascii_whitespace) {
        1
    } else {
        let v: Value = json_body(body)?;
        match v.get("count") {
            None => 1,
            Some(c) => match c.as_u64() {
                Some(n @ 1..=100_000) => n,
                _ => {
                    return Err(bad_body(format_args!(
                        "count must be an integer between 1 and 100000, not {c}"
                    )));
                }
            },
        }
    };
    let mut last = Value::Null;
    for _ in 0..count {
        match sb.bake() {
            Ok(v) => last = v,
            Err(e) => {
                return Ok(json_resp(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &errors_json(
                        &[ProtoError::new(ErrorCategory::Temporary, "sandbox.journal")
                            .with("msg", e.to_string())],
                    ),
                ));
            }
        }
    }
    ok(last)
}

/// A chain path argument (Octez `Block_services.parse_chain`): `main`, `test` or a chain id.
/// Not one of those: 400; another chain (or `test`: the sandbox runs no test chain): 404.
fn check_chain(chain: &Chain, c: &str) -> Result<(), ClientError> {
    match c {
        "main" => Ok(()),
        "test" => Err(not_found("the test chain (the sandbox runs none)")),
        s => match s.parse::<ChainId>() {
            Ok(id) if id == chain.chain_id => Ok(()),
            Ok(_) => Err(not_found(format!(
                "chain {s} (this chain is {})",
                chain.chain_id
            ))),
            Err(_) => Err(bad_path(s, "chain_id")),
        },
    }
}

/// Resolves a block path argument: 400 when it does not parse, 404 when no block has it.
fn block_arg<'a>(chain: &'a Chain, id: &str) -> Result<&'a Block, ClientError> {
    let parsed = BlockId::parse(id).map_err(|_| bad_path(id, "block_id"))?;
    chain
        .lookup(&parsed)
        .ok_or_else(|| not_found(format!("block {id}")))
}

/// Injection body: a JSON hex string, or `4-byte length ‖ bytes` in the binary media type.
/// The DAL node's `POST /slots` (Octez `src/lib_dal_node_services/services.ml` `post_slot`:
/// input `Data_encoding.Variable.string`, i.e. the raw bytes with
/// `Content-Type: application/octet-stream`, else a JSON string or
/// `{"invalid_utf8_string": [bytes]}`; query `padding` (one character, default `\000`) and
/// `slot_index` (no effect)). Pads the slot to `slot_size`, stores it and answers
/// `{"commitment": "sh1…", "commitment_proof": "<hex>"}`: the KZG commitment and degree
/// proof with Octez's test SRS (`crate::dal`).
fn post_slot(
    sb: &Sandbox,
    headers: &HeaderMap,
    body: &[u8],
    q: &HashMap<String, String>,
) -> Answer {
    let binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    let data: Vec<u8> = if binary {
        body.to_vec()
    } else {
        match json_body::<Value>(body)? {
            Value::String(s) => s.into_bytes(),
            Value::Object(m) if m.contains_key("invalid_utf8_string") => m["invalid_utf8_string"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                        .collect::<Option<Vec<u8>>>()
                })
                .ok_or_else(|| bad_body("invalid_utf8_string must be an array of bytes"))?,
            other => {
                return Err(bad_body(format_args!(
                    "expected the slot as a JSON string (or raw bytes with Content-Type: \
                     application/octet-stream), not {other}"
                )));
            }
        }
    };
    let padding = match q.get("padding").map(|p| percent_decode(p)) {
        None => 0u8,
        Some(Some(p)) if p.len() == 1 => p[0],
        Some(_) => {
            return Err(ClientError::BadQuery(
                "padding must be exactly one character".into(),
            ));
        }
    };
    if let Some(i) = q.get("slot_index")
        && i.parse::<u8>().is_err()
    {
        return Err(ClientError::BadQuery(format!(
            "slot_index must be an integer between 0 and 255, not {i}"
        )));
    }
    let params = sb.chain.lock().constants.dal_parametric.clone();
    if !params.feature_enable {
        return Err(ClientError::Refused(
            "the DAL is disabled: start the sandbox with constants that set \
             dal_parametric.feature_enable to true"
                .into(),
        ));
    }
    let slot =
        crate::dal::pad_slot(&data, params.slot_size, padding).map_err(ClientError::Refused)?;
    let (commitment, commitment_proof) =
        crate::dal::commit_slot(&params, &slot).map_err(ClientError::Refused)?;
    let path = sb.dal_slots.join(commitment.to_b58check());
    let stored =
        std::fs::create_dir_all(&sb.dal_slots).and_then(|()| atomic_file::write(&path, &slot));
    if let Err(e) = stored {
        return Ok(json_resp(
            StatusCode::INTERNAL_SERVER_ERROR,
            &errors_json(&[
                ProtoError::new(ErrorCategory::Temporary, "sandbox.dal_store").with(
                    "msg",
                    format!("cannot store the slot in {}: {e}", path.display()),
                ),
            ]),
        ));
    }
    ok(json!({
        "commitment": commitment.to_b58check(),
        "commitment_proof": commitment_proof.to_string(),
    }))
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    Some(out)
}

/// The DAL node's `GET /levels/<l>/slots/<i>/pages` (`get_slot_pages`): the pages (hex, each
/// `page_size` bytes) of the slot whose commitment was published at level `l` on slot `i`
/// (an applied `dal_publish_commitment` of the current chain) and posted to `POST /slots`.
fn slot_pages(sb: &Sandbox, level: &str, index: &str) -> Answer {
    let (slot, params) = published_slot(sb, level, index)?;
    ok(crate::dal::pages_json(&slot, params.page_size))
}

/// The DAL node's `GET /levels/<l>/slots/<i>/pages/<p>/proof` (`get_slot_page_proof`): the
/// proof of page `p` of that slot, JSON `"sh1…"` (Octez's `page_proof_encoding` is the
/// commitment's); 404 for a page index out of range.
fn page_proof(sb: &Sandbox, level: &str, index: &str, page: &str) -> Answer {
    let p: usize = page.parse().map_err(|_| bad_path(page, "int"))?;
    let (slot, params) = published_slot(sb, level, index)?;
    match crate::dal::page_proof(&params, &slot, p) {
        Ok(proof) => ok(json!(proof.to_b58check())),
        Err(e @ dal_crypto::Error::PageIndexOutOfRange { .. }) => Err(not_found(e.to_string())),
        Err(e) => Err(ClientError::Refused(e.to_string())),
    }
}

/// The DAL node's `GET /plugin/<protocol>/commitments_history/hash/<hash>` (Octez
/// `src/proto_alpha/lib_dal/dal_services.ml` `Commitments_history.hash_content`, in the plugin
/// directory of `src/lib_dal_node/RPC_server.ml` `register_plugin`): the skip-list cell of
/// `hash`, JSON `History.encoding`; 404 for another protocol or an unknown cell, 400 for a hash
/// that does not parse. Octez's DAL node stores the cells of each finalized block for
/// 2 × (challenge window + commitment period + validity lag) levels
/// (`src/lib_dal_node/profile_manager.ml` `get_attested_data_default_store_period`); the
/// sandbox's serves every cell of the current chain.
fn skip_list_cell(sb: &Sandbox, protocol: &str, hash: &str) -> Answer {
    if protocol != PROTOCOL {
        return Err(not_found(format!(
            "no DAL plugin for protocol {protocol} (this DAL node has {PROTOCOL})"
        )));
    }
    let h =
        DalSkipListHash::from_b58check(hash).map_err(|_| bad_path(hash, "skip_list_cell_hash"))?;
    let chain = sb.chain.lock();
    let cell = chain
        .blocks()
        .iter()
        .rev()
        .find_map(|b| b.state.dal.cell(&h))
        .ok_or_else(|| not_found(format!("DAL skip-list cell {hash}")))?;
    ok(cell.to_json())
}

/// The content of the slot published at level `level` on slot `index` (see [`slot_pages`]) and
/// the DAL parameters.
fn published_slot(
    sb: &Sandbox,
    level: &str,
    index: &str,
) -> Result<(Vec<u8>, crate::constants::DalParametric), ClientError> {
    let l: i64 = level.parse().map_err(|_| bad_path(level, "int32"))?;
    let i: u8 = index.parse().map_err(|_| bad_path(index, "uint8"))?;
    let (commitment, params) = {
        let chain = sb.chain.lock();
        let b = chain
            .block_at(l)
            .ok_or_else(|| not_found(format!("level {l} (the head is lower)")))?;
        let c = b
            .operations
            .iter()
            .flat_map(|a| a.operation.contents.iter().zip(&a.receipts))
            .find_map(|(c, r)| match &c.content {
                OperationContent::DalPublishCommitment { slot_header }
                    if slot_header.slot_index == i
                        && r.metadata["operation_result"]["status"] == "applied" =>
                {
                    Some(slot_header.commitment)
                }
                _ => None,
            })
            .ok_or_else(|| {
                not_found(format!("no commitment published at level {l} for slot {i}"))
            })?;
        (c, chain.constants.dal_parametric.clone())
    };
    let path = sb.dal_slots.join(commitment.to_b58check());
    let slot = std::fs::read(&path).map_err(|_| {
        not_found(format!(
            "the content of {commitment} (published at level {l}, slot {i}) was never posted \
             to this DAL node's POST /slots"
        ))
    })?;
    Ok((slot, params))
}

fn injection_bytes(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, ClientError> {
    let binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    if binary {
        let (len, rest) = body
            .split_first_chunk::<4>()
            .ok_or_else(|| bad_body("truncated body: no 4-byte length"))?;
        let len = u32::from_be_bytes(*len);
        if usize::try_from(len).ok() != Some(rest.len()) {
            return Err(bad_body(format_args!(
                "the 4-byte length says {len} bytes but {} follow",
                rest.len()
            )));
        }
        return Ok(rest.to_vec());
    }
    let s: String = serde_json::from_slice(body)
        .map_err(|e| bad_body(format_args!("expected a JSON hex string: {e}")))?;
    hex::decode(s).map_err(|e| bad_body(format_args!("invalid hex: {e}")))
}

fn chain_rpc(
    chain: &Chain,
    method: &Method,
    rest: &[&str],
    q: &HashMap<String, String>,
    body: &[u8],
) -> Answer {
    let get = |f: &dyn Fn() -> Answer| on(method, Method::GET, f);
    match rest {
        ["chain_id"] => get(&|| ok(json!(chain.chain_id.to_b58check()))),
        ["protocols"] => get(&|| {
            let at = |l: i64| {
                chain
                    .block_at(l)
                    .map(|b| json!({"block_hash": b.hash.to_b58check(), "level": l}))
                    .unwrap_or(Value::Null)
            };
            ok(json!([
                {"protocol": GENESIS_PROTOCOL, "proto_level": 0, "activation_block": at(0)},
                {"protocol": PROTOCOL, "proto_level": 1, "activation_block": at(1)},
            ]))
        }),
        // The sandbox keeps every block: checkpoint, savepoint and caboose are genesis.
        ["levels", "checkpoint" | "savepoint" | "caboose"] => get(&|| {
            let genesis = chain
                .block_at(0)
                .ok_or_else(|| not_found("the genesis block"))?;
            ok(json!({"block_hash": genesis.hash.to_b58check(), "level": 0}))
        }),
        ["mempool", "pending_operations"] => get(&|| {
            ok(json!({
                "validated": chain.mempool.iter().map(|(h, op)| {
                    let mut j = op.to_json();
                    j["hash"] = json!(h.to_b58check());
                    j
                }).collect::<Vec<_>>(),
                "refused": [], "outdated": [], "branch_refused": [],
                "branch_delayed": [], "unprocessed": [],
            }))
        }),
        ["blocks"] => get(&|| {
            let length: usize = match q.get("length") {
                None => 1,
                Some(l) => l.parse().map_err(|_| {
                    ClientError::BadQuery(format!("length: {l:?} is not a natural number"))
                })?,
            };
            let heads: Vec<&str> = q
                .get("head")
                .map(|h| h.split(',').collect())
                .unwrap_or_else(|| vec!["head"]);
            let mut out = vec![];
            for h in heads {
                let b = if h == "head" {
                    chain.head()
                } else {
                    let hash = h.parse::<tezos_types::BlockHash>().map_err(|_| {
                        ClientError::BadQuery(format!("head: {h:?} is not a block hash"))
                    })?;
                    chain
                        .block_by_hash(&hash)
                        .ok_or_else(|| not_found(format!("block {h}")))?
                };
                let list: Vec<Value> = (0..length)
                    .map_while(|i| chain.ancestor(b, i64::try_from(i).ok()?))
                    .map(|a| json!(a.hash.to_b58check()))
                    .collect();
                out.push(Value::Array(list));
            }
            ok(Value::Array(out))
        }),
        ["blocks", id, sub @ ..] => {
            let b = block_arg(chain, id)?;
            if let Some(m) = q.get("metadata")
                && !matches!(m.as_str(), "always" | "never")
            {
                return Err(ClientError::BadQuery(format!(
                    "metadata: {m:?} is neither \"always\" nor \"never\""
                )));
            }
            block_rpc(chain, b, method, sub, body)
        }
        _ => Err(not_found(format!(
            "no RPC at /chains/<chain>/{}",
            rest.join("/")
        ))),
    }
}

/// A validation pass index (0 to 3): 400 when not a number, 404 when out of range.
fn pass_arg(pass: &str) -> Result<usize, ClientError> {
    let p: usize = pass.parse().map_err(|_| bad_path(pass, "int"))?;
    if p > 3 {
        return Err(not_found(format!(
            "validation pass {p} (there are 4: 0 to 3)"
        )));
    }
    Ok(p)
}

fn block_rpc(chain: &Chain, b: &Block, method: &Method, sub: &[&str], body: &[u8]) -> Answer {
    let st: &State = &b.state;
    let get = |f: &dyn Fn() -> Answer| on(method, Method::GET, f);
    let post = |f: &dyn Fn() -> Answer| on(method, Method::POST, f);
    let hashes = || {
        b.operations
            .iter()
            .map(|a| json!(a.hash.to_b58check()))
            .collect::<Vec<_>>()
    };
    match sub {
        [] => get(&|| ok(chain.block_json(b))),
        ["hash"] => get(&|| ok(json!(b.hash.to_b58check()))),
        ["header"] => get(&|| ok(b.header.full_json(&b.hash, b.protocol(), &chain.chain_id))),
        ["header", "shell"] => get(&|| ok(Value::Object(b.header.shell_json()))),
        ["header", "protocol_data", "raw"] => {
            get(&|| ok(json!(hex::encode(b.header.protocol_data()))))
        }
        ["protocols"] => get(&|| {
            ok(json!({
                "protocol": b.protocol(), "next_protocol": b.next_protocol()
            }))
        }),
        ["metadata"] => get(&|| ok(chain.block_json(b)["metadata"].clone())),
        ["operation_hashes"] => get(&|| ok(json!([[], [], [], hashes()]))),
        ["operation_hashes", pass] => get(&|| {
            ok(if pass_arg(pass)? == 3 {
                json!(hashes())
            } else {
                json!([])
            })
        }),
        ["operation_hashes", pass, index] => get(&|| {
            let p = pass_arg(pass)?;
            let i: usize = index.parse().map_err(|_| bad_path(index, "int"))?;
            let list = if p == 3 { hashes() } else { vec![] };
            let h = list
                .get(i)
                .ok_or_else(|| not_found(format!("operation {i} of pass {p}")))?;
            ok(h.clone())
        }),
        ["operations"] => get(&|| ok(chain.block_json(b)["operations"].clone())),
        ["operations", pass] => get(&|| {
            let p = pass_arg(pass)?;
            ok(chain.block_json(b)["operations"][p].clone())
        }),
        ["operations", pass, index] => get(&|| {
            let p = pass_arg(pass)?;
            let i: usize = index.parse().map_err(|_| bad_path(index, "int"))?;
            let all = chain.block_json(b);
            let op = all["operations"][p]
                .get(i)
                .ok_or_else(|| not_found(format!("operation {i} of pass {p}")))?;
            ok(op.clone())
        }),
        ["context", "constants"] => get(&|| ok(chain.constants.to_rpc_json())),
        // The cells this block recorded (`crate::dal`; `[]` with the DAL disabled); the
        // parameters in force are the constants' at every level (docs/reference/dal.md §1, §4).
        ["context", "dal", "skip_list_cells_of_level"] => get(&|| ok(st.dal.cells_json())),
        ["context", "dal", "past_parameters", level] => get(&|| {
            level
                .parse::<i32>()
                .map_err(|_| bad_path(level, "block_level"))?;
            ok(chain.constants.to_rpc_json()["dal_parametric"].clone())
        }),
        ["context", "contracts", c, what] => get(&|| {
            let dest = Contract::from_b58check(c).map_err(|_| bad_path(c, "contract_id"))?;
            let account = match dest {
                Contract::Implicit(p) => st.accounts.get(&p),
                _ => None,
            };
            let unknown = || not_found(format!("contract {c}"));
            match *what {
                "balance" => ok(json!(st.balance(&dest).unwrap_or(0).to_string())),
                "counter" => match account {
                    Some(a) => ok(json!(a.counter.to_string())),
                    None if matches!(dest, Contract::Implicit(_)) => ok(json!("0")),
                    None => Err(unknown()),
                },
                "manager_key" => ok(account
                    .and_then(|a| a.manager_key.as_ref())
                    .map(|k| json!(k.to_b58check()))
                    .unwrap_or(Value::Null)),
                _ => Err(not_found(format!("no RPC …/contracts/<contract>/{what}"))),
            }
        }),
        ["context", "smart_rollups", "all"] => get(&|| {
            ok(json!(
                st.rollups
                    .keys()
                    .map(|k| k.to_b58check())
                    .collect::<Vec<_>>()
            ))
        }),
        ["context", "smart_rollups", "all", "inbox"] => get(&|| match &st.inbox {
            Some(i) => ok(serde_json::to_value(i).unwrap_or(Value::Null)),
            None => Err(not_found(format!(
                "the rollup inbox (none before level {})",
                crate::chain::ACTIVATION_LEVEL
            ))),
        }),
        ["context", "smart_rollups", "smart_rollup", addr, rest @ ..] => {
            rollup_rpc(chain, b, method, addr, rest)
        }
        ["helpers", "forge", "operations"] => post(&|| {
            let v: Value = json_body(body)?;
            let op = Operation::from_json(&v).map_err(bad_body)?;
            ok(json!(hex::encode(op.unsigned_bytes())))
        }),
        ["helpers", "parse", "operations"] => post(&|| {
            // Body: {"operations":[{"data":"<hex signed>","branch":"B…"}]}.
            let v: Value = json_body(body)?;
            let ops = v["operations"]
                .as_array()
                .ok_or_else(|| bad_body("expected {\"operations\": [{\"data\", \"branch\"}…]}"))?;
            let mut out = vec![];
            for o in ops {
                let branch = o["branch"]
                    .as_str()
                    .and_then(|b| b.parse::<tezos_types::BlockHash>().ok())
                    .ok_or_else(|| bad_body("each operation needs a \"branch\" block hash"))?;
                let data = o["data"]
                    .as_str()
                    .ok_or_else(|| bad_body("each operation needs \"data\" (hex)"))?;
                let mut bytes = branch.0.to_vec();
                bytes.extend(hex::decode(data).map_err(bad_body)?);
                let op = Operation::from_signed_bytes(&bytes).map_err(bad_body)?;
                let j = op.to_json();
                out.push(json!({"contents": j["contents"], "signature": j["signature"]}));
            }
            ok(Value::Array(out))
        }),
        ["helpers", "scripts", "simulate_operation" | "run_operation"] => post(&|| {
            let v: Value = json_body(body)?;
            let op = Operation::from_json(v.get("operation").unwrap_or(&Value::Null))
                .map_err(bad_body)?;
            match chain.simulate(&op, false) {
                Ok(v) => ok(strip_envelope(v)),
                Err(e) => proto_err(&e),
            }
        }),
        ["helpers", "preapply", "operations"] => post(&|| {
            let ops: Vec<Value> = json_body(body)?;
            let mut out = vec![];
            for v in ops {
                let op = Operation::from_json(&v).map_err(bad_body)?;
                match chain.simulate(&op, true) {
                    Ok(r) => out.push(json!({
                        "contents": r["contents"].clone(),
                        "signature": r.get("signature").cloned().unwrap_or(Value::Null),
                    })),
                    Err(e) => return proto_err(&e),
                }
            }
            ok(Value::Array(out))
        }),
        _ => Err(not_found(format!(
            "no RPC at /chains/<chain>/blocks/<block>/{}",
            sub.join("/")
        ))),
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

fn rollup_rpc(chain: &Chain, b: &Block, method: &Method, addr: &str, rest: &[&str]) -> Answer {
    let addr = addr
        .parse::<SmartRollupAddress>()
        .map_err(|_| bad_path(addr, "smart_rollup_address"))?;
    let get = |f: &dyn Fn() -> Answer| on(method, Method::GET, f);
    let Some(r) = b.state.rollups.get(&addr) else {
        // Octez: `Sc_rollup_does_not_exist` (temporary) from the protocol's handler, a 500.
        return proto_err(
            &ProtoError::temporary("smart_rollup_does_not_exist")
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
        ["genesis_info"] => get(&|| {
            ok(json!({
                "level": r.origination_level,
                "commitment_hash": r.genesis_commitment.to_b58check(),
            }))
        }),
        ["kind"] => get(&|| ok(json!(pvm_kind_name(r.kind)))),
        ["boot_sector"] => get(&|| ok(json!(hex::encode(r.boot_sector.as_slice())))),
        ["parameters_type"] | ["parameters_ty"] => get(&|| {
            ok(r.parameters_ty
                .decode()
                .map(|m| m.to_json())
                .unwrap_or(Value::Null))
        }),
        ["last_cemented_commitment_hash_with_level"] => get(&|| {
            ok(json!({
                "hash": r.lcc.to_b58check(), "level": r.lcc_level
            }))
        }),
        ["stakers"] => get(&|| {
            ok(json!(
                r.stakers
                    .keys()
                    .map(|k| k.to_b58check())
                    .collect::<Vec<_>>()
            ))
        }),
        ["whitelist"] => get(&|| {
            ok(r.whitelist
                .as_ref()
                .map(|l| json!(l.iter().map(|p| p.to_b58check()).collect::<Vec<_>>()))
                .unwrap_or(Value::Null))
        }),
        ["last_whitelist_update"] => get(&|| ok(Value::Null)),
        [
            "staker",
            pkh,
            what @ ("staked_on_commitment" | "index" | "games" | "conflicts"),
        ] => get(&|| {
            let pkh = pkh
                .parse::<PublicKeyHash>()
                .map_err(|_| bad_path(pkh, "Signature.Public_key_hash"))?;
            let not_staked = || proto_err(&ProtoError::permanent("smart_rollup_not_staked"));
            match *what {
                "staked_on_commitment" => match r.stakers.get(&pkh) {
                    None => not_staked(),
                    Some(h) => match r.commitments.get(h) {
                        Some(i) if i.commitment.inbox_level > r.lcc_level => {
                            let mut j = serde_json::to_value(i.commitment).unwrap_or(Value::Null);
                            j["hash"] = json!(h.to_b58check());
                            ok(j)
                        }
                        _ => ok(Value::Null),
                    },
                },
                "index" => match r.stakers.keys().position(|k| *k == pkh) {
                    Some(i) => ok(json!(i.to_string())),
                    None => not_staked(),
                },
                "games" => ok(crate::refutation::games_json(r, &pkh)),
                _ => ok(crate::refutation::conflicts_json(
                    r,
                    &pkh,
                    crate::state::chain_level(b.header.level),
                    &chain.constants,
                )),
            }
        }),
        [
            "staker1",
            a,
            "staker2",
            c,
            what @ ("timeout" | "timeout_reached"),
        ] => get(&|| {
            let parse = |p: &str| {
                p.parse::<PublicKeyHash>()
                    .map_err(|_| bad_path(p, "Signature.Public_key_hash"))
            };
            let (a, c) = (parse(a)?, parse(c)?);
            ok(if *what == "timeout" {
                crate::refutation::timeout_json(r, a, c)
            } else {
                crate::refutation::timeout_reached_json(
                    r,
                    a,
                    c,
                    crate::state::chain_level(b.header.level),
                )
            })
        }),
        ["commitment", h, tail @ ..]
            if matches!(tail, [] | ["can_be_cemented"] | ["stakers_indexes"]) =>
        {
            get(&|| {
                let h = h
                    .parse::<CommitmentHash>()
                    .map_err(|_| bad_path(h, "commitment_hash"))?;
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
                            && crate::state::chain_level(b.header.level)
                                >= info.first_published_at_level.saturating_add(
                                    crate::state::blocks(
                                        chain.constants.smart_rollup_challenge_window_in_blocks,
                                    ),
                                )
                            && r.commitments
                                .values()
                                .filter(
                                    |i| i.commitment.predecessor == r.lcc && !i.stakers.is_empty()
                                )
                                .count()
                                == 1
                    )),
                    _ => ok(json!(
                        r.stakers
                            .iter()
                            .enumerate()
                            .filter(|(_, (_, c))| **c == h)
                            .map(|(i, _)| i.to_string())
                            .collect::<Vec<_>>()
                    )),
                }
            })
        }
        ["inbox_level", l, "commitments"] => get(&|| {
            let l: tezos_types::Level = l.parse().map_err(|_| bad_path(l, "block_level"))?;
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
        }),
        ["initial_pvm_state_hash"] => get(&|| {
            ok(r.commitments
                .get(&r.genesis_commitment)
                .map(|i| json!(i.commitment.compressed_state.to_b58check()))
                .unwrap_or(Value::Null))
        }),
        ["address_bytes"] => get(&|| ok(json!(hex::encode(addr.to_bin())))),
        _ => Err(not_found(format!(
            "no RPC at …/smart_rollups/smart_rollup/<address>/{}",
            rest.join("/")
        ))),
    }
}
