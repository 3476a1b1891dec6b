//! End to end: a context store damaged on disk (crates/pack-store/src/pack.rs, torn tail vs
//! corruption). Bytes flipped in the middle of the pack file of a stopped node: the node
//! refuses to start (exit code 1) with an error naming the file, the offset and the remedies,
//! and leaves the file as it was; with `--repair-context` it cuts the store there, replays
//! the lost levels from L1 and reaches the same state hashes as before the damage. Also checks
//! that the node keeps its compiled kernel under `<data-dir>/compiled-kernels/`.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use test_support::Sandbox;

use super::init_config;

/// Bound of every wait (a guard against hangs).
const BOUND: Duration = Duration::from_secs(180);

/// The state hash of each L2 level in `levels`.
fn state_hashes(node: &test_support::RollupNode, levels: &[i64]) -> Vec<serde_json::Value> {
    levels
        .iter()
        .map(|l| node.get(&format!("/global/block/{l}/state_hash")))
        .collect()
}

/// XOR `0xA5` into the bytes of `path` at each offset of `at`.
fn flip(path: &Path, at: &[u64]) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    for &o in at {
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, o).unwrap();
        f.write_all_at(&[b[0] ^ 0xA5], o).unwrap();
    }
}

#[test]
fn corrupted_context_is_refused_then_repaired_from_l1() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    for i in 0..24u8 {
        sb.send_messages(&[&[b'm', i]]);
    }
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = super::node(&node_dir, sb.endpoint())
        .log_file(node_dir.join("test-node.log"))
        .start()
        .unwrap();
    node.wait_synced(&sb, BOUND).unwrap();
    let head = sb.level();
    let levels: Vec<i64> = (orig + 1..=head).collect();
    let before = state_hashes(&node, &levels);
    // The kernel was compiled once and kept for the next start (`--data-dir`/compiled-kernels).
    let compiled: Vec<_> = std::fs::read_dir(node_dir.join("compiled-kernels"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(compiled.len(), 1, "{compiled:?}");
    let status = node.terminate(BOUND).unwrap();
    assert!(status.success(), "{status}\n{}", node.output());

    // Three flipped bytes in the middle of the pack file.
    let pack = node_dir.join("context").join("store");
    let len = std::fs::metadata(&pack).unwrap().len();
    let mid = len / 2;
    flip(&pack, &[mid, mid + 1, mid + 7]);
    let damaged = std::fs::read(&pack).unwrap();

    // The node refuses to start: exit code 1, the file, the offset, the remedies.
    let mut child = super::bin()
        .env("RUST_LOG", "info")
        .args(["-E", sb.endpoint(), "run", "--data-dir"])
        .arg(&node_dir)
        .args([
            "--rpc-port",
            &test_support::free_port().unwrap().to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > BOUND {
            let _ = child.kill();
            panic!("the node did not stop on a corrupted context store");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = super::text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&pack.display().to_string()),
        "no file name: {stderr}"
    );
    assert!(stderr.contains("corrupted at byte offset"), "{stderr}");
    assert!(stderr.contains("--repair-context"), "{stderr}");
    assert!(stderr.contains("snapshot"), "{stderr}");
    assert_eq!(
        std::fs::read(&pack).unwrap(),
        damaged,
        "the damaged file was changed"
    );

    // With the flag: cut, replayed from L1, the same state hashes. A new L1 block first, so
    // that "synced" means the node reached it, past the replayed levels (until the cut is
    // made, the store still names the old head, which is the L1 head without a new block).
    sb.bake();
    let mut node = super::node(&node_dir, sb.endpoint())
        .args(["--repair-context"])
        .log_file(node_dir.join("test-node.log"))
        .start()
        .unwrap();
    node.wait_synced(&sb, BOUND)
        .unwrap_or_else(|e| panic!("{e}\n{}", node.output()));
    assert_eq!(state_hashes(&node, &levels), before);
    let log = node.output();
    assert!(log.contains("The store was cut at offset"), "{log}");
    assert!(
        log.contains("is missing: resetting the head"),
        "nothing replayed: {log}"
    );
    // New levels are processed on top.
    sb.send_messages(&[b"after"]);
    node.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(
        node.durable("head", "/last"),
        serde_json::json!(hex::encode(b"after"))
    );
}
