//! `replay block <hash|level>` and `replay blocks from <l1> to <l2>` [--data-dir]
//! [--dal-node] (docs/reference/octez-rollup-node.md §1.3, debugging): evaluates each stored
//! level again from its predecessor's state with the inbox messages the node stored, and
//! compares the state hash and tick count with what the node recorded. Nothing is written: the
//! states stay in memory. DAL reveals are answered as the follower answers them
//! (docs/reference/dal.md §5): constants and cells from the L1 node (`-E`), pages from the DAL
//! node (`--dal-node`, else the configuration's, as Octez's replay reads it); a page the kernel
//! needs without a DAL node stops the replay with what to pass.
//!
//! The same evaluation rebuilds the contexts of a compact snapshot on import ([`Reconstruct`],
//! Octez's `reconstruct_context_from_first_available_level`): from the first available block's
//! state, each level is evaluated, committed, and its context hash checked against the block's.

use std::path::Path;

use node_context::DataDir;
use node_store::{L2Block, Store};
use pvm_wasmtime::WasmtimeEngine;
use tezos_types::Level;

use crate::simulation::DataDirRevealer;

/// Which levels to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// One block, by hash.
    Hash(tezos_types::BlockHash),
    /// Levels `from..=to`.
    Levels(Level, Level),
}

/// One replayed level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The block.
    pub block: L2Block,
    /// State hash computed now.
    pub state_hash: tezos_types::StateHash,
    /// Ticks computed now.
    pub ticks: u128,
}

impl Replayed {
    /// Whether the replay found what the node recorded.
    pub fn matches(&self) -> bool {
        self.block.state_hash == Some(self.state_hash)
            && tezos_types::Tick::new(self.ticks) == self.block.num_ticks
    }

    /// One line for the operator.
    pub fn line(&self) -> String {
        let b = &self.block;
        if self.matches() {
            format!(
                "Block {} at level {} replayed: state {}, {} ticks, as stored.",
                b.block_hash, b.level, self.state_hash, self.ticks
            )
        } else {
            format!(
                "Block {} at level {} replayed: state {} with {} ticks, but the node stored \
                 state {} with {} ticks.",
                b.block_hash,
                b.level,
                self.state_hash,
                self.ticks,
                b.state_hash
                    .map_or_else(|| "none".to_owned(), |h| h.to_string()),
                b.num_ticks
            )
        }
    }
}

fn block_at(store: &Store, level: Level) -> Result<L2Block, String> {
    store
        .block_by_level(level)
        .map_err(|e| format!("Cannot read the store: {e}"))?
        .ok_or_else(|| format!("No L2 block at level {level} in the store."))
}

/// Evaluates `block`'s stored inbox messages on `state` (its predecessor's state); returns
/// the ticks.
fn evaluate(
    state: &mut wasm_pvm::PvmState,
    store: &Store,
    block: &L2Block,
    engine: &mut dyn wasm_pvm::KernelEngine,
    reveal: &mut DataDirRevealer,
) -> Result<u128, String> {
    let messages = store
        .messages(&block.inbox_witness)
        .map_err(|e| format!("Cannot read the store: {e}"))?
        .ok_or_else(|| format!("No inbox messages stored for level {}.", block.level))?;
    state
        .process_level(block.level.to_u32(), &messages, engine, reveal, None)
        .map_err(|e| format!("The PVM failed at level {}: {e}", block.level))
}

/// The node's engine: the fast path, with the tick-level PVM for the windows it only
/// approximates (`pvm_tick::Exact`).
fn engine(dir: &DataDir) -> Result<pvm_tick::Exact<WasmtimeEngine>, String> {
    Ok(pvm_tick::Exact(
        WasmtimeEngine::new()
            .map_err(|e| format!("Cannot build the WASM engine: {e}."))?
            .with_disk_cache(dir.compiled_kernels()),
    ))
}

/// Rebuilds the contexts of a compact snapshot being imported (`snapshot::Reconstruct`), with
/// pre-images missing from the snapshot fetched from `pre_images_endpoint`.
pub struct Reconstruct {
    /// The configured pre-images endpoint, if any.
    pub pre_images_endpoint: Option<String>,
    /// Where DAL reveals are answered from during the replay (`None`: they are an error).
    pub dal: Option<DalAccess>,
}

/// The L1 node and DAL node a replay reads DAL reveals from (`snapshot import -E … --dal-node …`,
/// `replay block … -E … --dal-node …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DalAccess {
    /// The L1 node (`-E`).
    pub l1: String,
    /// The DAL node (`--dal-node`), if any.
    pub dal_node: Option<String>,
}

impl DalAccess {
    /// A DAL source over a runtime of its own (the offline commands have none). Without a DAL
    /// node, a page the kernel needs is an error naming `command` and `--dal-node`.
    fn source(
        &self,
        command: &'static str,
    ) -> Result<(tokio::runtime::Runtime, Box<dyn preimages::dal::DalSource>), String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("Cannot start a runtime for the L1 client: {e}"))?;
        let client = l1_client::L1Client::new(l1_client::L1Config::new(self.l1.clone()))
            .map_err(|e| format!("{e}; check the -E/--endpoint argument."))?;
        let src = node_follower::dal::DalRevealSource::standalone(
            client,
            rt.handle().clone(),
            self.dal_node.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        let src: Box<dyn preimages::dal::DalSource> = if self.dal_node.is_some() {
            Box::new(src)
        } else {
            Box::new(NoDalNode {
                inner: src,
                command,
            })
        };
        Ok((rt, src))
    }
}

/// The DAL source of an offline command given no DAL node: constants and cells from the L1
/// node decide which pages are empty (unattested slots, invalid page ids) as in the follower;
/// a page of an attested slot is an error saying to pass `--dal-node`, never an empty page.
struct NoDalNode {
    inner: node_follower::dal::DalRevealSource,
    command: &'static str,
}

impl preimages::dal::DalSource for NoDalNode {
    fn constants(&mut self, level: i32) -> Result<preimages::dal::DalConstants, String> {
        preimages::dal::DalSource::constants(&mut self.inner, level)
    }

    fn cells(&mut self, level: i32) -> Result<Option<Vec<inbox::dal::SkipListCell>>, String> {
        preimages::dal::DalSource::cells(&mut self.inner, level)
    }

    fn pages(&mut self, published_level: i32, index: u8) -> Result<Vec<Vec<u8>>, String> {
        Err(format!(
            "No DAL node provided: the kernel reads a page of slot {index} published at level \
             {published_level}, which the L1 attested; give `{}` the DAL node that serves it \
             with --dal-node <uri>.",
            self.command
        ))
    }
}

impl snapshot::Reconstruct for Reconstruct {
    fn reconstruct(&self, dir: &Path, bar: &indicatif::ProgressBar) -> Result<(), String> {
        let (context, store) = crate::offline::open(dir)?;
        let data_dir = DataDir(dir.to_path_buf());
        let first = store
            .first_stored_level()
            .map_err(|e| format!("Cannot read the store: {e}"))?
            .ok_or("The snapshot's store holds no L2 block.")?;
        let head = store
            .head()
            .map_err(|e| format!("Cannot read the store: {e}"))?
            .ok_or("The snapshot's store has no head.")?;
        let mut pred = block_at(&store, first)?;
        let mut state = context.state_of(&pred).map_err(|e| {
            format!(
                "The compact snapshot has no context for its first level {first} ({e}): it is \
                 corrupted; export it again."
            )
        })?;
        bar.set_length(head.level.distance_from(first).map_or(0, u64::from));
        let mut engine = engine(&data_dir)?;
        let mut reveal = DataDirRevealer::new(data_dir, self.pre_images_endpoint.clone());
        // Kept alive for the replay: the DAL source's L1 calls run on it.
        let mut _rt = None;
        if let Some(access) = &self.dal {
            let (rt, src) = access.source("snapshot import")?;
            _rt = Some(rt);
            reveal = reveal.with_dal(src);
        }
        // Levels as `int32` to iterate; each is in `first + 1 ..= head`, so non-negative.
        for level in (first.get().saturating_add(1)..=head.level.get()).filter_map(Level::new) {
            let block = block_at(&store, level)?;
            if block.predecessor != pred.block_hash {
                return Err(format!(
                    "The block at level {level} does not follow the block at level {}: the \
                     snapshot is corrupted.",
                    pred.level
                ));
            }
            evaluate(&mut state, &store, &block, &mut engine, &mut reveal)?;
            let hash = context
                .commit(&state)
                .map_err(|e| format!("Cannot commit the context of level {level}: {e}"))?;
            let rebuilt = pvm_store::context_hash(&hash);
            if block.context != Some(rebuilt) {
                return Err(format!(
                    "The context rebuilt for level {level} is {rebuilt} but the snapshot's \
                     block says {}: the snapshot is corrupted or was made by a node computing \
                     another state.",
                    block
                        .context
                        .map_or_else(|| "none".to_owned(), |c| c.to_string())
                ));
            }
            bar.inc(1);
            pred = block;
        }
        context
            .sync()
            .map_err(|e| format!("Cannot sync the rebuilt context: {e}"))
    }
}

/// Replays `what` on the stopped node's `data_dir`, calling `each` after each level. Pre-images
/// missing on disk come from the configuration's pre-images endpoint; DAL reveals from `dal`
/// (its DAL node, else the configuration's `"DAL node endpoint"` as Octez's replay reads it).
///
/// # Errors
/// A message saying what is wrong and what to do (missing blocks, contexts or messages; a
/// PVM error; a DAL page needed without a DAL node).
pub fn run(
    data_dir: &Path,
    what: &Replay,
    mut dal: DalAccess,
    mut each: impl FnMut(&Replayed),
) -> Result<Vec<Replayed>, String> {
    let (context, store) = crate::offline::open(data_dir)?;
    let dir = DataDir(data_dir.to_path_buf());
    let config = node_config::Config::load(&dir.0.join("config.json")).ok();
    let pre_images_endpoint = config.as_ref().and_then(|c| c.pre_images_endpoint.clone());
    if dal.dal_node.is_none() {
        dal.dal_node = config.and_then(|c| c.dal_node_endpoint);
    }
    let blocks: Vec<L2Block> = match what {
        Replay::Hash(h) => vec![
            store
                .block_by_hash(h)
                .map_err(|e| format!("Cannot read the store: {e}"))?
                .ok_or_else(|| format!("Block {h} is not in the rollup node's store."))?,
        ],
        Replay::Levels(from, to) => {
            if from > to {
                return Err(format!("Empty range: level {from} is above level {to}."));
            }
            (from.get()..=to.get())
                .filter_map(Level::new)
                .map(|l| block_at(&store, l))
                .collect::<Result<_, _>>()?
        }
    };
    let mut engine = engine(&dir)?;
    // The runtime drives the DAL source's L1 calls: kept alive for the replay.
    let (_rt, src) = dal.source("replay")?;
    let mut reveal = DataDirRevealer::new(dir, pre_images_endpoint).with_dal(src);
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        let pred = store
            .block_by_hash(&block.predecessor)
            .map_err(|e| format!("Cannot read the store: {e}"))?
            .ok_or_else(|| {
                format!(
                    "The predecessor of level {} is not in the store (pruned by the GC?): \
                     replay a later level.",
                    block.level
                )
            })?;
        let mut state = context.state_of(&pred).map_err(|e| {
            format!(
                "No PVM state for level {} ({e}): replay a later level.",
                pred.level
            )
        })?;
        let ticks = evaluate(&mut state, &store, &block, &mut engine, &mut reveal)?;
        let hash = state
            .to_tree()
            .and_then(|t| t.hash())
            .map_err(|e| format!("Cannot hash the state of level {}: {e}", block.level))?;
        let r = Replayed {
            block,
            state_hash: tezos_types::StateHash(hash.0),
            ticks,
        };
        each(&r);
        out.push(r);
    }
    Ok(out)
}
