//! Daemon shell (octez-rollup-node.md §3 common startup, §5.5 data dir, §8 shutdown/metrics):
//! prepares the data directory, opens the store, serves RPCs and metrics until a stop signal.
//! The L1 follower ([`crate::main_loop`]) runs on its own threads and updates the shared
//! [`NodeStatus`], the store and the context.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::config::{Config, DEFAULT_METRICS_PORT, Mode};
use crate::context::Context;
use crate::main_loop::{self, LoopConfig};
use crate::rpc::{self, NodeStatus, StoreView};
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

    /// Creates the directories.
    pub fn create(&self) -> Result<(), DaemonError> {
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

async fn serve_metrics(
    addr: SocketAddr,
    registry: Arc<Registry>,
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
                let registry = registry.clone();
                async move {
                    let mut out = String::new();
                    match encode(&mut out, &registry) {
                        Ok(()) => (
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
    let dir = DataDir(data_dir.to_path_buf());
    dir.create()?;
    let store = Store::open(&dir.store())?;
    // History mode: the config wins when given; full → archive is refused (§5.4).
    let mut store = store;
    let stored = store.history_mode()?;
    let mode = config.effective_history_mode();
    if stored == Some(crate::config::HistoryMode::Full)
        && mode == crate::config::HistoryMode::Archive
    {
        return Err(DaemonError::FullToArchive);
    }
    store.transaction(|w| w.set_history_mode(mode))?;
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
    // The L1 follower: its own threads (blocking L1 calls, PVM execution).
    let stop_follower = Arc::new(AtomicBool::new(false));
    let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel::<String>();
    let lc = LoopConfig {
        config: config.clone(),
        dir: dir.clone(),
        endpoint: l1_endpoint.clone(),
        ctx,
        status: status.clone(),
        stop: stop_follower.clone(),
    };
    std::thread::Builder::new()
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
            let registry = Arc::new(metrics_registry(&config));
            tracing::info!("Metrics server listening on {addr}");
            Some(tokio::spawn(serve_metrics(
                addr,
                registry,
                wait(rx.clone()),
            )))
        }
        None => None,
    };
    let server = axum::serve(listener, rpc::router(view)).with_graceful_shutdown(wait(rx));
    let server = tokio::spawn(async move { server.await });
    let fatal = tokio::select! {
        () = stop => None,
        r = fatal_rx => r.ok(),
    };
    stop_follower.store(true, Ordering::Relaxed);
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
