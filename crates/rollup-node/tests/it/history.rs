//! History modes and GC end to end (octez-rollup-node.md §5.4, `/local/gc_info` §4.3): a
//! real `smart-rollup-sandbox` (test constants: commitment period 5, challenge window 10), a
//! full node (`--gc-frequency 1`) and an archive node following the same rollup while
//! commitments are published and cemented; kill -9 + restart of the full node; the
//! full → archive refusal and the archive → full conversion.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{RollupNode, Sandbox, bootstrap_key, free_port, wait_until};

use super::init_config;

/// Bound of the waits for the nodes (a guard against hangs).
const BOUND: Duration = Duration::from_secs(180);

/// Starts the node on `data_dir` following `l1`, its output appended to
/// `data_dir/test-node.log`.
fn start_node_with(data_dir: &Path, l1: &str, extra: &[&str]) -> RollupNode {
    super::node(data_dir, l1)
        .args(extra)
        .log_file(data_dir.join("test-node.log"))
        .start()
        .unwrap()
}

fn start_node(data_dir: &Path, sb: &Sandbox, extra: &[&str]) -> RollupNode {
    start_node_with(data_dir, sb.endpoint(), extra)
}

/// Waits until the node's L2 head is the L1 head.
fn wait_synced(node: &mut RollupNode, sb: &Sandbox) {
    node.wait_synced(sb, BOUND).unwrap();
}

fn bake_n(sb: &Sandbox, n: usize) {
    for _ in 0..n {
        sb.bake();
    }
}

/// L1's LCC level of `addr`.
fn lcc_level(sb: &Sandbox, addr: &str) -> i64 {
    sb.get(&format!(
        "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{addr}/last_cemented_commitment_hash_with_level"
    ))["level"]
        .as_i64()
        .unwrap()
}

fn gc_info(node: &RollupNode) -> Value {
    node.get("/local/gc_info")
}

/// Waits until the full node's context GC for `target` completed.
fn wait_gc_done(node: &RollupNode, target: i64) {
    wait_until(
        &format!("the GC for level {target}"),
        Duration::from_secs(120),
        || gc_info(node)["last_successful_gc_target"] == json!(target),
    )
    .unwrap_or_else(|e| panic!("{e}; the node's output:\n{}", node.output()));
}

/// Publishes the node's commitment of `inbox_level` (from bootstrap3), bakes past the
/// challenge window (10), cements, and bakes the cementation.
pub(super) fn publish_and_cement(sb: &Sandbox, node: &RollupNode, addr: &str, inbox_level: i64) {
    let c = node.get(&format!("/global/block/{inbox_level}"));
    let hash = c["commitment_hash"]
        .as_str()
        .unwrap_or_else(|| panic!("no commitment at {inbox_level}: {c}"))
        .to_string();
    let local = node.get(&format!("/local/commitments/{hash}"));
    let commitment: tezos_types::Commitment =
        serde_json::from_value(local["commitment"].clone()).unwrap();
    sb.publish(&bootstrap_key(4), addr, commitment);
    bake_n(sb, 11);
    sb.cement(&bootstrap_key(4), addr);
    assert_eq!(
        lcc_level(sb, addr),
        inbox_level,
        "L1 cemented the commitment"
    );
}

fn state_hash(node: &RollupNode, block: &str) -> Value {
    node.get(&format!("/global/block/{block}/state_hash"))
}

fn count(node: &RollupNode, block: &str) -> Value {
    node.get(&format!(
        "/global/block/{block}/durable/wasm_2_0_0/value?key=/count"
    ))
}

#[test]
fn full_mode_collects_below_the_lcc_and_archive_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    let full_dir = dir.path().join("full");
    let archive_dir = dir.path().join("archive");
    init_config(&full_dir, &addr);
    init_config(&archive_dir, &addr);
    // The first context GC is held back an hour: the node is killed during it.
    let mut full = start_node_with(
        &full_dir,
        sb.endpoint(),
        &[
            "--history-mode",
            "full",
            "--gc-frequency",
            "1",
            "--test-gc-delay-ms",
            "3600000",
        ],
    );
    let mut archive = start_node(&archive_dir, &sb, &["--history-mode", "archive"]);

    for i in 0..3u8 {
        sb.send_messages(&[&[b'a', i]]);
    }
    bake_n(&sb, 4);
    wait_synced(&mut full, &sb);
    // Nothing cemented yet: nothing collected.
    assert_eq!(gc_info(&full), json!({"first_available_level": orig}));
    assert_eq!(
        state_hash(&full, &orig.to_string()),
        state_hash(&archive, &orig.to_string())
    );

    // First cementation: LCC at orig + 5.
    let lcc1 = orig + 5;
    publish_and_cement(&sb, &full, &addr, lcc1);
    wait_synced(&mut full, &sb);
    wait_synced(&mut archive, &sb);
    // The GC started: SQL rows below the LCC are gone, the context GC is under way.
    wait_until("the GC to start", Duration::from_secs(120), || {
        gc_info(&full)["first_available_level"] == json!(lcc1)
    })
    .unwrap();
    let info = gc_info(&full);
    assert_eq!(info.get("last_successful_gc_target"), None, "{info}");
    assert!(info["last_gc_level"].as_i64().unwrap() >= lcc1, "{info}");
    let (s, _) = full.get_status(&format!("/global/block/{orig}/state_hash"));
    assert_ne!(s, 200);
    assert_eq!(state_hash(&full, "head"), state_hash(&archive, "head"));

    // kill -9 during the context GC, more blocks, restart without options: the stored mode
    // (full) is kept, the GC frequency is the splitting period from L1's challenge window
    // (10 / 5 = 2), and the interrupted context GC is resumed.
    drop(full);
    sb.send_messages(&[b"after restart"]);
    full = start_node(&full_dir, &sb, &[]);
    wait_synced(&mut full, &sb);
    wait_synced(&mut archive, &sb);
    wait_gc_done(&full, lcc1);
    let log = std::fs::read_to_string(full_dir.join("test-node.log")).unwrap();
    assert!(
        log.contains(&format!(
            "Resuming the interrupted context GC (target level {lcc1})"
        )),
        "{log}"
    );
    let info = gc_info(&full);
    assert_eq!(info["first_available_level"], json!(lcc1), "{info}");
    assert_eq!(full.get("/global/block/cemented/level"), json!(lcc1));

    // Below the first available level: a clean error, not a crash.
    for l in [orig, lcc1 - 1] {
        let (s, e) = full.get_status(&format!("/global/block/{l}/state_hash"));
        assert_ne!(s, 200, "level {l} must be gone: {e}");
        assert_eq!(s, 410, "level {l}: {e}");
        assert!(
            e.to_string().contains("access_below_first_available_level"),
            "{e}"
        );
        let (s, _) = full.get_status(&format!("/global/block/{l}"));
        assert_ne!(s, 200);
    }
    // From the LCC on, everything is readable and equal to the archive node's.
    let head = sb.level();
    for l in [lcc1, lcc1 + 1, head - 1, head] {
        let b = l.to_string();
        assert_eq!(state_hash(&full, &b), state_hash(&archive, &b), "level {l}");
        assert_eq!(count(&full, &b), count(&archive, &b), "level {l}");
    }
    assert_eq!(state_hash(&full, "head"), state_hash(&archive, "head"));
    assert_eq!(count(&full, "head"), json!(hex::encode(4u32.to_le_bytes())));

    // The archive node keeps everything and never collects.
    assert_eq!(gc_info(&archive), json!({"first_available_level": orig}));
    for l in [orig, orig + 1, lcc1 - 1] {
        state_hash(&archive, &l.to_string());
        count(&archive, &l.to_string());
    }

    // Second cementation: the GC target moves to the new LCC.
    let lcc2 = lcc1 + 5;
    publish_and_cement(&sb, &full, &addr, lcc2);
    wait_synced(&mut full, &sb);
    wait_synced(&mut archive, &sb);
    wait_gc_done(&full, lcc2);
    assert_eq!(gc_info(&full)["first_available_level"], json!(lcc2));
    let (s, e) = full.get_status(&format!("/global/block/{lcc1}/state_hash"));
    assert_ne!(s, 200, "{e}");
    assert_eq!(
        state_hash(&full, &lcc2.to_string()),
        state_hash(&archive, &lcc2.to_string())
    );
    // The node keeps following after its GCs.
    sb.send_messages(&[b"last"]);
    wait_synced(&mut full, &sb);
    wait_synced(&mut archive, &sb);
    assert_eq!(state_hash(&full, "head"), state_hash(&archive, "head"));
    assert_eq!(count(&full, "head"), json!(hex::encode(5u32.to_le_bytes())));
    assert_eq!(gc_info(&archive), json!({"first_available_level": orig}));
    state_hash(&archive, &orig.to_string());
    // The GC events (Octez `calling_gc` / `gc_finished`) in the full node's log only.
    let log = std::fs::read_to_string(full_dir.join("test-node.log")).unwrap();
    for l in [lcc1, lcc2] {
        assert!(log.contains(&format!("Calling GC for level {l}")), "{log}");
        assert!(log.contains(&format!("GC finished for level {l}")), "{log}");
    }
    for line in log.lines().filter(|l| l.contains("GC")) {
        eprintln!("{line}");
    }
    let log = std::fs::read_to_string(archive_dir.join("test-node.log")).unwrap();
    assert!(!log.contains("Calling GC"), "{log}");
}

/// Runs the node until its RPC server answers, returns its `/config`, kills it.
fn config_of_run(data_dir: &Path, extra: &[&str]) -> Value {
    // No L1 at this port: the node serves RPCs and retries L1 in the background.
    let l1 = format!("http://127.0.0.1:{}", free_port().unwrap());
    start_node_with(data_dir, &l1, extra).get("/config")
}

#[test]
fn full_to_archive_is_refused_and_archive_to_full_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("node");
    init_config(&d, super::ADDR);
    // Archive first; a restart without the option keeps the stored mode.
    assert_eq!(
        config_of_run(&d, &["--history-mode", "archive"])["history-mode"],
        json!("archive")
    );
    assert_eq!(config_of_run(&d, &[])["history-mode"], json!("archive"));
    // archive → full is a conversion.
    assert_eq!(
        config_of_run(&d, &["--history-mode", "full"])["history-mode"],
        json!("full")
    );
    assert_eq!(config_of_run(&d, &[])["history-mode"], json!("full"));
    // full → archive is refused, with Octez's message.
    let (l1, port) = (free_port().unwrap(), free_port().unwrap());
    let out = super::bin()
        .args(["-E", &format!("http://127.0.0.1:{l1}"), "run", "--data-dir"])
        .arg(&d)
        .args(["--rpc-port", &port.to_string(), "--history-mode", "archive"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cannot transform a full rollup node into an archive one."),
        "{err}"
    );
    // The stored mode is unchanged.
    assert_eq!(config_of_run(&d, &[])["history-mode"], json!("full"));
}
