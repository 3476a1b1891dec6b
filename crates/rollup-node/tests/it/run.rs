//! `run`: the daemon against an unreachable L1, RPCs over HTTP, SIGTERM.

use std::time::Duration;

use test_support::{ChildGuard, JsonClient, free_port, wait_for};

use super::{ADDR, bin};

/// Bound of the waits (start, exit after SIGTERM).
const BOUND: Duration = Duration::from_secs(60);

/// A node run with `observer for ADDR with operators` on a free port, no L1 there.
struct Node {
    proc: ChildGuard,
    rpc: JsonClient,
    port: u16,
}

fn start(data_dir: &str) -> Node {
    let port = free_port().unwrap();
    let l1 = format!("http://127.0.0.1:{}", free_port().unwrap());
    let mut proc = ChildGuard::spawn(
        "smart-rollup-node",
        bin()
            .args([
                "-E",
                &l1,
                "run",
                "observer",
                "for",
                ADDR,
                "with",
                "operators",
            ])
            .args(["--data-dir", data_dir, "--rpc-port", &port.to_string()]),
    )
    .unwrap();
    let rpc = JsonClient::new(&format!("http://127.0.0.1:{port}"));
    wait_for("the node's RPC server", BOUND, || {
        proc.check_running()?;
        Ok(rpc.try_get("/health").ok())
    })
    .unwrap();
    Node { proc, rpc, port }
}

/// GET returning (status, body as JSON).
fn get(node: &Node, path: &str) -> Option<(u16, serde_json::Value)> {
    node.rpc.try_get(path).ok()
}

fn sigterm(node: &mut Node) -> Option<i32> {
    node.proc.terminate(BOUND).unwrap().code()
}

#[test]
fn observer_serves_rpcs_with_l1_down_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let mut node = start(d.to_str().unwrap());
    let port = node.port;

    let (st, health) = get(&node, "/health").unwrap();
    assert_eq!(st, 200);
    assert_eq!(health["healthy"], false);
    // Degraded (with `l1.error`) once the first startup queries failed: faults.rs.
    assert!(health["degraded"].is_boolean(), "{health}");
    assert_eq!(health["l1"]["connection"], "disconnected");
    assert_eq!(health["l1"]["blocks_late"], 0);
    assert_eq!(health["active_workers"], serde_json::json!([]));

    assert_eq!(
        get(&node, "/global/smart_rollup_address").unwrap(),
        (200, ADDR.into())
    );
    assert_eq!(
        get(&node, "/global/tezos_head").unwrap(),
        (200, serde_json::Value::Null)
    );
    assert_eq!(
        get(&node, "/global/tezos_level").unwrap(),
        (200, serde_json::Value::Null)
    );
    let (st, v) = get(&node, "/version").unwrap();
    assert_eq!(st, 200);
    assert_eq!(v["store_version"], "v5_sqlite");
    let (st, c) = get(&node, "/config").unwrap();
    assert_eq!(st, 200);
    assert_eq!(c["mode"], "observer");
    assert_eq!(c["history-mode"], "full");
    assert_eq!(c["rpc-port"], port);

    let (st, e) = get(&node, "/no/such/path").unwrap();
    assert_eq!(st, 404);
    assert!(e.is_array(), "{e}");
    let (st, e) = get(&node, "/global/block/bogus/hash").unwrap();
    assert_eq!(st, 400);
    assert!(
        e[0]["error"]["message"].as_str().unwrap().contains("bogus"),
        "{e}"
    );
    // No head yet: the block is unknown (404 with Octez's `failure` trace).
    let (st, e) = get(&node, "/global/block/head/hash").unwrap();
    assert_eq!(st, 404, "{e}");
    assert_eq!(e[0]["id"], "failure", "{e}");
    let (st, _) = get(&node, "/global/block/head/nonsense").unwrap();
    assert_eq!(st, 404);

    assert!(d.join("store.sqlite").exists());
    assert!(d.join("context").is_dir());
    assert!(d.join("wasm_2_0_0").is_dir());

    assert_eq!(sigterm(&mut node), Some(0));
}

#[test]
fn run_uses_config_file_and_cli_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = super::run(&[
        "init",
        "observer",
        "config",
        "for",
        ADDR,
        "with",
        "operators",
        "--data-dir",
        d,
        "--rpc-port",
        "1",
    ]);
    assert!(o.status.success());
    let l1 = format!("http://127.0.0.1:{}", free_port().unwrap());
    let mut node = super::node(dir.path(), &l1).start().unwrap();
    assert_eq!(
        node.try_get("/global/smart_rollup_address").unwrap().1,
        ADDR
    );
    assert_eq!(node.terminate(BOUND).unwrap().code(), Some(0));
}

#[test]
fn malformed_config_and_unsupported_mode_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"smart-rollup-address": "{ADDR}", "mode": "observer", "rpc-port": "x"}}"#),
    )
    .unwrap();
    let o = super::run(&["run", "--data-dir", d]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("config.json") && err.contains("rpc-port"),
        "{err}"
    );

    let o = super::run(&[
        "run",
        "accuser",
        "for",
        ADDR,
        "with",
        "operators",
        super::TZ1,
        "--data-dir",
        &format!("{d}/other"),
    ]);
    // An operator mode needs its keys in the wallet: the error names the key and says how to
    // import it.
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("operating operator key {}", super::TZ1))
            && err.contains("import secret key"),
        "{err}"
    );
}
