//! The simulation RPC's runner (`POST /global/block/<b>/simulate`, octez-rollup-node.md §4.2):
//! the committed states, a WASM engine of its own, the node's pre-images, and L1 timestamps.

use std::sync::Arc;

use node_config::Config;
use node_context::DataDir;
use node_rpc::simulate::{PvmSimulator, Simulator};
use preimages::{PreimageStore, Revealer, RollupMetadata};
use pvm_store::Context;
use pvm_wasmtime::WasmtimeEngine;
use tezos_types::SmartRollupAddress;
use wasm_pvm::{RevealError, RevealHandler};

use crate::daemon::DaemonError;

/// The reveal channel of simulations: the node's pre-images (and its pre-images endpoint),
/// with the rollup's metadata read at first use from `<data-dir>/metadata`, which the follower
/// writes when it starts following the rollup.
pub(crate) struct DataDirRevealer {
    dir: DataDir,
    endpoint: Option<String>,
    inner: Option<Revealer>,
    /// DAL reveals' source, given to the revealer when it is built (`None`: DAL reveals are
    /// an error that says what is missing).
    dal: Option<Box<dyn preimages::dal::DalSource>>,
    inbox_level: u32,
}

impl DataDirRevealer {
    /// The node's pre-images in `dir`, fetched from `endpoint` when missing.
    pub(crate) fn new(dir: DataDir, endpoint: Option<String>) -> Self {
        Self {
            dir,
            endpoint,
            inner: None,
            dal: None,
            inbox_level: 0,
        }
    }

    /// Answers DAL reveals from `dal`.
    pub(crate) fn with_dal(mut self, dal: Box<dyn preimages::dal::DalSource>) -> Self {
        self.dal = Some(dal);
        self
    }

    fn revealer(&mut self) -> Result<&mut Revealer, RevealError> {
        if self.inner.is_none() {
            let path = self.dir.0.join("metadata");
            let text = std::fs::read(&path).map_err(|e| {
                RevealError(format!(
                    "the node has not started following its rollup yet ({}: {e})",
                    path.display()
                ))
            })?;
            let v: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| RevealError(format!("{}: {e}", path.display())))?;
            let address: SmartRollupAddress = v["rollup_address"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| RevealError(format!("{}: no rollup_address", path.display())))?;
            let origination_level = v["genesis_info"]["level"]
                .as_i64()
                .and_then(|l| i32::try_from(l).ok())
                .ok_or_else(|| RevealError(format!("{}: no genesis_info.level", path.display())))?;
            let mut store = PreimageStore::new(self.dir.preimages());
            if let Some(ep) = &self.endpoint {
                store = store
                    .with_endpoint("--pre-images-endpoint", ep)
                    .map_err(|e| RevealError(e.to_string()))?;
            }
            let mut revealer = Revealer::new(
                store,
                RollupMetadata {
                    address: address.0,
                    origination_level,
                },
            );
            if let Some(dal) = self.dal.take() {
                revealer = revealer.with_dal(dal);
            }
            revealer.set_inbox_level(i32::try_from(self.inbox_level).unwrap_or(i32::MAX));
            self.inner = Some(revealer);
        }
        self.inner
            .as_mut()
            .ok_or_else(|| RevealError("no reveal channel".into()))
    }
}

impl RevealHandler for DataDirRevealer {
    fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, RevealError> {
        self.revealer()?.reveal(request)
    }

    fn set_inbox_level(&mut self, level: u32) {
        self.inbox_level = level;
        if let Some(r) = self.inner.as_mut() {
            r.set_inbox_level(i32::try_from(level).unwrap_or(i32::MAX));
        }
    }
}

/// The node's simulator.
///
/// # Errors
/// The WASM engine or the L1 client cannot be built.
pub fn simulator(
    config: &Config,
    dir: &DataDir,
    ctx: &Context,
    l1_endpoint: &str,
) -> Result<Arc<dyn Simulator>, DaemonError> {
    let engine = pvm_tick::Exact(
        WasmtimeEngine::new()
            .map_err(|e| DaemonError::Fatal(format!("Cannot build the WASM engine: {e}.")))?
            .with_disk_cache(dir.compiled_kernels()),
    );
    let client = l1_client::L1Client::new(node_follower::main_loop::l1_config(config, l1_endpoint))
        .map_err(|e| DaemonError::Fatal(format!("{e}; check the --endpoint argument.")))?;
    let rt = tokio::runtime::Handle::current();
    // DAL reveals as the follower answers them (constants and cells from L1, pages from the DAL
    // node).
    let dal = Box::new(
        node_follower::dal::DalRevealSource::standalone(
            client.clone(),
            rt.clone(),
            config.dal_node_endpoint.as_deref(),
        )
        .map_err(|e| DaemonError::Fatal(e.to_string()))?,
    );
    let l1_timestamp = Box::new(move |hash: &tezos_types::BlockHash| {
        let header = rt
            .block_on(client.shell_header("main", &hash.to_b58check()))
            .map_err(|e| e.to_string())?;
        Ok(header.timestamp.0)
    });
    let kernel_logs = config
        .log_kernel_debug
        .then(|| dir.0.join("simulation_kernel_logs"));
    Ok(Arc::new(PvmSimulator::new(
        ctx.clone(),
        Box::new(engine),
        Box::new(
            DataDirRevealer::new(dir.clone(), config.pre_images_endpoint.clone()).with_dal(dal),
        ),
        l1_timestamp,
        kernel_logs,
    )))
}
