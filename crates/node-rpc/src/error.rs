//! RPC errors and their answers: an HTTP status and a JSON error trace, every time.
//!
//! Octez's RPC server (resto, `resto/src/server.ml` in tezos/tezos-mirror) answers a handler
//! failure with 500 and the error trace `[{"kind":…,"id":…,…}]`, an unknown path with 404,
//! a wrong method with 405 and `Allow`, an unparsable path argument, query or body with 400,
//! an ACL refusal with 401; the last four with an empty or plain-text body. This node sends
//! the same statuses with a JSON trace in every case: the error that Octez's own RPC client
//! (`src/lib_rpc_http/RPC_client.ml`, `RPC_client_errors.ml`, `src/lib_rpc/RPC_context.ml`)
//! reports for that status (`RPC_context.Not_found`, `rpc_client.request_failed` with
//! `method_not_allowed` / `bad_request` / `Unauthorized URI`), so that an Octez client decodes
//! it as it would decode Octez's answer. Two cases differ from Octez (which answers 500 for
//! every handler failure, docs/reference/octez-rollup-node.md §4) on purpose: an unknown
//! block, or a key missing from the PVM state, is the client's mistake, so it answers 404
//! with the trace Octez sends (`failure`, "Could not retrieve L2 block for …"), which
//! Octez's client decodes the same way for both statuses (`RPC_client.ml` `handle`); a
//! block deleted by the GC answers 410 Gone with Octez's
//! `sc_rollup.node.access_below_first_available_level`. An Octez RPC this node does not
//! implement yet answers 501 saying so.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use node_store::StoreError;

/// Errors of RPC handlers and of request parsing.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// 404: no RPC at this path (or not for this rollup's kind).
    #[error("No RPC at this path")]
    NotFound,
    /// 400: a path argument does not parse (resto's `Cannot_parse_path`).
    #[error(
        "Failed to parsed an argument in path. After \"{context}\", the value \"{value}\" is \
         not acceptable for type \"{ty}\""
    )]
    BadPath {
        /// The path up to and including the argument.
        context: String,
        /// The argument as sent.
        value: String,
        /// Its type name (`block_id`, `commitment_hash`, `int32`).
        ty: &'static str,
    },
    /// 400: query argument `name` has an unparsable value (resto's `Cannot_parse_query`).
    #[error("Failed to parse the query string: Failed to parse argument '{0}' ({1:?}): {2}")]
    BadQueryArgument(&'static str, String, String),
    /// 400: the query string itself is malformed.
    #[error("Failed to parse the query string: {0}")]
    BadQuery(String),
    /// 400: the request body does not parse (resto's `Cannot_parse_body`).
    #[error("Failed to parse the request body: {0}")]
    BadBody(String),
    /// 400: query argument `name` is valid for the query but not for this RPC.
    #[error("Failed to parse the query string: Failed to parse argument '{0}' ({1:?})")]
    BadArgument(&'static str, String),
    /// 404: the block, or the data asked for in it, does not exist (Octez's `failure`
    /// trace, e.g. "Could not retrieve L2 block for …", "No such key in PVM state").
    #[error("{0}")]
    Missing(String),
    /// 410: the block was deleted by the GC.
    #[error(
        "Attempting to access data for level {accessed}, which is before the first available \
         level {first}"
    )]
    BelowFirstAvailableLevel {
        /// First level still stored.
        first: tezos_types::Level,
        /// Level asked for.
        accessed: tezos_types::Level,
    },
    /// 501: an Octez RPC this node does not implement yet.
    #[error("{0} is not supported yet by this rollup node")]
    NotSupported(String),
    /// 500 with an Octez error id.
    #[error("{1}")]
    Failed(&'static str, String),
    /// 500: store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The trace of a request failure as Octez's RPC client reports it
/// (`rpc_client.request_failed`, `RPC_client_errors.ml`).
fn request_failed(method: &Method, uri: &str, error: Value) -> Value {
    json!({"kind": "permanent", "id": "rpc_client.request_failed",
           "meth": method.as_str(), "uri": uri, "error": error})
}

/// An error of this node (not registered in Octez): `{kind, id, msg}`.
fn node_error(id: &str, msg: &str) -> Value {
    json!({"kind": "permanent", "id": id, "msg": msg})
}

impl RpcError {
    /// HTTP status of the error (module doc).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound | Self::Missing(_) => StatusCode::NOT_FOUND,
            Self::BadPath { .. }
            | Self::BadQueryArgument(..)
            | Self::BadQuery(_)
            | Self::BadBody(_)
            | Self::BadArgument(..) => StatusCode::BAD_REQUEST,
            Self::BelowFirstAvailableLevel { .. } => StatusCode::GONE,
            Self::NotSupported(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Failed(..) | Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON error trace answering `method uri` with this error.
    pub fn trace(&self, method: &Method, uri: &str) -> Value {
        let msg = self.to_string();
        let first = match self {
            Self::NotFound => not_found_error(method, uri),
            Self::BadPath { .. }
            | Self::BadQueryArgument(..)
            | Self::BadQuery(_)
            | Self::BadBody(_)
            | Self::BadArgument(..) => {
                request_failed(method, uri, json!({"kind": "bad_request", "message": msg}))
            }
            Self::Missing(m) => json!({"kind": "temporary", "id": "failure", "msg": m}),
            Self::BelowFirstAvailableLevel { first, accessed } => json!({
                "kind": "permanent", "id": "sc_rollup.node.access_below_first_available_level",
                "first_available_level": first, "accessed_level": accessed}),
            Self::NotSupported(_) => node_error("smart_rollup_node.not_supported", &msg),
            Self::Failed(id, m) => node_error(id, m),
            Self::Store(_) => node_error("smart_rollup_node.store", &msg),
        };
        match self {
            Self::NotFound => json!([first, not_found_hint(method, uri)]),
            _ => json!([first]),
        }
    }

    /// The answer to `method uri`: [`Self::status`] and [`Self::trace`].
    pub fn response(&self, method: &Method, uri: &str) -> Response {
        json_response(self.status(), &self.trace(method, uri))
    }
}

/// `RPC_context.Not_found` (`src/lib_rpc/RPC_context.ml`).
fn not_found_error(method: &Method, uri: &str) -> Value {
    json!({"kind": "branch", "id": "RPC_context.Not_found", "method": method.as_str(), "uri": uri})
}

/// Second item of a 404 trace: what to do.
fn not_found_hint(method: &Method, uri: &str) -> Value {
    node_error(
        "smart_rollup_node.rpc_not_found",
        &format!(
            "Did not find service: {method} {uri}; GET /openapi describes the RPCs this node serves"
        ),
    )
}

/// A JSON answer with `status`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// 405: `method` is not one of `allowed` for `uri`; `Allow` lists them (resto's
/// `Method_not_allowed`), the trace is the client's `method_not_allowed`.
pub fn method_not_allowed(method: &Method, uri: &str, allowed: &[Method]) -> Response {
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    let body = json!([request_failed(
        method,
        uri,
        json!({"kind": "method_not_allowed", "allowed": names})
    )]);
    let mut r = json_response(StatusCode::METHOD_NOT_ALLOWED, &body);
    if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

/// 401: denied by the RPC ACL of the listening address. The first item is the client's
/// `Unauthorized URI` (`rpc_client.request_failed` with error `{}`), the second says what to
/// do.
pub fn unauthorized(method: &Method, uri: &str) -> Response {
    let hint = node_error(
        "smart_rollup_node.rpc_unauthorized",
        &format!(
            "Access to {method} {uri} is denied by the RPC ACL of this address; use \
             --acl-override or the `acl` configuration to allow it"
        ),
    );
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!([request_failed(method, uri, json!({})), hint]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_have_octez_shapes() {
        let get = Method::GET;
        let t = RpcError::NotFound.trace(&get, "/nope");
        assert_eq!(
            t[0],
            json!({"kind": "branch", "id": "RPC_context.Not_found", "method": "GET", "uri": "/nope"})
        );
        assert!(t[1]["msg"].as_str().unwrap().contains("/openapi"), "{t}");
        let bad = RpcError::BadPath {
            context: "global/block/x".into(),
            value: "x".into(),
            ty: "block_id",
        };
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            bad.trace(&get, "/global/block/x")[0]["error"],
            json!({"kind": "bad_request", "message":
                   "Failed to parsed an argument in path. After \"global/block/x\", the value \
                    \"x\" is not acceptable for type \"block_id\""})
        );
        let unknown = RpcError::Missing("Could not retrieve L2 block for level 9".into());
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            unknown.trace(&get, "/global/block/9"),
            json!([{"kind": "temporary", "id": "failure",
                    "msg": "Could not retrieve L2 block for level 9"}])
        );
        let gone = RpcError::BelowFirstAvailableLevel {
            first: tezos_types::Level::from(10u8),
            accessed: tezos_types::Level::from(3u8),
        };
        assert_eq!(gone.status(), StatusCode::GONE);
        assert_eq!(gone.trace(&get, "/")[0]["first_available_level"], json!(10));
        assert_eq!(
            RpcError::NotSupported("x".into()).status(),
            StatusCode::NOT_IMPLEMENTED
        );
    }
}
