//! The L1 follower threads (octez-rollup-node.md §3 common startup, §5.2 main loop):
//! a head monitor (`/monitor/heads/main`, reconnecting, feeding the shared [`NodeStatus`]) and
//! the main loop (startup checks, then each head is processed by the [`Processor`] with
//! retries; errors set `degraded` until the next successful head). Both are plain threads:
//! L1 calls are blocking and the PVM must not run on the async reactor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inbox::BlockHeader;
use preimages::{PreimageStore, Revealer, RollupMetadata};
use pvm_wasmtime::WasmtimeEngine;

use crate::config::Config;
use crate::context::Context;
use crate::daemon::DataDir;
use crate::follower::{FollowError, Processor, RollupInfo};
use crate::l1::L1Rpc;
use crate::rpc::{L1Connection, L1Head, NodeStatus};
use crate::store::Store;

/// What the main loop needs.
pub struct LoopConfig {
    /// Node configuration.
    pub config: Config,
    /// Data directory.
    pub dir: DataDir,
    /// L1 endpoint.
    pub endpoint: String,
    /// Shared context (also read by the RPC server).
    pub ctx: Context,
    /// Shared status.
    pub status: Arc<Mutex<NodeStatus>>,
    /// Set to stop the threads.
    pub stop: Arc<AtomicBool>,
}

fn set_status(status: &Mutex<NodeStatus>, f: impl FnOnce(&mut NodeStatus)) {
    if let Ok(mut s) = status.lock() {
        f(&mut s);
    }
}

/// Sleeps `d` in small steps; `false` if asked to stop.
fn pause(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
    !stop.load(Ordering::Relaxed)
}

fn retry_delay(config: &Config) -> Duration {
    Duration::from_secs_f64(config.reconnection_delay.clamp(0.1, 30.0))
}

/// Spawns the head monitor thread.
fn spawn_monitor(
    l1: L1Rpc,
    status: Arc<Mutex<NodeStatus>>,
    stop: Arc<AtomicBool>,
    tx: Sender<BlockHeader>,
    delay: Duration,
) {
    std::thread::Builder::new()
        .name("l1-heads".into())
        .spawn(move || {
            loop {
                let r = l1.monitor_heads(
                    || set_status(&status, |s| s.l1_connection = L1Connection::Connected),
                    |h| {
                        let timestamp = h.shell.timestamp.to_rfc3339().unwrap_or_default();
                        set_status(&status, |s| {
                            s.l1_head = Some(L1Head {
                                hash: h.hash,
                                level: h.shell.level,
                                timestamp,
                                age_secs: 0,
                            });
                        });
                        !stop.load(Ordering::Relaxed) && tx.send(h).is_ok()
                    },
                );
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                match r {
                    Ok(()) => tracing::warn!("L1 heads stream closed, reconnecting"),
                    Err(e) => tracing::warn!("L1 heads stream: {e}; reconnecting"),
                }
                set_status(&status, |s| {
                    if s.l1_connection != L1Connection::Disconnected {
                        s.l1_connection = L1Connection::Reconnecting;
                    }
                });
                if !pause(&stop, delay) {
                    return;
                }
            }
        })
        .ok();
}

/// Startup queries (with retries): kind check, genesis info, constants.
fn startup(l1: &L1Rpc, config: &Config) -> Result<RollupInfo, FollowError> {
    let chain_id = l1.chain_id()?;
    let addr = config.rollup_address;
    let kind = l1.kind(&addr)?;
    if kind != "wasm_2_0_0" {
        return Err(FollowError::Fatal(format!(
            "Rollup {addr} has PVM kind {kind}; this node only supports wasm_2_0_0."
        )));
    }
    let genesis = l1.genesis_info(&addr)?;
    let lcc = l1.lcc(&addr)?;
    tracing::info!("Last cemented commitment {} at level {}", lcc.0, lcc.1);
    let constants = l1.constants("head")?;
    let period = constants
        .get("smart_rollup_commitment_period_in_blocks")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            FollowError::Inconsistent("no smart_rollup_commitment_period_in_blocks".into())
        })?;
    tracing::info!(
        "Chain {chain_id}: rollup {addr} originated at level {} (genesis commitment {}), \
         commitment period {period}",
        genesis.level,
        genesis.commitment_hash
    );
    Ok(RollupInfo {
        address: addr,
        origination_level: genesis.level,
        genesis_commitment: genesis.commitment_hash,
        commitment_period: period,
        bail_on_disagree: config.bail_on_disagree,
        lcc,
    })
}

/// Writes `<data-dir>/metadata` on first start; refuses a data directory set up for another
/// rollup (§5.5).
pub fn check_metadata(dir: &DataDir, rollup: &RollupInfo) -> Result<(), FollowError> {
    let path = dir.0.join("metadata");
    let addr = rollup.address.to_b58check();
    let io = |e: std::io::Error| FollowError::Fatal(format!("{}: {e}.", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                FollowError::Fatal(format!("Invalid metadata file {}: {e}.", path.display()))
            })?;
            let old = v
                .get("rollup_address")
                .and_then(|a| a.as_str())
                .unwrap_or("");
            if old != addr {
                return Err(FollowError::Fatal(format!(
                    "This rollup node was already set up for rollup {old}, it cannot be run \
                     for a different rollup {addr}."
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let v = serde_json::json!({
                "rollup_address": addr,
                "context_version": 0,
                "kind": "wasm_2_0_0",
                "genesis_info": {
                    "level": rollup.origination_level,
                    "commitment_hash": rollup.genesis_commitment.to_b58check(),
                },
            });
            std::fs::write(&path, v.to_string()).map_err(io)
        }
        Err(e) => Err(io(e)),
    }
}

/// Progress reporting while catching up (levels/s and ETA), at most every 5 s.
struct ProgressLog {
    since: Instant,
    levels: u64,
    last: Instant,
}

impl ProgressLog {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            since: now,
            levels: 0,
            last: now,
        }
    }

    fn level_done(&mut self, level: i32, status: &Mutex<NodeStatus>) {
        self.levels = self.levels.saturating_add(1);
        if self.last.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last = Instant::now();
        let l1 = status
            .lock()
            .ok()
            .and_then(|s| s.l1_head.as_ref().map(|h| h.level));
        let secs = self.since.elapsed().as_secs_f64().max(0.001);
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let rate = self.levels as f64 / secs;
        if let Some(l1) = l1 {
            let remaining = f64::from(l1.saturating_sub(level).max(0));
            let eta = if rate > 0.0 { remaining / rate } else { 0.0 };
            tracing::info!(
                "Catching up: level {level}/{l1}, {rate:.1} levels/s, ETA {}",
                fmt_secs(eta)
            );
        }
    }
}

fn fmt_secs(s: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "display only"
    )]
    let s = s.max(0.0).round() as u64;
    format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
}

/// Runs the follower on the current thread until `stop` is set. `Err` only for fatal errors.
pub fn run(lc: LoopConfig) -> Result<(), FollowError> {
    let delay = retry_delay(&lc.config);
    let timeout = Duration::from_secs_f64(lc.config.l1_rpc_timeout.clamp(1.0, 3600.0));
    let l1 = L1Rpc::new(&lc.endpoint, timeout);
    let (tx, rx) = std::sync::mpsc::channel();
    spawn_monitor(l1.clone(), lc.status.clone(), lc.stop.clone(), tx, delay);
    let rollup = loop {
        match startup(&l1, &lc.config) {
            Ok(r) => break r,
            Err(FollowError::Fatal(m)) => return Err(FollowError::Fatal(m)),
            Err(e) => {
                tracing::warn!("Cannot start following L1: {e}; retrying");
                if !pause(&lc.stop, delay) {
                    return Ok(());
                }
            }
        }
    };
    check_metadata(&lc.dir, &rollup)?;
    let mut store = Store::open(&lc.dir.store())?;
    let (lcc_hash, lcc_level) = rollup.lcc;
    if store.lcc()?.is_none_or(|(_, l)| l < lcc_level) {
        store.transaction(|w| w.set_lcc(&lcc_hash, lcc_level))?;
    }
    let engine = WasmtimeEngine::new()
        .map_err(|e| FollowError::Fatal(format!("Cannot build the WASM engine: {e}.")))?;
    let mut pre = PreimageStore::new(lc.dir.preimages());
    if let Some(ep) = &lc.config.pre_images_endpoint {
        pre = pre.with_endpoint(ep);
    }
    let reveal = Revealer::new(
        pre,
        RollupMetadata {
            address: rollup.address.0,
            origination_level: rollup.origination_level,
        },
    );
    let mut processor = Processor::new(l1, store, lc.ctx.clone(), engine, reveal, rollup);
    // Test/debug knob: smaller catch-up chunks.
    if let Some(n) = std::env::var("SMART_ROLLUP_NODE_CATCH_UP_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        processor.catch_up_chunk = n;
    }
    if lc.config.log_kernel_debug {
        let path = lc
            .config
            .log_kernel_debug_file
            .as_ref()
            .map_or_else(|| lc.dir.0.join("kernel.log"), std::path::PathBuf::from);
        match crate::follower::KernelLog::open(&path) {
            Ok(l) => processor.kernel_log = Some(l),
            Err(e) => tracing::warn!("Cannot open kernel log {}: {e}", path.display()),
        }
    }
    main_loop(&mut processor, &rx, &lc, delay)
}

fn latest_head(rx: &Receiver<BlockHeader>, stop: &AtomicBool) -> Option<BlockHeader> {
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(mut h) => {
                while let Ok(n) = rx.try_recv() {
                    h = n;
                }
                return Some(h);
            }
            Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => {}
            Err(_) => return None,
        }
    }
}

fn main_loop(
    p: &mut Processor,
    rx: &Receiver<BlockHeader>,
    lc: &LoopConfig,
    delay: Duration,
) -> Result<(), FollowError> {
    let mut progress = ProgressLog::new();
    while let Some(mut head) = latest_head(rx, &lc.stop) {
        loop {
            if lc.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let stop = &lc.stop;
            let status = &lc.status;
            let r = p.follow(&head, |level| {
                progress.level_done(level, status);
                !stop.load(Ordering::Relaxed)
            });
            match r {
                Ok(pr) => {
                    set_status(&lc.status, |s| s.degraded = false);
                    if pr.reached_head {
                        if pr.processed > 0 {
                            tracing::info!(
                                "Processed {} level(s), L2 head at {:?}",
                                pr.processed,
                                pr.level
                            );
                        }
                        break;
                    }
                }
                Err(FollowError::Fatal(m)) => return Err(FollowError::Fatal(m)),
                Err(e) => {
                    tracing::error!("Error processing L1 head {}: {e}", head.shell.level);
                    set_status(&lc.status, |s| s.degraded = true);
                    if !pause(&lc.stop, delay) {
                        return Ok(());
                    }
                }
            }
            // A newer head may have arrived meanwhile.
            while let Ok(n) = rx.try_recv() {
                head = n;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_binds_the_data_dir_to_one_rollup() {
        let d = tempfile::tempdir().unwrap();
        let dir = DataDir(d.path().to_path_buf());
        let mut r = RollupInfo {
            address: "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            origination_level: 2,
            genesis_commitment: tezos_types::CommitmentHash::ZERO,
            commitment_period: 5,
            bail_on_disagree: false,
            lcc: (tezos_types::CommitmentHash::ZERO, 2),
        };
        check_metadata(&dir, &r).unwrap();
        check_metadata(&dir, &r).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.path().join("metadata")).unwrap()).unwrap();
        assert_eq!(v["genesis_info"]["level"], 2);
        r.address = tezos_types::SmartRollupAddress([7; 20]);
        let e = check_metadata(&dir, &r).unwrap_err().to_string();
        assert!(e.contains("already set up for rollup"), "{e}");
    }

    #[test]
    fn durations_format() {
        assert_eq!(fmt_secs(3725.2), "1h02m05s");
        assert_eq!(fmt_secs(-3.0), "0h00m00s");
    }
}
