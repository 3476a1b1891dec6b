//! The L1 follower (octez-rollup-node.md §3 common startup, §5.2 main loop): a
//! [`HeadMonitor`] on the async runtime (`/monitor/heads/main`, reconnecting with backoff, a
//! silent stream past the stall timeout counts as a disconnection; l1-and-signer.md §1.2)
//! feeding the shared [`NodeStatus`], and the main loop on a dedicated thread (startup checks,
//! then each head is processed by the [`Processor`] with retries; errors set `degraded` until
//! the next successful head). The PVM and SQLite work never runs on the reactor: L1 calls are
//! driven from the follower thread through a runtime [`Handle`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use inbox::BlockHeader;
use l1_client::{Connection, HeadMonitor, L1Client, L1Config, L1Error, MonitorStatus};
use parking_lot::Mutex;
use preimages::{PreimageStore, Revealer, RollupMetadata};
use pvm_wasmtime::WasmtimeEngine;
use tezos_types::Level;
use tezos_types::operation::PvmKind;
use tokio::runtime::Handle;

use node_config::Config;
use node_context::{DataDir, L1Connection, L1Head, NodeStatus};
use node_store::Store;
use pvm_store::Context;

use crate::follower::{
    DEFAULT_PREFETCH, FollowError, FollowEvent, L1, Processor, Role, RollupInfo,
};
use crate::gc;

/// The operator side of the node (publisher, cementer, injector, batcher, outbox execution),
/// driven by the follower thread between heads.
pub trait Operator: Send {
    /// Once, after the follower's startup (rollup known, store open, LCC recorded), before the
    /// first head: the operator's startup checks (stake, whitelist, bailout).
    ///
    /// # Errors
    /// Fatal errors stop the node; others are retried by the follower loop.
    fn start(&mut self, p: &mut Processor) -> Result<(), FollowError>;
    /// After each head is processed, with what processing found ([`FollowEvent`]).
    ///
    /// # Errors
    /// Fatal errors stop the node; others are logged and retried at the next head.
    fn on_head(
        &mut self,
        p: &mut Processor,
        head: &BlockHeader,
        events: Vec<FollowEvent>,
    ) -> Result<(), FollowError>;
}

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
    /// The background context GC ([`crate::gc`]).
    pub gc: Mutex<gc::GcRuntime>,
    /// Becomes `true` to stop the follower (in-flight L1 calls are abandoned).
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// The async runtime driving L1 I/O (the follower itself runs on its own thread).
    pub rt: Handle,
    /// Test-only settings ([`TestKnobs::default`] in production).
    pub test: TestKnobs,
}

/// Settings that only the end-to-end tests change, to reach states that take too long or are
/// too brief otherwise; given by hidden `run` options of `smart-rollup-node`. Production runs
/// use [`TestKnobs::default`] (no change to the node's behaviour).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestKnobs {
    /// Plan catch-up in chunks of this many levels instead of
    /// [`crate::follower::CATCH_UP_CHUNK`] (`--test-catch-up-chunk`).
    pub catch_up_chunk: Option<i32>,
    /// Sleep this long in the background context GC, between its SQL part and the context
    /// sweep, to widen the crash window (`--test-gc-delay-ms`).
    pub gc_delay: Option<Duration>,
}

fn set_status(status: &Mutex<NodeStatus>, f: impl FnOnce(&mut NodeStatus)) {
    f(&mut status.lock());
}

/// Conflicts found (the `number_of_conflicts` metric) and those still open (`/health`; the
/// log line is the follower's).
fn record_conflicts(s: &mut NodeStatus, p: &Processor, events: &[FollowEvent]) {
    let found = events
        .iter()
        .filter(|e| matches!(e, FollowEvent::Conflict(_)))
        .count();
    s.conflicts = s
        .conflicts
        .saturating_add(u64::try_from(found).unwrap_or(u64::MAX));
    s.open_conflicts = p.open_conflicts().to_vec();
}

/// Whether the follower was asked to stop.
fn stopping(stop: &tokio::sync::watch::Receiver<bool>) -> bool {
    *stop.borrow()
}

/// Sleeps `d`, waking up at once when asked to stop; `false` if asked to stop.
fn pause(rt: &Handle, stop: &tokio::sync::watch::Receiver<bool>, d: Duration) -> bool {
    let mut rx = stop.clone();
    rt.block_on(async move {
        let _ = tokio::time::timeout(d, rx.wait_for(|s| *s)).await;
    });
    !stopping(stop)
}

fn retry_delay(config: &Config) -> Duration {
    Duration::from_secs_f64(config.reconnection_delay.clamp(0.1, 30.0))
}

/// Client settings from the node configuration (`reconnection_delay`, `l1_rpc_timeout`;
/// l1-and-signer.md §1.1, §1.2).
pub fn l1_config(config: &Config, endpoint: &str) -> L1Config {
    L1Config {
        endpoint: endpoint.to_owned(),
        rpc_timeout: Duration::from_secs_f64(config.l1_rpc_timeout.clamp(1.0, 3600.0)),
        reconnection_delay: retry_delay(config),
        ..L1Config::default()
    }
}

/// `/health`'s `l1.connection` from the monitor status: `connected` while the heads stream is
/// open, `reconnecting` once an established stream was lost, `disconnected` before the first
/// connection (octez-rollup-node.md §4.1).
pub fn connection_of(m: &MonitorStatus, ever_connected: bool) -> L1Connection {
    match m.connection {
        Connection::Connected { .. } => L1Connection::Connected,
        Connection::Disconnected { .. } if ever_connected => L1Connection::Reconnecting,
        Connection::Connecting | Connection::Disconnected { .. } => L1Connection::Disconnected,
    }
}

fn l1_head_of(h: &BlockHeader) -> L1Head {
    L1Head {
        hash: h.hash,
        level: h.shell.level.into(),
        timestamp: h.shell.timestamp.to_rfc3339().unwrap_or_default(),
        age_secs: 0,
    }
}

/// What `/health` says (`l1.error`) about a lost head stream: which endpoint, since when,
/// why, and what to do.
pub fn monitor_error(m: &MonitorStatus, endpoint: &str) -> Option<String> {
    match &m.connection {
        Connection::Disconnected { since, reason } => {
            let secs = since.elapsed().map_or(0, |d| d.as_secs());
            Some(format!(
                "Cannot follow the heads of the L1 node at {endpoint} for {secs}s ({reason}). \
                 Check that --endpoint names a running Tezos node and that it is reachable."
            ))
        }
        Connection::Connecting | Connection::Connected { .. } => None,
    }
}

/// Mirrors the monitor status into the shared [`NodeStatus`] until the monitor stops.
fn spawn_status_mirror(
    rt: &Handle,
    mut rx: tokio::sync::watch::Receiver<MonitorStatus>,
    status: Arc<Mutex<NodeStatus>>,
    endpoint: String,
) {
    rt.spawn(async move {
        let mut ever_connected = false;
        loop {
            {
                let m = rx.borrow_and_update().clone();
                ever_connected |= m.is_connected();
                let conn = connection_of(&m, ever_connected);
                let error = monitor_error(&m, &endpoint);
                set_status(&status, |s| {
                    s.l1_connection = conn;
                    if let Some(h) = &m.last_head {
                        s.l1_head = Some(l1_head_of(h));
                    }
                    match (&error, m.is_connected()) {
                        (Some(_), _) => s.l1_error = error,
                        (None, true) => s.l1_error = None,
                        (None, false) => {}
                    }
                });
            }
            if rx.changed().await.is_err() {
                set_status(&status, |s| s.l1_connection = L1Connection::Disconnected);
                return;
            }
        }
    });
}

/// Whether an L1 answer about the rollup says that the L1 does not know it: HTTP 404 (an RPC
/// or a node that does not exist there) or an error trace naming a missing rollup or a missing
/// context key (Octez protocol error `smart_rollup_does_not_exist`, `context.storage_error`).
pub fn rollup_unknown(e: &L1Error) -> bool {
    e.status() == Some(404)
        || e.has_rpc_error("smart_rollup_does_not_exist")
        || e.has_rpc_error("storage_error")
        || e.has_rpc_error("context.missing_key")
}

/// Startup queries (each RPC retried by the client): genesis info first (Octez's node reads it
/// to build its node context, `Layer1_helpers.get_genesis_info`), then kind, LCC, constants.
/// A rollup the L1 does not know, or an L1 answering but not as a Tezos node, is fatal at once
/// with the rollup and the endpoint named; an unreachable L1 is an ordinary (retried) error.
fn startup(l1: &L1, config: &Config, endpoint: &str) -> Result<RollupInfo, FollowError> {
    let c = &l1.client;
    let addr = config.rollup_address;
    let genesis = match l1.call(c.rollup_genesis_info("main", "head", &addr)) {
        Ok(g) => g,
        // Bad URL, rejected certificate: the message names --endpoint (issue 18 §2).
        Err(FollowError::L1(e)) if e.is_fatal_config() => {
            return Err(FollowError::L1Config(e));
        }
        Err(FollowError::L1(e)) if rollup_unknown(&e) => {
            return Err(FollowError::Fatal(format!(
                "The L1 node at {endpoint} does not know smart rollup {addr} ({e}). Check the \
                 rollup address, and that --endpoint names a node of the network where the \
                 rollup was originated."
            )));
        }
        Err(FollowError::L1(e)) if !e.is_retryable() => {
            return Err(FollowError::Fatal(format!(
                "The L1 node at {endpoint} gave an unexpected answer for the genesis of smart \
                 rollup {addr}: {e}. Check that --endpoint names a Tezos node RPC server."
            )));
        }
        Err(e) => return Err(e),
    };
    let chain_id = l1.call(c.chain_id())?;
    let kind = l1.call(c.rollup_kind("main", "head", &addr))?;
    let lcc = l1.call(c.rollup_lcc("main", "head", &addr))?;
    let constants = l1.call(c.constants("main", "head"))?;
    if kind != PvmKind::Wasm {
        return Err(FollowError::Fatal(format!(
            "Rollup {addr} has PVM kind {kind:?}; this node only supports wasm_2_0_0."
        )));
    }
    tracing::info!(
        "Last cemented commitment {} at level {}",
        lcc.hash,
        lcc.level
    );
    let period = constants.smart_rollup_commitment_period_in_blocks;
    if period == 0 {
        return Err(FollowError::Inconsistent(
            "smart_rollup_commitment_period_in_blocks is 0".into(),
        ));
    }
    tracing::info!(
        "Chain {chain_id}: rollup {addr} originated at level {} (genesis commitment {}), \
         commitment period {period}",
        genesis.level,
        genesis.commitment_hash
    );
    // The L1 client reads these levels as `int32`; a negative one is an L1 answer this node
    // cannot use (docs/reference/l1-and-signer.md §0).
    let level = |l: i32, what: &str| {
        Level::new(l).ok_or_else(|| {
            FollowError::Fatal(format!(
                "The L1 node at {endpoint} answered a negative {what} level ({l}) for smart \
                 rollup {addr}. Check that --endpoint names a Tezos node RPC server."
            ))
        })
    };
    Ok(RollupInfo {
        address: addr,
        origination_level: level(genesis.level, "origination")?,
        genesis_commitment: genesis.commitment_hash,
        commitment_period: period,
        bail_on_disagree: config.bail_on_disagree,
        lcc: (lcc.hash, level(lcc.level, "last cemented commitment")?),
        operator: config.operator(node_config::Purpose::Operating),
        role: role_of(&config.mode),
    })
}

/// What a mode does on L1 (octez-rollup-node.md §1.4: publisher started for maintenance,
/// operator, bailout and custom modes with the publish kind; bailout never publishes).
pub fn role_of(mode: &node_config::Mode) -> Role {
    use node_config::{Mode, OperationKind};
    Role {
        bailout: *mode == Mode::Bailout,
        accuser: *mode == Mode::Accuser,
        publishes: match mode {
            Mode::Maintenance | Mode::Operator => true,
            Mode::Custom(kinds) => kinds.contains(&OperationKind::Publish),
            Mode::Observer | Mode::Accuser | Mode::Bailout | Mode::Batcher => false,
        },
    }
}

/// Reads `--boot-sector-file` (`boot-sector` in config.json): the kernel in hexadecimal, as
/// Octez's WASM PVM `parse_boot_sector` reads it (surrounding white space ignored). Errors are
/// Octez's `Unparsable_boot_sector` message, naming the file.
pub fn read_boot_sector(path: &str) -> Result<Vec<u8>, FollowError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        FollowError::Fatal(format!(
            "Cannot read the boot sector file {path:?} (--boot-sector-file): {e}."
        ))
    })?;
    hex::decode(text.trim()).map_err(|e| {
        FollowError::Fatal(format!(
            "The boot sector at path {path:?} is unparsable ({e}): --boot-sector-file expects \
             the kernel in hexadecimal."
        ))
    })
}

/// Startup check (octez-rollup-node.md §5.3, `Store.reset_to_last_committed`): while the
/// L2 head's context is not in the context store (lost by a disk or power failure), the head
/// goes back to its predecessor, which is processed again from L1.
fn reset_to_last_committed(store: &mut Store, ctx: &Context) -> Result<(), FollowError> {
    while let Some(head) = store.head()? {
        if let Some(c) = &head.context
            && ctx.has(c)?
        {
            return Ok(());
        }
        let Some(pred) = store.block_by_hash(&head.predecessor)? else {
            return Err(FollowError::Fatal(format!(
                "The context of the L2 head (level {}) is missing and its predecessor is not \
                 stored: the data directory is damaged. Restore it from a snapshot or start \
                 from an empty data directory.",
                head.level
            )));
        };
        tracing::warn!(
            "The context of the L2 head (level {}) is missing: resetting the head to level {}",
            head.level,
            pred.level
        );
        store.transaction(|w| {
            w.truncate_levels_above(pred.level)?;
            w.set_head(&pred.block_hash, pred.level)
        })?;
    }
    Ok(())
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
            atomic_file::write(&path, v.to_string().as_bytes()).map_err(io)
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

    fn level_done(&mut self, level: Level, status: &Mutex<NodeStatus>) {
        self.levels = self.levels.saturating_add(1);
        if self.last.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last = Instant::now();
        let l1 = status.lock().l1_head.as_ref().map(|h| h.level);
        let secs = self.since.elapsed().as_secs_f64().max(0.001);
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let rate = self.levels as f64 / secs;
        if let Some(l1) = l1 {
            let remaining = f64::from(l1.saturating_sub(level.get()).max(0));
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

/// Runs the follower on the current thread (not a runtime worker) until `stop` is set.
/// `Err` only for fatal errors.
pub fn run(lc: LoopConfig, operator: Option<Box<dyn Operator>>) -> Result<(), FollowError> {
    let r = follow_l1(&lc, operator);
    // The background context GC is joined before the follower reports it stopped (it is
    // resumed at the next start if interrupted by a crash).
    gc::wait_gc(&lc.gc);
    match r {
        Err(FollowError::Stopped) => Ok(()),
        r => r,
    }
}

fn follow_l1(lc: &LoopConfig, mut operator: Option<Box<dyn Operator>>) -> Result<(), FollowError> {
    let delay = retry_delay(&lc.config);
    let boot_sector = lc
        .config
        .boot_sector_file
        .as_deref()
        .map(read_boot_sector)
        .transpose()?;
    let client = L1Client::new(l1_config(&lc.config, &lc.endpoint))
        .map_err(|e| FollowError::Fatal(format!("{e}; check the --endpoint argument.")))?;
    // A bad pre-images endpoint (URL, rejected certificate) is fatal at start (issue 18 §2).
    let mut pre = PreimageStore::new(lc.dir.preimages());
    if let Some(ep) = &lc.config.pre_images_endpoint {
        let fatal = FollowError::PreimagesConfig;
        pre = pre
            .with_endpoint("--pre-images-endpoint", ep)
            .map_err(fatal)?;
        pre.check_endpoint().map_err(fatal)?;
    }
    let mut monitor = {
        let _guard = lc.rt.enter();
        HeadMonitor::start(client.clone(), "main")
    };
    spawn_status_mirror(
        &lc.rt,
        monitor.status_watch(),
        lc.status.clone(),
        lc.endpoint.clone(),
    );
    let l1 = L1::new(client, lc.rt.clone(), lc.stop.clone());
    // Startup queries are tried once per round (the loop below retries every `delay`), so
    // that an unreachable L1 is reported in the log and `/health` at once.
    let startup_l1 = L1::new(
        L1Client::new(L1Config {
            rpc_max_attempts: 1,
            ..l1_config(&lc.config, &lc.endpoint)
        })
        .map_err(|e| FollowError::Fatal(format!("{e}; check the --endpoint argument.")))?,
        lc.rt.clone(),
        lc.stop.clone(),
    );
    let started = Instant::now();
    let rollup = loop {
        match startup(&startup_l1, &lc.config, &lc.endpoint) {
            Ok(r) => {
                set_status(&lc.status, |s| {
                    s.degraded = false;
                    s.l1_error = None;
                });
                break r;
            }
            Err(e) if e.is_fatal() || matches!(e, FollowError::Stopped) => return Err(e),
            // Bad URL, rejected certificate: retrying cannot help (issue 18 §2).
            Err(FollowError::L1(e)) if e.is_fatal_config() => {
                return Err(FollowError::L1Config(e));
            }
            Err(e) => {
                let msg = format!(
                    "Cannot reach the L1 node at {} for {}s ({e}). Check that --endpoint names \
                     a running Tezos node and that it is reachable; retrying every {}s.",
                    lc.endpoint,
                    started.elapsed().as_secs(),
                    delay.as_secs_f64()
                );
                tracing::warn!("{msg}");
                set_status(&lc.status, |s| {
                    s.degraded = true;
                    s.l1_error = Some(msg);
                });
                if !pause(&lc.rt, &lc.stop, delay) {
                    return Ok(());
                }
            }
        }
    };
    check_metadata(&lc.dir, &rollup)?;
    read_constants(&l1, &lc.status);
    let mut store = Store::open(&lc.dir.store())?;
    reset_to_last_committed(&mut store, &lc.ctx)?;
    let (lcc_hash, lcc_level) = rollup.lcc;
    if store.lcc()?.is_none_or(|(_, l)| l < lcc_level) {
        store.transaction(|w| w.set_lcc(&lcc_hash, lcc_level))?;
    }
    let engine = pvm_tick::Exact(
        WasmtimeEngine::new()
            .map_err(|e| FollowError::Fatal(format!("Cannot build the WASM engine: {e}.")))?
            .with_disk_cache(lc.dir.compiled_kernels()),
    );
    // DAL reveals: constants and cells from L1 through the follower's client, pages from the
    // DAL node (docs/reference/dal.md §5).
    let dal_l1 = L1::new(l1.client.clone(), lc.rt.clone(), lc.stop.clone());
    let dal = crate::dal::DalRevealSource::new(dal_l1, lc.config.dal_node_endpoint.as_deref())?;
    let reveal = Revealer::new(
        pre,
        RollupMetadata {
            address: rollup.address.0,
            origination_level: rollup.origination_level.get(),
        },
    )
    .with_dal(Box::new(dal));
    let mut processor = Processor::new(l1, store, lc.ctx.clone(), engine, reveal, rollup);
    processor.boot_sector = boot_sector;
    processor.unsafe_patches = node_config::unsafe_patches::patches(
        &processor.rollup.address,
        &lc.config.unsafe_pvm_patches,
    )
    .map_err(|e| FollowError::Fatal(format!("{e}; fix the configuration file.")))?;
    processor.apply_unsafe_patches = lc.config.apply_unsafe_patches;
    processor.loser = loser_mode(&lc.config)?;
    processor.load_open_conflicts()?;
    set_status(&lc.status, |s| {
        s.open_conflicts = processor.open_conflicts().to_vec();
    });
    // `prefetch_blocks` (default: `l1_blocks_cache_size`) bounds the blocks fetched ahead.
    processor.prefetch = lc
        .config
        .prefetch_blocks
        .unwrap_or(lc.config.l1_blocks_cache_size)
        .clamp(1, 1024)
        .try_into()
        .unwrap_or(DEFAULT_PREFETCH);
    if let Some(n) = lc.test.catch_up_chunk {
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
    // Degraded mode retries after `loop_retry_delay` (octez-rollup-node.md §3, default 10 s).
    let loop_delay = Duration::from_secs_f64(lc.config.loop_retry_delay.clamp(0.1, 3600.0));
    if let Some(op) = operator.as_mut() {
        op.start(&mut processor)?;
    }
    main_loop(&mut processor, &mut monitor, lc, loop_delay, operator)
}

/// Next head from the monitor, skipping to the newest one queued; `None` when asked to stop.
fn latest_head(
    monitor: &mut HeadMonitor,
    rt: &Handle,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Option<BlockHeader> {
    let mut stop = stop.clone();
    let next = rt.block_on(async {
        tokio::select! {
            h = monitor.next() => h,
            _ = stop.wait_for(|s| *s) => None,
        }
    })?;
    let mut h = next;
    while let Some(n) = monitor.try_next() {
        h = n;
    }
    Some(h)
}

/// Reads the protocol constants the RPCs (`committed_status`, outbox) and metrics need into
/// the status; at start, and again at each head while a read has failed.
fn read_constants(l1: &L1, status: &Mutex<NodeStatus>) {
    match l1.call(l1.client.constants("main", "head")) {
        Ok(c) => set_status(status, |s| {
            s.constants = Some(node_context::RollupConstants {
                commitment_period: c.smart_rollup_commitment_period_in_blocks,
                challenge_window: c.smart_rollup_challenge_window_in_blocks,
                minimal_block_delay: u64::try_from(c.minimal_block_delay).unwrap_or(0),
                max_active_outbox_levels: c.smart_rollup_max_active_outbox_levels,
            });
        }),
        Err(e) => tracing::warn!(
            "Cannot read the protocol constants yet ({e}); retrying at the next head."
        ),
    }
}

fn main_loop(
    p: &mut Processor,
    monitor: &mut HeadMonitor,
    lc: &LoopConfig,
    delay: Duration,
    mut operator: Option<Box<dyn Operator>>,
) -> Result<(), FollowError> {
    let mut progress = ProgressLog::new();
    while let Some(mut head) = latest_head(monitor, &lc.rt, &lc.stop) {
        if lc.status.lock().constants.is_none() {
            read_constants(&p.l1, &lc.status);
        }
        loop {
            if stopping(&lc.stop) {
                return Ok(());
            }
            let stop = &lc.stop;
            let status = &lc.status;
            let mut started = Instant::now();
            let r = p.follow(&head, |level| {
                set_status(status, |s| {
                    s.processing.record(level.get(), started.elapsed())
                });
                started = Instant::now();
                progress.level_done(level, status);
                !stopping(stop)
            });
            match r {
                Ok(pr) => {
                    set_status(&lc.status, |s| {
                        s.degraded = false;
                        s.l1_error = None;
                    });
                    // History mode GC (§5.4), attempted after each processed head.
                    gc_after_head(p, lc);
                    if pr.reached_head {
                        if pr.processed > 0 {
                            tracing::info!(
                                "Processed {} level(s), L2 head at {:?}",
                                pr.processed,
                                pr.level
                            );
                        }
                        if p.timings.levels > 1 {
                            tracing::info!("Catch-up timings: {}", p.timings);
                        }
                        p.timings = crate::follower::Timings::default();
                        // The operator side acts once the node is at the L1 head (octez
                        // `rollup_node_daemon.ml`: publisher, cementer, injector on each head).
                        let events = p.take_events();
                        set_status(&lc.status, |s| record_conflicts(s, p, &events));
                        if let Some(op) = operator.as_mut() {
                            match op.on_head(p, &head, events) {
                                Ok(()) => {}
                                Err(e)
                                    if e.is_fatal()
                                        || matches!(
                                            e,
                                            FollowError::Stopped | FollowError::BondRecovered
                                        ) =>
                                {
                                    return Err(e);
                                }
                                // Operational (L1 or signer unreachable): the next head retries.
                                Err(e) => tracing::error!(
                                    "Error of the operator at L1 head {}: {e}",
                                    head.shell.level
                                ),
                            }
                        }
                        break;
                    }
                }
                Err(e)
                    if e.is_fatal()
                        || matches!(e, FollowError::Stopped | FollowError::BondRecovered) =>
                {
                    return Err(e);
                }
                // A configuration error (bad endpoint, certificate rejected) does not go away by
                // retrying, whenever it shows up: stop with its message, as at start.
                Err(FollowError::L1(e)) if e.is_fatal_config() => {
                    return Err(FollowError::L1Config(e));
                }
                // `--no-degraded` (octez-rollup-node.md §3 "Degraded mode"): exit instead.
                Err(e) if lc.config.no_degraded => {
                    return Err(FollowError::Fatal(format!(
                        "Error processing L1 head {}: {e}. Not entering degraded mode \
                         (--no-degraded): exiting.",
                        head.shell.level
                    )));
                }
                Err(e) => {
                    tracing::error!("Error processing L1 head {}: {e}", head.shell.level);
                    // An L1 that stopped answering: `/health` says which and what to do.
                    let l1_error = match &e {
                        FollowError::L1(l1) if l1.is_retryable() => Some(format!(
                            "Cannot reach the L1 node at {} ({l1}). Check that --endpoint names \
                             a running Tezos node and that it is reachable; retrying every {}s.",
                            lc.endpoint,
                            delay.as_secs_f64()
                        )),
                        FollowError::L1(l1) => Some(format!(
                            "The L1 node at {} answered with an error ({l1}). Check that \
                             --endpoint names a node of the rollup's network that keeps the \
                             blocks the node needs; retrying every {}s.",
                            lc.endpoint,
                            delay.as_secs_f64()
                        )),
                        _ => None,
                    };
                    set_status(&lc.status, |s| {
                        s.degraded = true;
                        s.l1_error = l1_error;
                    });
                    if !pause(&lc.rt, &lc.stop, delay) {
                        return Ok(());
                    }
                }
            }
            // A newer head may have arrived meanwhile.
            while let Some(n) = monitor.try_next() {
                head = n;
            }
        }
    }
    Ok(())
}

/// GC attempt after each processed head (§5.2 step 5), the follower's entry point: full
/// mode only; errors are logged and the GC is attempted again after the next head.
fn gc_after_head(p: &mut Processor, lc: &LoopConfig) {
    let r = (|| -> Result<(), gc::GcError> {
        if p.store.history_mode()? == Some(node_config::HistoryMode::Archive) {
            return Ok(());
        }
        let frequency = match lc.config.gc_parameters.frequency {
            Some(f) => f,
            None => {
                let cached = lc.gc.lock().challenge_window;
                let window = match cached {
                    Some(w) => w,
                    None => {
                        let c =
                            p.l1.call(p.l1.client.constants("main", "head"))
                                .map_err(|e| gc::GcError::Constants(e.to_string()))?;
                        let w = c.smart_rollup_challenge_window_in_blocks;
                        lc.gc.lock().challenge_window = Some(w);
                        w
                    }
                };
                node_store::gc::gc_frequency(None, window)
            }
        };
        let params = gc::GcParams {
            frequency,
            origination_level: p.rollup.origination_level,
            store_path: lc.dir.store(),
            lock_path: lc.dir.0.join("gc_lock"),
            test_delay: lc.test.gc_delay,
        };
        gc::maybe_gc(&mut p.store, &lc.ctx, &lc.gc, &params)?;
        Ok(())
    })();
    if let Err(e) = r {
        tracing::warn!("{e}");
    }
}

/// The configured `--loser-mode` (tests of the refutation game only).
///
/// # Errors
/// A malformed `loser-mode` entry (fatal: fix the configuration).
pub fn loser_mode(config: &node_config::Config) -> Result<wasm_pvm::loser::LoserMode, FollowError> {
    let failures = config
        .loser_failures()
        .map_err(|e| FollowError::Fatal(format!("{e}; fix the configuration file.")))?;
    let m = wasm_pvm::loser::LoserMode::from_failures(failures);
    if !m.is_honest() {
        tracing::warn!(
            "Loser mode: this node deliberately computes wrong states at {:?}; it will lose \
             its refutation games (tests only)",
            m.failures()
        );
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_without_its_context_is_reset_to_the_last_committed_block() {
        use pvm_store::context_hash;
        let mut store = Store::open_in_memory().unwrap();
        let ctx = Context::in_memory();
        for l in 1..=4 {
            let state = wasm_pvm::PvmState::genesis(
                wasm_pvm::PvmVersion::V6,
                &[0, b'a', b's', b'm', 1, 0, 0, 0, u8::try_from(l).unwrap()],
                &wasm_pvm::GenesisParams::default(),
            )
            .unwrap();
            // Levels 3 and 4 reference contexts that were never written (lost).
            let h = if l <= 2 {
                ctx.commit(&state).unwrap()
            } else {
                state.hash().unwrap()
            };
            let mut b = node_store::fixtures::sample_block(l);
            b.context = Some(context_hash(&h));
            store
                .transaction(|w| {
                    w.insert_block(&b)?;
                    w.set_level(Level::new(l).unwrap(), &b.block_hash)?;
                    w.set_head(&b.block_hash, Level::new(l).unwrap())
                })
                .unwrap();
        }
        reset_to_last_committed(&mut store, &ctx).unwrap();
        assert_eq!(
            store.head().unwrap().map(|b| b.level),
            Some(Level::from(2u8))
        );
        assert_eq!(store.levels_from(Level::from(3u8)).unwrap(), vec![]);
        // Nothing to do the second time.
        reset_to_last_committed(&mut store, &ctx).unwrap();
        assert_eq!(
            store.head().unwrap().map(|b| b.level),
            Some(Level::from(2u8))
        );
    }

    #[test]
    fn metadata_binds_the_data_dir_to_one_rollup() {
        let d = tempfile::tempdir().unwrap();
        let dir = DataDir(d.path().to_path_buf());
        let mut r = RollupInfo {
            address: "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            origination_level: Level::from(2u8),
            genesis_commitment: tezos_types::CommitmentHash::ZERO,
            commitment_period: 5,
            bail_on_disagree: false,
            lcc: (tezos_types::CommitmentHash::ZERO, Level::from(2u8)),
            operator: None,
            role: Role::default(),
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
    fn health_connection_from_the_monitor_status() {
        let mut m = MonitorStatus {
            connection: Connection::Connecting,
            last_head: None,
            last_head_at: None,
            reconnections: 0,
        };
        assert_eq!(connection_of(&m, false), L1Connection::Disconnected);
        m.connection = Connection::Connected {
            since: std::time::SystemTime::now(),
        };
        assert_eq!(connection_of(&m, true), L1Connection::Connected);
        m.connection = Connection::Disconnected {
            since: std::time::SystemTime::now(),
            reason: "stream closed".into(),
        };
        assert_eq!(connection_of(&m, true), L1Connection::Reconnecting);
        assert_eq!(connection_of(&m, false), L1Connection::Disconnected);
        let e = monitor_error(&m, "http://l1.example").unwrap();
        assert!(
            e.contains("http://l1.example")
                && e.contains("stream closed")
                && e.contains("--endpoint"),
            "{e}"
        );
        m.connection = Connection::Connecting;
        assert_eq!(monitor_error(&m, "http://l1.example"), None);
    }

    #[test]
    fn l1_settings_from_the_config() {
        let mut c = Config::new(
            "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            node_config::Mode::Observer,
        );
        c.l1_rpc_timeout = 7.0;
        c.reconnection_delay = 0.5;
        let l = l1_config(&c, "http://127.0.0.1:1");
        assert_eq!(l.endpoint, "http://127.0.0.1:1");
        assert_eq!(l.rpc_timeout, Duration::from_secs(7));
        assert_eq!(l.reconnection_delay, Duration::from_millis(500));
    }

    #[test]
    fn a_rollup_unknown_to_the_l1_is_recognised() {
        let rpc = |status: u16, id: &str| L1Error::Rpc {
            url: "u".into(),
            status,
            errors: vec![l1_client::RpcErrorItem {
                kind: "permanent".into(),
                id: id.into(),
            }],
        };
        assert!(rollup_unknown(&rpc(
            500,
            "proto.023-PtSeouLo.smart_rollup_does_not_exist"
        )));
        assert!(rollup_unknown(&rpc(500, "context.storage_error")));
        assert!(!rollup_unknown(&rpc(500, "proto.alpha.other")));
        let http = |status| L1Error::Http {
            url: "u".into(),
            status,
            snippet: String::new(),
        };
        assert!(rollup_unknown(&http(404)));
        assert!(!rollup_unknown(&http(502)));
        let down = L1Error::Connection {
            url: "u".into(),
            message: "refused".into(),
        };
        assert!(!rollup_unknown(&down));
    }

    #[test]
    fn boot_sector_files_are_hex() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.hex");
        std::fs::write(&p, " 0061736d01000000\n").unwrap();
        let path = p.to_str().unwrap();
        assert_eq!(read_boot_sector(path).unwrap(), b"\0asm\x01\0\0\0");
        std::fs::write(&p, "zz").unwrap();
        let e = read_boot_sector(path).unwrap_err().to_string();
        assert!(e.contains("is unparsable") && e.contains("k.hex"), "{e}");
        let e = read_boot_sector("/nonexistent/k.hex")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--boot-sector-file"), "{e}");
    }

    #[test]
    fn durations_format() {
        assert_eq!(fmt_secs(3725.2), "1h02m05s");
        assert_eq!(fmt_secs(-3.0), "0h00m00s");
    }
}
