//! Exporting from a running node (docs/reference/octez-rollup-node.md §7, `snapshots.ml`
//! `lock_all`, `maybe_cancel_gc`): the export holds `<data-dir>/gc_lock` (a running context GC is
//! waited for, or canceled first with `GET /admin/cancel_gc` on `--rollup-node-endpoint`), then
//! copies the store and the context without stopping the node.
//!
//! Rule: between two GCs the context pack file is append-only, and every context the store
//! references was synced, and the file's synced mark moved past it, before the SQLite
//! transaction that references it committed (`crates/pack-store/src/pack.rs`,
//! `crates/node-follower/src/main_loop.rs`). So a copy of the store taken first, then the pack
//! file's prefix up to the synced mark read after it, holds every context the copy references.
//! The copy starts with the header bytes read with the mark, so its mark is its length: a
//! valid pack file. Octez also takes a processing lock that pauses the node; none is needed here.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::SnapshotError;
use crate::progress;

/// `GET <endpoint>/admin/cancel_gc` before waiting for `gc_lock`; what happened is printed on
/// standard error, as Octez does, and never stops the export.
pub(crate) fn cancel_gc(endpoint: &str) {
    let result = (|| -> Result<bool, String> {
        let e = http_client::Endpoint::parse("--rollup-node-endpoint", endpoint)
            .map_err(|e| e.to_string())?;
        let agent: ureq::Agent = http_client::blocking_agent_config()
            .map_err(|e| e.to_string())?
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        let mut r = agent
            .get(&e.join("/admin/cancel_gc"))
            .call()
            .map_err(|e| http_client::error_chain(&e))?;
        let text = r
            .body_mut()
            .read_to_string()
            .map_err(|e| http_client::error_chain(&e))?;
        serde_json::from_str::<bool>(text.trim()).map_err(|_| format!("unexpected answer {text:?}"))
    })();
    match result {
        Ok(true) => eprintln!("Rollup node GC canceled"),
        Ok(false) => eprintln!("No ongoing GC in rollup node"),
        Err(e) => eprintln!(
            "Could not cancel rollup node GC (use --rollup-node-endpoint for that) because of \
             the following error: {e}\nContinuing anyway."
        ),
    }
}

/// Copies the store of `data_dir` (`VACUUM INTO`) to `store_to`, then the synced prefix of
/// its context pack file to `context_to`, in that order (see the module's rule). The caller
/// holds `gc_lock`.
pub(crate) fn copy(
    data_dir: &Path,
    store_to: &Path,
    context_to: &Path,
) -> Result<(), SnapshotError> {
    let pack_path = data_dir.join("context").join(pvm_store::CONTEXT_FILE);
    // Opened before the store is copied: the prefix is read from this very file.
    let pack = File::open(&pack_path).map_err(SnapshotError::io(&pack_path))?;
    crate::export::vacuum_into(&data_dir.join(crate::layout::STORE), store_to)?;
    let (header, end) = pack_store::synced_header(&pack).map_err(|e| {
        SnapshotError::Export(format!(
            "{}: {e}; stop the node and export again.",
            pack_path.display()
        ))
    })?;
    let header_len = u64::try_from(pack_store::PACK_HEADER_LEN).unwrap_or(u64::MAX);
    if let Some(dir) = context_to.parent() {
        std::fs::create_dir_all(dir).map_err(SnapshotError::io(dir))?;
    }
    let bar = progress::bytes("Copying context     ", Some(end));
    let mut out = io::BufWriter::with_capacity(
        1 << 20,
        File::create(context_to).map_err(SnapshotError::io(context_to))?,
    );
    out.write_all(&header)
        .map_err(SnapshotError::io(context_to))?;
    let mut body = crate::source::Counted {
        inner: PositionedReader {
            file: &pack,
            at: header_len,
            end,
        },
        bar: bar.clone(),
    };
    io::copy(&mut body, &mut out).map_err(SnapshotError::io(&pack_path))?;
    let f = out
        .into_inner()
        .map_err(|e| SnapshotError::io(context_to)(e.into_error()))?;
    f.sync_all().map_err(SnapshotError::io(context_to))?;
    bar.finish_and_clear();
    Ok(())
}

/// Reads `file` from `at` to `end` with positioned reads (the node appends meanwhile).
struct PositionedReader<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.at);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the context file shrank during the copy",
            ));
        }
        self.at = self.at.saturating_add(u64::try_from(n).unwrap_or(0));
        Ok(n)
    }
}
