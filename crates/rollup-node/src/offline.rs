//! The data directory of a stopped node, opened by the commands that work on it
//! (`recompute outbox messages`, `dump|patch durable storage`).

use std::path::Path;

use node_context::DataDir;
use node_store::Store;

/// The context and the store of `data_dir`. The context is opened (and locked) as the node
/// opens it, so a running node makes this fail with what to do.
///
/// # Errors
/// A message saying what is wrong and what to do.
pub fn open(data_dir: &Path) -> Result<(pvm_store::Context, Store), String> {
    let dir = DataDir(data_dir.to_path_buf());
    if !dir.store().exists() {
        return Err(format!(
            "No rollup node store in {}: give the data directory of a node with --data-dir.",
            data_dir.display()
        ));
    }
    let context = pvm_store::Context::open(&dir.context()).map_err(|e| {
        format!(
            "Cannot open the context of {} ({e}); stop the rollup node using it and retry.",
            data_dir.display()
        )
    })?;
    let store = Store::open(&dir.store()).map_err(|e| format!("Cannot open the store: {e}"))?;
    Ok((context, store))
}
