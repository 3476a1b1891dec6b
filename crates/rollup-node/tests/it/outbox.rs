//! End to end: an outbox message of the SDK counter kernel, proven by the node's
//! `helpers/proofs/outbox` RPC against the cemented state, executed once on the sandbox
//! (`smart_rollup_execute_outbox_message`); a second execution is refused. And the node in
//! maintenance mode with an `execute-outbox-messages-filter` executing it by itself once
//! cemented (docs/reference/octez-rollup-node.md §6.3), the `/local/outbox/pending*` RPCs
//! following it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{RollupNode, Sandbox, bootstrap_key};
use tezos_types::operation::OperationContent;

use super::init_config;

const BOUND: Duration = Duration::from_secs(180);

fn start_node(data_dir: &Path, sb: &Sandbox) -> RollupNode {
    super::node(data_dir, sb.endpoint())
        .log_file(data_dir.join("test-node.log"))
        .start()
        .unwrap()
}

/// The metadata of the `smart_rollup_execute_outbox_message` content in the head (after the
/// reveal the first operation of a key carries).
fn head_execution(sb: &Sandbox) -> Value {
    let block = sb.get("/chains/main/blocks/head?metadata=always");
    block["operations"][3]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|op| op["contents"].as_array().cloned().unwrap_or_default())
        .find(|c| c["kind"] == "smart_rollup_execute_outbox_message")
        .map(|c| c["metadata"].clone())
        .unwrap_or_else(|| panic!("no execute_outbox_message in the head: {block}"))
}

#[test]
fn counter_kernel_outbox_message_executes_once_on_l1() {
    let kernel = super::counter_kernel();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = start_node(&node_dir, &sb);
    sb.send_messages(&[b"hello"]);
    let msg_level = sb.level();
    // The first commitment (period 5) covers levels orig+1..=orig+5.
    while sb.level() <= orig + 6 {
        sb.bake();
    }
    node.wait_synced(&sb, BOUND).unwrap();
    // Not cemented yet: no proof.
    let (status, err) = node.get_status(&format!(
        "/global/block/head/helpers/proofs/outbox/{msg_level}/messages?index=0"
    ));
    assert_eq!(status, 500, "{err}");
    assert!(
        err.to_string().contains("outbox_level_not_cemented"),
        "{err}"
    );
    let last = node.get("/global/last_stored_commitment");
    assert_eq!(last["commitment"]["inbox_level"], json!(orig + 5), "{last}");
    let commitment: tezos_types::Commitment =
        serde_json::from_value(last["commitment"].clone()).unwrap();
    sb.publish(&bootstrap_key(4), &addr, commitment);
    for _ in 0..10 {
        sb.bake();
    }
    sb.cement(&bootstrap_key(4), &addr);
    node.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(node.get("/global/block/cemented/level"), json!(orig + 5));

    let answer = node.get(&format!(
        "/global/block/head/helpers/proofs/outbox/{msg_level}/messages?index=0"
    ));
    assert_eq!(answer["commitment"], last["hash"], "{answer}");
    let proof = hex::decode(answer["proof"].as_str().unwrap()).unwrap();
    let execute = || OperationContent::SmartRollupExecuteOutboxMessage {
        rollup: addr.parse().unwrap(),
        cemented_commitment: last["hash"].as_str().unwrap().parse().unwrap(),
        output_proof: proof.clone(),
    };
    sb.inject(&bootstrap_key(3), vec![execute()]);
    sb.bake();
    let meta = head_execution(&sb);
    assert_eq!(meta["operation_result"]["status"], "applied", "{meta}");
    let internal = &meta["internal_operation_results"][0];
    assert_eq!(
        internal["destination"], "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL",
        "{meta}"
    );
    assert_eq!(
        internal["parameters"]["value"],
        json!({"bytes": hex::encode(b"hello")}),
        "{meta}"
    );
    // Executed once.
    sb.inject(&bootstrap_key(3), vec![execute()]);
    sb.bake();
    let meta = head_execution(&sb);
    assert_eq!(meta["operation_result"]["status"], "failed", "{meta}");
    assert_eq!(
        meta["operation_result"]["errors"][0]["id"],
        "proto.025-PsUshuai.smart_rollup_outbox_message_already_applied",
        "{meta}"
    );

    // The node saw the execution: nothing pending at that level.
    node.wait_synced(&sb, BOUND).unwrap();
    // The outbox RPCs answer once the node has read the protocol constants from L1 (after
    // a restart, shortly after its RPC server starts).
    let pending_at = |node: &RollupNode| -> Vec<Value> {
        let start = Instant::now();
        let answer = loop {
            let (status, v) = node.get_status("/local/outbox/pending");
            if status == 200 {
                break v;
            }
            assert!(start.elapsed() < BOUND, "{v}");
            std::thread::sleep(Duration::from_millis(100));
        };
        answer
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l["outbox_level"] == json!(msg_level))
            .collect()
    };
    assert!(pending_at(&node).is_empty(), "executed, not pending");
    recompute_outbox_messages(&mut node, msg_level, orig);
    assert!(
        pending_at(&node).is_empty(),
        "recompute keeps executed marks"
    );
    // Lose the level's outbox row: recomputing registers message 0 again (executed marks
    // went with the row, so it is pending again).
    node.terminate(BOUND).unwrap();
    node_store::Store::open(&node_dir.join("store.sqlite"))
        .unwrap()
        .transaction(|w| w.delete_outbox_messages(tezos_types::Level::try_from(msg_level).unwrap()))
        .unwrap();
    node.restart().unwrap();
    node.wait_synced(&sb, BOUND).unwrap();
    assert!(pending_at(&node).is_empty(), "row deleted");
    recompute_outbox_messages(&mut node, msg_level, orig);
    let levels = pending_at(&node);
    assert_eq!(levels.len(), 1, "{levels:?}");
    assert_eq!(levels[0]["messages"][0]["message_index"], json!(0));

    // `patch durable storage` (unsafe, debugging): refused without --force; applied to a
    // head that carries no commitment (period 5 from the origination level).
    if (sb.level() - orig) % 5 == 0 {
        sb.bake();
    }
    node.wait_synced(&sb, BOUND).unwrap();
    node.terminate(BOUND).unwrap();
    let dir = node_dir.to_str().unwrap();
    let patch = |force: bool| {
        let mut args = vec![
            "patch",
            "durable",
            "storage",
            "at",
            "/patched",
            "with",
            "0a0b",
            "--data-dir",
            dir,
        ];
        if force {
            args.push("--force");
        }
        super::run(&args)
    };
    let o = patch(false);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--force"),
        "{o:?}"
    );
    let o = patch(true);
    assert!(o.status.success(), "{o:?}");
    // `replay blocks`: the level before the head replays as stored; the patched head does not.
    let head = sb.level();
    let o = super::run(&[
        "replay",
        "blocks",
        "from",
        &(head - 2).to_string(),
        "to",
        &(head - 1).to_string(),
        "--data-dir",
        dir,
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches("as stored.")
            .count(),
        2,
        "{o:?}"
    );
    let o = super::run(&["replay", "block", &head.to_string(), "--data-dir", dir]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("but the node stored"),
        "{o:?}"
    );
    node.restart().unwrap();
    assert_eq!(node.durable("head", "/patched"), json!("0a0b"));
}

/// `recompute outbox messages from <from>` on the node's data dir: refused while the node
/// runs, then run with the node stopped, out-of-range levels refused; the node restarted.
fn recompute_outbox_messages(node: &mut RollupNode, from: i64, orig: i64) {
    let dir = node.data_dir().to_str().unwrap().to_string();
    let from_s = from.to_string();
    let cmd = |level: &str| {
        super::run(&[
            "recompute",
            "outbox",
            "messages",
            "from",
            level,
            "--data-dir",
            &dir,
        ])
    };
    let o = cmd(&from_s);
    assert_eq!(o.status.code(), Some(1), "refused while the node runs");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("stop the rollup node"),
        "{o:?}"
    );
    node.terminate(BOUND).unwrap();
    // While stopped: `dump durable storage` of the head, YAML and JSON.
    let dump = |file: &std::path::Path, block_opt: &[&str]| {
        let mut args = vec!["dump", "durable", "storage", "into", file.to_str().unwrap()];
        args.extend(["--data-dir", &dir]);
        args.extend(block_opt);
        let o = super::run(&args);
        assert!(o.status.success(), "{o:?}");
    };
    let yaml = node.data_dir().join("dump.yaml");
    dump(&yaml, &["--block", "head"]);
    let text = std::fs::read_to_string(&yaml).unwrap();
    assert!(text.starts_with("instructions:\n- set:\n"), "{text}");
    assert!(text.contains("    to: \"/counter\"\n"), "{text}");
    assert!(
        !text.contains("/readonly") && !text.contains("boot.wasm"),
        "{text}"
    );
    let json = node.data_dir().join("dump.json");
    dump(&json, &["-b", "head~1"]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(
        v["instructions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["set"]["to"] == "/counter"),
        "{v}"
    );
    let o = cmd("100000");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("but head is at"),
        "{o:?}"
    );
    let o = cmd(&(orig + 1).to_string());
    assert!(o.status.success(), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Outbox messages recomputed from level"),
        "{o:?}"
    );
    node.restart().unwrap();
}

/// The counter kernel's echo destination.
const ECHO: &str = "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL";

/// The metadata of the applied `smart_rollup_execute_outbox_message` of `source` in the
/// blocks `from..=head`, if any.
fn applied_execution_by(sb: &Sandbox, from: i64, source: &str) -> Option<Value> {
    (from..=sb.level()).find_map(|l| {
        let ops = sb.get(&format!("/chains/main/blocks/{l}/operations/3"));
        ops.as_array()
            .into_iter()
            .flatten()
            .flat_map(|op| op["contents"].as_array().cloned().unwrap_or_default())
            .find(|c| {
                c["kind"] == "smart_rollup_execute_outbox_message"
                    && c["source"] == json!(source)
                    && c["metadata"]["operation_result"]["status"] == "applied"
            })
            .map(|c| c["metadata"].clone())
    })
}

#[test]
fn maintenance_node_executes_filtered_outbox_messages_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let addr = sb.originate_wasm(&super::counter_kernel());
    let orig = sb.level();
    let op = bootstrap_key(3);
    let pkh = op.public_key_hash().to_b58check();
    let wallet = dir.path().join("wallet");
    std::fs::create_dir_all(&wallet).unwrap();
    signer::wallet::Wallet::new(&wallet)
        .add_key("operator", &op, false)
        .unwrap();
    let node_dir = dir.path().join("node");
    let o = super::bin()
        .arg("-d")
        .arg(&wallet)
        .args(["init", "maintenance", "config", "for", &addr])
        .args(["with", "operators", "operator", "--data-dir"])
        .arg(&node_dir)
        .output()
        .unwrap();
    let (out, err) = super::text(&o);
    assert!(o.status.success(), "init: {out}{err}");
    // Only transaction batches to the echo contract, any entrypoint.
    let cfg_path = node_dir.join("config.json");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["execute-outbox-messages-filter"] =
        json!([{"transaction": {"destination": [ECHO], "entrypoint": "any"}}]);
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let mut node = super::node(&node_dir, sb.endpoint())
        .env("TEZOS_CLIENT_DIR", &wallet.display().to_string())
        .log_file(node_dir.join("test-node.log"))
        .start()
        .unwrap();
    assert_eq!(
        node.get("/config")["execute-outbox-messages-filter"],
        cfg["execute-outbox-messages-filter"]
    );
    sb.send_messages(&[b"hello"]);
    let msg_level = sb.level();
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();
    // Not cemented yet: pending, not executable, with its message.
    let unexecutable = node.get("/local/outbox/pending/unexecutable");
    let level = unexecutable
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["outbox_level"] == json!(msg_level))
        .unwrap_or_else(|| panic!("level {msg_level} not pending: {unexecutable}"));
    assert_eq!(level["messages"][0]["message_index"], json!(0), "{level}");
    assert_eq!(
        level["messages"][0]["message"]["transactions"][0]["destination"], ECHO,
        "{level}"
    );
    let pending = node.get(&format!("/local/outbox/pending?outbox_level={msg_level}"));
    assert_eq!(pending[0]["status"], "pending", "{pending}");
    assert_eq!(node.get("/local/outbox/pending/executable"), json!([]));
    // The node publishes, cements, then executes the message by itself.
    let start = Instant::now();
    let meta = loop {
        if let Some(m) = applied_execution_by(&sb, orig, &pkh) {
            break m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "no execution by the node after 240 s (L1 level {}); its output:\n{}",
            sb.level(),
            node.output()
        );
        if let Err(e) = node.check_running() {
            panic!("the node stopped: {e}; output:\n{}", node.output());
        }
        sb.bake();
        std::thread::sleep(Duration::from_millis(300));
    };
    let internal = &meta["internal_operation_results"][0];
    assert_eq!(internal["destination"], ECHO, "{meta}");
    assert_eq!(
        internal["parameters"]["value"],
        json!({"bytes": hex::encode(b"hello")}),
        "{meta}"
    );
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();
    // Marked executed: no longer pending anywhere.
    assert_eq!(
        node.get(&format!("/local/outbox/pending?outbox_level={msg_level}")),
        json!([])
    );
    let executable = node.get("/local/outbox/pending/executable");
    assert!(
        executable
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["outbox_level"] != json!(msg_level)),
        "{executable}"
    );
    // Executed once: the node did not queue it twice, and a manual execution is refused.
    let executions = (orig..=sb.level())
        .flat_map(|l| {
            sb.get(&format!("/chains/main/blocks/{l}/operations/3"))
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|op| op["contents"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["kind"] == "smart_rollup_execute_outbox_message")
        .count();
    assert_eq!(executions, 1);
    let answer = node.get(&format!(
        "/global/block/head/helpers/proofs/outbox/{msg_level}/messages?index=0"
    ));
    sb.inject(
        &bootstrap_key(1),
        vec![OperationContent::SmartRollupExecuteOutboxMessage {
            rollup: addr.parse().unwrap(),
            cemented_commitment: answer["commitment"].as_str().unwrap().parse().unwrap(),
            output_proof: hex::decode(answer["proof"].as_str().unwrap()).unwrap(),
        }],
    );
    sb.bake();
    let meta = head_execution(&sb);
    assert_eq!(meta["operation_result"]["status"], "failed", "{meta}");
    assert_eq!(
        meta["operation_result"]["errors"][0]["id"],
        "proto.025-PsUshuai.smart_rollup_outbox_message_already_applied",
        "{meta}"
    );
}
