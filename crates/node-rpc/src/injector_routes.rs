//! The injector's RPCs (docs/reference/octez-rollup-node.md §4.3, §4.4; Octez
//! `rollup_node_services.ml` `Local.injector_operation_status`, `Admin.injector_queues`,
//! `injector_queues_total`, `clear_injector_queues`). A node without an injector (an
//! observer) has no operation and empty queues.

use l1_operation::OperationKind;
use serde_json::{Value, json};

use super::batcher_routes::z_arg;
use super::routes::{Call, flag};
use super::{RpcError, RpcResult, ok};

/// `?tag=<kind>`: an operation kind of the injector.
fn tag(c: &Call) -> Result<Option<OperationKind>, RpcError> {
    c.query("tag")
        .map(|t| {
            OperationKind::parse(t).ok_or_else(|| {
                RpcError::BadQueryArgument(
                    "tag",
                    t.into(),
                    format!(
                        "not an operation kind ({})",
                        OperationKind::ALL.map(OperationKind::as_str).join(", ")
                    ),
                )
            })
        })
        .transpose()
}

/// `GET /local/injector/operation/<id>/status`.
pub(super) fn status(c: &Call) -> RpcResult {
    let id = c.injector_operation()?;
    match c.view.injector() {
        Some(i) => ok(i.status_json(&id)),
        None => ok(json!({"status": "unknown"})),
    }
}

/// `GET /admin/injector/queues?tag=<kind>`.
pub(super) fn queues(c: &Call) -> RpcResult {
    let tag = tag(c)?;
    match c.view.injector() {
        Some(i) => ok(i.queues_json(tag)),
        None => ok(Value::Array(vec![])),
    }
}

/// `GET /admin/injector/queues/total`.
pub(super) fn total(c: &Call) -> RpcResult {
    match c.view.injector() {
        Some(i) => ok(i.total_json()),
        None => ok(json!({"injectors": [], "total": 0})),
    }
}

/// `DELETE /admin/injector/queues?order_below=<z>&tag=<kind>&drop_no_order=<bool>`.
pub(super) fn clear(c: &Call) -> RpcResult {
    let tag = tag(c)?;
    let order_below = z_arg(c, "order_below")?;
    let drop_no_order = flag(c, "drop_no_order");
    if let Some(i) = c.view.injector() {
        let n = i
            .clear(tag, order_below, drop_no_order)
            .map_err(|e| RpcError::Failed("sc_rollup.node.injector", e.to_string()))?;
        tracing::info!("Cleared {n} operation(s) from the injector's queues");
    }
    ok(json!({}))
}
