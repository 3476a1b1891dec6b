//! Receipt printing in the layout of `octez-client` ("This sequence of operations was run:").

use std::fmt::Write as _;

use serde_json::Value;
use tezos_types::{Micheline, micheline::BinMicheline};

use crate::rpc::describe_errors;
use crate::tez::{format_change, format_tez};

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn num(v: &Value, k: &str) -> u64 {
    match v.get(k) {
        Some(Value::String(t)) => t.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// Milligas as gas units with at most 3 decimals (`2748.269`, `1000`).
pub fn format_milligas(milligas: u64) -> String {
    let (whole, frac) = (milligas / 1000, milligas % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
}

fn balance_label(u: &Value) -> String {
    match s(u, "kind") {
        "contract" => s(u, "contract").to_owned(),
        "accumulator" if s(u, "category") == "block fees" => {
            "payload fees(the block proposer)".to_owned()
        }
        "freezer" if s(u, "category") == "bonds" => {
            let bond = u.get("bond_id").map(|b| s(b, "smart_rollup")).unwrap_or("");
            format!("Frozen_bonds({},{bond})", s(u, "contract"))
        }
        _ => match s(u, "category") {
            "" => s(u, "kind").to_owned(),
            c => c.to_owned(),
        },
    }
}

fn balance_updates(out: &mut String, updates: Option<&Value>, indent: usize) {
    let Some(list) = updates.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return;
    };
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}Balance updates:");
    for u in list {
        let label = balance_label(u);
        let dots = ".".repeat(39usize.saturating_sub(label.len()).max(3));
        let change: i128 = s(u, "change").parse().unwrap_or(0);
        let _ = writeln!(out, "{pad}  {label} {dots} {}", format_change(change));
    }
}

fn micheline_text(v: &Value) -> String {
    Micheline::from_json(v)
        .map(|m| m.to_string())
        .unwrap_or_else(|_| v.to_string())
}

fn result_lines(out: &mut String, what: &str, r: &Value, pad: &str) -> bool {
    match s(r, "status") {
        "applied" => {
            let _ = writeln!(out, "{pad}This {what} was successfully applied");
            true
        }
        "backtracked" => {
            let _ = writeln!(
                out,
                "{pad}This {what} was BACKTRACKED, its expected effects (as follow) were NOT applied."
            );
            true
        }
        "skipped" => {
            let _ = writeln!(out, "{pad}This operation was skipped.");
            false
        }
        _ => {
            let _ = writeln!(out, "{pad}This operation FAILED.");
            if let Some(e) = r.get("errors") {
                let _ = writeln!(out, "{}", describe_errors(e));
            }
            false
        }
    }
}

fn content(out: &mut String, c: &Value) {
    let pad = "    ";
    let inner = "      ";
    let meta = c.get("metadata").cloned().unwrap_or(Value::Null);
    let r = meta.get("operation_result").cloned().unwrap_or(Value::Null);
    let _ = writeln!(out, "  Manager signed operations:");
    let _ = writeln!(out, "{pad}From: {}", s(c, "source"));
    let _ = writeln!(out, "{pad}Fee to the baker: ꜩ{}", format_tez(num(c, "fee")));
    let _ = writeln!(out, "{pad}Expected counter: {}", s(c, "counter"));
    let _ = writeln!(out, "{pad}Gas limit: {}", s(c, "gas_limit"));
    let _ = writeln!(out, "{pad}Storage limit: {} bytes", s(c, "storage_limit"));
    balance_updates(out, meta.get("balance_updates"), 4);
    let gas = |out: &mut String| {
        let _ = writeln!(
            out,
            "{inner}Consumed gas: {}",
            format_milligas(num(&r, "consumed_milligas"))
        );
    };
    match s(c, "kind") {
        "reveal" => {
            let _ = writeln!(out, "{pad}Revelation of manager public key:");
            let _ = writeln!(out, "{inner}Contract: {}", s(c, "source"));
            let _ = writeln!(out, "{inner}Key: {}", s(c, "public_key"));
            if result_lines(out, "revelation", &r, inner) {
                gas(out);
            }
        }
        "transaction" => {
            let _ = writeln!(out, "{pad}Transaction:");
            let _ = writeln!(out, "{inner}Amount: ꜩ{}", format_tez(num(c, "amount")));
            let _ = writeln!(out, "{inner}From: {}", s(c, "source"));
            let _ = writeln!(out, "{inner}To: {}", s(c, "destination"));
            if let Some(p) = c.get("parameters") {
                let _ = writeln!(out, "{inner}Entrypoint: {}", s(p, "entrypoint"));
                if let Some(v) = p.get("value") {
                    let _ = writeln!(out, "{inner}Parameter: {}", micheline_text(v));
                }
            }
            if result_lines(out, "transaction", &r, inner) {
                gas(out);
                balance_updates(out, r.get("balance_updates"), 6);
            }
        }
        "smart_rollup_originate" => {
            let _ = writeln!(out, "{pad}Smart rollup origination:");
            let _ = writeln!(out, "{inner}Kind: {}", s(c, "pvm_kind"));
            if let Some(t) = c.get("parameters_ty") {
                let text = match t {
                    Value::String(h) => hex::decode(h)
                        .ok()
                        .and_then(|b| BinMicheline::from_bytes(b).ok())
                        .and_then(|b| b.decode().ok())
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| h.clone()),
                    other => micheline_text(other),
                };
                let _ = writeln!(out, "{inner}Parameter type: {text}");
            }
            if let Ok(k) = hex::decode(s(c, "kernel")) {
                let h = blake2b_simd::Params::new().hash_length(32).hash(&k);
                let _ = writeln!(
                    out,
                    "{inner}Kernel Blake2B hash: '{}'",
                    hex::encode(h.as_bytes())
                );
            }
            if result_lines(out, "smart rollup origination", &r, inner) {
                gas(out);
                let _ = writeln!(out, "{inner}Storage size: {} bytes", s(&r, "size"));
                let _ = writeln!(out, "{inner}Address: {}", s(&r, "address"));
                let _ = writeln!(
                    out,
                    "{inner}Genesis commitment hash: {}",
                    s(&r, "genesis_commitment_hash")
                );
                balance_updates(out, r.get("balance_updates"), 6);
            }
        }
        "smart_rollup_add_messages" => {
            let _ = writeln!(out, "{pad}Smart rollup messages submission:");
            if result_lines(out, "smart rollup messages submission", &r, inner) {
                gas(out);
            }
        }
        "smart_rollup_cement" => {
            let _ = writeln!(out, "{pad}Smart rollup commitment cementing:");
            let _ = writeln!(out, "{inner}Address: {}", s(c, "rollup"));
            if result_lines(out, "smart rollup commitment cementing", &r, inner) {
                gas(out);
                if let Some(l) = r.get("inbox_level") {
                    let _ = writeln!(out, "{inner}Inbox level: {l}");
                }
                let _ = writeln!(out, "{inner}Commitment hash: {}", s(&r, "commitment_hash"));
            }
        }
        "smart_rollup_execute_outbox_message" => {
            // Octez src/proto_alpha/lib_client/operation_result.ml.
            let _ = writeln!(out, "{pad}Smart rollup output message execution:");
            let _ = writeln!(out, "{inner}Address: {}", s(c, "rollup"));
            let _ = writeln!(
                out,
                "{inner}Cemented commitment: {}",
                s(c, "cemented_commitment")
            );
            if result_lines(out, "smart output message execution", &r, inner) {
                if let Some(d) = r.get("paid_storage_size_diff").and_then(Value::as_str) {
                    let _ = writeln!(out, "{inner}Paid storage size diff: {d} bytes");
                }
                gas(out);
                balance_updates(out, r.get("balance_updates"), 6);
            }
        }
        "smart_rollup_recover_bond" => {
            let _ = writeln!(out, "{pad}Smart rollup bond retrieval:");
            let _ = writeln!(out, "{inner}Address: {}", s(c, "rollup"));
            let _ = writeln!(out, "{inner}Staker: {}", s(c, "staker"));
            if result_lines(out, "smart rollup bond retrieval", &r, inner) {
                gas(out);
                balance_updates(out, r.get("balance_updates"), 6);
            }
        }
        "dal_publish_commitment" => {
            // U025 `operation_result.ml`: `Dal.Operations.Publish_commitment.pp`.
            let h = c.get("slot_header").cloned().unwrap_or(Value::Null);
            let _ = writeln!(out, "{pad}Data availability slot header publishing:");
            let _ = writeln!(
                out,
                "{inner}Slot: slot_index: {}, commitment: {}",
                h.get("slot_index").map_or(Value::Null, Clone::clone),
                s(&h, "commitment")
            );
            if result_lines(out, "data availability slot header publishing", &r, inner) {
                if let Some(sh) = r.get("slot_header") {
                    let _ = writeln!(
                        out,
                        "{inner}Slot header: published level {}, index {}, commitment {}",
                        sh.get("level").map_or(Value::Null, Clone::clone),
                        sh.get("index").map_or(Value::Null, Clone::clone),
                        s(sh, "commitment")
                    );
                }
                gas(out);
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{other}:");
            if result_lines(out, "operation", &r, inner) {
                gas(out);
                balance_updates(out, r.get("balance_updates"), 6);
            }
        }
    }
    internal_operations(out, meta.get("internal_operation_results"));
}

fn internal_operations(out: &mut String, list: Option<&Value>) {
    let Some(list) = list.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return;
    };
    let _ = writeln!(out, "    Internal operations:");
    for op in list {
        let r = op.get("result").cloned().unwrap_or(Value::Null);
        let (pad, inner) = ("      ", "        ");
        match s(op, "kind") {
            "transaction" => {
                let _ = writeln!(out, "{pad}Internal Transaction:");
                let _ = writeln!(out, "{inner}Amount: ꜩ{}", format_tez(num(op, "amount")));
                let _ = writeln!(out, "{inner}From: {}", s(op, "source"));
                let _ = writeln!(out, "{inner}To: {}", s(op, "destination"));
                if let Some(p) = op.get("parameters") {
                    let _ = writeln!(out, "{inner}Entrypoint: {}", s(p, "entrypoint"));
                    if let Some(v) = p.get("value") {
                        let _ = writeln!(out, "{inner}Parameter: {}", micheline_text(v));
                    }
                }
                if result_lines(out, "transaction", &r, inner) {
                    let _ = writeln!(
                        out,
                        "{inner}Consumed gas: {}",
                        format_milligas(num(&r, "consumed_milligas"))
                    );
                }
            }
            other => {
                let _ = writeln!(out, "{pad}Internal {other}");
                result_lines(out, "operation", &r, inner);
            }
        }
    }
}

/// The receipt of an operation's contents (with `metadata`).
pub fn format_receipt(contents: &[Value]) -> String {
    let mut out = String::from("This sequence of operations was run:\n");
    for c in contents {
        content(&mut out, c);
    }
    out
}

/// The errors of all contents whose status is not `applied`, or `None` if all applied.
pub fn failures(contents: &[Value]) -> Option<String> {
    let mut lines = vec![];
    let mut failed = false;
    for c in contents {
        let r = c
            .get("metadata")
            .and_then(|m| m.get("operation_result"))
            .cloned()
            .unwrap_or(Value::Null);
        let status = s(&r, "status");
        if status != "applied" {
            failed = true;
            if let Some(e) = r.get("errors") {
                lines.push(format!(
                    "  {} ({status}):\n{}",
                    s(c, "kind"),
                    describe_errors(e)
                ));
            }
        }
    }
    failed.then(|| {
        if lines.is_empty() {
            "  (no error details)".to_owned()
        } else {
            lines.join("\n")
        }
    })
}
