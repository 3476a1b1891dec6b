//! End to end: a real `smart-rollup-sandbox` (manual baking), a rollup originated with a small
//! WAT kernel, and the `smart-rollup-node` binary in observer mode following it: inbox
//! processing, durable RPCs, commitments, kill -9 + restart, L1 reorganisation.
//!
//! The sandbox binary is `$SMART_ROLLUP_SANDBOX`, or `smart-rollup-sandbox` next to the node's
//! binary (built with `cargo build -p sandbox` when missing).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::accounts::bootstrap_accounts;
use sandbox::ops::{ManagerOperation, Operation, OperationContent, PvmKind};
use serde_json::{Value, json};
use tezos_types::{BinMicheline, BlockHash, Micheline, Mutez};

use super::bin;

/// Counts external messages into `/count` (u32 LE), keeps the last external payload at
/// `/last` and echoes each payload to the outbox.
const KERNEL_WAT: &str = r#"
(module
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_read" (func $store_read (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "write_output" (func $write_output (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/count")
  (data (i32.const 32) "/last")
  (func (export "kernel_run")
    (local $n i32)
    (i32.store (i32.const 64) (i32.const 0))
    (drop (call $store_read (i32.const 16) (i32.const 6) (i32.const 0) (i32.const 64) (i32.const 4)))
    (block $done
      (loop $next
        (local.set $n (call $read_input (i32.const 0) (i32.const 128) (i32.const 4096)))
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (if (i32.eq (i32.load8_u (i32.const 128)) (i32.const 1))
          (then
            (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
            (drop (call $store_write (i32.const 32) (i32.const 5) (i32.const 0)
                        (i32.const 129) (i32.sub (local.get $n) (i32.const 1))))
            (drop (call $write_output (i32.const 129) (i32.sub (local.get $n) (i32.const 1))))))
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

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
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
        let s = Sandbox(Proc { child, port });
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

    fn bake(&self) -> Value {
        let (s, v) = http_post(self.port(), "/sandbox/bake", &Value::Null);
        assert_eq!(s, 200, "{v}");
        v
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

    /// Originates the WAT kernel; returns the rollup address.
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

    /// Injects external messages (from bootstrap2) and bakes them.
    fn send_messages(&self, msgs: &[&[u8]]) {
        self.inject(
            2,
            vec![OperationContent::SmartRollupAddMessages {
                message: msgs.iter().map(|m| m.to_vec()).collect(),
            }],
        );
        self.bake();
    }
}

/// Writes the observer configuration into `data_dir`.
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

fn start_node(data_dir: &Path, l1_port: u16) -> Proc {
    start_node_with(data_dir, l1_port, &[])
}

fn start_node_env(data_dir: &Path, l1_port: u16, env: (&str, &str)) -> Proc {
    start_node_full(data_dir, l1_port, &[], Some(env))
}

fn start_node_with(data_dir: &Path, l1_port: u16, extra: &[&str]) -> Proc {
    start_node_full(data_dir, l1_port, extra, None)
}

fn start_node_full(
    data_dir: &Path,
    l1_port: u16,
    extra: &[&str],
    env: Option<(&str, &str)>,
) -> Proc {
    let port = free_port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("test-node.log"))
        .unwrap();
    let mut cmd = bin();
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let child = cmd
        .args(["-E", &format!("http://127.0.0.1:{l1_port}"), "run"])
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(["--rpc-port", &port.to_string()])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut p = Proc { child, port };
    wait_until("the node's RPC server", 60, || {
        if let Ok(Some(st)) = p.child.try_wait() {
            let log = std::fs::read_to_string(data_dir.join("test-node.log")).unwrap_or_default();
            panic!("node exited early: {st}\n{log}");
        }
        http_get(port, "/health").is_some()
    });
    p
}

/// Waits until the node is healthy, 0 blocks late, with `hash` (the L1 head) as L2 head.
fn wait_synced(node: &Proc, sb: &Sandbox) {
    let head = sb.get("/chains/main/blocks/head/hash");
    wait_until("the node to reach the L1 head", 180, || {
        let h = http_get(node.port, "/health").map(|(_, v)| v);
        let t = http_get(node.port, "/global/tezos_head").map(|(_, v)| v);
        matches!((h, t), (Some(h), Some(t))
            if h["healthy"] == true && h["l1"]["blocks_late"] == 0 && t == head)
    });
}

fn durable(node: &Proc, block: &str, key: &str) -> Value {
    get_ok(
        node.port,
        &format!("/global/block/{block}/durable/wasm_2_0_0/value?key={key}"),
    )
}

fn count_hex(n: u32) -> Value {
    json!(hex::encode(n.to_le_bytes()))
}

#[test]
fn observer_follows_sandbox_restarts_and_reorgs() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox"));
    let kernel = wat::parse_str(KERNEL_WAT).unwrap();
    let addr = sb.originate(&kernel);
    let orig = sb.level();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let node = start_node(&node_dir, sb.port());

    sb.send_messages(&[b"aaaa", b"bbbb"]);
    let two_msgs_level = sb.level();
    sb.send_messages(&[b"cccc"]);
    for _ in 0..8 {
        sb.bake();
    }
    wait_synced(&node, &sb);

    // The kernel's effect through the durable RPCs.
    assert_eq!(durable(&node, "head", "/count"), count_hex(3));
    assert_eq!(durable(&node, "head", "/last"), json!(hex::encode(b"cccc")));
    assert_eq!(durable(&node, "head", "/nothing"), Value::Null);
    let len = get_ok(
        node.port,
        "/global/block/head/durable/wasm_2_0_0/length?key=/readonly/wasm_version",
    );
    assert_eq!(len, json!("8"));
    // Block data.
    let l = two_msgs_level;
    assert_eq!(
        get_ok(node.port, &format!("/global/block/{l}/num_messages")),
        json!("5")
    );
    assert_eq!(
        get_ok(node.port, &format!("/global/block/{l}/hash")),
        sb.get(&format!("/chains/main/blocks/{l}/hash"))
    );
    let full = get_ok(node.port, &format!("/global/block/{l}?outbox=true"));
    assert_eq!(full["level"], json!(l));
    let messages = full["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5, "{full}");
    assert_eq!(messages[0], json!("0001"));
    assert_eq!(messages[2], json!(format!("01{}", hex::encode(b"aaaa"))));
    assert_eq!(messages[4], json!("0002"));
    assert_eq!(full["outbox"].as_array().map(Vec::len), Some(2), "{full}");
    let inbox = get_ok(node.port, &format!("/global/block/{l}/inbox"));
    assert_eq!(inbox["level"], json!(l));
    assert_eq!(
        inbox,
        sb.get(&format!(
            "/chains/main/blocks/{l}/context/smart_rollups/all/inbox"
        )),
        "the rebuilt inbox must equal L1's"
    );
    assert_eq!(
        get_ok(node.port, &format!("/global/block/{l}/state_current_level")),
        json!(l)
    );
    let outbox = get_ok(
        node.port,
        &format!("/global/block/head/outbox/{l}/messages"),
    );
    assert_eq!(outbox.as_array().map(Vec::len), Some(2), "{outbox}");
    // Not valid outbox messages: shown raw.
    assert_eq!(
        outbox[1],
        json!({"outbox_level": l, "message_index": "1",
               "message": {"raw": hex::encode(b"bbbb")}})
    );
    let (s, e) = http_get(node.port, "/global/block/head/state?key=no/such/key").unwrap();
    assert_eq!(s, 500, "{e}");
    assert_eq!(
        get_ok(node.port, "/global/block/head/status"),
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
        get_ok(node.port, &format!("/global/block/{orig}/state_hash")),
        genesis["compressed_state"]
    );
    // Commitments every period (5 in the sandbox's test constants), chained to genesis.
    let last = get_ok(node.port, "/global/last_stored_commitment");
    let c = &last["commitment"];
    assert_eq!((c["inbox_level"].as_i64().unwrap() - orig) % 5, 0, "{last}");
    let mut pred = c["predecessor"].as_str().unwrap().to_string();
    while pred != gi["commitment_hash"] {
        let p = get_ok(node.port, &format!("/local/commitments/{pred}"));
        assert!(!p.is_null(), "missing predecessor {pred}");
        pred = p["commitment"]["predecessor"].as_str().unwrap().to_string();
    }
    let finalized = get_ok(node.port, "/global/block/finalized/level");
    assert_eq!(finalized.as_i64().unwrap(), sb.level() - 2);

    // kill -9, more blocks, restart: same states, then catch up.
    let level_before = sb.level();
    let hash_before = get_ok(node.port, "/global/block/head/state_hash");
    drop(node);
    sb.send_messages(&[b"dddd"]);
    sb.bake();
    let node = start_node(&node_dir, sb.port());
    wait_synced(&node, &sb);
    assert_eq!(
        get_ok(
            node.port,
            &format!("/global/block/{level_before}/state_hash")
        ),
        hash_before
    );
    assert_eq!(durable(&node, "head", "/count"), count_hex(4));

    // A fresh node over the whole chain reaches the same state.
    let fresh_dir = dir.path().join("fresh");
    init_config(&fresh_dir, &addr);
    let fresh = start_node(&fresh_dir, sb.port());
    wait_synced(&fresh, &sb);
    assert_eq!(
        get_ok(fresh.port, "/global/block/head/state_hash"),
        get_ok(node.port, "/global/block/head/state_hash")
    );
    drop(fresh);

    // Reorganisation: the block carrying "eeee" is replaced by an empty one.
    sb.send_messages(&[b"eeee"]);
    wait_synced(&node, &sb);
    assert_eq!(durable(&node, "head", "/count"), count_hex(5));
    let (s, v) = http_post(sb.port(), "/sandbox/reorg", &json!({"depth": 1}));
    assert_eq!(s, 200, "{v}");
    wait_synced(&node, &sb);
    assert_eq!(durable(&node, "head", "/count"), count_hex(4));
    assert_eq!(durable(&node, "head", "/last"), json!(hex::encode(b"dddd")));
    let l = sb.level();
    assert_eq!(
        get_ok(node.port, &format!("/global/block/{l}/hash")),
        sb.get(&format!("/chains/main/blocks/{l}/hash"))
    );
    // The dropped operation went back to the mempool: the next block carries it again.
    sb.bake();
    wait_synced(&node, &sb);
    assert_eq!(durable(&node, "head", "/count"), count_hex(5));
    assert_eq!(durable(&node, "head", "/last"), json!(hex::encode(b"eeee")));
}

fn wait_level(node: &Proc, min: i64) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let l = http_get(node.port, "/global/tezos_level").and_then(|(_, v)| v.as_i64());
        if l.is_some_and(|l| l >= min) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for level {min}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kill_9_during_catch_up_resumes_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox"));
    let kernel = wat::parse_str(KERNEL_WAT).unwrap();
    let addr = sb.originate(&kernel);
    let orig = sb.level();
    for i in 0..30u8 {
        sb.send_messages(&[&[b'm', i]]);
    }
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    // Kill while catching up (as soon as a few levels are stored), twice.
    for stop_at in [orig + 3, orig + 12] {
        let node = start_node(&node_dir, sb.port());
        wait_level(&node, stop_at);
        drop(node); // SIGKILL
    }
    // More blocks while the node is down, then resume by chunks of 4 levels (the catch-up
    // path of long outages).
    for i in 30..42u8 {
        sb.send_messages(&[&[b'm', i]]);
    }
    let node = start_node_env(
        &node_dir,
        sb.port(),
        ("SMART_ROLLUP_NODE_CATCH_UP_CHUNK", "4"),
    );
    wait_synced(&node, &sb);
    assert_eq!(durable(&node, "head", "/count"), count_hex(42));
    assert_eq!(
        durable(&node, "head", "/last"),
        json!(hex::encode([b'm', 41]))
    );
    let log = std::fs::read_to_string(node_dir.join("test-node.log")).unwrap();
    assert!(log.contains("Catching up on 4 levels"), "{log}");
    let fresh_dir = dir.path().join("fresh");
    init_config(&fresh_dir, &addr);
    let fresh = start_node(&fresh_dir, sb.port());
    wait_synced(&fresh, &sb);
    for l in [orig, orig + 5, orig + 13, sb.level()] {
        let path = format!("/global/block/{l}/state_hash");
        assert_eq!(
            get_ok(fresh.port, &path),
            get_ok(node.port, &path),
            "level {l}"
        );
    }
    assert_eq!(
        get_ok(fresh.port, "/global/last_stored_commitment"),
        get_ok(node.port, "/global/last_stored_commitment")
    );
}

/// The project's SDK counter kernel (built by `scripts/build-kernels.sh`), when present.
#[test]
fn sdk_counter_kernel_when_built() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../kernels/target/wasm32-unknown-unknown/release/counter.wasm");
    let Ok(kernel) = std::fs::read(&path) else {
        eprintln!("skipped: {} is not built", path.display());
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox"));
    let addr = sb.originate(&kernel);
    let orig = sb.level();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let node = start_node_with(&node_dir, sb.port(), &["--log-kernel-debug"]);
    sb.send_messages(&[b"hello"]);
    let msg_level = sb.level();
    sb.bake();
    wait_synced(&node, &sb);
    // One kernel run per inbox level since origination.
    let runs = u64::try_from(sb.level() - orig).unwrap();
    assert_eq!(
        durable(&node, "head", "/counter"),
        json!(hex::encode(runs.to_le_bytes()))
    );
    assert_eq!(
        durable(&node, "head", "/last_message"),
        json!(hex::encode(b"hello"))
    );
    let outbox = get_ok(
        node.port,
        &format!("/global/block/head/outbox/{msg_level}/messages"),
    );
    assert_eq!(
        outbox,
        json!([{"outbox_level": msg_level, "message_index": "0",
                "message": {"kind": "untyped", "transactions": [{
                    "destination": "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL",
                    "parameters": {"bytes": hex::encode(b"hello")}}]}}])
    );
    // The block's `outbox` field: summaries with an integer index.
    let block = get_ok(node.port, &format!("/global/block/{msg_level}?outbox=true"));
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
    let sb = Sandbox::start(&dir.path().join("sandbox"));
    let kernel = wat::parse_str(KERNEL_WAT).unwrap();
    let addr = sb.originate(&kernel);
    let orig = sb.level();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let node = start_node(&node_dir, sb.port());
    sb.send_messages(&[b"x"]);
    for _ in 0..6 {
        sb.bake();
    }
    wait_synced(&node, &sb);
    // The first commitment (period 5) as the node computed it; L1 accepts it.
    let last = get_ok(node.port, "/global/last_stored_commitment");
    assert_eq!(last["commitment"]["inbox_level"], json!(orig + 5), "{last}");
    let hash = last["hash"].as_str().unwrap().to_string();
    let commitment: tezos_types::Commitment =
        serde_json::from_value(last["commitment"].clone()).unwrap();
    assert_eq!(commitment.hash().to_b58check(), hash);
    sb.inject(
        3,
        vec![OperationContent::SmartRollupPublish {
            rollup: addr.parse().unwrap(),
            commitment,
        }],
    );
    sb.bake();
    let published_at = sb.level();
    wait_synced(&node, &sb);
    let local = get_ok(node.port, &format!("/local/commitments/{hash}"));
    assert_eq!(
        local["first_published_at_level"],
        json!(published_at),
        "{local}"
    );
    // Before cementation, `cemented` is the genesis level.
    assert_eq!(
        get_ok(node.port, "/global/block/cemented/level"),
        json!(orig)
    );
    // After the challenge window (10 in the test constants), cement it.
    for _ in 0..10 {
        sb.bake();
    }
    sb.inject(
        3,
        vec![OperationContent::SmartRollupCement {
            rollup: addr.parse().unwrap(),
        }],
    );
    sb.bake();
    wait_synced(&node, &sb);
    assert_eq!(
        get_ok(node.port, "/global/block/cemented/level"),
        json!(orig + 5)
    );
}
