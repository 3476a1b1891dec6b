//! `snapshot export` (docs/reference/octez-rollup-node.md §7, `snapshots.ml` `export`): with no
//! node running on the data directory (its context lock and `gc_lock` are taken), writes the
//! header and a tar archive of `store.sqlite` (a `VACUUM INTO` copy without the `lpc` row,
//! reset to the export level when below the head), `metadata`, `storage/version`,
//! `context/**` and the pre-image directories; gzipped after (default), on the fly, or not at
//! all; then, unless `--no-check`, extracts it into a temporary directory and checks it.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use tezos_types::Level;

use node_config::HistoryMode;
use node_store::Store;

use crate::check::{self, most_recent_commitment};
use crate::error::SnapshotError;
use crate::header::{Header, default_file_name};
use crate::import::extract;
use crate::source::{Source, decode, open};
use crate::{layout, lock, progress};

/// How the archive is compressed (`Snapshots.compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `--uncompressed`.
    No,
    /// `--compress-on-the-fly`: gzip while writing.
    OnTheFly,
    /// Default: write `<file>.uncompressed`, then gzip it into `<file>`.
    After,
}

/// `--level`: the L2 block the snapshot ends at (default finalized).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportLevel {
    /// The L2 head.
    Head,
    /// The last finalized block.
    Finalized,
    /// The block of the last cemented commitment.
    Cemented,
    /// A given level.
    Level(Level),
}

impl ExportLevel {
    /// Parses `head|finalized|cemented|<level>`.
    ///
    /// # Errors
    /// A message naming `--level` and the value.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "head" => Ok(Self::Head),
            "finalized" => Ok(Self::Finalized),
            "cemented" => Ok(Self::Cemented),
            n => match n.parse::<Level>() {
                Ok(l) => Ok(Self::Level(l)),
                _ => Err(format!(
                    "Option --level: invalid value {s:?}; expected head, finalized, cemented or \
                     a level (a non-negative integer)."
                )),
            },
        }
    }
}

/// The options of `snapshot export`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `[<file>]`: the snapshot file (default: Octez's name in `dest` or the current
    /// directory).
    pub file: Option<PathBuf>,
    /// `--dest`: directory of the auto-named snapshot.
    pub dest: Option<PathBuf>,
    /// `--level`.
    pub level: ExportLevel,
    /// Compression.
    pub compression: Compression,
    /// Not `--no-check`.
    pub check: bool,
    /// `-E/--endpoint`: the L1 node of the checks (`None`: local checks only).
    pub l1_endpoint: Option<String>,
    /// `--rollup-node-endpoint`: the running node whose context GC is canceled first
    /// (`GET /admin/cancel_gc`).
    pub rollup_node_endpoint: Option<String>,
    /// `--compact`: the context holds the state of the first available block only; an
    /// import rebuilds the others by replaying the stored inboxes (`export_compact`).
    pub compact: bool,
}

/// What was exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The snapshot file.
    pub file: PathBuf,
    /// Its header.
    pub header: Header,
}

fn metadata_address(data_dir: &Path) -> Result<tezos_types::SmartRollupAddress, SnapshotError> {
    let path = data_dir.join(layout::METADATA);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SnapshotError::Export(format!(
                "No rollup node metadata in {:?}: is --data-dir the data directory of a rollup \
                 node that has run?",
                data_dir.display().to_string()
            )));
        }
        Err(e) => return Err(SnapshotError::io(&path)(e)),
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        SnapshotError::Export(format!("Invalid metadata file {}: {e}", path.display()))
    })?;
    v["rollup_address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| {
            SnapshotError::Export(format!(
                "Invalid metadata file {}: no valid rollup_address",
                path.display()
            ))
        })
}

/// Relative paths (`/`-separated) of the files under `dir` that a snapshot holds, sorted.
fn exported_files(data_dir: &Path) -> Result<Vec<String>, SnapshotError> {
    let mut out = Vec::new();
    let mut stack = vec![(data_dir.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(SnapshotError::io(&dir))?;
        for e in entries {
            let e = e.map_err(SnapshotError::io(&dir))?;
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let rel_path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = e.file_type().map_err(SnapshotError::io(e.path()))?;
            if ft.is_dir() {
                let top = rel_path.split('/').next().unwrap_or("");
                if layout::DIRECTORIES.contains(&top) || top == "storage" {
                    stack.push((e.path(), rel_path));
                }
            } else if ft.is_file() && layout::is_exported(&rel_path, pvm_store::CONTEXT_FILE) {
                out.push(rel_path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Resets the store copy at `path` to `block` (levels above it dropped) and removes the
/// operator-local `lpc` row (`Store.export_store`).
fn prepare_store_copy(
    path: &Path,
    block: &node_store::L2Block,
    head_level: Level,
) -> Result<(), SnapshotError> {
    let sql = |source| SnapshotError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = rusqlite::Connection::open(path).map_err(sql)?;
    let tx = conn.transaction().map_err(sql)?;
    tx.execute("DELETE FROM rollup_node_state WHERE name = 'lpc'", [])
        .map_err(sql)?;
    if block.level < head_level {
        // The SQLite columns hold `int32` levels.
        let l = block.level.get();
        for stmt in [
            "DELETE FROM l2_levels WHERE level > ?1",
            "DELETE FROM l2_blocks WHERE level > ?1",
            "DELETE FROM commitments WHERE inbox_level > ?1",
            "DELETE FROM inboxes WHERE inbox_level > ?1",
            "DELETE FROM messages WHERE inbox_level > ?1",
            "DELETE FROM outbox_messages WHERE outbox_level > ?1",
        ] {
            tx.execute(stmt, [l]).map_err(sql)?;
        }
        tx.execute(
            "DELETE FROM commitments_published_at_levels WHERE commitment_hash NOT IN \
             (SELECT hash FROM commitments)",
            [],
        )
        .map_err(sql)?;
        let hash = block.block_hash.to_b58check();
        tx.execute(
            "UPDATE rollup_node_state SET value = ?1, level = ?2 WHERE name = 'l2_head' \
             OR (name = 'finalized_level' AND level > ?2)",
            rusqlite::params![hash, l],
        )
        .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

/// The header and the block the snapshot ends at, after the pre-export checks.
fn pre_checks(
    opts: &ExportOptions,
    store: &Store,
    context: &pvm_store::Context,
    address: tezos_types::SmartRollupAddress,
    store_path: &Path,
) -> Result<(Header, node_store::L2Block, Level), SnapshotError> {
    let store_err = |source| SnapshotError::Store {
        path: store_path.to_path_buf(),
        source,
    };
    let history_mode: HistoryMode = store.history_mode().map_err(store_err)?.ok_or_else(|| {
        SnapshotError::Export(format!(
            "No history mode information in {:?}.",
            opts.data_dir.display().to_string()
        ))
    })?;
    let head = store.head().map_err(store_err)?.ok_or_else(|| {
        SnapshotError::Export(
            "There is no head in the rollup node store, cannot produce snapshot.".into(),
        )
    })?;
    let block = match opts.level {
        ExportLevel::Head => head.clone(),
        ExportLevel::Finalized => store.finalized().map_err(store_err)?.ok_or_else(|| {
            SnapshotError::Export(
                "There is no finalized block in the store: use --level head.".into(),
            )
        })?,
        ExportLevel::Cemented => {
            let (_, lcc_level) = store.lcc().map_err(store_err)?.ok_or_else(|| {
                SnapshotError::Export(
                    "There is no cemented commitment in the store: use --level head or \
                     finalized."
                        .into(),
                )
            })?;
            by_level(store, lcc_level, store_path)?
        }
        ExportLevel::Level(l) => {
            if l > head.level {
                return Err(SnapshotError::Export(format!(
                    "Option --level: level {l} is above the head level {}.",
                    head.level
                )));
            }
            by_level(store, l, store_path)?
        }
    };
    if let Some((_, lcc)) = store.lcc().map_err(store_err)?
        && block.level < lcc
    {
        return Err(SnapshotError::Export(format!(
            "Option --level: level {} is below the last cemented commitment level {lcc}.",
            block.level
        )));
    }
    let present = match &block.context {
        Some(c) => context.has(c).map_err(|source| SnapshotError::Context {
            path: opts.data_dir.join("context"),
            source,
        })?,
        None => false,
    };
    if !present {
        return Err(SnapshotError::Export(format!(
            "Head context cannot be checkouted (level {}), won't produce snapshot.",
            block.level
        )));
    }
    let header = Header {
        history_mode,
        address,
        head_level: block.level,
        last_commitment: most_recent_commitment(&block),
    };
    Ok((header, block, head.level))
}

/// Resets the store at `path` to its L2 block at `level` (`snapshot import --level`).
pub(crate) fn reset_store(
    path: &Path,
    level: Level,
    head_level: Level,
) -> Result<(), SnapshotError> {
    let store = Store::open(path).map_err(|source| SnapshotError::Store {
        path: path.to_path_buf(),
        source,
    })?;
    let block = by_level(&store, level, path)?;
    drop(store);
    prepare_store_copy(path, &block, head_level)
}

fn by_level(
    store: &Store,
    level: Level,
    store_path: &Path,
) -> Result<node_store::L2Block, SnapshotError> {
    store
        .block_by_level(level)
        .map_err(|source| SnapshotError::Store {
            path: store_path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| {
            SnapshotError::Export(format!(
                "Option --level: no L2 block at level {level} in the store (garbage collected, \
                 or not processed yet)."
            ))
        })
}

/// Writes header + tar of `files` (`(path on disk, member name)`) into `out`.
fn write_archive<W: Write>(
    out: W,
    header: &Header,
    files: &[(PathBuf, String)],
    bar: &indicatif::ProgressBar,
) -> Result<W, SnapshotError> {
    let mut out = out;
    out.write_all(&header.encode())
        .map_err(SnapshotError::io("snapshot file"))?;
    let mut builder = tar::Builder::new(out);
    for (path, name) in files {
        let f = File::open(path).map_err(SnapshotError::io(path))?;
        let meta = f.metadata().map_err(SnapshotError::io(path))?;
        let mut h = tar::Header::new_gnu();
        h.set_size(meta.len());
        {
            use std::os::unix::fs::PermissionsExt;
            h.set_mode(meta.permissions().mode() & 0o7777);
        }
        h.set_mtime(
            meta.modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs()),
        );
        h.set_entry_type(tar::EntryType::Regular);
        // Exactly the size in the tar header, even if the file changed meanwhile.
        let mut reader = crate::source::Counted {
            inner: f.take(meta.len()),
            bar: bar.clone(),
        };
        builder
            .append_data(&mut h, name, &mut reader)
            .map_err(SnapshotError::io(path))?;
    }
    builder
        .into_inner()
        .map_err(SnapshotError::io("snapshot file"))
}

fn create_output(path: &Path) -> Result<BufWriter<File>, SnapshotError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(SnapshotError::io(dir))?;
    }
    Ok(BufWriter::with_capacity(
        1 << 20,
        File::create(path).map_err(SnapshotError::io(path))?,
    ))
}

/// Exports a snapshot of `opts.data_dir`, checked against the L1 node of
/// `opts.l1_endpoint` unless `--no-check`.
///
/// # Errors
/// [`SnapshotError`]: no metadata/head/context, a running node, an I/O failure, a failed
/// check. A partial output file is removed.
pub fn export(opts: &ExportOptions) -> Result<Exported, SnapshotError> {
    let l1 = match (&opts.l1_endpoint, opts.check) {
        (Some(e), true) => Some(crate::l1::HttpL1::new(e)?),
        _ => None,
    };
    export_with(opts, l1.as_ref().map(|l| l as &dyn crate::l1::L1View))
}

/// [`export`] with the L1 node `l1` for the checks (`None`: local checks only).
///
/// # Errors
/// See [`export`].
pub fn export_with(
    opts: &ExportOptions,
    l1: Option<&dyn crate::l1::L1View>,
) -> Result<Exported, SnapshotError> {
    let data_dir = &opts.data_dir;
    if !data_dir.is_dir() {
        return Err(SnapshotError::Export(format!(
            "--data-dir {}: no such directory.",
            data_dir.display()
        )));
    }
    let address = metadata_address(data_dir)?;
    if let Some(endpoint) = &opts.rollup_node_endpoint {
        crate::live::cancel_gc(endpoint);
    }
    // The GC lock first, so that the node keeps processing heads meanwhile (`lock_all`).
    let _gc_lock = lock::wait_gc(data_dir)?;
    let work_dir = match (&opts.file, &opts.dest) {
        (Some(f), _) => f
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        (None, Some(d)) => d.clone(),
        (None, None) => PathBuf::from("."),
    };
    std::fs::create_dir_all(&work_dir).map_err(SnapshotError::io(&work_dir))?;
    let work = tempfile::Builder::new()
        .prefix(".rollup_node_sqlite_export_")
        .tempdir_in(&work_dir)
        .map_err(SnapshotError::io(&work_dir))?;
    let store_path = work.path().join(layout::STORE);
    let context_dir = if lock::node_running(data_dir)? {
        // A running node: copies taken without stopping it (`live`).
        eprintln!("The rollup node is running: exporting from copies of its store and context");
        let dir = work.path().join("context");
        crate::live::copy(data_dir, &store_path, &dir.join(pvm_store::CONTEXT_FILE))?;
        dir
    } else {
        vacuum_into(&data_dir.join(layout::STORE), &store_path)?;
        data_dir.join("context")
    };
    let context =
        pvm_store::Context::open(&context_dir).map_err(|source| SnapshotError::Context {
            path: context_dir.clone(),
            source,
        })?;
    let store = Store::open(&store_path).map_err(|source| SnapshotError::Store {
        path: store_path.clone(),
        source,
    })?;
    let (header, block, head_level) = pre_checks(opts, &store, &context, address, &store_path)?;
    let compact_root = if opts.compact {
        Some(first_context(opts, &store, &context, &store_path)?)
    } else {
        None
    };
    if let Some(l1) = l1
        && opts.check
    {
        // The very last commitment may not be included in a block yet: its predecessor
        // must be (`pre_export_checks_and_get_snapshot_header`).
        let stored = store
            .commitment(&header.last_commitment)
            .map_err(|source| SnapshotError::Store {
                path: store_path.clone(),
                source,
            })?;
        match stored {
            Some(c) => crate::l1::require_published(
                l1,
                &address,
                &c.predecessor,
                "the predecessor of the last commitment",
            )?,
            None => crate::l1::require_published(
                l1,
                &address,
                &header.last_commitment,
                "the last commitment",
            )?,
        }
    }
    drop(store);

    let final_name = match &opts.file {
        Some(f) => f.clone(),
        None => {
            let mut name = default_file_name(&header);
            if opts.compression == Compression::No {
                name.push_str(".uncompressed");
            }
            match &opts.dest {
                Some(d) => d.join(name),
                None => PathBuf::from(name),
            }
        }
    };
    let write_path = match opts.compression {
        Compression::After => {
            let mut s = final_name.clone().into_os_string();
            s.push(".uncompressed");
            PathBuf::from(s)
        }
        _ => final_name.clone(),
    };
    let context_file = context_dir.join(pvm_store::CONTEXT_FILE);
    let parts = Parts {
        store_copy: &store_path,
        context_file: &context_file,
        compact_root: compact_root.as_ref(),
        block: &block,
        head_level,
    };
    let result = write_snapshot(opts, &header, &parts, &write_path);
    drop(context);
    drop(_gc_lock);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&write_path);
        return Err(e);
    }
    if opts.compression == Compression::After
        && let Err(e) = compress(&write_path, &final_name)
    {
        let _ = std::fs::remove_file(&final_name);
        return Err(e);
    }
    if opts.check {
        let tmp = tempfile::Builder::new()
            .prefix("snapshot_checks_")
            .tempdir()
            .map_err(SnapshotError::io(std::env::temp_dir()))?;
        let src = Source::File(final_name.clone());
        let opened = open(&src)?;
        let decoded = decode(opened.reader, &src.name())?;
        let bar = progress::bytes("Checking snapshot   ", None);
        extract(decoded.archive, tmp.path(), &src.name(), &bar)?;
        bar.finish_and_clear();
        let bar = progress::items("Checking snapshot   ");
        let contexts = if opts.compact {
            check::Contexts::FirstOnly
        } else {
            check::Contexts::All
        };
        check::check_data_dir(tmp.path(), &decoded.header, contexts, &bar)?;
        bar.finish_and_clear();
    }
    Ok(Exported {
        file: final_name,
        header,
    })
}

/// `--compact`: the context of the first available block (`export_compact` exports "a
/// single commit of the first available level"), which must be stored.
fn first_context(
    opts: &ExportOptions,
    store: &Store,
    context: &pvm_store::Context,
    store_path: &Path,
) -> Result<(node_store::SmartRollupContextHash, Level), SnapshotError> {
    let store_err = |source| SnapshotError::Store {
        path: store_path.to_path_buf(),
        source,
    };
    let first = store
        .first_stored_level()
        .map_err(store_err)?
        .ok_or_else(|| SnapshotError::Export("There is no L2 block in the store.".into()))?;
    let block = by_level(store, first, store_path)?;
    match block.context {
        Some(c)
            if context.has(&c).map_err(|source| SnapshotError::Context {
                path: opts.data_dir.join("context"),
                source,
            })? =>
        {
            Ok((c, first))
        }
        _ => Err(SnapshotError::Export(format!(
            "The context of the first available level {first} is not stored: export without \
             --compact."
        ))),
    }
}

/// The compact context: a copy of the context file in `dir` where a GC kept only `root`,
/// the context of level `first_level`.
fn compact_context(
    from: &Path,
    (root, first_level): &(node_store::SmartRollupContextHash, Level),
    dir: &Path,
) -> Result<PathBuf, SnapshotError> {
    let ctx_err = |source| SnapshotError::Context {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(SnapshotError::io(dir))?;
    let to = dir.join(pvm_store::CONTEXT_FILE);
    let bar = progress::spinner(&format!(
        "Exporting context snapshot with first level {first_level}"
    ));
    std::fs::copy(from, &to).map_err(SnapshotError::io(from))?;
    let context = pvm_store::Context::open(dir).map_err(ctx_err)?;
    let all = context.gc_snapshot().map_err(ctx_err)?;
    context
        .gc(std::slice::from_ref(root), &all)
        .map_err(ctx_err)?;
    drop(context);
    bar.finish_and_clear();
    Ok(to)
}

/// `VACUUM INTO`: a consistent copy of the SQLite store at `from` (a node may be writing).
pub(crate) fn vacuum_into(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let sql = |source| SnapshotError::Sql {
        path: from.to_path_buf(),
        source,
    };
    // Read-write: a WAL store may need its `-shm` file.
    let conn = rusqlite::Connection::open(from).map_err(sql)?;
    let target = to
        .to_str()
        .ok_or_else(|| SnapshotError::Export(format!("{}: not a UTF-8 path", to.display())))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(sql)?;
    Ok(())
}

/// What a snapshot is made of.
struct Parts<'a> {
    /// The store copy (reset to `block` by [`write_snapshot`]).
    store_copy: &'a Path,
    /// The context file (the node's, or a copy of a running node's).
    context_file: &'a Path,
    /// `--compact`: the only context kept, and its level.
    compact_root: Option<&'a (node_store::SmartRollupContextHash, Level)>,
    /// The block the snapshot ends at.
    block: &'a node_store::L2Block,
    /// The store's head level.
    head_level: Level,
}

/// Writes the snapshot of `parts` (the context in its compact form with `--compact`) with
/// the other exported files of the data directory.
fn write_snapshot(
    opts: &ExportOptions,
    header: &Header,
    parts: &Parts<'_>,
    write_path: &Path,
) -> Result<(), SnapshotError> {
    let Parts {
        store_copy,
        context_file,
        compact_root,
        block,
        head_level,
    } = *parts;
    prepare_store_copy(store_copy, block, head_level)?;
    let work = store_copy.parent().unwrap_or(Path::new("."));
    let context_file = match compact_root {
        Some(root) => compact_context(context_file, root, &work.join("compact"))?,
        None => context_file.to_path_buf(),
    };
    let context_member = format!("context/{}", pvm_store::CONTEXT_FILE);
    let mut files = vec![(store_copy.to_path_buf(), layout::STORE.to_string())];
    for rel in exported_files(&opts.data_dir)? {
        let path = if rel == context_member {
            context_file.clone()
        } else {
            opts.data_dir.join(&rel)
        };
        files.push((path, rel));
    }
    let total = files
        .iter()
        .map(|(p, _)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .fold(0u64, u64::saturating_add);
    let bar = progress::bytes("Exporting snapshot  ", Some(total));
    let out = create_output(write_path)?;
    let out = match opts.compression {
        Compression::OnTheFly => {
            let gz = write_archive(
                flate2::write::GzEncoder::new(out, flate2::Compression::default()),
                header,
                files.as_slice(),
                &bar,
            )?;
            gz.finish().map_err(SnapshotError::io(write_path))?
        }
        Compression::No | Compression::After => write_archive(out, header, &files, &bar)?,
    };
    let file = out
        .into_inner()
        .map_err(|e| SnapshotError::io(write_path)(e.into_error()))?;
    file.sync_all().map_err(SnapshotError::io(write_path))?;
    bar.finish_and_clear();
    Ok(())
}

/// Gzips `from` into `to` and removes `from` (`Snapshot_utils.compress`).
fn compress(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let input = File::open(from).map_err(SnapshotError::io(from))?;
    let len = input.metadata().ok().map(|m| m.len());
    let bar = progress::bytes("Compressing snapshot", len);
    let mut reader = crate::source::Counted {
        inner: io::BufReader::with_capacity(1 << 20, input),
        bar: bar.clone(),
    };
    let out = create_output(to)?;
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    io::copy(&mut reader, &mut gz).map_err(SnapshotError::io(to))?;
    let out = gz.finish().map_err(SnapshotError::io(to))?;
    let file = out
        .into_inner()
        .map_err(|e| SnapshotError::io(to)(e.into_error()))?;
    file.sync_all().map_err(SnapshotError::io(to))?;
    std::fs::remove_file(from).map_err(SnapshotError::io(from))?;
    bar.finish_and_clear();
    Ok(())
}
