//! P3: catch-up speed of the rollup node on the local sandbox.
//!
//! A release `smart-rollup-sandbox` (manual baking) gets a rollup with a small kernel (the
//! SDK counter kernel from `kernels/target` when built, else a tiny WAT kernel), then `N`
//! levels (an external message every 10 levels). A fresh `smart-rollup-node` in observer
//! mode then catches up from the origination level; we measure levels/s until its L2 head
//! reaches the L1 head. Baseline in the same run: fetching the same blocks raw over HTTP
//! (`GET /chains/main/blocks/<level>?metadata=always`, one connection, sequentially, best of
//! two passes), the I/O ceiling of a sequential follower.
//!
//! Binaries are taken from `target/release` (build them with
//! `cargo build --release -p sandbox -p rollup-node --locked`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::accounts::bootstrap_accounts;
use sandbox::ops::{ManagerOperation, Operation, OperationContent, PvmKind};
use serde_json::{Value, json};
use tezos_types::{BinMicheline, BlockHash, Micheline, Mutez};

/// Kills the child on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn release_bin(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let p = exe.with_file_name(name);
    if p.exists() {
        return Ok(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release");
    let p = root.join(name);
    if p.exists() {
        return Ok(p);
    }
    Err(format!(
        "no {name} binary next to the bench or in {}; build it first with \
         `cargo build --release -p sandbox -p rollup-node --locked`",
        root.display()
    ))
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .proxy(None)
        .build()
        .into()
}

struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    fn new(port: u16) -> Self {
        Http {
            agent: agent(),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn get_text(&self, path: &str) -> Result<String, String> {
        let url = format!("{}{path}", self.base);
        let mut r = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| format!("{url}: {e}"))?;
        if status != 200 {
            return Err(format!("{url}: HTTP {status}: {body}"));
        }
        Ok(body)
    }

    fn get(&self, path: &str) -> Result<Value, String> {
        let t = self.get_text(path)?;
        serde_json::from_str(&t).map_err(|e| format!("{path}: {e}"))
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let mut r = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(|e| format!("{url}: {e}"))?;
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{url}: {e}"))?;
        if status != 200 {
            return Err(format!("POST {url}: HTTP {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn level(sb: &Http) -> Result<i64, String> {
    sb.get("/chains/main/blocks/head/header/shell")?["level"]
        .as_i64()
        .ok_or_else(|| "no level in the head".to_string())
}

/// Bakes until the head is at `target` (`{"count": n}`, one block per call on older
/// sandboxes).
fn bake_to(sb: &Http, target: i64) -> Result<(), String> {
    loop {
        let l = level(sb)?;
        if l >= target {
            return Ok(());
        }
        sb.post("/sandbox/bake", &json!({"count": target - l}))?;
    }
}

fn inject(sb: &Http, who: usize, contents: Vec<OperationContent>) -> Result<(), String> {
    let acc = &bootstrap_accounts()[who];
    let revealed = !sb
        .get(&format!(
            "/chains/main/blocks/head/context/contracts/{}/manager_key",
            acc.pkh
        ))?
        .is_null();
    let mut counter: u64 = sb
        .get(&format!(
            "/chains/main/blocks/head/context/contracts/{}/counter",
            acc.pkh
        ))?
        .as_str()
        .and_then(|c| c.parse().ok())
        .ok_or("bad counter")?;
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
    let branch: BlockHash = sb
        .get("/chains/main/blocks/head~1/hash")?
        .as_str()
        .and_then(|h| h.parse().ok())
        .ok_or("bad branch")?;
    let mut op = Operation {
        branch,
        contents,
        signature: None,
    };
    op.signature = Some(acc.secret_key.sign_operation(&op.unsigned_bytes()));
    sb.post(
        "/injection/operation",
        &json!(hex::encode(op.signed_bytes())),
    )?;
    Ok(())
}

fn originate(sb: &Http, kernel: &[u8]) -> Result<String, String> {
    let ty = Micheline::parse_text("bytes").map_err(|e| format!("{e:?}"))?;
    inject(
        sb,
        1,
        vec![OperationContent::SmartRollupOriginate {
            pvm_kind: PvmKind::Wasm,
            kernel: kernel.to_vec(),
            parameters_ty: BinMicheline::from_micheline(&ty),
            whitelist: None,
        }],
    )?;
    sb.post("/sandbox/bake", &Value::Null)?;
    let block = sb.get("/chains/main/blocks/head?metadata=always")?;
    for op in block["operations"][3].as_array().into_iter().flatten() {
        for c in op["contents"].as_array().into_iter().flatten() {
            if c["kind"] == "smart_rollup_originate" {
                let r = &c["metadata"]["operation_result"];
                return r["address"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("origination failed: {r}"));
            }
        }
    }
    Err("no origination in the block".into())
}

fn kernel() -> Result<(Vec<u8>, &'static str), String> {
    let counter = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../kernels/target/wasm32-unknown-unknown/release/counter.wasm");
    match std::fs::read(&counter) {
        Ok(k) => Ok((k, "SDK counter kernel")),
        Err(_) => Ok((
            wat::parse_str(test_support::kernels::RECORDER_WAT).map_err(|e| e.to_string())?,
            "WAT counter kernel",
        )),
    }
}

/// Runs P3 with `levels` levels to catch up.
pub(crate) fn run(levels: usize) -> Result<(), String> {
    let sandbox_bin = release_bin("smart-rollup-sandbox")?;
    let node_bin = release_bin("smart-rollup-node")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port()?;
    let _sandbox = Proc(
        Command::new(&sandbox_bin)
            .args(["run", "--data-dir"])
            .arg(dir.path().join("sandbox"))
            .args(["--rpc-addr", &format!("127.0.0.1:{port}")])
            .args(["--test-constants", "--block-time", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", sandbox_bin.display()))?,
    );
    let sb = Http::new(port);
    wait_until("the sandbox", 60, || {
        sb.get("/chains/main/chain_id").is_ok()
    })?;
    let (kernel, kernel_name) = kernel()?;
    let addr = originate(&sb, &kernel)?;
    let orig = level(&sb)?;
    let n = i64::try_from(levels).map_err(|e| e.to_string())?;
    let target = orig + n;
    let t = Instant::now();
    let mut i = 0u32;
    while level(&sb)? < target {
        inject(
            &sb,
            2,
            vec![OperationContent::SmartRollupAddMessages {
                message: vec![format!("msg{i}").into_bytes()],
            }],
        )?;
        i += 1;
        let l = level(&sb)?;
        bake_to(&sb, (l + 10).min(target))?;
    }
    let head = level(&sb)?;
    println!(
        "P3 catch-up: {} levels after origination at {orig} ({kernel_name}, {i} external \
         messages) baked in {:.1} s",
        head - orig,
        t.elapsed().as_secs_f64()
    );

    // Baseline: the same blocks, raw, sequentially over one connection (best of 2 passes).
    let mut raw = Duration::MAX;
    let mut bytes = 0usize;
    for _ in 0..2 {
        let t = Instant::now();
        bytes = 0;
        for l in orig..=head {
            bytes += sb
                .get_text(&format!("/chains/main/blocks/{l}?metadata=always"))?
                .len();
        }
        raw = raw.min(t.elapsed());
    }
    let count = (head - orig + 1) as f64;
    let raw_rate = count / raw.as_secs_f64();

    // The node.
    let node_dir = dir.path().join("node");
    std::fs::create_dir_all(&node_dir).map_err(|e| e.to_string())?;
    let o = Command::new(&node_bin)
        .args([
            "init",
            "observer",
            "config",
            "for",
            &addr,
            "with",
            "operators",
        ])
        .arg("--data-dir")
        .arg(&node_dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "init failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let rpc = free_port()?;
    let log = std::fs::File::create(node_dir.join("node.log")).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut node = Proc(
        Command::new(&node_bin)
            .args(["-E", &format!("http://127.0.0.1:{port}"), "run"])
            .arg("--data-dir")
            .arg(&node_dir)
            .args(["--rpc-port", &rpc.to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", node_bin.display()))?,
    );
    let rn = Http::new(rpc);
    let mut first: Option<(Instant, i64)> = None;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        if let Ok(Some(st)) = node.0.try_wait() {
            let log = std::fs::read_to_string(node_dir.join("node.log")).unwrap_or_default();
            return Err(format!("the node exited ({st}):\n{log}"));
        }
        if Instant::now() > deadline {
            return Err("the node did not catch up within an hour".into());
        }
        if let Ok(l) = rn.get("/global/tezos_level")
            && let Some(l) = l.as_i64()
        {
            if first.is_none() {
                first = Some((Instant::now(), l));
            }
            if l >= head {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let total = t.elapsed();
    let node_rate = count / total.as_secs_f64();
    let steady = first.map(|(at, l)| {
        let done = (head - l) as f64;
        (done, done / at.elapsed().as_secs_f64())
    });
    let healthy = rn
        .get("/health")
        .map(|h| h["healthy"] == true)
        .unwrap_or(false);
    println!(
        "P3 baseline (raw block fetch, sequential): {count} blocks, {:.1} MiB in {:.2} s = \
         {raw_rate:.0} levels/s",
        bytes as f64 / (1 << 20) as f64,
        raw.as_secs_f64()
    );
    println!(
        "P3 node catch-up: {count} levels in {:.2} s from process start = {node_rate:.0} \
         levels/s (healthy: {healthy})",
        total.as_secs_f64()
    );
    if let Some((done, rate)) = steady {
        println!(
            "P3 node catch-up after the first processed level: {done} levels at {rate:.0} \
             levels/s"
        );
    }
    println!(
        "P3 ratio node/raw fetch: {:.2} (goal: >= 1000 levels/s)",
        node_rate / raw_rate
    );
    // The node's own breakdown (logged when it reaches the head).
    std::thread::sleep(Duration::from_millis(500));
    let log = std::fs::read_to_string(node_dir.join("node.log")).unwrap_or_default();
    for l in log.lines().filter(|l| l.contains("Catch-up timings")) {
        let text = l.split("Catch-up timings").nth(1).unwrap_or_default();
        println!("P3 node timings{text}");
    }
    Ok(())
}
