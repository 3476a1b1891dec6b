//! Daemon shell (octez-rollup-node.md §3 common startup, §5.5 data dir, §8 shutdown/metrics):
//! prepares the data directory, opens the store, serves RPCs and metrics until a stop signal.
//! The L1 follower ([`node_follower::main_loop`]) runs on its own threads and updates the shared
//! [`NodeStatus`], the store and the context.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use node_config::{Config, Mode};
use node_context::{DataDir, NodeStatus};
use node_follower::main_loop::{self, LoopConfig, TestKnobs};
use node_rpc::metrics::NodeMetrics;
use node_rpc::{self as rpc, NodeView, StoreView};
use node_store::{Store, StoreError};
use pvm_store::Context;

/// Operational errors of the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// I/O on the data directory or sockets.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The injector's queues cannot be opened.
    #[error("Cannot open the injector: {0}")]
    Injector(#[from] injector::InjectorError),
    /// An operator key cannot be used.
    #[error(transparent)]
    Keys(Box<node_operator::keys::KeyError>),
    /// Bad `--metrics-addr`.
    #[error(transparent)]
    BadMetricsAddr(#[from] node_config::BadMetricsAddr),
    /// The context could not be opened.
    #[error("Cannot open the context: {0}")]
    Context(#[from] pvm_store::ContextError),
    /// The fatal error that stopped the L1 follower, carried from its thread as it is.
    #[error(transparent)]
    Follower(#[from] node_follower::FollowError),
    /// The L1 follower stopped without an error (a panic): the message says what to do.
    #[error("{0}")]
    Fatal(String),
    /// Full → archive refused (§5.4).
    #[error("Cannot transform a full rollup node into an archive one.")]
    FullToArchive,
    /// An option or configuration field this node does not implement yet, with a
    /// non-default value.
    #[error(transparent)]
    Unsupported(#[from] node_config::Unsupported),
    /// The data directory cannot be prepared (not a directory, or not writable).
    #[error(transparent)]
    DataDir(#[from] node_context::DataDirError),
    /// Bad `--cors-origins` / `--cors-headers` values.
    #[error(transparent)]
    Cors(#[from] node_rpc::cors::BadCorsHeader),
    /// The follower did not stop in time at shutdown.
    #[error(
        "The L1 follower did not stop within {0:?} of the stop request; the node exits \
         without waiting for it (the next start resumes from the last committed level)."
    )]
    FollowerStuck(Duration),
}

/// Read-only SQLite connections of the RPC server (requests beyond that many wait for a free
/// one on their blocking thread; `/health` never does).
pub const RPC_READ_CONNECTIONS: usize = 4;

/// How long a shutdown waits for the L1 follower (the level being processed, a context GC
/// in progress) before giving up.
pub const FOLLOWER_STOP_TIMEOUT: Duration = Duration::from_secs(60);

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
                    // The refresh reads the store: on a blocking thread, off the async workers.
                    let encoded = tokio::task::spawn_blocking(move || {
                        metrics.refresh(view.as_ref());
                        metrics.encode()
                    })
                    .await;
                    match encoded {
                        Ok(Ok(out)) => (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "text/plain; version=0.0.4",
                            )],
                            out,
                        )
                            .into_response(),
                        Ok(Err(_)) | Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
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

/// Where the operator keys come from: the client wallet (`-d/--base-dir`), the remote signer
/// of `remote:` keys (`-R`) and the passwords of encrypted keys (`-f`).
#[derive(Debug, Clone)]
pub struct KeySource {
    /// The client wallet directory.
    pub base_dir: std::path::PathBuf,
    /// `-R` and `-f`.
    pub options: signer::keys::KeyOptions,
}

/// The injector of the operator keys, its queues in `<data-dir>/injector/injector.sqlite`.
fn open_injector(
    config: &Config,
    dir: &DataDir,
    l1_endpoint: &str,
    keys: &std::collections::BTreeMap<tezos_types::PublicKeyHash, signer::keys::SigningKey>,
) -> Result<injector::Injector, DaemonError> {
    let injector_dir = dir.0.join("injector");
    std::fs::create_dir_all(&injector_dir)
        .map_err(|e| DaemonError::Io(injector_dir.display().to_string(), e))?;
    let settings = injector::Settings::from_config(config)
        .map_err(|e| DaemonError::Fatal(format!("Bad fee-parameters in the configuration: {e}")))?;
    let client = l1_client::L1Client::new(main_loop::l1_config(config, l1_endpoint))
        .map_err(|e| DaemonError::Fatal(format!("{e}; check the --endpoint argument.")))?;
    Ok(injector::Injector::open(
        &injector_dir.join("injector.sqlite"),
        settings,
        node_operator::keys::workers(config, keys),
        client,
        config.rollup_address,
    )?)
}

/// Runs the node until `stop` resolves. Returns after a clean shutdown.
pub async fn run(
    config: Config,
    data_dir: &Path,
    l1_endpoint: String,
    keys: KeySource,
    test: TestKnobs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    config.check_supported()?;
    // Every operator key must be usable before anything starts (Octez checks the wallet).
    let operator_keys = if config.mode == Mode::Observer {
        Default::default()
    } else {
        node_operator::keys::operator_keys(&config, &keys.base_dir, &keys.options)
            .map_err(|e| DaemonError::Keys(Box::new(e)))?
    };
    let cors = node_rpc::cors::cors_layer(&config.cors)?;
    let dir = DataDir(data_dir.to_path_buf());
    dir.create()?;
    let store = Store::open(&dir.store())?;
    // History mode: the config wins when given; full → archive is refused (§5.4).
    // Without a configured mode the stored one is kept (`node_store::gc::resolve_history_mode`).
    let mut store = store;
    let mode = match node_store::gc::check_and_set_history_mode(&mut store, config.history_mode) {
        Ok(m) => m,
        Err(node_store::gc::HistoryModeError::FullToArchive(_)) => {
            return Err(DaemonError::FullToArchive);
        }
        Err(node_store::gc::HistoryModeError::Store(e)) => return Err(e.into()),
    };
    let mut config = config;
    config.history_mode = Some(mode);
    // `/health` reads the L2 level from the status only (never the store): seeded with the
    // stored head, then set by the follower at each processed level.
    let mut initial = NodeStatus::default();
    // `NodeStatus` keeps the L1 client's `int32` levels.
    initial.processing.last_level = store.head()?.map(|b| b.level.get());
    let status = Arc::new(parking_lot::Mutex::new(initial));
    // The RPC server reads through read-only WAL connections; the follower opens the writer.
    drop(store);
    let readers = node_store::ReadPool::open(&dir.store(), RPC_READ_CONNECTIONS)?;
    let ctx = Context::open(&dir.context())?;
    let mut services = node_rpc::Services {
        simulator: Some(crate::simulation::simulator(
            &config,
            &dir,
            &ctx,
            &l1_endpoint,
        )?),
        ..Default::default()
    };
    // The operator side (every mode but observer): the injector and the publisher decisions.
    let operator: Option<Box<dyn main_loop::Operator>> = if config.mode == Mode::Observer {
        None
    } else {
        let injector = open_injector(&config, &dir, &l1_endpoint, &operator_keys)?;
        let sink = node_operator::sink::InjectorSink::new(
            injector.clone(),
            tokio::runtime::Handle::current(),
        );
        let mut op = node_operator::operator::NodeOperator::new(
            config.mode.clone(),
            config.operator(node_config::Purpose::Operating),
            sink,
        );
        if let Some(x) = node_operator::outbox::OutboxExecutor::from_config(&config)
            .map_err(|e| DaemonError::Fatal(format!("Bad configuration: {e}")))?
        {
            op = op.with_outbox(x);
        }
        if config
            .mode
            .can_inject(node_config::OperationKind::AddMessages)
        {
            let limits = batcher::Limits::from_config(&config.batcher)
                .map_err(|e| DaemonError::Fatal(format!("Bad batcher configuration: {e}")))?;
            let b = Arc::new(parking_lot::Mutex::new(batcher::Batcher::new(
                limits,
                Box::new(node_operator::sink::InjectorBatchSink(injector.clone())),
            )));
            services.batcher = Some(b.clone());
            op = op.with_batcher(b);
        }
        // The DAL injection queue (batching modes with --dal-node).
        if let Some(d) =
            node_operator::dal::DalInjection::from_config(&config, data_dir, injector.clone())
                .map_err(DaemonError::Fatal)?
        {
            services.dal_queue = Some(d.queue());
            op = op.with_dal(d);
        }
        services.injector = Some(injector);
        Some(Box::new(op))
    };
    let view = Arc::new(StoreView {
        config: config.clone(),
        store: Arc::new(readers),
        status: status.clone(),
        durable: Some(Arc::new(ctx.clone())),
        context: Some(ctx.clone()),
        services,
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
    let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel::<node_follower::FollowError>();
    let lc = LoopConfig {
        config: config.clone(),
        dir: dir.clone(),
        endpoint: l1_endpoint.clone(),
        ctx,
        status: status.clone(),
        gc: parking_lot::Mutex::default(),
        stop: stop_rx,
        rt: tokio::runtime::Handle::current(),
        test,
    };
    let follower = std::thread::Builder::new()
        .name("l1-follower".into())
        .spawn(move || {
            if let Err(e) = main_loop::run(lc, operator) {
                let _ = fatal_tx.send(e);
            }
        })
        .map_err(|e| DaemonError::Io("follower thread".into(), e))?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let metrics = match &config.metrics_addr {
        Some(m) => {
            let addr = node_config::metrics_socket(m)?;
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
        r = fatal_rx => Some(r.map_or_else(|_| {
            DaemonError::Fatal(
                "The L1 follower stopped unexpectedly; see the log above, then restart the node."
                    .to_string(),
            )
        }, DaemonError::Follower)),
    };
    // Bailout mode ends successfully once the operator's bond is recovered (Octez event
    // `smart_rollup_node_daemon_exit_bailout_mode`).
    let fatal = match fatal {
        Some(DaemonError::Follower(node_follower::FollowError::BondRecovered)) => {
            tracing::info!(
                "Exit bailout mode - stakes have been recovered, and the node is exiting \
                 safely now"
            );
            None
        }
        f => f,
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
    // The join waits on a plain thread, not on a runtime blocking task: the runtime is dropped
    // after a timeout, which must not wait for the join (`main` then exits without it).
    let (joined_tx, joined_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("follower-join".into())
        .spawn(move || {
            let _ = joined_tx.send(follower.join().is_ok());
        })
        .map_err(|e| DaemonError::Io("follower join thread".into(), e))?;
    let joined = tokio::time::timeout(FOLLOWER_STOP_TIMEOUT, joined_rx).await;
    let fatal = match joined {
        Err(_) => return Err(DaemonError::FollowerStuck(FOLLOWER_STOP_TIMEOUT)),
        Ok(Ok(true)) => fatal,
        Ok(Ok(false) | Err(_)) => Some(fatal.unwrap_or_else(|| {
            DaemonError::Fatal(
                "The L1 follower panicked while stopping; see the log above, then restart the node."
                    .to_string(),
            )
        })),
    };
    tracing::info!("Closing store");
    if let Some(e) = fatal {
        return Err(e);
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
