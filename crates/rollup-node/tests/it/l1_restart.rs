//! End to end: the L1 node goes away and comes back (octez-rollup-node.md §4.1 `/health`,
//! l1-and-signer.md §1.2 head monitor reconnection). A real `smart-rollup-sandbox` with a
//! persisted data directory on a fixed port is killed (SIGKILL) under a following
//! `smart-rollup-node`: `/health` must turn unhealthy with `l1.connection` no longer
//! `connected`; the sandbox is restarted on the same port and data directory: the node must
//! reconnect, become healthy again and process the levels baked after the restart (an
//! external message sent after the restart reaches the kernel's durable storage).

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{RollupNode, Sandbox, wait_until};

use super::init_config;

/// Generous bound of every wait (a guard against hangs, not a speed assertion).
const BOUND: Duration = Duration::from_secs(240);

fn health(node: &RollupNode) -> Option<Value> {
    node.try_get("/health").ok().map(|(_, v)| v)
}

#[test]
fn node_reconnects_after_the_l1_node_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = super::node(&node_dir, sb.endpoint()).start().unwrap();
    sb.send_messages(&[b"before"]); // same length as "after!": /last is overwritten in place
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(
        node.durable("head", "/count"),
        json!(hex::encode(1u32.to_le_bytes()))
    );
    let h = health(&node).unwrap();
    assert_eq!(h["l1"]["connection"], "connected", "{h}");

    // L1 goes away: the node notices (stream closed, then reconnection attempts fail).
    sb.kill();
    let mut last = Value::Null;
    wait_until("/health to report the lost L1 connection", BOUND, || {
        last = health(&node).unwrap_or(Value::Null);
        last["healthy"] == false
            && last["l1"]["connection"].is_string()
            && last["l1"]["connection"] != "connected"
    })
    .unwrap_or_else(|e| panic!("{e}; last /health: {last}\n{}", node.output()));
    assert!(
        ["reconnecting", "disconnected"].contains(&last["l1"]["connection"].as_str().unwrap()),
        "{last}"
    );
    // Which endpoint, why, what to do.
    wait_until("/health to say why", BOUND, || {
        last = health(&node).unwrap_or(Value::Null);
        last["l1"]["error"]
            .as_str()
            .is_some_and(|e| e.contains(sb.endpoint()) && e.contains("--endpoint"))
    })
    .unwrap_or_else(|e| panic!("{e}; last /health: {last}\n{}", node.output()));
    node.check_running().unwrap();

    // L1 comes back on the same port with the same chain; new levels are baked.
    sb.restart().unwrap();
    let restart_level = sb.level();
    sb.send_messages(&[b"after!"]);
    sb.bake();
    assert!(sb.level() > restart_level);
    node.wait_synced(&sb, BOUND)
        .unwrap_or_else(|e| panic!("{e}\n{}", node.output()));
    let h = health(&node).unwrap();
    assert_eq!(h["healthy"], true, "{h}");
    assert_eq!(h["l1"]["connection"], "connected", "{h}");
    assert_eq!(h["l1"]["blocks_late"], 0, "{h}");
    assert_eq!(h["l1"].get("error"), None, "{h}");
    let l2_level = node.get("/global/block/head/level").as_i64().unwrap();
    assert!(
        l2_level > restart_level,
        "L2 head {l2_level} after restart level {restart_level}"
    );
    assert_eq!(
        node.durable("head", "/count"),
        json!(hex::encode(2u32.to_le_bytes()))
    );
    assert_eq!(node.durable("head", "/last"), json!(hex::encode(b"after!")));
}
