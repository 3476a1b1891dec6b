//! The route table: every RPC this node serves, as Octez names it (method and path template
//! of `testdata/octez-rollup-node-openapi.json`, docs/reference/octez-rollup-node.md §4).
//! The same table builds the router (`build`, through [`super::router`]) and the `/openapi`
//! description ([`super::openapi::document`]), so what is served and what is described
//! cannot differ.
//!
//! Requests are parsed here, never by axum extractors (whose rejections are plain text):
//! path arguments as resto does (`block_id`, `commitment_hash`, `int32`: 400 when they do
//! not parse), query arguments by name and type (unknown ones ignored, a duplicate or an
//! unparsable value is a 400), a wrong method is a 405 with `Allow`, an unknown path a 404,
//! an Octez RPC not served here a 501, all with a JSON error trace ([`super::error`]).

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use node_store::L2Block;
use tezos_types::{CommitmentHash, L2MessageId};

use super::error::{RpcError, method_not_allowed};
use super::{AppState, BlockId, RpcResult, Shutdown};

/// Type of a query argument (resto's `Arg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryTy {
    /// Any string.
    String,
    /// A 32-bit signed integer (`int32`).
    Int32,
    /// A resto flag/bool: `""`, `true`, `t`, `yes`, `y` or `false`, `f`, `no`, `n`.
    Bool,
    /// A base58 protocol hash.
    ProtocolHash,
    /// A Zarith integer (`z`; this node keeps 64 bits).
    Z,
}

/// How a route answers.
#[derive(Clone, Copy)]
pub(super) enum Handler {
    /// One JSON value from the shared status or the configuration only (no store, no
    /// context, no lock a reader or the GC holds): answered on the async worker.
    Status(fn(&Call) -> RpcResult),
    /// One JSON value read from the store or the context: run on a blocking thread.
    Value(fn(&Call) -> RpcResult),
    /// A [`Handler::Value`] that usually needs nothing but memory (a durable read of a state
    /// tree already loaded, at the cached head): tried on the async worker with every read
    /// that could wait refused ([`super::from_memory`]), else run on a blocking thread. The
    /// hop to the blocking pool was the largest cost left of such a read (`BENCHMARKS.md`, P4).
    Memory(fn(&Call) -> RpcResult),
    /// A chunked stream (spawns its producer on the runtime).
    Stream(fn(Call) -> RpcResult),
}

/// One RPC.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Octez path template (`/global/block/{block_id}/hash`); also the axum route.
    pub path: &'static str,
    /// Query arguments it reads.
    pub query: &'static [(&'static str, QueryTy)],
    /// Description, when Octez's OpenAPI has none for it.
    pub description: &'static str,
    pub(super) handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// A parsed path argument.
#[derive(Debug, Clone)]
enum Param {
    Block(BlockId),
    Commitment(CommitmentHash),
    Level(i32),
    MessageId(L2MessageId),
    InjectorOp(tezos_types::InjectorOperationId),
}

/// A request, parsed: what a handler reads.
pub struct Call {
    /// The node.
    pub(super) view: AppState,
    /// Ends streams on server shutdown.
    pub(super) stop: Shutdown,
    params: Vec<Param>,
    /// Query arguments of the route, parsed and checked.
    pub(super) query: HashMap<String, String>,
    /// The request body (empty for a GET).
    pub(super) body: axum::body::Bytes,
}

impl Call {
    /// The block of `{block_id}`: 404 when unknown, 410 when deleted by the GC.
    pub(super) fn block(&self) -> Result<L2Block, RpcError> {
        let id = self
            .params
            .iter()
            .find_map(|p| match p {
                Param::Block(b) => Some(b),
                _ => None,
            })
            .ok_or_else(|| missing_param("block_id"))?;
        super::resolve_block(&self.view, id)
    }

    /// `{commitment_hash}`.
    pub(super) fn commitment_hash(&self) -> Result<CommitmentHash, RpcError> {
        self.params
            .iter()
            .find_map(|p| match p {
                Param::Commitment(c) => Some(*c),
                _ => None,
            })
            .ok_or_else(|| missing_param("commitment_hash"))
    }

    /// `{level}`.
    pub(super) fn level(&self) -> Result<i32, RpcError> {
        self.params
            .iter()
            .find_map(|p| match p {
                Param::Level(l) => Some(*l),
                _ => None,
            })
            .ok_or_else(|| missing_param("level"))
    }

    /// `{injector_operation_hash}`.
    pub(super) fn injector_operation(&self) -> Result<tezos_types::InjectorOperationId, RpcError> {
        self.params
            .iter()
            .find_map(|p| match p {
                Param::InjectorOp(id) => Some(*id),
                _ => None,
            })
            .ok_or_else(|| missing_param("injector_operation_hash"))
    }

    /// `{l2_message_id}`.
    pub(super) fn message_id(&self) -> Result<L2MessageId, RpcError> {
        self.params
            .iter()
            .find_map(|p| match p {
                Param::MessageId(id) => Some(*id),
                _ => None,
            })
            .ok_or_else(|| missing_param("l2_message_id"))
    }

    /// Query argument `name`, if sent.
    pub(super) fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

fn missing_param(name: &str) -> RpcError {
    RpcError::Failed(
        "smart_rollup_node.rpc_route",
        format!("route without a {{{name}}} argument (a bug of this node's route table)"),
    )
}

const KEY: &[(&str, QueryTy)] = &[("key", QueryTy::String)];

macro_rules! get {
    ($path:literal, $h:expr) => {
        get!($path, $h, &[])
    };
    ($path:literal, $h:expr, $q:expr) => {
        Route {
            method: Method::GET,
            path: $path,
            query: $q,
            description: "",
            handler: Handler::Value($h),
        }
    };
}

macro_rules! memory {
    ($path:literal, $h:expr, $q:expr) => {
        Route {
            method: Method::GET,
            path: $path,
            query: $q,
            description: "",
            handler: Handler::Memory($h),
        }
    };
}

macro_rules! status {
    ($path:literal, $h:expr) => {
        status!($path, $h, &[])
    };
    ($path:literal, $h:expr, $q:expr) => {
        Route {
            method: Method::GET,
            path: $path,
            query: $q,
            description: "",
            handler: Handler::Status($h),
        }
    };
}

macro_rules! stream {
    ($path:literal, $h:expr, $d:literal) => {
        Route {
            method: Method::GET,
            path: $path,
            query: &[],
            description: $d,
            handler: Handler::Stream($h),
        }
    };
}

/// A route with a request body, answered on a blocking thread.
macro_rules! with_body {
    ($method:ident, $path:literal, $h:expr, $q:expr) => {
        Route {
            method: Method::$method,
            path: $path,
            query: $q,
            description: "",
            handler: Handler::Value($h),
        }
    };
}

/// Every RPC this node serves.
pub static ROUTES: &[Route] = &[
    status!("/health", super::health),
    status!("/version", super::version),
    status!("/config", super::config),
    status!(
        "/openapi",
        super::openapi_rpc,
        &[("protocol", QueryTy::ProtocolHash)]
    ),
    status!("/ping", super::ping),
    get!("/stats/memory", super::stats_memory),
    status!("/global/smart_rollup_address", super::rollup_address),
    get!("/global/tezos_head", super::tezos_head),
    get!("/global/tezos_level", super::tezos_level),
    get!(
        "/global/last_stored_commitment",
        super::last_stored_commitment
    ),
    stream!(
        "/global/monitor_blocks",
        super::monitor_blocks,
        "Monitor and streaming the L2 blocks"
    ),
    stream!(
        "/global/monitor_finalized_blocks",
        super::monitor_finalized_blocks,
        "Monitor and streaming the finalized L2 blocks"
    ),
    get!(
        "/global/block/{block_id}",
        super::block_root,
        &[("outbox", QueryTy::Bool)]
    ),
    get!("/global/block/{block_id}/hash", super::block_hash),
    get!("/global/block/{block_id}/level", super::block_level),
    get!("/global/block/{block_id}/inbox", super::block_inbox),
    get!("/global/block/{block_id}/ticks", super::block_ticks),
    get!(
        "/global/block/{block_id}/total_ticks",
        super::block_total_ticks
    ),
    get!(
        "/global/block/{block_id}/num_messages",
        super::block_num_messages
    ),
    get!(
        "/global/block/{block_id}/state_hash",
        super::block_state_hash
    ),
    get!(
        "/global/block/{block_id}/state_current_level",
        super::block_state_current_level
    ),
    get!("/global/block/{block_id}/status", super::block_status),
    get!(
        "/global/block/{block_id}/committed_status",
        super::committed_status
    ),
    get!("/global/block/{block_id}/state", super::block_state, KEY),
    get!(
        "/global/block/{block_id}/outbox",
        super::block_outbox,
        &[("outbox_level", QueryTy::Int32)]
    ),
    get!(
        "/global/block/{block_id}/outbox/{level}/messages",
        super::block_outbox_messages
    ),
    get!(
        "/global/block/{block_id}/helpers/proofs/outbox/{level}/messages",
        outbox_proof,
        &[("index", QueryTy::String)]
    ),
    memory!(
        "/global/block/{block_id}/durable/wasm_2_0_0/value",
        super::durable_value,
        KEY
    ),
    memory!(
        "/global/block/{block_id}/durable/wasm_2_0_0/length",
        super::durable_length,
        KEY
    ),
    memory!(
        "/global/block/{block_id}/durable/wasm_2_0_0/subkeys",
        super::durable_subkeys,
        KEY
    ),
    memory!(
        "/global/block/{block_id}/durable/wasm_2_0_0/values",
        super::durable_values,
        KEY
    ),
    get!(
        "/local/commitments/{commitment_hash}",
        super::local_commitment
    ),
    get!(
        "/local/last_published_commitment",
        super::local_last_published_commitment
    ),
    get!("/local/gc_info", super::local_gc_info),
    get!(
        "/local/outbox/pending",
        super::outbox_routes::pending,
        &[("outbox_level", QueryTy::Int32)]
    ),
    get!(
        "/local/outbox/pending/executable",
        super::outbox_routes::executable,
        &[("outbox_level", QueryTy::Int32)]
    ),
    get!(
        "/local/outbox/pending/unexecutable",
        super::outbox_routes::unexecutable,
        &[("outbox_level", QueryTy::Int32)]
    ),
    get!(
        "/local/injector/operation/{injector_operation_hash}/status",
        super::injector_routes::status
    ),
    get!(
        "/admin/injector/queues",
        super::injector_routes::queues,
        &[("tag", QueryTy::String)]
    ),
    with_body!(
        DELETE,
        "/admin/injector/queues",
        super::injector_routes::clear,
        &[
            ("order_below", QueryTy::Z),
            ("tag", QueryTy::String),
            ("drop_no_order", QueryTy::Bool)
        ]
    ),
    get!(
        "/admin/injector/queues/total",
        super::injector_routes::total
    ),
    get!("/admin/cancel_gc", super::admin_cancel_gc),
    with_body!(
        POST,
        "/local/batcher/injection",
        super::batcher_routes::injection,
        &[("order", QueryTy::Z), ("drop_duplicate", QueryTy::Bool)]
    ),
    get!("/local/batcher/queue", super::batcher_routes::queue),
    get!(
        "/local/batcher/queue/{l2_message_id}",
        super::batcher_routes::message
    ),
    with_body!(
        POST,
        "/local/dal/batcher/injection",
        super::batcher_routes::dal_injection,
        &[]
    ),
    with_body!(
        POST,
        "/local/dal/slot/indices",
        super::batcher_routes::dal_slot_indices,
        &[]
    ),
    get!(
        "/local/dal/injected/operations/statuses",
        super::batcher_routes::dal_statuses
    ),
    with_body!(
        POST,
        "/local/dal/injection/{injector_operation_hash}/forget",
        super::batcher_routes::dal_forget,
        &[]
    ),
    with_body!(
        DELETE,
        "/admin/batcher/queue",
        super::batcher_routes::clear,
        &[
            ("order_below", QueryTy::Z),
            ("drop_no_order", QueryTy::Bool)
        ]
    ),
    with_body!(
        POST,
        "/global/block/{block_id}/simulate",
        super::simulate_rpc,
        &[]
    ),
    stream!(
        "/local/synchronized",
        super::synchronized,
        "Wait for the node to have synchronized its L2 chain with the L1 chain, streaming its \
         progress."
    ),
];

/// `GET …/helpers/proofs/outbox/<level>/messages?index=<i>`: the output proof of a message,
/// always against the state of the last cemented commitment (the block id is ignored), with
/// that commitment (`{"commitment": "src1…", "proof": "<hex>"}`); a level above the LCC's is
/// `sc_rollup.node.outbox_level_not_cemented` (Octez `Outbox.proof_of_output_simple`,
/// docs/reference/octez-rollup-node.md §4).
fn outbox_proof(c: &Call) -> RpcResult {
    let level = c.level()?;
    let Some((lcc, lcc_level)) = c.view.lcc()? else {
        return Err(RpcError::Failed(
            "smart_rollup_node.outbox_proof",
            "Error producing outbox proof (no cemented state in the node)".into(),
        ));
    };
    // The path's `int32` level: a negative one is below every LCC level.
    if level > lcc_level.get() {
        return Err(RpcError::Failed(
            "sc_rollup.node.outbox_level_not_cemented",
            format!("The outbox level {level} is not cemented yet (LCC is {lcc_level})."),
        ));
    }
    let block = c.view.block(&BlockId::Level(lcc_level))?.ok_or_else(|| {
        RpcError::Missing(format!(
            "Could not retrieve L2 block at LCC level {lcc_level}"
        ))
    })?;
    let path = format!("helpers/proofs/outbox/{level}/messages");
    let proof = match c.view.pvm_rpc(&block, &path, &c.query) {
        Some(r) => r?,
        None => {
            return Err(RpcError::NotSupported(format!(
                "GET /global/block/<block_id>/{path}"
            )));
        }
    };
    super::ok(serde_json::json!({ "commitment": lcc.to_b58check(), "proof": proof }))
}

/// Percent-decodes `s` (`%XX`; `+` is kept, as resto's `Uri` does); `None` when malformed
/// or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i.checked_add(1)?..i.checked_add(3)?)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i = i.checked_add(3)?;
        } else {
            out.push(c);
            i = i.checked_add(1)?;
        }
    }
    String::from_utf8(out).ok()
}

/// Resto's `bool_of_string`.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "" | "true" | "t" | "yes" | "y" => Ok(true),
        "false" | "f" | "no" | "n" => Ok(false),
        _ => Err("Cannot parse boolean value".into()),
    }
}

/// The path arguments of `route` in `path` (already matched by the router).
fn parse_params(route: &Route, path: &str) -> Result<Vec<Param>, RpcError> {
    let mut params = vec![];
    let mut context: Vec<String> = vec![];
    let segs = path.trim_start_matches('/').split('/');
    for (t, s) in route.path.trim_start_matches('/').split('/').zip(segs) {
        let value = percent_decode(s).ok_or_else(|| RpcError::BadPath {
            context: format!("{}/{s}", context.join("/")),
            value: s.to_string(),
            ty: "string",
        })?;
        context.push(value.clone());
        let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
            continue;
        };
        let bad = |ty| RpcError::BadPath {
            context: context.join("/"),
            value: value.clone(),
            ty,
        };
        params.push(match name {
            "block_id" => Param::Block(BlockId::parse(&value).ok_or_else(|| bad("block_id"))?),
            "commitment_hash" => Param::Commitment(
                value
                    .parse()
                    .map_err(|_| bad("Smart_rollup_commitment_hash"))?,
            ),
            "level" => Param::Level(value.parse().map_err(|_| bad("int32"))?),
            "l2_message_id" => {
                Param::MessageId(value.parse().map_err(|_| bad("sc_rollup_l2_message_id"))?)
            }
            "injector_operation_hash" => {
                Param::InjectorOp(value.parse().map_err(|_| bad("injector_operation_hash"))?)
            }
            _ => return Err(missing_param(name)),
        });
    }
    Ok(params)
}

/// The query arguments of `route` in `raw` (resto's `Query.parse`: unknown names ignored,
/// a duplicate or an unparsable value refused).
fn parse_query(route: &Route, raw: Option<&str>) -> Result<HashMap<String, String>, RpcError> {
    let mut out = HashMap::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_decode(s)
                .ok_or_else(|| RpcError::BadQuery(format!("invalid percent-encoding in {pair:?}")))
        };
        let (k, v) = (dec(k)?, dec(v)?);
        let Some((name, ty)) = route.query.iter().find(|(n, _)| *n == k) else {
            continue;
        };
        if out.contains_key(&k) {
            return Err(RpcError::BadQuery(format!(
                "Duplicate argument '{name}' in query string."
            )));
        }
        let bad = |e: String| RpcError::BadQueryArgument(name, v.clone(), e);
        match ty {
            QueryTy::String => {}
            QueryTy::Int32 => {
                v.parse::<i32>()
                    .map_err(|_| bad("Cannot parse int32 value".into()))?;
            }
            QueryTy::Bool => {
                parse_bool(&v).map_err(bad)?;
            }
            QueryTy::ProtocolHash => {
                v.parse::<tezos_types::ProtocolHash>()
                    .map_err(|_| bad("Cannot parse protocol hash".into()))?;
            }
            QueryTy::Z => {
                v.parse::<i64>().map_err(|_| {
                    bad("Cannot parse z value (a decimal integer of 64 bits)".into())
                })?;
            }
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// Whether resto's flag `name` is set in `call` (absent = false).
pub(super) fn flag(call: &Call, name: &str) -> bool {
    call.query(name).is_some_and(|v| parse_bool(v) == Ok(true))
}

/// `path?query` of a request, as reported in error traces.
fn uri_of(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string())
}

/// Largest request body read (a batcher injection of many messages, a simulation).
const MAX_BODY: usize = 64 << 20;

async fn dispatch(route: &'static Route, view: AppState, stop: Shutdown, req: Request) -> Response {
    let method = req.method().clone();
    let uri = uri_of(&req);
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return RpcError::BadBody(format!(
                "cannot read the body (at most {MAX_BODY} bytes): {e}"
            ))
            .response(&method, &uri);
        }
    };
    let call = parse_params(route, parts.uri.path()).and_then(|params| {
        Ok(Call {
            view,
            stop,
            params,
            query: parse_query(route, parts.uri.query())?,
            body,
        })
    });
    // Store and context reads block (SQLite, pack file reads that wait for a GC sweep): they
    // run on the runtime's blocking threads, so that they never hold an async worker.
    let answer = match call {
        Err(e) => Err(e),
        Ok(call) => match route.handler {
            Handler::Status(f) => f(&call),
            Handler::Value(f) => in_blocking_thread(move || f(&call)).await,
            Handler::Memory(f) => match super::from_memory(|| f(&call)) {
                Some(answer) => answer,
                None => in_blocking_thread(move || f(&call)).await,
            },
            Handler::Stream(f) => in_blocking_thread(move || f(call)).await,
        },
    };
    answer.unwrap_or_else(|e| {
        if e.status() == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!("RPC {method} {uri}: {e}");
        }
        e.response(&method, &uri)
    })
}

/// Runs the blocking handler `f` with `tokio::task::spawn_blocking`.
async fn in_blocking_thread(f: impl FnOnce() -> RpcResult + Send + 'static) -> RpcResult {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(RpcError::Failed(
            "smart_rollup_node.rpc",
            format!("the RPC handler failed: {e}"),
        ))
    })
}

/// A method not served at a served path: 405 (or resto's answer to a CORS-less `OPTIONS`:
/// 200 with the allowed methods).
fn wrong_method(allowed: &[Method], req: &Request) -> Response {
    if req.method() == Method::OPTIONS {
        let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        let mut r = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
            r.headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        return r;
    }
    method_not_allowed(req.method(), &uri_of(req), allowed)
}

/// No served path matches: 501 for an RPC of Octez's rollup node not served here, else 404.
async fn unknown_path(req: Request) -> Response {
    let uri = uri_of(&req);
    let err = match super::openapi::octez_template(req.uri().path()) {
        Some(t) => RpcError::NotSupported(format!("{t} (an RPC of Octez's rollup node)")),
        None => RpcError::NotFound,
    };
    err.response(req.method(), &uri)
}

/// The router of [`ROUTES`] (state: the node view; the [`Shutdown`] extension is added by
/// the caller).
pub(super) fn build() -> Router<AppState> {
    let mut by_path: BTreeMap<&'static str, Vec<&'static Route>> = BTreeMap::new();
    for r in ROUTES {
        by_path.entry(r.path).or_default().push(r);
    }
    let mut router = Router::new();
    for (path, routes) in by_path {
        let allowed: Vec<Method> = routes.iter().map(|r| r.method.clone()).collect();
        let mut mr: MethodRouter<AppState> = MethodRouter::new();
        for r in routes {
            let Ok(filter) = MethodFilter::try_from(r.method.clone()) else {
                continue;
            };
            mr = mr.on(
                filter,
                move |State(v): State<AppState>,
                      axum::Extension(stop): axum::Extension<Shutdown>,
                      req: Request| dispatch(r, v, stop, req),
            );
        }
        mr = mr.fallback(move |req: Request| {
            let allowed = allowed.clone();
            async move { wrong_method(&allowed, &req) }
        });
        router = router.route(path, mr);
    }
    router.fallback(unknown_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_path_parsing() {
        let route = ROUTES
            .iter()
            .find(|r| r.path == "/global/block/{block_id}/outbox")
            .unwrap();
        assert_eq!(
            parse_query(route, Some("outbox_level=3&other=x&other=y")).unwrap()["outbox_level"],
            "3"
        );
        assert!(matches!(
            parse_query(route, Some("outbox_level=abc")),
            Err(RpcError::BadQueryArgument("outbox_level", _, _))
        ));
        assert!(matches!(
            parse_query(route, Some("outbox_level=1&outbox_level=2")),
            Err(RpcError::BadQuery(_))
        ));
        assert!(matches!(
            parse_query(route, Some("outbox_level=%zz")),
            Err(RpcError::BadQuery(_))
        ));
        assert_eq!(percent_decode("%2Fa%20b+c").as_deref(), Some("/a b+c"));
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(parse_bool("Yes"), Ok(true));
        assert!(parse_bool("2").is_err());
        match parse_params(route, "/global/block/nope/outbox") {
            Err(e @ RpcError::BadPath { .. }) => assert_eq!(
                e.to_string(),
                "Failed to parsed an argument in path. After \"global/block/nope\", the value \
                 \"nope\" is not acceptable for type \"block_id\""
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_route_is_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method.as_str(), r.path)), "{r:?} twice");
            for seg in r.path.split('/') {
                if let Some(n) = seg.strip_prefix('{') {
                    assert!(
                        matches!(
                            n,
                            "block_id}"
                                | "commitment_hash}"
                                | "level}"
                                | "l2_message_id}"
                                | "injector_operation_hash}"
                        ),
                        "{r:?}: no parser for {seg}"
                    );
                }
            }
        }
    }
}
