//! Daemon shell (octez-rollup-node.md §3 common startup, §5.5 data dir, §8 shutdown/metrics):
//! prepares the data directory, opens the store, serves RPCs and metrics until a stop signal.
//! The L1 follower ([`crate::main_loop`]) runs on its own threads and updates the shared
//! [`NodeStatus`], the store and the context.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::config::{Config, DEFAULT_METRICS_PORT, Mode};
use crate::context::Context;
use crate::main_loop::{self, LoopConfig};
use crate::rpc::{self, NodeStatus, NodeView, StoreView};
use crate::store::{Store, StoreError};

/// Operational errors of the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// I/O on the data directory or sockets.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A mode this node cannot run yet.
    #[error("Mode {0} is not yet supported by this rollup node (only observer mode can run).")]
    UnsupportedMode(String),
    /// Bad `--metrics-addr`.
    #[error("Invalid metrics address {0}")]
    BadMetricsAddr(String),
    /// The context could not be opened.
    #[error("Cannot open the context: {0}")]
    Context(String),
    /// A fatal error of the L1 follower.
    #[error("{0}")]
    Fatal(String),
    /// Full → archive refused (§5.4).
    #[error("Cannot transform a full rollup node into an archive one.")]
    FullToArchive,
    /// An option or configuration field this node does not implement yet, with a
    /// non-default value.
    #[error(transparent)]
    Unsupported(#[from] crate::config::Unsupported),
    /// The data directory path exists but is not a directory.
    #[error(
        "The data directory {0} exists and is not a directory (--data-dir names a file); \
         choose a directory, or remove the file."
    )]
    DataDirNotADirectory(PathBuf),
    /// Bad `--cors-origins` / `--cors-headers` values.
    #[error("{0}")]
    Cors(String),
    /// The follower did not stop in time at shutdown.
    #[error(
        "The L1 follower did not stop within {0:?} of the stop request; the node exits \
         without waiting for it (the next start resumes from the last committed level)."
    )]
    FollowerStuck(Duration),
}

/// How long a shutdown waits for the L1 follower (the level being processed, a context GC
/// in progress) before giving up.
pub const FOLLOWER_STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether `origin` is allowed by the entry `allowed` (resto's `Cors.check_origin_matches`,
/// used by Octez's RPC servers): `*`, the same origin, or a prefix of it followed by `/`.
pub fn cors_origin_matches(allowed: &str, origin: &str) -> bool {
    allowed == "*"
        || allowed == origin
        || origin
            .strip_prefix(allowed)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The CORS layer of the RPC server from `--cors-origins` / `--cors-headers` (`cors` in
/// config.json; docs/reference/octez-rollup-node.md §1.3): no layer without allowed origins;
/// `*` allows any origin (answered `*`), otherwise a request's origin matching an entry
/// ([`cors_origin_matches`]) is echoed; preflight requests get the allowed headers and methods.
pub fn cors_layer(
    cors: &crate::config::Cors,
) -> Result<Option<tower_http::cors::CorsLayer>, DaemonError> {
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if cors.allowed_origins.is_empty() {
        return Ok(None);
    }
    let origin = if cors.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let allowed = cors.allowed_origins.clone();
        AllowOrigin::predicate(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|o| allowed.iter().any(|a| cors_origin_matches(a, o)))
        })
    };
    let headers = cors
        .allowed_headers
        .iter()
        .map(|h| {
            HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| DaemonError::Cors(format!("--cors-headers: invalid header {h:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_headers(headers)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ]),
    ))
}

/// Data directory layout (§5.5).
#[derive(Debug, Clone)]
pub struct DataDir(pub PathBuf);

impl DataDir {
    /// `store.sqlite`.
    pub fn store(&self) -> PathBuf {
        self.0.join("store.sqlite")
    }
    /// `context/`.
    pub fn context(&self) -> PathBuf {
        self.0.join("context")
    }
    /// `wasm_2_0_0/` (reveal pre-images).
    pub fn preimages(&self) -> PathBuf {
        self.0.join("wasm_2_0_0")
    }
    /// `compiled-kernels/`: kernels compiled by the PVM engine, kept across restarts
    /// (`crates/pvm-wasmtime/src/disk_cache.rs`; an addition of this node, safe to delete).
    pub fn compiled_kernels(&self) -> PathBuf {
        self.0.join("compiled-kernels")
    }

    /// Creates the directories.
    pub fn create(&self) -> Result<(), DaemonError> {
        if self.0.exists() && !self.0.is_dir() {
            return Err(DaemonError::DataDirNotADirectory(self.0.clone()));
        }
        for d in [self.0.clone(), self.context(), self.preimages()] {
            std::fs::create_dir_all(&d).map_err(|e| DaemonError::Io(d.display().to_string(), e))?;
        }
        Ok(())
    }
}

/// Parses `ADDR:PORT | :PORT | ADDR` (default port 9933).
pub fn metrics_socket(s: &str) -> Result<SocketAddr, DaemonError> {
    let bad = || DaemonError::BadMetricsAddr(s.to_string());
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, p.parse::<u16>().map_err(|_| bad())?),
        _ => (s, DEFAULT_METRICS_PORT),
    };
    let host = match host {
        "" | "localhost" => "127.0.0.1",
        h => h.trim_start_matches('[').trim_end_matches(']'),
    };
    Ok(SocketAddr::new(host.parse().map_err(|_| bad())?, port))
}

/// The metrics registry (`octez_sc_rollup_node_*`).
pub fn metrics_registry(config: &Config) -> Registry {
    let mut reg = Registry::with_prefix("octez_sc_rollup_node");
    let info: Family<Vec<(String, String)>, Gauge> = Family::default();
    info.get_or_create(&vec![
        ("rollup_address".into(), config.rollup_address.to_b58check()),
        ("mode".into(), config.mode.name().into()),
        ("pvm_kind".into(), "wasm_2_0_0".into()),
        (
            "history_mode".into(),
            config.effective_history_mode().as_str().into(),
        ),
    ])
    .set(1);
    reg.register("rollup_node_info", "Rollup node info", info);
    let node_info: Family<Vec<(String, String)>, Gauge> = Family::default();
    node_info
        .get_or_create(&vec![("version".into(), crate::VERSION.into())])
        .set(1);
    reg.register("node_info", "Rollup node version", node_info);
    reg
}

/// Gauges refreshed from the node's state at each scrape (octez-rollup-node.md §8 metrics,
/// Octez `metrics.ml` names and help texts). `l1_connected` and `l1_head_level` are
/// additions of this node (Octez has no L1-connection gauge).
pub struct NodeMetrics {
    registry: Registry,
    inbox_level: Gauge,
    internal_messages: Gauge,
    external_messages: Gauge,
    process_time: Gauge<f64, std::sync::atomic::AtomicU64>,
    lcc_level_local: Gauge,
    lpc_level_local: Gauge,
    commitment_period: Gauge,
    challenge_window: Gauge,
    l1_connected: Gauge,
    l1_head_level: Gauge,
}

impl NodeMetrics {
    /// The registry of [`metrics_registry`] plus the node gauges.
    pub fn new(config: &Config) -> Self {
        let mut registry = metrics_registry(config);
        let mut gauge = |name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let inbox_level = gauge("inbox_level", "Level of last inbox");
        let internal_messages = gauge(
            "inbox_internal_messages_number",
            "Number of internal messages in inbox",
        );
        let external_messages = gauge(
            "inbox_external_messages_number",
            "Number of external messages in inbox",
        );
        let lcc_level_local = gauge("lcc_level_local", "Last cemented commitment level locally");
        let lpc_level_local = gauge("lpc_level_local", "Last published commitment by operator");
        let commitment_period = gauge("commitment_period", "Current commitment period");
        let challenge_window = gauge("challenge_window", "Current challenge window");
        let l1_connected = gauge(
            "l1_connected",
            "Whether the rollup node receives L1 heads (1) or not (0)",
        );
        let l1_head_level = gauge("l1_head_level", "Level of the last L1 head seen");
        let process_time = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "inbox_process_time",
            "The time the rollup node spent processing the head",
            process_time.clone(),
        );
        Self {
            registry,
            inbox_level,
            internal_messages,
            external_messages,
            process_time,
            lcc_level_local,
            lpc_level_local,
            commitment_period,
            challenge_window,
            l1_connected,
            l1_head_level,
        }
    }

    /// Sets the gauges from the node's store and status.
    pub fn refresh(&self, view: &dyn NodeView) {
        let status = view.status();
        self.l1_connected.set(i64::from(
            status.l1_connection == rpc::L1Connection::Connected,
        ));
        if let Some(h) = &status.l1_head {
            self.l1_head_level.set(h.level.into());
        }
        if let Some(c) = &status.constants {
            self.commitment_period.set(c.commitment_period.into());
            self.challenge_window.set(c.challenge_window.into());
        }
        if status.processing.levels > 0 {
            self.process_time.set(status.processing.last_secs);
        }
        match view.block(&rpc::BlockId::Head) {
            Ok(Some(head)) => {
                self.inbox_level.set(head.level.into());
                if let Ok(Some(messages)) = view.messages(&head) {
                    // Serialized inbox messages: tag 0 internal, 1 external.
                    let internal = messages.iter().filter(|m| m.first() == Some(&0)).count();
                    let external = messages.len().saturating_sub(internal);
                    self.internal_messages
                        .set(i64::try_from(internal).unwrap_or(i64::MAX));
                    self.external_messages
                        .set(i64::try_from(external).unwrap_or(i64::MAX));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("metrics: {e}"),
        }
        if let Ok(Some((_, l))) = view.lcc() {
            self.lcc_level_local.set(l.into());
        }
        if let Ok(Some((_, l))) = view.lpc() {
            self.lpc_level_local.set(l.into());
        }
    }

    /// Prometheus text of the registry.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Serves `GET /metrics` (any other path: 400, §8) on `addr` until `stop`.
async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<NodeMetrics>,
    view: Arc<dyn NodeView>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| DaemonError::Io(format!("metrics server {addr}"), e))?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                let view = view.clone();
                async move {
                    metrics.refresh(view.as_ref());
                    match metrics.encode() {
                        Ok(out) => (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "text/plain; version=0.0.4",
                            )],
                            out,
                        )
                            .into_response(),
                        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    }
                }
            }),
        )
        .fallback(|| async { StatusCode::BAD_REQUEST });
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| DaemonError::Io("metrics server".into(), e))
}

/// Runs the node until `stop` resolves. Returns after a clean shutdown.
pub async fn run(
    config: Config,
    data_dir: &Path,
    l1_endpoint: String,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    if config.mode != Mode::Observer {
        return Err(DaemonError::UnsupportedMode(config.mode.name().to_string()));
    }
    config.check_supported()?;
    let cors = cors_layer(&config.cors)?;
    let dir = DataDir(data_dir.to_path_buf());
    dir.create()?;
    let store = Store::open(&dir.store())?;
    // History mode: the config wins when given; full → archive is refused (§5.4).
    // Without a configured mode the stored one is kept (`crate::gc::resolve_history_mode`).
    let mut store = store;
    let mode = match crate::gc::check_and_set_history_mode(&mut store, config.history_mode) {
        Ok(m) => m,
        Err(crate::gc::HistoryModeError::FullToArchive(_)) => {
            return Err(DaemonError::FullToArchive);
        }
        Err(crate::gc::HistoryModeError::Store(e)) => return Err(e.into()),
    };
    let mut config = config;
    config.history_mode = Some(mode);
    let status = Arc::new(Mutex::new(NodeStatus::default()));
    let ctx = Context::open(&dir.context()).map_err(|e| DaemonError::Context(e.to_string()))?;
    let view = Arc::new(StoreView {
        config: config.clone(),
        store: Arc::new(Mutex::new(store)),
        status: status.clone(),
        durable: Some(Arc::new(ctx.clone())),
        context: Some(ctx.clone()),
    });
    let listener = rpc::bind(&config).await.map_err(|e| {
        DaemonError::Io(
            format!("RPC server {}:{}", config.rpc_addr, config.rpc_port),
            e,
        )
    })?;
    tracing::info!(
        l1_endpoint = %l1_endpoint,
        "The smart rollup node is listening to {}:{}",
        config.rpc_addr,
        config.rpc_port
    );
    // The L1 follower: its own thread (PVM execution, SQLite); its L1 I/O (head monitor,
    // RPCs) runs on this runtime.
    let (stop_follower, stop_rx) = tokio::sync::watch::channel(false);
    let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel::<String>();
    let lc = LoopConfig {
        config: config.clone(),
        dir: dir.clone(),
        endpoint: l1_endpoint.clone(),
        ctx,
        status: status.clone(),
        stop: stop_rx,
        rt: tokio::runtime::Handle::current(),
    };
    let follower = std::thread::Builder::new()
        .name("l1-follower".into())
        .spawn(move || {
            if let Err(e) = main_loop::run(lc) {
                let _ = fatal_tx.send(e.to_string());
            }
        })
        .map_err(|e| DaemonError::Io("follower thread".into(), e))?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let metrics = match &config.metrics_addr {
        Some(m) => {
            let addr = metrics_socket(m)?;
            let metrics = Arc::new(NodeMetrics::new(&config));
            tracing::info!("Metrics server listening on {addr}");
            Some(tokio::spawn(serve_metrics(
                addr,
                metrics,
                view.clone(),
                wait(rx.clone()),
            )))
        }
        None => None,
    };
    let router = rpc::router_with_shutdown(view, rx.clone());
    let router = match cors {
        Some(layer) => router.layer(layer),
        None => router,
    };
    let server = axum::serve(listener, router).with_graceful_shutdown(wait(rx));
    let server = tokio::spawn(async move { server.await });
    let fatal = tokio::select! {
        () = stop => None,
        // The follower only ends on its own on a fatal error (or a panic: no message).
        r = fatal_rx => Some(r.unwrap_or_else(|_| {
            "The L1 follower stopped unexpectedly; see the log above, then restart the node."
                .to_string()
        })),
    };
    let _ = stop_follower.send(true);
    tracing::info!("Shutting down RPC server");
    let _ = tx.send(true);
    let rpc_result = server.await;
    if let Some(m) = metrics {
        match m.await {
            Ok(Err(e)) => tracing::warn!("metrics server: {e}"),
            Err(e) => tracing::warn!("metrics server task: {e}"),
            Ok(Ok(())) => {}
        }
    }
    // The follower is joined (bounded) before the store is closed and the runtime it uses
    // shuts down.
    tracing::info!("Stopping the L1 follower");
    let joined = tokio::time::timeout(
        FOLLOWER_STOP_TIMEOUT,
        tokio::task::spawn_blocking(move || follower.join()),
    )
    .await;
    let fatal = match joined {
        Err(_) => return Err(DaemonError::FollowerStuck(FOLLOWER_STOP_TIMEOUT)),
        Ok(Ok(Ok(()))) => fatal,
        Ok(Ok(Err(_)) | Err(_)) => Some(fatal.unwrap_or_else(|| {
            "The L1 follower panicked while stopping; see the log above, then restart the node."
                .to_string()
        })),
    };
    tracing::info!("Closing store");
    if let Some(m) = fatal {
        return Err(DaemonError::Fatal(m));
    }
    match rpc_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(DaemonError::Io("RPC server".into(), e)),
        Err(e) => Err(DaemonError::Io(
            "RPC server task".into(),
            std::io::Error::other(e.to_string()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_match_as_in_resto() {
        assert!(cors_origin_matches("*", "http://a.example"));
        assert!(cors_origin_matches("http://a.example", "http://a.example"));
        assert!(cors_origin_matches(
            "http://a.example",
            "http://a.example/x"
        ));
        assert!(!cors_origin_matches(
            "http://a.example",
            "http://a.example.evil"
        ));
        assert!(!cors_origin_matches("http://a.example", "http://b.example"));
        let none = crate::config::Cors::default();
        assert!(cors_layer(&none).unwrap().is_none());
        let bad = crate::config::Cors {
            allowed_headers: vec!["bad header".into()],
            allowed_origins: vec!["*".into()],
        };
        assert!(
            cors_layer(&bad)
                .unwrap_err()
                .to_string()
                .contains("--cors-headers")
        );
    }

    #[test]
    fn metrics_addresses() {
        assert_eq!(
            metrics_socket(":1234").unwrap(),
            "127.0.0.1:1234".parse().unwrap()
        );
        assert_eq!(
            metrics_socket("0.0.0.0").unwrap(),
            "0.0.0.0:9933".parse().unwrap()
        );
        assert_eq!(
            metrics_socket("10.0.0.1:9").unwrap(),
            "10.0.0.1:9".parse().unwrap()
        );
        assert!(metrics_socket("nope:x").is_err());
    }

    #[test]
    fn node_metrics_follow_the_store_and_status() {
        let c = Config::new(
            "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            Mode::Observer,
        );
        let mut store = Store::open_in_memory().unwrap();
        let b = crate::store::tests::sample_block(7);
        store
            .transaction(|w| {
                w.insert_block(&b)?;
                w.set_level(7, &b.block_hash)?;
                w.set_head(&b.block_hash, 7)?;
                w.insert_messages(
                    &b.inbox_witness,
                    7,
                    &crate::store::encode_message_list(&[vec![0, 1], vec![1, 9], vec![1, 8]]),
                )?;
                w.set_lcc(&tezos_types::CommitmentHash::ZERO, 5)
            })
            .unwrap();
        let mut status = NodeStatus {
            l1_connection: rpc::L1Connection::Connected,
            constants: Some(rpc::RollupConstants {
                commitment_period: 20,
                challenge_window: 40,
                minimal_block_delay: 8,
            }),
            ..NodeStatus::default()
        };
        status
            .processing
            .record(7, std::time::Duration::from_millis(250));
        let view = StoreView {
            config: c.clone(),
            store: Arc::new(Mutex::new(store)),
            status: Arc::new(Mutex::new(status)),
            durable: None,
            context: None,
        };
        let m = NodeMetrics::new(&c);
        m.refresh(&view);
        let out = m.encode().unwrap();
        for line in [
            "octez_sc_rollup_node_inbox_level 7",
            "octez_sc_rollup_node_inbox_internal_messages_number 1",
            "octez_sc_rollup_node_inbox_external_messages_number 2",
            "octez_sc_rollup_node_inbox_process_time 0.25",
            "octez_sc_rollup_node_lcc_level_local 5",
            "octez_sc_rollup_node_commitment_period 20",
            "octez_sc_rollup_node_challenge_window 40",
            "octez_sc_rollup_node_l1_connected 1",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} not in\n{out}");
        }
    }

    #[test]
    fn registry_encodes() {
        let c = Config::new(
            "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            Mode::Observer,
        );
        let mut out = String::new();
        encode(&mut out, &metrics_registry(&c)).unwrap();
        assert!(
            out.contains("octez_sc_rollup_node_rollup_node_info"),
            "{out}"
        );
    }
}
