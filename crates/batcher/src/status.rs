//! Status of an L2 message (`GET /local/batcher/queue/<id>`, docs/reference/octez-rollup-node.md
//! §4.3; Octez `rpc_directory.ml` `batcher_message`, `rollup_node_services.ml`
//! `message_status_output`): `{"content"?: hex} ∪ <status>`.
//!
//! The batcher knows a message up to "batched"; after that, the status is the injector's
//! status of the operation carrying it (`pending_injection`, `injected`, `included`,
//! `committed`, or `unknown` once the injector forgot it), which the node passes in.

use serde_json::{Value, json};

use crate::Known;

/// `{"status":"unknown"}`.
pub fn unknown() -> Value {
    json!({"status": "unknown"})
}

/// The JSON of `known`: `injector_status` is the injector's status object of the operation of a
/// batched message (as `GET /local/injector/operation/<id>/status` answers it; `None` when the
/// injector does not know the operation, which answers `unknown`). The content is given for
/// every message the batcher knows.
pub fn message_status_json(known: &Known<'_>, injector_status: Option<Value>) -> Value {
    let (content, status) = match known {
        Known::Unknown => return unknown(),
        Known::PendingBatch { content } => (*content, json!({"status": "pending_batch"})),
        Known::Batched { content, .. } => (*content, injector_status.unwrap_or_else(unknown)),
    };
    let mut out = serde_json::Map::new();
    out.insert("content".into(), json!(hex::encode(content)));
    match status {
        Value::Object(o) => out.extend(o),
        other => {
            out.insert("status".into(), other);
        }
    }
    Value::Object(out)
}
