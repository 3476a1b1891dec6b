//! The context of an Octez snapshot (`octez-smart-rollup-node`'s `context/`, irmin-pack),
//! converted into this node's context during an import (docs/reference/octez-rollup-node.md
//! §5.5, §7).
//!
//! In Octez, `l2_blocks.context` holds the Irmin **commit** hash of a block's context, whose
//! tree holds the PVM state under the single key `pvm_state` (`irmin_context.ml`,
//! `PVMState.key`); the block's state hash is the hash of that subtree. In this node the
//! column holds the root hash of the PVM state tree itself, equal to the state hash
//! (`pvm_store`). The conversion:
//!
//! 1. walks the `pvm_state` subtree of the **first available block**'s commit with
//!    [`irmin_pack::Store::walk`] (every value, inode, directory and commit hash checked) and
//!    checks that its hash is the block's state hash;
//! 2. builds a durable tree from its leaves and commits it into this node's context
//!    ([`pvm_store::Context::commit_tree`]), whose root must again be the state hash; the
//!    irmin-pack files are then replaced by it (`context/store`);
//! 3. rewrites every `l2_blocks.context` to the block's state hash.
//!
//! The other blocks' contexts are then rebuilt by the compact-snapshot reconstruction
//! ([`crate::Reconstruct`]), which checks each rebuilt root against that column: every block's
//! state hash is verified, by replay instead of by conversion (the contexts share almost
//! everything, converting each would cost one walk per block).
//!
//! Memory: the conversion streams. Every [`FLUSH_BYTES`] of values, the tree built so far is
//! committed and replaced by its lazy checkout, so only the values since the last flush and
//! the directories on the current path are in memory (the partial roots are left to the
//! context GC). The reader holds the entries of each directory on the current path and the
//! irmin index (commits only in Octez's minimal indexing).

use std::path::Path;

use indicatif::ProgressBar;
use irmin_pack::{Item, ObjHash, Schema};
use node_store::{SmartRollupContextHash, Store};
use tezos_types::BlockHash;

use crate::error::SnapshotError;
use crate::layout;

/// The key of the PVM state in an Octez rollup context (`PVMState.key`).
pub const PVM_STATE_KEY: &str = "pvm_state";

/// Bytes of values converted between two commits of the tree being built (see the module
/// documentation).
pub const FLUSH_BYTES: u64 = 64 << 20;

/// Where the converted context is built, beside the irmin-pack `context/` it replaces.
const CONVERTED: &str = "context.converted";

/// What [`convert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// Level of the block whose context was converted.
    pub level: i32,
    /// Its state hash, the root of the new context.
    pub state_hash: tezos_types::StateHash,
    /// Values converted.
    pub values: u64,
    /// Intermediate commits of the tree being built (flushes).
    pub flushes: u64,
    /// L2 blocks whose context column was rewritten.
    pub blocks: u64,
}

/// An error of the walk: the store's, or the conversion's.
enum WalkError {
    Irmin(irmin_pack::Error),
    Context(pvm_store::ContextError),
    Other(String),
}

impl From<irmin_pack::Error> for WalkError {
    fn from(e: irmin_pack::Error) -> Self {
        WalkError::Irmin(e)
    }
}

fn check(msg: String) -> SnapshotError {
    SnapshotError::Check(msg)
}

/// Converts the irmin-pack context extracted into `dir/context` (the temporary import
/// directory, with its `store.sqlite`) as the module documentation says, committing the tree
/// being built every `flush_bytes` of values ([`FLUSH_BYTES`] on import), advancing `bar` by
/// the bytes of the values converted.
///
/// # Errors
/// [`SnapshotError::Irmin`] for a damaged or incomplete irmin-pack store (the file and offset
/// of the entry at fault), [`SnapshotError::Check`] for a commit or state hash that does not
/// match the store's, a store or context error.
pub fn convert(
    dir: &Path,
    bar: &ProgressBar,
    flush_bytes: u64,
) -> Result<Converted, SnapshotError> {
    let store_path = dir.join(layout::STORE);
    let store_err = |source| SnapshotError::Store {
        path: store_path.clone(),
        source,
    };
    let mut store = Store::open(&store_path).map_err(store_err)?;
    let first = store
        .first_stored_level()
        .map_err(store_err)?
        .ok_or_else(|| check("the snapshot's store holds no L2 block".into()))?;
    let block = store
        .block_by_level(first)
        .map_err(store_err)?
        .ok_or_else(|| check(format!("Could not read the L2 block at level {first}.")))?;
    let at = format!("block {} (level {first})", block.block_hash);
    let state_hash = block
        .state_hash
        .ok_or_else(|| check(format!("the first available {at} has no state hash")))?;
    let commit_hash = block
        .context
        .ok_or_else(|| check(format!("the first available {at} has no context")))?;
    let obj = ObjHash::from_slice(&commit_hash.0)
        .ok_or_else(|| check(format!("the context of {at} is not a 32-byte hash")))?;
    let commit_b58 = obj.to_context_b58().unwrap_or_else(|| obj.to_string());
    let irmin_err = |what: &str| {
        let at = format!("{what} {commit_b58} of {at}");
        move |source| SnapshotError::Irmin { at, source }
    };

    let context_dir = dir.join("context");
    let irmin = irmin_pack::Store::open(&context_dir, Schema::tezos_binary())
        .map_err(irmin_err("opening the store for the context"))?;
    let commit = irmin
        .commit(&obj)
        .map_err(irmin_err("reading the context commit"))?;

    let new_dir = dir.join(CONVERTED);
    let new_err = |source| SnapshotError::Context {
        path: new_dir.clone(),
        source,
    };
    if new_dir.exists() {
        std::fs::remove_dir_all(&new_dir).map_err(SnapshotError::io(&new_dir))?;
    }
    std::fs::create_dir_all(&new_dir).map_err(SnapshotError::io(&new_dir))?;
    let context = pvm_store::Context::open(&new_dir).map_err(new_err)?;
    let mut tree = durable_tree::Tree::empty();
    let mut subtree_hash = None;
    let (mut values, mut flushes, mut pending) = (0u64, 0u64, 0u64);
    let walked = irmin.walk(&commit, |item| -> Result<(), WalkError> {
        match item {
            Item::Dir { path, hash, .. }
                if path.len() == 1 && path[0] == PVM_STATE_KEY.as_bytes() =>
            {
                subtree_hash = Some(hash);
            }
            Item::Dir { .. } => {}
            Item::Contents { path, bytes, .. } => {
                let Some((top, steps)) = path.split_first() else {
                    return Err(WalkError::Other("the commit's tree is a value".into()));
                };
                if top != PVM_STATE_KEY.as_bytes() {
                    return Ok(());
                }
                if steps.is_empty() {
                    return Err(WalkError::Other(format!(
                        "`{PVM_STATE_KEY}` is a value, not a PVM state tree"
                    )));
                }
                let steps = steps
                    .iter()
                    .map(|s| std::str::from_utf8(s))
                    .collect::<Result<Vec<&str>, _>>()
                    .map_err(|_| {
                        WalkError::Other(format!(
                            "the PVM state has a key that is not UTF-8: {:?}",
                            String::from_utf8_lossy(&path.join(&b'/'))
                        ))
                    })?;
                tree.set_contents(&steps, bytes.to_vec())
                    .map_err(|e| WalkError::Other(format!("building the PVM state: {e}")))?;
                let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                values = values.saturating_add(1);
                bar.inc(len);
                pending = pending.saturating_add(len);
                if pending >= flush_bytes {
                    let root = context.commit_tree(&tree).map_err(WalkError::Context)?;
                    tree = context.tree(&root).map_err(WalkError::Context)?;
                    flushes = flushes.saturating_add(1);
                    pending = 0;
                }
            }
        }
        Ok(())
    });
    match walked {
        Ok(_) => {}
        Err(WalkError::Irmin(e)) => return Err(irmin_err("walking the context commit")(e)),
        Err(WalkError::Context(e)) => return Err(new_err(e)),
        Err(WalkError::Other(reason)) => {
            return Err(check(format!(
                "the Octez context commit {commit_b58} of {at}: {reason}"
            )));
        }
    }
    let Some(subtree_hash) = subtree_hash else {
        return Err(check(format!(
            "the Octez context commit {commit_b58} of {at} holds no `{PVM_STATE_KEY}` tree"
        )));
    };
    if subtree_hash.as_bytes() != state_hash.0.as_slice() {
        return Err(check(format!(
            "the Octez context commit {commit_b58} of {at} holds a PVM state hashing to {} but \
             the block's state hash is {state_hash}: the snapshot is corrupted",
            tezos_types::StateHash::new(
                subtree_hash
                    .as_bytes()
                    .try_into()
                    .map_err(|_| check(format!("the PVM state hash of {at} is not 32 bytes")))?
            )
        )));
    }
    drop(irmin);
    let root = context.commit_tree(&tree).map_err(new_err)?;
    drop(tree);
    if root.0 != state_hash.0 {
        return Err(check(format!(
            "the PVM state of {at} converted from the Octez context hashes to {} instead of \
             its state hash {state_hash}; this node cannot import this snapshot",
            tezos_types::StateHash::new(root.0)
        )));
    }
    context.sync().map_err(new_err)?;
    drop(context);
    // The irmin-pack files go; this node's context replaces them.
    std::fs::remove_dir_all(&context_dir).map_err(SnapshotError::io(&context_dir))?;
    std::fs::rename(&new_dir, &context_dir).map_err(SnapshotError::io(&new_dir))?;

    let blocks = rewrite_contexts(&store_path, &mut store)?;
    Ok(Converted {
        level: first.get(),
        state_hash,
        values,
        flushes,
        blocks,
    })
}

/// Sets every `l2_blocks.context` of the store to the block's state hash (none without one);
/// returns the number of blocks.
fn rewrite_contexts(path: &Path, store: &mut Store) -> Result<u64, SnapshotError> {
    let sql_err = |source| SnapshotError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let store_err = |source| SnapshotError::Store {
        path: path.to_path_buf(),
        source,
    };
    let hashes: Vec<String> = {
        let conn = rusqlite::Connection::open(path).map_err(sql_err)?;
        let mut stmt = conn
            .prepare("SELECT block_hash FROM l2_blocks")
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sql_err)?;
        rows.collect::<Result<_, _>>().map_err(sql_err)?
    };
    let mut blocks = Vec::with_capacity(hashes.len());
    for h in &hashes {
        let hash: BlockHash = h
            .parse()
            .map_err(|e| check(format!("l2_blocks holds a bad block hash {h:?}: {e:?}")))?;
        let mut b = store
            .block_by_hash(&hash)
            .map_err(store_err)?
            .ok_or_else(|| check(format!("Could not read L2 block {h}.")))?;
        b.context = b.state_hash.map(|s| SmartRollupContextHash::new(s.0));
        blocks.push(b);
    }
    store
        .transaction(|w| {
            for b in &blocks {
                w.insert_block(b)?;
            }
            Ok(())
        })
        .map_err(store_err)?;
    Ok(u64::try_from(blocks.len()).unwrap_or(u64::MAX))
}
