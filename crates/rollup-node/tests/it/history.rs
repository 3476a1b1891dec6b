//! History modes and GC end to end (octez-rollup-node.md §5.4, `/local/gc_info` §4.3): a
//! real `smart-rollup-sandbox` (test constants: commitment period 5, challenge window 10), a
//! full node (`--gc-frequency 1`) and an archive node following the same rollup while
//! commitments are published and cemented; kill -9 + restart of the full node; the
//! full → archive refusal and the archive → full conversion.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::accounts::bootstrap_accounts;
use sandbox::ops::{ManagerOperation, Operation, OperationContent, PvmKind};
use serde_json::{Value, json};
use tezos_types::{BinMicheline, BlockHash, Micheline, Mutez};

use super::bin;

/// Counts external messages into `/count` (u32 LE).
const KERNEL_WAT: &str = r#"
(module
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_read" (func $store_read (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/count")
  (func (export "kernel_run")
    (local $n i32)
    (i32.store (i32.const 64) (i32.const 0))
    (drop (call $store_read (i32.const 16) (i32.const 6) (i32.const 0) (i32.const 64) (i32.const 4)))
    (block $done
      (loop $next
        (local.set $n (call $read_input (i32.const 0) (i32.const 128) (i32.const 4096)))
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (if (i32.eq (i32.load8_u (i32.const 128)) (i32.const 1))
          (then (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))))
        (br $next)))
    (drop (call $store_write (i32.const 16) (i32.const 6) (i32.const 0) (i32.const 64) (i32.const 4)))))
"#;

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
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn http_get(port: u16, path: &str) -> Option<(u16, Value)> {
    let mut r = agent()
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .ok()?;
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().ok()?;
    Some((
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    ))
}

fn http_post(port: u16, path: &str, body: &Value) -> (u16, Value) {
    let mut r = agent()
        .post(&format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn get_ok(port: u16, path: &str) -> Value {
    let (s, v) = http_get(port, path).unwrap_or_else(|| panic!("GET {path} failed"));
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

/// Kills the child (SIGKILL) on drop.
struct Proc {
    child: Child,
    port: u16,
    /// Log file (nodes).
    log: Option<PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sandbox_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SMART_ROLLUP_SANDBOX") {
        return PathBuf::from(p);
    }
    let node = PathBuf::from(env!("CARGO_BIN_EXE_smart-rollup-node"));
    let p = node.with_file_name("smart-rollup-sandbox");
    if !p.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "sandbox", "--bin", "smart-rollup-sandbox"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build -p sandbox");
        assert!(st.success(), "building the sandbox failed");
    }
    assert!(p.exists(), "no sandbox binary at {}", p.display());
    p
}

fn wait_until(what: &str, secs: u64, f: impl FnMut() -> bool) {
    wait_until_log(what, secs, None, f);
}

/// Waits for `f`; on timeout, fails with the tail of `log`.
fn wait_until_log(what: &str, secs: u64, log: Option<&Path>, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        if Instant::now() >= deadline {
            let text = log
                .and_then(|l| std::fs::read_to_string(l).ok())
                .unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "timed out waiting for {what}; log tail:\n{}",
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Sandbox(Proc);

impl Sandbox {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let child = Command::new(sandbox_bin())
            .args(["run", "--data-dir"])
            .arg(dir)
            .args(["--rpc-addr", &format!("127.0.0.1:{port}")])
            .args(["--test-constants", "--block-time", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Sandbox(Proc {
            child,
            port,
            log: None,
        });
        wait_until("the sandbox", 60, || {
            http_get(port, "/chains/main/chain_id").is_some()
        });
        s
    }

    fn port(&self) -> u16 {
        self.0.port
    }

    fn get(&self, path: &str) -> Value {
        get_ok(self.port(), path)
    }

    fn bake(&self) {
        let (s, v) = http_post(self.port(), "/sandbox/bake", &Value::Null);
        assert_eq!(s, 200, "{v}");
    }

    fn bake_n(&self, n: usize) {
        for _ in 0..n {
            self.bake();
        }
    }

    fn level(&self) -> i64 {
        self.get("/chains/main/blocks/head/header/shell")["level"]
            .as_i64()
            .unwrap()
    }

    fn inject(&self, who: usize, contents: Vec<OperationContent>) {
        let acc = &bootstrap_accounts()[who];
        let revealed = !self
            .get(&format!(
                "/chains/main/blocks/head/context/contracts/{}/manager_key",
                acc.pkh
            ))
            .is_null();
        let mut counter: u64 = self
            .get(&format!(
                "/chains/main/blocks/head/context/contracts/{}/counter",
                acc.pkh
            ))
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut all = vec![];
        if !revealed {
            all.push(OperationContent::Reveal {
                public_key: acc.secret_key.public_key(),
                proof: None,
            });
        }
        all.extend(contents);
        let contents = all
            .into_iter()
            .map(|content| {
                counter += 1;
                ManagerOperation {
                    source: acc.pkh,
                    fee: Mutez(1000),
                    counter,
                    gas_limit: 100_000,
                    storage_limit: 60_000,
                    content,
                }
            })
            .collect();
        let branch: BlockHash = self
            .get("/chains/main/blocks/head~1/hash")
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut op = Operation {
            branch,
            contents,
            signature: None,
        };
        op.signature = Some(acc.secret_key.sign_operation(&op.unsigned_bytes()));
        let (s, v) = http_post(
            self.port(),
            "/injection/operation",
            &json!(hex::encode(op.signed_bytes())),
        );
        assert_eq!(s, 200, "injection: {v}");
    }

    fn originate(&self, kernel: &[u8]) -> String {
        let ty = Micheline::parse_text("bytes").unwrap();
        self.inject(
            1,
            vec![OperationContent::SmartRollupOriginate {
                pvm_kind: PvmKind::Wasm,
                kernel: kernel.to_vec(),
                parameters_ty: BinMicheline::from_micheline(&ty),
                whitelist: None,
            }],
        );
        self.bake();
        let block = self.get("/chains/main/blocks/head?metadata=always");
        for op in block["operations"][3].as_array().unwrap() {
            for c in op["contents"].as_array().unwrap() {
                if c["kind"] == "smart_rollup_originate" {
                    let r = &c["metadata"]["operation_result"];
                    assert_eq!(r["status"], "applied", "{r}");
                    return r["address"].as_str().unwrap().to_string();
                }
            }
        }
        panic!("no origination in {block}");
    }

    fn send_messages(&self, msgs: &[&[u8]]) {
        self.inject(
            2,
            vec![OperationContent::SmartRollupAddMessages {
                message: msgs.iter().map(|m| m.to_vec()).collect(),
            }],
        );
        self.bake();
    }

    /// L1's LCC level of `addr`.
    fn lcc_level(&self, addr: &str) -> i64 {
        self.get(&format!(
            "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{addr}/last_cemented_commitment_hash_with_level"
        ))["level"]
            .as_i64()
            .unwrap()
    }
}

fn init_config(data_dir: &Path, addr: &str) {
    std::fs::create_dir_all(data_dir).unwrap();
    let o = super::run(&[
        "init",
        "observer",
        "config",
        "for",
        addr,
        "with",
        "operators",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{:?}", super::text(&o));
}

fn node_command(data_dir: &Path, l1_port: u16, rpc_port: u16, extra: &[&str]) -> Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("test-node.log"))
        .unwrap();
    let mut cmd = bin();
    cmd.args(["-E", &format!("http://127.0.0.1:{l1_port}"), "run"])
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(["--rpc-port", &rpc_port.to_string()])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    cmd
}

fn start_node(data_dir: &Path, l1_port: u16, extra: &[&str]) -> Proc {
    start_node_env(data_dir, l1_port, extra, &[])
}

fn start_node_env(data_dir: &Path, l1_port: u16, extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let port = free_port();
    let child = node_command(data_dir, l1_port, port, extra)
        .envs(env.iter().copied())
        .spawn()
        .unwrap();
    let mut p = Proc {
        child,
        port,
        log: Some(data_dir.join("test-node.log")),
    };
    wait_until("the node's RPC server", 60, || {
        if let Ok(Some(st)) = p.child.try_wait() {
            let log = std::fs::read_to_string(data_dir.join("test-node.log")).unwrap_or_default();
            panic!("node exited early: {st}\n{log}");
        }
        http_get(port, "/health").is_some()
    });
    p
}

/// Waits until the node's L2 head is the L1 head.
fn wait_synced(node: &Proc, sb: &Sandbox) {
    let head = sb.get("/chains/main/blocks/head/hash");
    wait_until_log(
        "the node to reach the L1 head",
        180,
        node.log.as_deref(),
        || {
            let h = http_get(node.port, "/health").map(|(_, v)| v);
            let t = http_get(node.port, "/global/tezos_head").map(|(_, v)| v);
            matches!((h, t), (Some(h), Some(t))
            if h["healthy"] == true && h["l1"]["blocks_late"] == 0 && t == head)
        },
    );
}

fn gc_info(node: &Proc) -> Value {
    get_ok(node.port, "/local/gc_info")
}

/// Waits until the full node's context GC for `target` completed.
fn wait_gc_done(node: &Proc, target: i64) {
    wait_until_log(
        &format!("the GC for level {target}"),
        120,
        node.log.as_deref(),
        || gc_info(node)["last_successful_gc_target"] == json!(target),
    );
}

/// Publishes the node's commitment of `inbox_level` (from bootstrap3), bakes past the
/// challenge window (10), cements, and bakes the cementation.
fn publish_and_cement(sb: &Sandbox, node: &Proc, addr: &str, inbox_level: i64) {
    let c = get_ok(node.port, &format!("/global/block/{inbox_level}"));
    let hash = c["commitment_hash"]
        .as_str()
        .unwrap_or_else(|| panic!("no commitment at {inbox_level}: {c}"))
        .to_string();
    let local = get_ok(node.port, &format!("/local/commitments/{hash}"));
    let commitment: tezos_types::Commitment =
        serde_json::from_value(local["commitment"].clone()).unwrap();
    sb.inject(
        3,
        vec![OperationContent::SmartRollupPublish {
            rollup: addr.parse().unwrap(),
            commitment,
        }],
    );
    sb.bake();
    sb.bake_n(11);
    sb.inject(
        3,
        vec![OperationContent::SmartRollupCement {
            rollup: addr.parse().unwrap(),
        }],
    );
    sb.bake();
    assert_eq!(
        sb.lcc_level(addr),
        inbox_level,
        "L1 cemented the commitment"
    );
}

fn state_hash(node: &Proc, block: &str) -> Value {
    get_ok(node.port, &format!("/global/block/{block}/state_hash"))
}

fn count(node: &Proc, block: &str) -> Value {
    get_ok(
        node.port,
        &format!("/global/block/{block}/durable/wasm_2_0_0/value?key=/count"),
    )
}

#[test]
fn full_mode_collects_below_the_lcc_and_archive_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox"));
    let kernel = wat::parse_str(KERNEL_WAT).unwrap();
    let addr = sb.originate(&kernel);
    let orig = sb.level();
    let full_dir = dir.path().join("full");
    let archive_dir = dir.path().join("archive");
    init_config(&full_dir, &addr);
    init_config(&archive_dir, &addr);
    // The first context GC is held back an hour: the node is killed during it.
    let mut full = start_node_env(
        &full_dir,
        sb.port(),
        &["--history-mode", "full", "--gc-frequency", "1"],
        &[("SMART_ROLLUP_NODE_GC_TEST_DELAY_MS", "3600000")],
    );
    let archive = start_node(&archive_dir, sb.port(), &["--history-mode", "archive"]);

    for i in 0..3u8 {
        sb.send_messages(&[&[b'a', i]]);
    }
    sb.bake_n(4);
    wait_synced(&full, &sb);
    // Nothing cemented yet: nothing collected.
    assert_eq!(gc_info(&full), json!({"first_available_level": orig}));
    assert_eq!(
        state_hash(&full, &orig.to_string()),
        state_hash(&archive, &orig.to_string())
    );

    // First cementation: LCC at orig + 5.
    let lcc1 = orig + 5;
    publish_and_cement(&sb, &full, &addr, lcc1);
    wait_synced(&full, &sb);
    wait_synced(&archive, &sb);
    // The GC started: SQL rows below the LCC are gone, the context GC is under way.
    wait_until("the GC to start", 120, || {
        gc_info(&full)["first_available_level"] == json!(lcc1)
    });
    let info = gc_info(&full);
    assert_eq!(info.get("last_successful_gc_target"), None, "{info}");
    assert!(info["last_gc_level"].as_i64().unwrap() >= lcc1, "{info}");
    let (s, _) = http_get(full.port, &format!("/global/block/{orig}/state_hash")).unwrap();
    assert_ne!(s, 200);
    assert_eq!(state_hash(&full, "head"), state_hash(&archive, "head"));

    // kill -9 during the context GC, more blocks, restart without options: the stored mode
    // (full) is kept, the GC frequency is the splitting period from L1's challenge window
    // (10 / 5 = 2), and the interrupted context GC is resumed.
    drop(full);
    sb.send_messages(&[b"after restart"]);
    full = start_node(&full_dir, sb.port(), &[]);
    wait_synced(&full, &sb);
    wait_synced(&archive, &sb);
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
    assert_eq!(
        get_ok(full.port, "/global/block/cemented/level"),
        json!(lcc1)
    );

    // Below the first available level: a clean error, not a crash.
    for l in [orig, lcc1 - 1] {
        let (s, e) = http_get(full.port, &format!("/global/block/{l}/state_hash")).unwrap();
        assert_ne!(s, 200, "level {l} must be gone: {e}");
        assert!(e.to_string().contains("block_not_found"), "{e}");
        let (s, _) = http_get(full.port, &format!("/global/block/{l}")).unwrap();
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
    wait_synced(&full, &sb);
    wait_synced(&archive, &sb);
    wait_gc_done(&full, lcc2);
    assert_eq!(gc_info(&full)["first_available_level"], json!(lcc2));
    let (s, e) = http_get(full.port, &format!("/global/block/{lcc1}/state_hash")).unwrap();
    assert_ne!(s, 200, "{e}");
    assert_eq!(
        state_hash(&full, &lcc2.to_string()),
        state_hash(&archive, &lcc2.to_string())
    );
    // The node keeps following after its GCs.
    sb.send_messages(&[b"last"]);
    wait_synced(&full, &sb);
    wait_synced(&archive, &sb);
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
    let p = start_node(data_dir, free_port(), extra);
    get_ok(p.port, "/config")
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
    let port = free_port();
    let out = node_command(&d, free_port(), port, &["--history-mode", "archive"])
        .stderr(Stdio::piped())
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
