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
//! Binaries are taken beside the bench (`target/release`; build them with
//! `cargo build --release -p sandbox -p rollup-node --locked`), or from
//! `$SMART_ROLLUP_SANDBOX` / `$SMART_ROLLUP_NODE` (`test_support::binary`).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use test_support::{RollupNode, Sandbox, bootstrap_key, init_observer_config};
use tezos_types::operation::OperationContent;

use crate::util::{agent, get};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Bakes until the head is at `target` (`{"count": n}`, one block per call on older
/// sandboxes).
fn bake_to(sb: &Sandbox, target: i64) -> Result<(), String> {
    loop {
        let l = sb.level();
        if l >= target {
            return Ok(());
        }
        let (st, v) = sb.post("/sandbox/bake", &json!({"count": target - l}));
        if st != 200 {
            return Err(format!("POST /sandbox/bake: HTTP {st}: {v}"));
        }
    }
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
    let dir = tempfile::tempdir().map_err(err)?;
    let (sb, node_bin) = crate::util::release_sandbox_and_node(&dir.path().join("sandbox"))?;
    let (kernel, kernel_name) = kernel()?;
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    let n = i64::try_from(levels).map_err(err)?;
    let target = orig + n;
    let t = Instant::now();
    let mut i = 0u32;
    while sb.level() < target {
        sb.inject(
            &bootstrap_key(2),
            vec![OperationContent::SmartRollupAddMessages {
                message: vec![format!("msg{i}").into_bytes()],
            }],
        );
        i += 1;
        let l = sb.level();
        bake_to(&sb, (l + 10).min(target))?;
    }
    let head = sb.level();
    println!(
        "P3 catch-up: {} levels after origination at {orig} ({kernel_name}, {i} external \
         messages) baked in {:.1} s",
        head - orig,
        t.elapsed().as_secs_f64()
    );

    // Baseline: the same blocks, raw, sequentially over one connection (best of 2 passes).
    let http = agent(Duration::from_secs(120));
    let mut raw = Duration::MAX;
    let mut bytes = 0usize;
    for _ in 0..2 {
        let t = Instant::now();
        bytes = 0;
        for l in orig..=head {
            let url = format!("{}/chains/main/blocks/{l}?metadata=always", sb.endpoint());
            let (st, body) = get(&http, &url)?;
            if st != 200 {
                return Err(format!("{url}: HTTP {st}: {body}"));
            }
            bytes += body.len();
        }
        raw = raw.min(t.elapsed());
    }
    let count = (head - orig + 1) as f64;
    let raw_rate = count / raw.as_secs_f64();

    // The node.
    let node_dir = dir.path().join("node");
    init_observer_config(Some(&node_bin), &node_dir, &addr, &[]).map_err(err)?;
    let t = Instant::now();
    let mut node = RollupNode::builder(&node_dir, sb.endpoint())
        .binary(&node_bin)
        .start()
        .map_err(err)?;
    let mut first: Option<(Instant, i64)> = None;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        node.check_running()
            .map_err(|e| format!("the node exited: {e}"))?;
        if Instant::now() > deadline {
            return Err("the node did not catch up within an hour".into());
        }
        if let Ok((200, l)) = node.try_get("/global/tezos_level")
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
    let healthy = node
        .try_get("/health")
        .is_ok_and(|(_, h)| h["healthy"] == true);
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
    let log = node.output();
    for l in log.lines().filter(|l| l.contains("Catch-up timings")) {
        let text = l.split("Catch-up timings").nth(1).unwrap_or_default();
        println!("P3 node timings{text}");
    }
    Ok(())
}
