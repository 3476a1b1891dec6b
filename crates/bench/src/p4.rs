//! P4: RPC throughput of the rollup node.
//!
//! A release `smart-rollup-sandbox` (manual baking) gets a rollup with a tiny WAT kernel and a
//! few levels (some external messages); a release `smart-rollup-node` in observer mode follows
//! it to the L1 head. Then `N` concurrent keep-alive HTTP clients (threads, one `ureq` agent
//! each) hammer `GET /health` and `GET /global/block/head/durable/wasm_2_0_0/value?key=…` for
//! a fixed time; we report requests/s. Baseline in the same process: an in-process axum server
//! (tokio runtime with as many workers as the node's) answering the same paths with a constant
//! body of the same bytes, hit by the same clients; the ratio is node / baseline.
//!
//! Binaries are found next to the bench (`target/release`) or through `SMART_ROLLUP_NODE` /
//! `SMART_ROLLUP_SANDBOX` (build them with
//! `cargo build --release -p sandbox -p rollup-node --locked`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use test_support::{RollupNode, init_observer_config};

use crate::util::{agent, get};

/// The durable key read by the benchmark (present in every WASM PVM state).
const DURABLE_KEY: &str = "/readonly/wasm_version";

/// Measurement time per (endpoint, server, clients) point.
const MEASURE: Duration = Duration::from_secs(3);
/// Warm-up before each measurement.
const WARM_UP: Duration = Duration::from_millis(500);
/// Concurrent clients of the points measured.
const CLIENTS: &[usize] = &[1, 8];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Time limit of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Result of a load run.
struct Load {
    requests: u64,
    errors: u64,
    elapsed: Duration,
}

impl Load {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `clients` threads, each with its own keep-alive agent, GET `url` in a loop for `WARM_UP`
/// (not counted) then `MEASURE`; an answer counts when it is 200 (with body `expect` when
/// given), else it is an error.
fn load(url: &str, expect: Option<&str>, clients: usize) -> Load {
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (url, expect) = (url.to_string(), expect.map(str::to_string));
            let (counting, stop, ok, bad) = (
                Arc::clone(&counting),
                Arc::clone(&stop),
                Arc::clone(&ok),
                Arc::clone(&bad),
            );
            std::thread::spawn(move || {
                let a = agent(REQUEST_TIMEOUT);
                while !stop.load(Ordering::Relaxed) {
                    let good = matches!(get(&a, &url),
                        Ok((200, b)) if expect.as_ref().is_none_or(|e| *e == b));
                    if counting.load(Ordering::Relaxed) {
                        if good { &ok } else { &bad }.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(WARM_UP);
    counting.store(true, Ordering::Relaxed);
    let t = Instant::now();
    std::thread::sleep(MEASURE);
    counting.store(false, Ordering::Relaxed);
    let elapsed = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    for th in threads {
        let _ = th.join();
    }
    Load {
        requests: ok.load(Ordering::Relaxed),
        errors: bad.load(Ordering::Relaxed),
        elapsed,
    }
}

/// The baseline: an in-process axum server on a loopback port answering `routes`
/// (`path → constant JSON body`), on a runtime with `workers` threads. Returns the port and a
/// handle stopping it.
fn baseline_server(
    routes: Vec<(&'static str, String)>,
    workers: usize,
) -> Result<(u16, tokio::sync::oneshot::Sender<()>), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(err)?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(err)?;
    let port = listener.local_addr().map_err(err)?.port();
    let mut app = axum::Router::new();
    for (path, body) in routes {
        app = app.route(
            path,
            axum::routing::get(move || {
                let body = body.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                }
            }),
        );
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
    });
    Ok((port, tx))
}

/// Runs P4.
pub(crate) fn run() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(err)?;
    println!("P4: setting up a sandbox L1 and a rollup node (release binaries)…");
    let (sb, node_bin) = crate::util::release_sandbox_and_node(&dir.path().join("sandbox"))?;
    let kernel = wat::parse_str(test_support::kernels::IDLE_WAT).map_err(err)?;
    let rollup = sb.originate_wasm(&kernel);
    for i in 0..3u8 {
        sb.send_messages(&[&[i; 32], &[i; 64]]);
    }
    for _ in 0..3 {
        sb.bake();
    }
    let node_dir = dir.path().join("node");
    init_observer_config(Some(&node_bin), &node_dir, &rollup, &[]).map_err(err)?;
    let mut node = RollupNode::builder(&node_dir, sb.endpoint())
        .binary(&node_bin)
        .env("RUST_LOG", "warn")
        .start()
        .map_err(err)?;
    node.wait_synced(&sb, Duration::from_secs(300))
        .map_err(err)?;
    let level = node.get("/global/tezos_level");
    let base = format!("http://127.0.0.1:{}", node.port());
    let durable_path = format!("/global/block/head/durable/wasm_2_0_0/value?key={DURABLE_KEY}");
    let a = agent(REQUEST_TIMEOUT);
    let (st, health_body) = get(&a, &format!("{base}/health"))?;
    if st != 200 {
        return Err(format!("node /health answered {st}: {health_body}"));
    }
    let (st, durable_body) = get(&a, &format!("{base}{durable_path}"))?;
    if st != 200 || durable_body == "null" {
        return Err(format!("node durable read answered {st}: {durable_body}"));
    }
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let (bport, stop_baseline) = baseline_server(
        vec![
            ("/health", health_body.clone()),
            (
                "/global/block/head/durable/wasm_2_0_0/value",
                durable_body.clone(),
            ),
        ],
        workers,
    )?;
    let bbase = format!("http://127.0.0.1:{bport}");
    println!(
        "P4: node at L2 level {level}, {workers} server worker thread(s), {} s per point",
        MEASURE.as_secs()
    );
    println!(
        "{:<10} {:>7} {:>12} {:>14} {:>7} {:>7}",
        "endpoint", "clients", "node req/s", "baseline req/s", "ratio", "errors"
    );
    let mut failures = 0;
    for (name, path) in [("health", "/health".to_string()), ("durable", durable_path)] {
        for &clients in CLIENTS {
            // The node's /health body varies (L1 head age): only its status is checked.
            let (node_expect, base_expect) = if name == "health" {
                (None, health_body.as_str())
            } else {
                (Some(durable_body.as_str()), durable_body.as_str())
            };
            let node_load = load(&format!("{base}{path}"), node_expect, clients);
            let base_load = load(&format!("{bbase}{path}"), Some(base_expect), clients);
            failures += node_load.errors + base_load.errors;
            println!(
                "{:<10} {:>7} {:>12.0} {:>14.0} {:>7.3} {:>7}",
                name,
                clients,
                node_load.rps(),
                base_load.rps(),
                node_load.rps() / base_load.rps().max(1e-9),
                node_load.errors + base_load.errors
            );
        }
    }
    let _ = stop_baseline.send(());
    drop(node);
    drop(sb);
    if failures > 0 {
        return Err(format!(
            "{failures} request(s) failed or answered unexpectedly"
        ));
    }
    Ok(())
}
