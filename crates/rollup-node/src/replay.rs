//! `replay block <hash|level>` and `replay blocks from <l1> to <l2>` [--data-dir]
//! (octez-rollup-node.md §1.3, debugging): evaluates each stored level again from its
//! predecessor's state with the inbox messages the node stored, and compares the state hash and
//! tick count with what the node recorded. Nothing is written: the states stay in memory.

use std::path::Path;

use node_context::DataDir;
use node_store::{L2Block, Store};
use pvm_wasmtime::WasmtimeEngine;

use crate::simulation::DataDirRevealer;

/// Which levels to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// One block, by hash.
    Hash(tezos_types::BlockHash),
    /// Levels `from..=to`.
    Levels(i32, i32),
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
            && i64::try_from(self.ticks).ok() == Some(self.block.num_ticks)
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

fn block_at(store: &Store, level: i32) -> Result<L2Block, String> {
    store
        .block_by_level(level)
        .map_err(|e| format!("Cannot read the store: {e}"))?
        .ok_or_else(|| format!("No L2 block at level {level} in the store."))
}

/// Replays `what` on the stopped node's `data_dir`, calling `each` after each level.
///
/// # Errors
/// A message saying what is wrong and what to do (missing blocks, contexts or messages; a
/// PVM error).
pub fn run(
    data_dir: &Path,
    pre_images_endpoint: Option<String>,
    what: &Replay,
    mut each: impl FnMut(&Replayed),
) -> Result<Vec<Replayed>, String> {
    let (context, store) = crate::offline::open(data_dir)?;
    let dir = DataDir(data_dir.to_path_buf());
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
            (*from..=*to)
                .map(|l| block_at(&store, l))
                .collect::<Result<_, _>>()?
        }
    };
    let mut engine = WasmtimeEngine::new()
        .map_err(|e| format!("Cannot build the WASM engine: {e}."))?
        .with_disk_cache(dir.compiled_kernels());
    let mut reveal = DataDirRevealer::new(dir, pre_images_endpoint);
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
        let messages = store
            .messages(&block.inbox_witness)
            .map_err(|e| format!("Cannot read the store: {e}"))?
            .ok_or_else(|| format!("No inbox messages stored for level {}.", block.level))?;
        let level = u32::try_from(block.level).map_err(|_| format!("Bad level {}", block.level))?;
        let ticks = state
            .process_level(level, &messages, &mut engine, &mut reveal, None)
            .map_err(|e| format!("The PVM failed at level {}: {e}", block.level))?;
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
