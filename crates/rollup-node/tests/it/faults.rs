//! Faults that must be loud (issue 18 §3): clean shutdown in every state, unknown rollup or
//! unreachable L1, genesis mismatch (`--boot-sector-file`), values out of their domain,
//! options without effect refused, CORS.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::{ChildGuard, JsonClient, Sandbox, free_port, wait_for, wait_until};

use super::{ADDR, bin, init_config};

/// Bound of every wait.
const BOUND: Duration = Duration::from_secs(120);

/// Waits at most [`BOUND`] for `child` to exit; its exit status as printed
/// (`exit status: 1`).
fn wait_exit(child: &mut ChildGuard) -> String {
    let start = Instant::now();
    loop {
        match child.check_running() {
            Ok(()) => {}
            Err(test_support::HarnessError::Exited { status, .. }) => return status,
            Err(e) => panic!("{e}"),
        }
        assert!(
            start.elapsed() < BOUND,
            "the node did not exit within {BOUND:?}:\n{}",
            child.output_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `cmd` to completion within [`BOUND`]; (exit status as printed, output).
fn run_bounded(cmd: &mut Command) -> (String, String) {
    let mut child = ChildGuard::spawn("smart-rollup-node", cmd.stdin(Stdio::null())).unwrap();
    let status = wait_exit(&mut child);
    (status, child.output())
}

/// Sends `signal` (`TERM`, `INT`) to `child` and waits for its exit status.
fn signal(child: &mut ChildGuard, signal: &str) -> String {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal}");
    wait_exit(child)
}

const EXIT_0: &str = "exit status: 0";
const EXIT_1: &str = "exit status: 1";

/// `smart-rollup-node -E <l1> run observer for <addr> with operators <extra…>`.
fn run_cmd(l1: &str, addr: &str, data_dir: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args([
        "-E",
        l1,
        "run",
        "observer",
        "for",
        addr,
        "with",
        "operators",
    ])
    .args(["--data-dir", data_dir.to_str().unwrap()])
    .args(["--rpc-port", &free_port().unwrap().to_string()])
    .args(extra);
    c
}

fn assert_no_panic(out: &str) {
    assert!(
        !out.contains("panicked") && !out.contains("Tokio 1.x context"),
        "the node panicked:\n{out}"
    );
}

/// A node against a port where nothing listens: `/health` says why, with what to do; SIGTERM
/// (and SIGINT) while it retries stops it cleanly (exit 0, no panic), several times.
#[test]
fn sigterm_and_sigint_while_l1_is_unreachable_exit_cleanly() {
    for (round, sig) in ["TERM", "INT", "TERM"].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let l1 = format!("http://127.0.0.1:{}", free_port().unwrap());
        let port = free_port().unwrap();
        let mut cmd = bin();
        cmd.args([
            "-E",
            &l1,
            "run",
            "observer",
            "for",
            ADDR,
            "with",
            "operators",
        ])
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args([
            "--rpc-port",
            &port.to_string(),
            "--reconnection-delay",
            "0.1",
        ]);
        let mut node = ChildGuard::spawn("smart-rollup-node", &mut cmd).unwrap();
        let rpc = JsonClient::new(&format!("http://127.0.0.1:{port}"));
        if round == 0 {
            let health = wait_for("/health to report the unreachable L1", BOUND, || {
                node.check_running()?;
                Ok(rpc
                    .try_get("/health")
                    .ok()
                    .filter(|(_, h)| h["l1"]["error"].is_string() && h["degraded"] == true))
            })
            .unwrap()
            .1;
            assert_eq!(health["healthy"], false, "{health}");
            assert_eq!(health["degraded"], true, "{health}");
            let msg = health["l1"]["error"].as_str().unwrap();
            assert!(msg.contains(&l1) && msg.contains("--endpoint"), "{msg}");
            assert!(node.output().contains("--endpoint"), "{}", node.output());
        } else {
            wait_for("the RPC server", BOUND, || {
                node.check_running()?;
                Ok(rpc.try_get("/health").ok())
            })
            .unwrap();
            // Inside the L1 retries of the startup queries.
            std::thread::sleep(Duration::from_millis(700));
        }
        let status = signal(&mut node, sig);
        let out = node.output();
        assert_eq!(status, EXIT_0, "SIG{sig}: {status}\n{out}");
        assert_no_panic(&out);
        assert!(out.contains("Smart rollup node stopped"), "{out}");
    }
}

/// SIGTERM while catching up and once following a live L1: exit 0, no panic, and the next
/// start goes on from where it stopped.
#[test]
fn sigterm_while_catching_up_and_following_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let (s, v) = sb.post("/sandbox/bake", &serde_json::json!({"count": 3000}));
    assert_eq!(s, 200, "{v}");
    let l1_level = sb.level();
    // Catching up by small chunks: stopped in the middle.
    let mut node = super::node(&node_dir, sb.endpoint())
        .args(["--test-catch-up-chunk", "10"])
        .start()
        .unwrap();
    let mut level = 0;
    wait_until("the catch-up to start", BOUND, || {
        node.try_get("/global/block/head/level")
            .ok()
            .filter(|(s, _)| *s == 200)
            .and_then(|(_, v)| v.as_i64())
            .map(|l| level = l)
            .is_some()
    })
    .unwrap();
    // What this test is about: the signal arrives before the catch-up is over.
    assert!(level < l1_level, "caught up ({level}) before the signal");
    let status = node.terminate(BOUND).unwrap();
    let out = node.output();
    assert_eq!(status.code(), Some(0), "{status}\n{out}");
    assert_no_panic(&out);
    // Restarted: follows to the L1 head, then stopped while following.
    node.restart().unwrap();
    node.wait_synced(&sb, BOUND).unwrap();
    sb.send_messages(&[b"after restart"]);
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(
        node.durable("head", "/last"),
        serde_json::json!(hex::encode(b"after restart"))
    );
    let status = node.terminate(BOUND).unwrap();
    assert_eq!(status.code(), Some(0), "{status}\n{}", node.output());
    assert_no_panic(&node.output());
}

/// A rollup the L1 does not know: the node fails at once (exit 1) naming it and the endpoint.
#[test]
fn unknown_rollup_fails_at_once_naming_rollup_and_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let (status, out) = run_bounded(&mut run_cmd(
        sb.endpoint(),
        ADDR,
        &dir.path().join("node"),
        &[],
    ));
    assert_eq!(status, EXIT_1, "{out}");
    assert!(
        out.contains(ADDR) && out.contains(sb.endpoint()) && out.contains("does not know"),
        "{out}"
    );
    assert_no_panic(&out);
}

/// `--boot-sector-file`: the node uses that kernel (hex) instead of the origination's. The
/// originated kernel works; another one is Octez's fatal `Invalid_genesis_state`; a file
/// that is not hex is `Unparsable_boot_sector`.
#[test]
fn boot_sector_file_is_used_and_a_genesis_mismatch_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    sb.send_messages(&[b"one"]);
    sb.bake();

    let same = dir.path().join("same.hex");
    std::fs::write(&same, format!("{}\n", hex::encode(&kernel))).unwrap();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = super::node(&node_dir, sb.endpoint())
        .args(["--boot-sector-file", same.to_str().unwrap()])
        .start()
        .unwrap();
    node.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(
        node.durable("head", "/last"),
        serde_json::json!(hex::encode(b"one"))
    );
    assert_eq!(node.terminate(BOUND).unwrap().code(), Some(0));

    let other = dir.path().join("other.hex");
    let idle = wat::parse_str(test_support::kernels::IDLE_WAT).unwrap();
    std::fs::write(&other, hex::encode(&idle)).unwrap();
    let (status, out) = run_bounded(&mut run_cmd(
        sb.endpoint(),
        &addr,
        &dir.path().join("other-node"),
        &["--boot-sector-file", other.to_str().unwrap()],
    ));
    assert_eq!(status, EXIT_1, "{out}");
    assert!(
        out.contains("Genesis commitment computed") && out.contains("--boot-sector-file"),
        "{out}"
    );
    assert_no_panic(&out);

    let garbage = dir.path().join("garbage.hex");
    std::fs::write(&garbage, "not hex").unwrap();
    let (status, out) = run_bounded(&mut run_cmd(
        sb.endpoint(),
        &addr,
        &dir.path().join("garbage-node"),
        &["--boot-sector-file", garbage.to_str().unwrap()],
    ));
    assert_eq!(status, EXIT_1, "{out}");
    assert!(out.contains("is unparsable"), "{out}");
}

/// Values out of their domain are refused at parse time, naming the option or field, and
/// never panic.
#[test]
fn bad_values_are_refused_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let l1 = "http://127.0.0.1:1";
    for (extra, name) in [
        (&["--reconnection-delay", "NaN"][..], "--reconnection-delay"),
        (&["--reconnection-delay", "-1"], "--reconnection-delay"),
        (&["--reconnection-delay", "inf"], "--reconnection-delay"),
        (
            &["--pre-images-endpoint", "ht!tp://::nope"],
            "--pre-images-endpoint",
        ),
        (
            &["--pre-images-endpoint", "ftp://host/x"],
            "--pre-images-endpoint",
        ),
        (&["--gc-frequency", "-1"], "--gc-frequency"),
        (&["--index-buffer-size", "-5"], "--index-buffer-size"),
        (&["--dal-node", "::"], "--dal-node"),
    ] {
        let (status, out) = run_bounded(&mut run_cmd(l1, ADDR, &d, extra));
        assert_eq!(status, EXIT_1, "{extra:?}: {out}");
        assert!(out.contains(name), "{extra:?}: {out}");
        assert_no_panic(&out);
    }
    // config.json fields.
    for (field, value) in [
        ("l1_rpc_timeout", "-3"),
        ("loop_retry_delay", "0"),
        ("reconnection_delay", "-0.5"),
        ("l1_blocks_cache_size", "-1"),
        ("prefetch_blocks", "0"),
        ("pre-images-endpoint", "\"ht!tp://::nope\""),
    ] {
        let cd = dir.path().join(format!("cfg-{field}"));
        std::fs::create_dir_all(&cd).unwrap();
        std::fs::write(
            cd.join("config.json"),
            format!(
                r#"{{"smart-rollup-address": "{ADDR}", "mode": "observer", "{field}": {value}}}"#
            ),
        )
        .unwrap();
        let mut cmd = bin();
        cmd.args(["-E", l1, "run", "--data-dir", cd.to_str().unwrap()]);
        let (status, out) = run_bounded(&mut cmd);
        assert_eq!(status, EXIT_1, "{field}: {out}");
        assert!(
            out.contains(field) && out.contains("config.json"),
            "{field}: {out}"
        );
        assert_no_panic(&out);
    }
    // A data directory that is a file.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    for cmd in ["init", "run"] {
        let mut c = bin();
        c.args([cmd, "observer"]);
        if cmd == "init" {
            c.arg("config");
        }
        c.args([
            "for",
            ADDR,
            "with",
            "operators",
            "--data-dir",
            file.to_str().unwrap(),
        ]);
        let (status, out) = run_bounded(&mut c);
        assert_eq!(status, EXIT_1, "{cmd}: {out}");
        assert!(
            out.contains("--data-dir") && out.contains("is a file, not a directory"),
            "{cmd}: {out}"
        );
    }
}

/// Options that this node parses but does not implement refuse to start, naming the option.
#[test]
fn options_without_effect_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let l1 = "http://127.0.0.1:1";
    // `--loser-mode` is implemented (refutation tests); a malformed one is refused.
    let (status, out) = run_bounded(&mut run_cmd(l1, ADDR, &d, &["--loser-mode", "1 2"]));
    assert_eq!(status, EXIT_1, "{out}");
    assert!(out.contains("Invalid syntax for failure points"), "{out}");
    for (extra, name) in [
        (
            &["--unsafe-disable-wasm-kernel-checks"][..],
            "--unsafe-disable-wasm-kernel-checks",
        ),
        (&["--slow-vm-fallback"], "--slow-vm-fallback"),
        (&["--l1-monitor-finalized"], "--l1-monitor-finalized"),
        (&["--commit-on", "commitment"], "--commit-on"),
        (&["--profiling", "true"], "--profiling"),
    ] {
        let (status, out) = run_bounded(&mut run_cmd(l1, ADDR, &d, extra));
        assert_eq!(status, EXIT_1, "{extra:?}: {out}");
        assert!(
            out.contains(name) && out.contains("not supported yet"),
            "{extra:?}: {out}"
        );
    }
    for global in [&["-A", "127.0.0.1"][..], &["-P", "8732"], &["-t"], &["-l"]] {
        let mut c = bin();
        c.args(global)
            .args(["run", "observer", "for", ADDR, "with", "operators"])
            .args(["--data-dir", d.to_str().unwrap()]);
        let (status, out) = run_bounded(&mut c);
        assert_eq!(status, EXIT_1, "{global:?}: {out}");
        assert!(
            out.contains(global[0]) && out.contains("not supported yet"),
            "{global:?}: {out}"
        );
    }
    // A config.json field.
    {
        let (field, value, name) = (
            "gc-parameters",
            r#"{"context_splitting_period": 7}"#,
            "context_splitting_period",
        );
        let cd = dir.path().join(format!("cfg-{field}"));
        std::fs::create_dir_all(&cd).unwrap();
        std::fs::write(
            cd.join("config.json"),
            format!(
                r#"{{"smart-rollup-address": "{ADDR}", "mode": "observer", "{field}": {value}}}"#
            ),
        )
        .unwrap();
        let mut cmd = bin();
        cmd.args(["-E", l1, "run", "--data-dir", cd.to_str().unwrap()]);
        let (status, out) = run_bounded(&mut cmd);
        assert_eq!(status, EXIT_1, "{field}: {out}");
        assert!(
            out.contains(name) && out.contains("not supported yet"),
            "{field}: {out}"
        );
    }
}

/// One raw HTTP/1.1 exchange; the response head (status line and headers), lower-cased.
fn raw_http(port: u16, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_lowercase();
    text.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `--cors-origins` / `--cors-headers`: preflight and simple requests get the CORS headers
/// for a listed origin, none for another one.
#[test]
fn cors_headers_follow_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let l1 = format!("http://127.0.0.1:{}", free_port().unwrap());
    let port = free_port().unwrap();
    let mut cmd = bin();
    cmd.args([
        "-E",
        &l1,
        "run",
        "observer",
        "for",
        ADDR,
        "with",
        "operators",
    ])
    .args(["--data-dir", dir.path().to_str().unwrap()])
    .args(["--rpc-port", &port.to_string()])
    .args(["--cors-origins", "http://app.example,http://other.example"])
    .args(["--cors-headers", "content-type,x-custom"]);
    let mut node = ChildGuard::spawn("smart-rollup-node", &mut cmd).unwrap();
    let rpc = JsonClient::new(&format!("http://127.0.0.1:{port}"));
    wait_until("the RPC server", BOUND, || {
        node.check_running().is_ok() && rpc.try_get("/health").is_ok()
    })
    .unwrap();
    let pre = raw_http(
        port,
        "OPTIONS /health HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n\
         Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-custom\r\n\
         Connection: close\r\n\r\n",
    );
    assert!(pre.starts_with("http/1.1 200"), "{pre}");
    assert!(
        pre.contains("access-control-allow-origin: http://app.example"),
        "{pre}"
    );
    assert!(
        pre.contains("access-control-allow-headers: content-type,x-custom"),
        "{pre}"
    );
    assert!(pre.contains("access-control-allow-methods:"), "{pre}");
    let get = raw_http(
        port,
        "GET /health HTTP/1.1\r\nHost: x\r\nOrigin: http://other.example\r\nConnection: close\r\n\r\n",
    );
    assert!(get.starts_with("http/1.1 200"), "{get}");
    assert!(
        get.contains("access-control-allow-origin: http://other.example"),
        "{get}"
    );
    let denied = raw_http(
        port,
        "GET /health HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n",
    );
    assert!(!denied.contains("access-control-allow-origin"), "{denied}");
    let status = node.terminate(BOUND).unwrap();
    assert_eq!(status.code(), Some(0), "{}", node.output());
}

/// A loopback HTTP proxy in front of the sandbox that serves every rollup inbox after the
/// first one (the genesis inbox) with its history index increased by one: an L1 whose inbox
/// differs from the one the node rebuilds from the blocks. Returns its endpoint.
fn tampering_proxy(upstream: u16) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let served = served.clone();
            std::thread::spawn(move || proxy_connection(client, upstream, &served));
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// Reads up to the end of an HTTP head; `None` at end of stream.
fn read_head(s: &mut std::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn proxy_connection(
    mut client: std::net::TcpStream,
    upstream: u16,
    served: &std::sync::atomic::AtomicUsize,
) {
    use std::sync::atomic::Ordering;
    while let Some(head) = read_head(&mut client) {
        let path = head.split(' ').nth(1).unwrap_or_default().to_string();
        let Ok(mut up) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        let request: String = head
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
            .map(|l| format!("{l}\r\n"))
            .collect();
        if path.starts_with("/monitor/") {
            // Streamed: copied both ways as is.
            let _ = up.write_all(format!("{request}\r\n").as_bytes());
            let mut up2 = up.try_clone().unwrap();
            let mut client2 = client.try_clone().unwrap();
            std::thread::spawn(move || std::io::copy(&mut client2, &mut up2));
            let _ = std::io::copy(&mut up, &mut client);
            return;
        }
        let _ = up.write_all(format!("{request}Connection: close\r\n\r\n").as_bytes());
        let mut answer = Vec::new();
        let _ = up.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let Some((resp_head, raw_body)) = text.split_once("\r\n\r\n") else {
            return;
        };
        let chunked = resp_head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let mut body = if chunked {
            let mut out = String::new();
            let mut rest = raw_body;
            while let Some((size, tail)) = rest.split_once("\r\n") {
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                if n == 0 {
                    break;
                }
                out.push_str(&tail[..n]);
                rest = &tail[n + 2..];
            }
            out
        } else {
            raw_body.to_string()
        };
        if path.ends_with("/context/smart_rollups/all/inbox")
            && served.fetch_add(1, Ordering::SeqCst) > 0
            && let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&body)
        {
            let index: u64 = v["old_levels_messages"]["index"]
                .as_str()
                .and_then(|i| i.parse().ok())
                .unwrap();
            v["old_levels_messages"]["index"] = serde_json::json!((index + 1).to_string());
            body = v.to_string();
        }
        let headers: String = resp_head
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                !l.starts_with("content-length:")
                    && !l.starts_with("transfer-encoding:")
                    && !l.starts_with("connection:")
            })
            .map(|l| format!("{l}\r\n"))
            .collect();
        let out = format!("{headers}Content-Length: {}\r\n\r\n{body}", body.len());
        if client.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

/// The node's inbox self-check: an L1 whose rollup inbox differs from the one rebuilt from
/// its blocks stops the node (exit 1) with Octez's `inconsistent inbox` error.
#[test]
fn an_inbox_that_differs_from_the_l1s_stops_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    sb.send_messages(&[b"one"]);
    sb.bake();
    // Straight to the L1 first: the check passes.
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = super::node(&node_dir, sb.endpoint()).start().unwrap();
    node.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(node.terminate(BOUND).unwrap().code(), Some(0));

    let proxy = tampering_proxy(sb.port());
    let (status, out) = run_bounded(&mut run_cmd(&proxy, &addr, &dir.path().join("other"), &[]));
    assert_eq!(status, EXIT_1, "{out}");
    assert!(
        out.contains("inconsistent inbox") && out.contains("should be equal to the L1's"),
        "{out}"
    );
    assert_no_panic(&out);
}

/// SIGTERM while the context GC runs in the background (held 3 s by the test knob): the node
/// waits for it, then exits 0; the GC is recorded as done.
#[test]
fn sigterm_during_the_context_gc_waits_for_it_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = super::node(&node_dir, sb.endpoint())
        .args([
            "--history-mode",
            "full",
            "--gc-frequency",
            "1",
            "--test-gc-delay-ms",
            "3000",
        ])
        .start()
        .unwrap();
    for _ in 0..6 {
        sb.bake();
    }
    node.wait_synced(&sb, BOUND).unwrap();
    super::history::publish_and_cement(&sb, &node, &addr, orig + 5);
    node.wait_synced(&sb, BOUND).unwrap();
    wait_until("the GC to start", BOUND, || {
        node.get("/local/gc_info")["last_gc_level"].is_number()
    })
    .unwrap();
    let status = node.terminate(BOUND).unwrap();
    let out = node.output();
    assert_eq!(status.code(), Some(0), "{status}\n{out}");
    assert_no_panic(&out);
    // The GC (slowed down to 3 s) was still running at the signal and finished before the
    // node stopped: it was waited for.
    let signal = out.find("Received SIGTERM").expect("no SIGTERM in the log");
    let finished = out[signal..].find("GC finished for level");
    let stopped = out[signal..].find("Smart rollup node stopped");
    assert!(
        matches!((finished, stopped), (Some(f), Some(s)) if f < s),
        "the node did not wait for the context GC:\n{out}"
    );
    node.restart().unwrap();
    let info = node.get("/local/gc_info");
    assert!(info["last_successful_gc_target"].is_number(), "{info}");
}
