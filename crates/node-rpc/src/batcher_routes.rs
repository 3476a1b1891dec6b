//! The batcher's RPCs (docs/reference/octez-rollup-node.md §4.3, §4.4; Octez
//! `rpc_directory.ml`, `rollup_node_services.ml` `Local.injection`, `batcher_queue`,
//! `batcher_message`, `Admin.clear_batcher_queues`). Without a batcher (a node whose mode does
//! not batch) each answers Octez's `sc_rollup.node.no_batcher` error.

use std::sync::Arc;

use serde_json::{Value, json};

use super::routes::{Call, flag};
use super::{RpcError, RpcResult, ok};

/// Octez's `No_batcher` (`rollup_node_errors.ml`).
fn no_batcher() -> RpcError {
    RpcError::Failed(
        "sc_rollup.node.no_batcher",
        "This rollup node does not have batcher.".into(),
    )
}

fn the_batcher(c: &Call) -> Result<Arc<parking_lot::Mutex<batcher::Batcher>>, RpcError> {
    c.view.batcher().ok_or_else(no_batcher)
}

/// Query argument `name` of type `z` (checked by the route table; this node keeps 64 bits).
pub(super) fn z_arg(c: &Call, name: &'static str) -> Result<Option<i64>, RpcError> {
    c.query(name)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                RpcError::BadQueryArgument(name, v.into(), "Cannot parse z value".into())
            })
        })
        .transpose()
}

/// The body of an injection: `["<hex>", …]`.
fn parse_messages(body: &[u8]) -> Result<Vec<Vec<u8>>, RpcError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| RpcError::BadBody(e.to_string()))?;
    let items = v
        .as_array()
        .ok_or_else(|| RpcError::BadBody("expected an array of hex strings".into()))?;
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_str().and_then(|s| hex::decode(s).ok()).ok_or_else(|| {
                RpcError::BadBody(format!("message {i}: expected a hex string, got {x}"))
            })
        })
        .collect()
}

/// `POST /local/batcher/injection?order=<z>&drop_duplicate=<bool>`: body `["hex", …]`, answer
/// the ids `["scmsg…", …]`.
pub(super) fn injection(c: &Call) -> RpcResult {
    let b = the_batcher(c)?;
    let order = z_arg(c, "order")?;
    let drop_duplicate = flag(c, "drop_duplicate");
    let messages = parse_messages(&c.body)?;
    let ids = b
        .lock()
        .register(order, drop_duplicate, messages)
        .map_err(|e| match e {
            batcher::InjectionError::Register(e @ batcher::RegisterError::QueueFull) => {
                RpcError::Failed("batcher.heap_insertion_failed", e.to_string())
            }
            batcher::InjectionError::Register(e) => RpcError::Failed("failure", e.to_string()),
            batcher::InjectionError::Batch(e) => {
                RpcError::Failed("smart_rollup_node.batcher", e.to_string())
            }
        })?;
    ok(json!(
        ids.iter()
            .map(tezos_types::L2MessageId::to_b58check)
            .collect::<Vec<_>>()
    ))
}

/// `GET /local/batcher/queue`.
pub(super) fn queue(c: &Call) -> RpcResult {
    let b = the_batcher(c)?;
    let j = b.lock().queue().queue_json();
    ok(j)
}

/// `GET /local/batcher/queue/<l2_message_id>`: `{"content"?, "status", …}`; a batched message
/// takes the injector's status of its operation.
pub(super) fn message(c: &Call) -> RpcResult {
    let b = the_batcher(c)?;
    let id = c.message_id()?;
    // The lock is not held while asking the injector.
    let (content, operation) = match b.lock().known(&id) {
        batcher::Known::Unknown => return ok(batcher::status::unknown()),
        batcher::Known::PendingBatch { content } => (content.to_vec(), None),
        batcher::Known::Batched { content, operation } => (content.to_vec(), Some(operation)),
    };
    let answer = match operation {
        None => batcher::status::message_status_json(
            &batcher::Known::PendingBatch { content: &content },
            None,
        ),
        Some(operation) => {
            let injector = c.view.injector_operation_status(&operation)?;
            batcher::status::message_status_json(
                &batcher::Known::Batched {
                    content: &content,
                    operation,
                },
                injector,
            )
        }
    };
    ok(answer)
}

/// `DELETE /admin/batcher/queue?order_below=<z>&drop_no_order=<bool>`: `{}`.
pub(super) fn clear(c: &Call) -> RpcResult {
    let b = the_batcher(c)?;
    let order_below = z_arg(c, "order_below")?;
    b.lock().clear(order_below, flag(c, "drop_no_order"));
    ok(json!({}))
}

/// Octez's `No_dal_injector` (`rollup_node_errors.ml`): the node has no DAL injection queue
/// (not a batching mode, or no `--dal-node`).
fn no_dal_injector() -> RpcError {
    RpcError::Failed(
        "sc_rollup.node.no_dal_injector",
        "This rollup node does not have DAL injector. Run it in batcher or operator mode with \
         --dal-node <DAL node endpoint>."
            .into(),
    )
}

fn the_dal_queue(c: &Call) -> Result<Arc<parking_lot::Mutex<batcher::dal::DalQueue>>, RpcError> {
    c.view.dal_queue().ok_or_else(no_dal_injector)
}

fn dal_error(e: batcher::dal::DalError) -> RpcError {
    match e {
        e @ batcher::dal::DalError::TooBig { .. } => {
            RpcError::Failed("sc_rollup.node.dal_message_too_big", e.to_string())
        }
        e => RpcError::Failed("failure", e.to_string()),
    }
}

/// The body of a DAL injection: `[<unistring>, …]`, each a JSON string (its UTF-8 bytes) or
/// `{"invalid_utf8_string": [<byte>, …]}` (Octez's `unistring`). The messages are raw bytes,
/// not hex, unlike `/local/batcher/injection`.
fn parse_unistrings(body: &[u8]) -> Result<Vec<Vec<u8>>, RpcError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| RpcError::BadBody(e.to_string()))?;
    let items = v
        .as_array()
        .ok_or_else(|| RpcError::BadBody("expected an array of strings".into()))?;
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let bytes = match x {
                Value::String(s) => Some(s.as_bytes().to_vec()),
                Value::Object(o) => o
                    .get("invalid_utf8_string")
                    .and_then(Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                            .collect::<Option<Vec<u8>>>()
                    }),
                _ => None,
            };
            bytes.ok_or_else(|| {
                RpcError::BadBody(format!(
                    "message {i}: expected a string or {{\"invalid_utf8_string\": [bytes]}}, \
                     got {x}"
                ))
            })
        })
        .collect()
}

/// `POST /local/dal/batcher/injection`: body `[<unistring>, …]`, answer `{}`; the messages
/// are posted in DAL slots at the next heads (docs/reference/octez-rollup-node.md §4.3).
pub(super) fn dal_injection(c: &Call) -> RpcResult {
    let q = the_dal_queue(c)?;
    let messages = parse_unistrings(&c.body)?;
    q.lock().register(messages).map_err(dal_error)?;
    ok(json!({}))
}

/// `POST /local/dal/slot/indices`: body `{"indices": [<uint8>, …]}`, answer `{}`.
pub(super) fn dal_slot_indices(c: &Call) -> RpcResult {
    let q = the_dal_queue(c)?;
    let v: Value = serde_json::from_slice(&c.body).map_err(|e| RpcError::BadBody(e.to_string()))?;
    let indices = v
        .get("indices")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|i| i.as_u64().and_then(|i| u8::try_from(i).ok()))
                .collect::<Option<Vec<u8>>>()
        })
        .ok_or_else(|| {
            RpcError::BadBody(format!(
                "expected {{\"indices\": [<integer between 0 and 255>, …]}}, got {v}"
            ))
        })?;
    q.lock().set_slot_indices(&indices).map_err(dal_error)?;
    ok(json!({}))
}

/// `GET /local/dal/injected/operations/statuses`: `[{"id": "iop…", "status": <status>}]` for
/// the publications remembered, with the injector's status of each.
pub(super) fn dal_statuses(c: &Call) -> RpcResult {
    let q = the_dal_queue(c)?;
    // The lock is not held while asking the injector.
    let ids: Vec<_> = q.lock().injections().copied().collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let status = c
            .view
            .injector_operation_status(&id)?
            .unwrap_or_else(batcher::status::unknown);
        out.push(json!({"id": id.to_b58check(), "status": status}));
    }
    ok(Value::Array(out))
}

/// `POST /local/dal/injection/<injector_operation_hash>/forget`: `{}`.
pub(super) fn dal_forget(c: &Call) -> RpcResult {
    let q = the_dal_queue(c)?;
    let id = c.injector_operation()?;
    q.lock().forget(&id).map_err(dal_error)?;
    ok(json!({}))
}
