//! End to end: a real `smart-rollup-sandbox` (manual baking), a rollup originated with a small
//! WAT kernel, and the `smart-rollup-node` binary in observer mode following it: inbox
//! processing, durable RPCs, commitments, kill -9 + restart, L1 reorganisation.
//!
//! The sandbox binary is `$SMART_ROLLUP_SANDBOX`, or `smart-rollup-sandbox` in the target
//! directory (`cargo build -p sandbox` first).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{RollupNode, Sandbox, bootstrap_key, wait_for_every};

use super::init_config;

/// Bound of the waits for the node (a guard against hangs).
const BOUND: Duration = Duration::from_secs(180);

/// Starts the node on `data_dir`, its output appended to `data_dir/test-node.log`.
fn start_node(data_dir: &Path, sb: &Sandbox) -> RollupNode {
    start_node_with(data_dir, sb, &[])
}

fn start_node_with(data_dir: &Path, sb: &Sandbox, extra: &[&str]) -> RollupNode {
    super::node(data_dir, sb.endpoint())
        .args(extra)
        .log_file(data_dir.join("test-node.log"))
        .start()
        .unwrap()
}

/// Waits until the node is healthy, 0 blocks late, with the L1 head as L2 head.
fn wait_synced(node: &mut RollupNode, sb: &Sandbox) {
    node.wait_synced(sb, BOUND).unwrap();
}

fn count_hex(n: u32) -> Value {
    json!(hex::encode(n.to_le_bytes()))
}

#[test]
fn observer_follows_sandbox_restarts_and_reorgs() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = start_node(&node_dir, &sb);

    sb.send_messages(&[b"aaaa", b"bbbb"]);
    let two_msgs_level = sb.level();
    sb.send_messages(&[b"cccc"]);
    for _ in 0..8 {
        sb.bake();
    }
    wait_synced(&mut node, &sb);

    // The kernel's effect through the durable RPCs.
    assert_eq!(node.durable("head", "/count"), count_hex(3));
    assert_eq!(node.durable("head", "/last"), json!(hex::encode(b"cccc")));
    assert_eq!(node.durable("head", "/nothing"), Value::Null);
    let len = node.get("/global/block/head/durable/wasm_2_0_0/length?key=/readonly/wasm_version");
    assert_eq!(len, json!("8"));
    // Block data.
    let l = two_msgs_level;
    assert_eq!(
        node.get(&format!("/global/block/{l}/num_messages")),
        json!("5")
    );
    assert_eq!(
        node.get(&format!("/global/block/{l}/hash")),
        sb.get(&format!("/chains/main/blocks/{l}/hash"))
    );
    let full = node.get(&format!("/global/block/{l}?outbox=true"));
    assert_eq!(full["level"], json!(l));
    let messages = full["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5, "{full}");
    assert_eq!(messages[0], json!("0001"));
    assert_eq!(messages[2], json!(format!("01{}", hex::encode(b"aaaa"))));
    assert_eq!(messages[4], json!("0002"));
    assert_eq!(full["outbox"].as_array().map(Vec::len), Some(2), "{full}");
    let inbox = node.get(&format!("/global/block/{l}/inbox"));
    assert_eq!(inbox["level"], json!(l));
    assert_eq!(
        inbox,
        sb.get(&format!(
            "/chains/main/blocks/{l}/context/smart_rollups/all/inbox"
        )),
        "the rebuilt inbox must equal L1's"
    );
    assert_eq!(
        node.get(&format!("/global/block/{l}/state_current_level")),
        json!(l)
    );
    let outbox = node.get(&format!("/global/block/head/outbox/{l}/messages"));
    assert_eq!(outbox.as_array().map(Vec::len), Some(2), "{outbox}");
    // Not valid outbox messages: shown raw.
    assert_eq!(
        outbox[1],
        json!({"outbox_level": l, "message_index": "1",
               "message": {"raw": hex::encode(b"bbbb")}})
    );
    let (s, e) = node.get_status("/global/block/head/state?key=no/such/key");
    assert_eq!(s, 404, "{e}");
    assert_eq!(e[0]["msg"], "No such key in PVM state", "{e}");
    assert_eq!(
        node.get("/global/block/head/status"),
        json!("Waiting for input message")
    );
    // Genesis state equals L1's genesis commitment.
    let p = format!("/chains/main/blocks/head/context/smart_rollups/smart_rollup/{addr}");
    let gi = sb.get(&format!("{p}/genesis_info"));
    let genesis = sb.get(&format!(
        "{p}/commitment/{}",
        gi["commitment_hash"].as_str().unwrap()
    ));
    assert_eq!(
        node.get(&format!("/global/block/{orig}/state_hash")),
        genesis["compressed_state"]
    );
    // Commitments every period (5 in the sandbox's test constants), chained to genesis.
    let last = node.get("/global/last_stored_commitment");
    let c = &last["commitment"];
    assert_eq!((c["inbox_level"].as_i64().unwrap() - orig) % 5, 0, "{last}");
    let mut pred = c["predecessor"].as_str().unwrap().to_string();
    while pred != gi["commitment_hash"] {
        let p = node.get(&format!("/local/commitments/{pred}"));
        assert!(!p.is_null(), "missing predecessor {pred}");
        pred = p["commitment"]["predecessor"].as_str().unwrap().to_string();
    }
    let finalized = node.get("/global/block/finalized/level");
    assert_eq!(finalized.as_i64().unwrap(), sb.level() - 2);

    // kill -9, more blocks, restart: same states, then catch up.
    let level_before = sb.level();
    let hash_before = node.get("/global/block/head/state_hash");
    drop(node);
    sb.send_messages(&[b"dddd"]);
    sb.bake();
    let mut node = start_node(&node_dir, &sb);
    wait_synced(&mut node, &sb);
    assert_eq!(
        node.get(&format!("/global/block/{level_before}/state_hash")),
        hash_before
    );
    assert_eq!(node.durable("head", "/count"), count_hex(4));

    // A fresh node over the whole chain reaches the same state.
    let fresh_dir = dir.path().join("fresh");
    init_config(&fresh_dir, &addr);
    let mut fresh = start_node(&fresh_dir, &sb);
    wait_synced(&mut fresh, &sb);
    assert_eq!(
        fresh.get("/global/block/head/state_hash"),
        node.get("/global/block/head/state_hash")
    );
    drop(fresh);

    // Reorganisation: the block carrying "eeee" is replaced by an empty one.
    sb.send_messages(&[b"eeee"]);
    wait_synced(&mut node, &sb);
    assert_eq!(node.durable("head", "/count"), count_hex(5));
    let (s, v) = sb.post("/sandbox/reorg", &json!({"depth": 1}));
    assert_eq!(s, 200, "{v}");
    wait_synced(&mut node, &sb);
    assert_eq!(node.durable("head", "/count"), count_hex(4));
    assert_eq!(node.durable("head", "/last"), json!(hex::encode(b"dddd")));
    let l = sb.level();
    assert_eq!(
        node.get(&format!("/global/block/{l}/hash")),
        sb.get(&format!("/chains/main/blocks/{l}/hash"))
    );
    // The dropped operation went back to the mempool: the next block carries it again.
    sb.bake();
    wait_synced(&mut node, &sb);
    assert_eq!(node.durable("head", "/count"), count_hex(5));
    assert_eq!(node.durable("head", "/last"), json!(hex::encode(b"eeee")));
}

/// Waits (polling every 5 ms, to stop the node in the middle of its catch-up) until the
/// node's L1 level is at least `min`.
fn wait_level(node: &RollupNode, min: i64) {
    wait_for_every(
        &format!("level {min}"),
        BOUND,
        Duration::from_millis(5),
        || {
            let l = node.try_get("/global/tezos_level").ok();
            Ok(l.and_then(|(_, v)| v.as_i64()).filter(|l| *l >= min))
        },
    )
    .unwrap();
}

#[test]
fn kill_9_during_catch_up_resumes_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    for i in 0..30u8 {
        sb.send_messages(&[&[b'm', i]]);
    }
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    // Kill while catching up (as soon as a few levels are stored), twice.
    for stop_at in [orig + 3, orig + 12] {
        let node = start_node(&node_dir, &sb);
        wait_level(&node, stop_at);
        drop(node); // SIGKILL
    }
    // More blocks while the node is down, then resume by chunks of 4 levels (the catch-up
    // path of long outages).
    for i in 30..42u8 {
        sb.send_messages(&[&[b'm', i]]);
    }
    let mut node = start_node_with(&node_dir, &sb, &["--test-catch-up-chunk", "4"]);
    wait_synced(&mut node, &sb);
    assert_eq!(node.durable("head", "/count"), count_hex(42));
    assert_eq!(
        node.durable("head", "/last"),
        json!(hex::encode([b'm', 41]))
    );
    let log = std::fs::read_to_string(node_dir.join("test-node.log")).unwrap();
    assert!(log.contains("Catching up on 4 levels"), "{log}");
    let fresh_dir = dir.path().join("fresh");
    init_config(&fresh_dir, &addr);
    let mut fresh = start_node(&fresh_dir, &sb);
    wait_synced(&mut fresh, &sb);
    for l in [orig, orig + 5, orig + 13, sb.level()] {
        let path = format!("/global/block/{l}/state_hash");
        assert_eq!(fresh.get(&path), node.get(&path), "level {l}");
    }
    assert_eq!(
        fresh.get("/global/last_stored_commitment"),
        node.get("/global/last_stored_commitment")
    );
}

/// The project's SDK counter kernel, built by `scripts/build-kernels.sh` (which
/// `scripts/test.sh` runs first): a missing kernel fails the test.
#[test]
fn sdk_counter_kernel_when_built() {
    let kernel = super::counter_kernel();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = start_node_with(&node_dir, &sb, &["--log-kernel-debug"]);
    sb.send_messages(&[b"hello"]);
    let msg_level = sb.level();
    sb.bake();
    wait_synced(&mut node, &sb);
    // One kernel run per inbox level since origination.
    let runs = u64::try_from(sb.level() - orig).unwrap();
    assert_eq!(
        node.durable("head", "/counter"),
        json!(hex::encode(runs.to_le_bytes()))
    );
    assert_eq!(
        node.durable("head", "/last_message"),
        json!(hex::encode(b"hello"))
    );
    let outbox = node.get(&format!("/global/block/head/outbox/{msg_level}/messages"));
    assert_eq!(
        outbox,
        json!([{"outbox_level": msg_level, "message_index": "0",
                "message": {"kind": "untyped", "transactions": [{
                    "destination": "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL",
                    "parameters": {"bytes": hex::encode(b"hello")}}]}}])
    );
    // The block's `outbox` field: summaries with an integer index.
    let block = node.get(&format!("/global/block/{msg_level}?outbox=true"));
    assert_eq!(
        block["outbox"],
        json!([{"message_index": 0, "transactions": [{
                    "destination": "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL",
                    "parameters": {"bytes": hex::encode(b"hello")}}]}])
    );
    let log = std::fs::read(node_dir.join("kernel.log")).unwrap_or_default();
    assert!(
        !log.is_empty(),
        "the kernel's debug output goes to kernel.log"
    );
}

#[test]
fn published_and_cemented_commitments_are_tracked() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = start_node(&node_dir, &sb);
    sb.send_messages(&[b"x"]);
    for _ in 0..6 {
        sb.bake();
    }
    wait_synced(&mut node, &sb);
    // The first commitment (period 5) as the node computed it; L1 accepts it.
    let last = node.get("/global/last_stored_commitment");
    assert_eq!(last["commitment"]["inbox_level"], json!(orig + 5), "{last}");
    let hash = last["hash"].as_str().unwrap().to_string();
    let commitment: tezos_types::Commitment =
        serde_json::from_value(last["commitment"].clone()).unwrap();
    assert_eq!(commitment.hash().to_b58check(), hash);
    sb.publish(&bootstrap_key(4), &addr, commitment);
    let published_at = sb.level();
    wait_synced(&mut node, &sb);
    let local = node.get(&format!("/local/commitments/{hash}"));
    assert_eq!(
        local["first_published_at_level"],
        json!(published_at),
        "{local}"
    );
    // Before cementation, `cemented` is the genesis level.
    assert_eq!(node.get("/global/block/cemented/level"), json!(orig));
    // After the challenge window (10 in the test constants), cement it.
    for _ in 0..10 {
        sb.bake();
    }
    sb.cement(&bootstrap_key(4), &addr);
    wait_synced(&mut node, &sb);
    assert_eq!(node.get("/global/block/cemented/level"), json!(orig + 5));
}
