//! `run`: the daemon against an unreachable L1, RPCs over HTTP, SIGTERM.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{ADDR, bin};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET returning (status, body as JSON).
fn get(port: u16, path: &str) -> Option<(u16, serde_json::Value)> {
    let mut r = agent()
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .ok()?;
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().ok()?;
    Some((
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    ))
}

struct Node {
    child: Child,
    port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &str) -> Node {
    let port = free_port();
    let l1 = format!("http://127.0.0.1:{}", free_port());
    let child = bin()
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
        .args(["--data-dir", data_dir, "--rpc-port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut node = Node { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(port, "/health").is_none() {
        if let Ok(Some(st)) = node.child.try_wait() {
            panic!("node exited early: {st}");
        }
        assert!(Instant::now() < deadline, "node did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    node
}

fn sigterm(node: &mut Node) -> Option<i32> {
    let st = std::process::Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    node.child.wait().unwrap().code()
}

#[test]
fn observer_serves_rpcs_with_l1_down_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let mut node = start(d.to_str().unwrap());
    let port = node.port;

    let (st, health) = get(port, "/health").unwrap();
    assert_eq!(st, 200);
    assert_eq!(health["healthy"], false);
    assert_eq!(health["degraded"], false);
    assert_eq!(health["l1"]["connection"], "disconnected");
    assert_eq!(health["l1"]["blocks_late"], 0);
    assert_eq!(health["active_workers"], serde_json::json!([]));

    assert_eq!(
        get(port, "/global/smart_rollup_address").unwrap(),
        (200, ADDR.into())
    );
    assert_eq!(
        get(port, "/global/tezos_head").unwrap(),
        (200, serde_json::Value::Null)
    );
    assert_eq!(
        get(port, "/global/tezos_level").unwrap(),
        (200, serde_json::Value::Null)
    );
    let (st, v) = get(port, "/version").unwrap();
    assert_eq!(st, 200);
    assert_eq!(v["store_version"], "v5_sqlite");
    let (st, c) = get(port, "/config").unwrap();
    assert_eq!(st, 200);
    assert_eq!(c["mode"], "observer");
    assert_eq!(c["history-mode"], "full");
    assert_eq!(c["rpc-port"], port);

    let (st, e) = get(port, "/no/such/path").unwrap();
    assert_eq!(st, 404);
    assert!(e.is_array(), "{e}");
    let (st, e) = get(port, "/global/block/bogus/hash").unwrap();
    assert_eq!(st, 400);
    assert!(e[0]["msg"].as_str().unwrap().contains("bogus"), "{e}");
    let (st, e) = get(port, "/global/block/head/hash").unwrap();
    assert_eq!(st, 500);
    assert!(e.is_array(), "{e}");
    let (st, _) = get(port, "/global/block/head/nonsense").unwrap();
    assert!(st == 404 || st == 500, "{st}");

    assert!(d.join("store.sqlite").exists());
    assert!(d.join("context").is_dir());
    assert!(d.join("wasm_2_0_0").is_dir());

    assert_eq!(sigterm(&mut node), Some(0));
}

#[test]
fn run_uses_config_file_and_cli_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let port = free_port();
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
    let child = bin()
        .args([
            "-E",
            &format!("http://127.0.0.1:{}", free_port()),
            "run",
            "--data-dir",
            d,
        ])
        .args(["--rpc-port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut node = Node { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(port, "/health").is_none() {
        assert!(
            node.child.try_wait().unwrap().is_none(),
            "node exited early"
        );
        assert!(Instant::now() < deadline, "node did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(port, "/global/smart_rollup_address").unwrap().1, ADDR);
    assert_eq!(sigterm(&mut node), Some(0));
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
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not yet supported"));
}
