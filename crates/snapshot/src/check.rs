//! The consistency checks of an exported or imported data directory (the post-checks of
//! docs/reference/octez-rollup-node.md §7, `snapshots.ml` `post_checks`, local part): the head
//! matches the header, its context checks out as a PVM state, and for every L2 block from the
//! head back to the first stored one: the block, its messages, inbox and commitment are
//! stored; the inbox hashes to the block's inbox hash; the commitment hashes to its hash, holds
//! the block's state hash and level, and chains to the previous commitment; the block's context
//! is stored (only the first block's in a compact snapshot before reconstruction,
//! [`Contexts`]) and is its state hash (a context hash is the PVM state hash, `pvm_store`); the
//! predecessor is the block of the level below.
//!
//! [`check_lcc`] adds the check against L1's last cemented commitment. Not checked yet: the
//! genesis state recomputed from the boot sector.

use std::path::Path;
use tezos_types::Level;

use indicatif::ProgressBar;
use node_store::{L2Block, Store};
use tezos_types::BinDecode;
use tezos_types::inbox::Inbox;

use crate::error::SnapshotError;
use crate::header::Header;
use crate::layout;

/// L1's last cemented commitment `lcc` at `lcc_level` must be the commitment of the
/// snapshot's block at that level, unless the snapshot's head is below it (`check_lcc`).
///
/// # Errors
/// [`SnapshotError::Check`] naming the level and both hashes.
pub fn check_lcc(
    dir: &Path,
    lcc: &tezos_types::CommitmentHash,
    lcc_level: Level,
) -> Result<(), SnapshotError> {
    let store_path = dir.join(layout::STORE);
    let store_err = |source| SnapshotError::Store {
        path: store_path.clone(),
        source,
    };
    let store = Store::open(&store_path).map_err(store_err)?;
    let head_level = store.head().map_err(store_err)?.map(|b| b.level);
    if head_level.is_none_or(|h| lcc_level > h) {
        return Ok(());
    }
    let block = store
        .block_by_level(lcc_level)
        .map_err(store_err)?
        .ok_or_else(|| fail(format!("No block for LCC level {lcc_level}")))?;
    match &block.commitment_hash {
        None => Err(fail(format!(
            "No commitment for block {} for LCC level {lcc_level}",
            block.block_hash
        ))),
        Some(h) if h != lcc => Err(fail(format!(
            "Snapshot contains {h} for LCC at level {lcc_level} but was expected to be {lcc}."
        ))),
        Some(_) => Ok(()),
    }
}

/// What the checks covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// L2 blocks checked.
    pub blocks: u64,
    /// Level of the first one checked.
    pub first_level: Level,
}

/// The most recent commitment of a block: its own, or the previous one
/// (`Sc_rollup_block.most_recent_commitment`).
#[must_use]
pub fn most_recent_commitment(b: &L2Block) -> tezos_types::CommitmentHash {
    b.commitment_hash.unwrap_or(b.previous_commitment_hash)
}

fn fail(msg: String) -> SnapshotError {
    SnapshotError::Check(msg)
}

/// The genesis level of the metadata file of `dir`, if readable.
pub(crate) fn genesis_level(dir: &Path) -> Option<Level> {
    let text = std::fs::read_to_string(dir.join(layout::METADATA)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Level::from_i64(v["genesis_info"]["level"].as_i64()?)
}

/// Which L2 blocks must have their context stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contexts {
    /// Every block (a full snapshot, or a compact one after reconstruction).
    All,
    /// The first available block only (a compact snapshot as exported: `--compact`).
    FirstOnly,
}

/// Runs the checks over data directory `dir` for a snapshot of header `header`.
///
/// # Errors
/// [`SnapshotError::Check`] naming the block and the value at fault, or a store/context
/// error.
pub fn check_data_dir(
    dir: &Path,
    header: &Header,
    contexts: Contexts,
    bar: &ProgressBar,
) -> Result<Checked, SnapshotError> {
    let store_path = dir.join(layout::STORE);
    let store_err = |source| SnapshotError::Store {
        path: store_path.clone(),
        source,
    };
    let store = Store::open(&store_path).map_err(store_err)?;
    let context_dir = dir.join("context");
    let ctx_err = |source| SnapshotError::Context {
        path: context_dir.clone(),
        source,
    };
    let context = pvm_store::Context::open(&context_dir).map_err(ctx_err)?;
    let head = store
        .head()
        .map_err(store_err)?
        .ok_or_else(|| fail("there is no head in the snapshot's store".into()))?;
    if head.level != header.head_level {
        return Err(fail(format!(
            "the store's head is at level {} but the header says {}",
            head.level, header.head_level
        )));
    }
    let last = most_recent_commitment(&head);
    if last != header.last_commitment {
        return Err(fail(format!(
            "Last commitment in snapshot is {last} but should be {}.",
            header.last_commitment
        )));
    }
    let first_level = store
        .first_stored_level()
        .map_err(store_err)?
        .unwrap_or(head.level);
    // The head state (the first one of a compact snapshot) must check out and decode.
    let checked_out = match contexts {
        Contexts::All => head.clone(),
        Contexts::FirstOnly => store
            .block_by_level(first_level)
            .map_err(store_err)?
            .ok_or_else(|| {
                fail(format!(
                    "Could not read the L2 block at level {first_level}."
                ))
            })?,
    };
    context.state_of(&checked_out).map_err(|e| {
        fail(format!(
            "Head context cannot be checkouted (block {} at level {}): {e}",
            checked_out.block_hash, checked_out.level
        ))
    })?;
    let genesis = genesis_level(dir);
    let total = head
        .level
        .distance_from(first_level)
        .map_or(1, |d| u64::from(d).saturating_add(1));
    bar.set_length(total);
    let mut block = head;
    let mut next_commitment: Option<tezos_types::Commitment> = None;
    let mut blocks = 0u64;
    loop {
        let at = format!("block {} (level {})", block.block_hash, block.level);
        if store
            .messages_blob(&block.inbox_witness)
            .map_err(store_err)?
            .is_none()
        {
            return Err(fail(format!("Could not read messages at {at}.")));
        }
        let (_, inbox_bytes) = store
            .inbox_blob(&block.inbox_hash)
            .map_err(store_err)?
            .ok_or_else(|| fail(format!("Could not read inbox at {at}.")))?;
        let inbox = Inbox::from_bin(&inbox_bytes)
            .map_err(|e| fail(format!("the inbox of {at} does not decode: {e:?}")))?;
        if inbox.hash() != block.inbox_hash {
            return Err(fail(format!(
                "Erroneous inbox {} for level {} instead of {}.",
                inbox.hash(),
                block.level,
                block.inbox_hash
            )));
        }
        if let Some(c) = &block.context {
            let required = contexts == Contexts::All || block.level == first_level;
            if required && !context.has(c).map_err(ctx_err)? {
                return Err(fail(format!("Could not read context at {at}.")));
            }
            if let Some(s) = &block.state_hash
                && s.0 != c.0
            {
                return Err(fail(format!(
                    "Erroneous state hash {s} for level {} instead of the context's {c}.",
                    block.level
                )));
            }
        }
        let commitment = match &block.commitment_hash {
            None => None,
            Some(h) => {
                let c = store
                    .commitment(h)
                    .map_err(store_err)?
                    .ok_or_else(|| fail(format!("Could not read commitment at {at}.")))?;
                if c.hash() != *h {
                    return Err(fail(format!(
                        "Erroneous commitment hash {} for level {} instead of {h}.",
                        c.hash(),
                        block.level
                    )));
                }
                // At the genesis level the block holds the state after the unsafe patches,
                // its commitment the unpatched one (`genesis_pvm_state`); the node checks that
                // commitment against L1's genesis commitment when it starts.
                if let Some(s) = &block.state_hash
                    && *s != c.compressed_state
                    && Some(block.level) != genesis
                {
                    return Err(fail(format!(
                        "Erroneous state hash {s} for level {} instead of {}.",
                        block.level, c.compressed_state
                    )));
                }
                if c.inbox_level != block.level {
                    return Err(fail(format!(
                        "Erroneous inbox level {} in commitment instead of level {}.",
                        c.inbox_level, block.level
                    )));
                }
                if Some(block.level) != genesis && block.previous_commitment_hash != c.predecessor {
                    return Err(fail(format!(
                        "Erroneous previous commitment hash {} for level {} instead of {}.",
                        block.previous_commitment_hash, block.level, c.predecessor
                    )));
                }
                if let Some(next) = &next_commitment
                    && next.predecessor != *h
                {
                    return Err(fail(format!(
                        "Commitment hash {h} for level {} was expected to be {} in the chain of \
                         commitments.",
                        block.level, next.predecessor
                    )));
                }
                Some(c)
            }
        };
        if commitment.is_some() {
            next_commitment = commitment;
        }
        blocks = blocks.saturating_add(1);
        bar.inc(1);
        if block.level <= first_level {
            break;
        }
        let below = block
            .level
            .pred()
            .ok_or_else(|| fail(format!("level underflow at {at}")))?;
        let pred = store
            .block_by_hash(&block.predecessor)
            .map_err(store_err)?
            .ok_or_else(|| {
                fail(format!(
                    "Could not read L2 block {} (predecessor of {at}).",
                    block.predecessor
                ))
            })?;
        if pred.level != below {
            return Err(fail(format!(
                "the predecessor {} of {at} is at level {} instead of {below}",
                pred.block_hash, pred.level
            )));
        }
        block = pred;
    }
    Ok(Checked {
        blocks,
        first_level,
    })
}
