//! `snapshot import` (docs/reference/octez-rollup-node.md §7, `snapshots.ml` `import`).
//!
//! The snapshot is streamed (a file, standard input or an http(s) URL: never written whole
//! to disk) into a temporary sibling of the data directory, `.<name>.snapshot-import`; the
//! local files of the data directory (configuration, injector queues, logs, compiled
//! kernels) are copied beside it, the checks run on it, and only then does it replace the
//! data directory: the old one is renamed `.<name>.snapshot-old`, the new one renamed into
//! place, the old one removed. Every error before the swap leaves the data directory as it
//! was; a command killed at any point leaves either the old or the new data directory,
//! which the next import (or export) recovers before doing anything else.
//!
//! An Octez snapshot (`context/` in irmin-pack format) has its first available block's
//! context converted after extraction ([`crate::octez`]) and the others rebuilt by the
//! [`Reconstruct`]ion of compact snapshots, before the same checks.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use tezos_types::Level;

use indicatif::ProgressBar;
use node_config::HistoryMode;
use node_store::Store;

use crate::error::SnapshotError;
use crate::header::Header;
use crate::l1::L1View;
use crate::layout::{self, Member};
use crate::source::{Counted, Source, decode, open};
use crate::{check, lock, progress};

/// The options of `snapshot import`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `<file|url|->`.
    pub source: Source,
    /// `--force`: import into a populated data directory.
    pub force: bool,
    /// Not `--no-check`.
    pub check: bool,
    /// `-E/--endpoint`: the L1 node of the checks (`None`: local checks only).
    pub l1_endpoint: Option<String>,
}

/// Rebuilds the contexts of a compact snapshot (`--compact`) by replaying the stored inboxes
/// from the first available block to the head (`maybe_reconstruct_context`); the PVM lives
/// outside this crate (the rollup node implements it).
pub trait Reconstruct {
    /// Replays the blocks of the data directory `dir` above the first available one, commits
    /// each state into its context and checks it against the block's context hash, advancing
    /// `bar` by one per block.
    ///
    /// # Errors
    /// A message naming the level at fault and what to do.
    fn reconstruct(&self, dir: &Path, bar: &ProgressBar) -> Result<(), String>;
}

/// Whether the head context of the data directory `dir` is missing (a compact snapshot).
fn needs_reconstruction(dir: &Path) -> Result<bool, SnapshotError> {
    let store_path = dir.join(layout::STORE);
    let store_err = |source| SnapshotError::Store {
        path: store_path.clone(),
        source,
    };
    let store = Store::open(&store_path).map_err(store_err)?;
    let Some(head) = store.head().map_err(store_err)? else {
        return Ok(false);
    };
    let context_dir = dir.join("context");
    let context =
        pvm_store::Context::open(&context_dir).map_err(|source| SnapshotError::Context {
            path: context_dir.clone(),
            source,
        })?;
    match &head.context {
        Some(c) => Ok(!context.has(c).map_err(|source| SnapshotError::Context {
            path: context_dir.clone(),
            source,
        })?),
        None => Ok(false),
    }
}

/// The temporary sibling (`.<name>.snapshot-import`) and the renamed old data directory
/// (`.<name>.snapshot-old`) of `data_dir`.
fn siblings(data_dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), SnapshotError> {
    let abs = std::path::absolute(data_dir).map_err(SnapshotError::io(data_dir))?;
    let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
        return Err(SnapshotError::Export(format!(
            "--data-dir {}: not a directory that can be replaced; give a named directory.",
            data_dir.display()
        )));
    };
    let name = name.to_string_lossy();
    Ok((
        abs.clone(),
        parent.join(format!(".{name}.snapshot-import")),
        parent.join(format!(".{name}.snapshot-old")),
    ))
}

/// Finishes or undoes the swap of an import that was killed, and removes its temporary
/// directory.
fn recover(data_dir: &Path, tmp: &Path, old: &Path) -> Result<(), SnapshotError> {
    if old.exists() {
        if data_dir.exists() {
            std::fs::remove_dir_all(old).map_err(SnapshotError::io(old))?;
        } else {
            std::fs::rename(old, data_dir).map_err(SnapshotError::io(old))?;
        }
    }
    if tmp.exists() {
        std::fs::remove_dir_all(tmp).map_err(SnapshotError::io(tmp))?;
    }
    Ok(())
}

/// What the data directory holds before the import.
#[derive(Debug, Default)]
struct Existing {
    rollup: Option<(String, PathBuf)>,
    history_mode: Option<HistoryMode>,
    head_level: Option<Level>,
}

fn existing(data_dir: &Path) -> Result<Existing, SnapshotError> {
    let mut out = Existing::default();
    let metadata = data_dir.join(layout::METADATA);
    if let Ok(text) = std::fs::read_to_string(&metadata)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(a) = v["rollup_address"].as_str()
    {
        out.rollup = Some((a.to_string(), metadata));
    }
    let config = data_dir.join("config.json");
    if config.exists() {
        let c = node_config::Config::load(&config).map_err(|e| {
            SnapshotError::Export(format!(
                "{}: {e}; fix or remove the configuration file before importing.",
                config.display()
            ))
        })?;
        if out.rollup.is_none() {
            out.rollup = Some((c.rollup_address.to_b58check(), config));
        }
        out.history_mode = c.history_mode;
    }
    let store_path = data_dir.join(layout::STORE);
    if store_path.exists() {
        let store_err = |source| SnapshotError::Store {
            path: store_path.clone(),
            source,
        };
        let store = Store::open(&store_path).map_err(store_err)?;
        if let Some(m) = store.history_mode().map_err(store_err)? {
            out.history_mode = Some(m);
        }
        out.head_level = store.head().map_err(store_err)?.map(|b| b.level);
    }
    Ok(out)
}

/// The pre-import checks against the data directory (done with `--no-check` too).
fn pre_checks(ex: &Existing, header: &Header) -> Result<(), SnapshotError> {
    let snapshot = header.address.to_b58check();
    if let Some((rollup, _)) = &ex.rollup
        && *rollup != snapshot
    {
        return Err(SnapshotError::WrongRollup {
            existing: rollup.clone(),
            snapshot,
        });
    }
    if ex.history_mode == Some(HistoryMode::Archive) && header.history_mode == HistoryMode::Full {
        return Err(SnapshotError::HistoryMode {
            snapshot: HistoryMode::Full,
            node: HistoryMode::Archive,
        });
    }
    if let Some(level) = ex.head_level
        && header.head_level <= level
    {
        return Err(SnapshotError::NotNewer {
            node_level: level,
            snapshot_level: header.head_level,
        });
    }
    Ok(())
}

/// Extracts the tar `archive` into `dest`, refusing any member outside the snapshot layout,
/// then reads the stream to its end (so a gzip trailer is verified).
///
/// # Errors
/// [`SnapshotError::Member`] for a refused member, [`SnapshotError::Read`] for a truncated
/// or corrupted stream.
pub fn extract(
    archive: Box<dyn Read + Send>,
    dest: &Path,
    source_name: &str,
    bar: &ProgressBar,
) -> Result<Vec<Member>, SnapshotError> {
    let read_err = |source: io::Error| SnapshotError::Read {
        source_name: source_name.to_string(),
        source,
    };
    let member_err = |source| SnapshotError::Member {
        source_name: source_name.to_string(),
        source,
    };
    let mut members = Vec::new();
    let mut ar = tar::Archive::new(archive);
    for entry in ar.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let member =
                    layout::classify(&name, pvm_store::CONTEXT_FILE).map_err(member_err)?;
                let path = dest.join(&name);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(SnapshotError::io(dir))?;
                }
                let mut f = std::fs::File::create(&path).map_err(SnapshotError::io(&path))?;
                let size = entry.size();
                let copied = io::copy(&mut entry, &mut f).map_err(read_err)?;
                if copied != size {
                    return Err(read_err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("member {name} ends after {copied} of its {size} bytes"),
                    )));
                }
                bar.set_message(format!("Importing snapshot {name}"));
                members.push(member);
            }
            tar::EntryType::Directory => {
                layout::check_directory(&name).map_err(member_err)?;
                let path = dest.join(&name);
                std::fs::create_dir_all(&path).map_err(SnapshotError::io(&path))?;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(member_err(layout::MemberError::Unexpected(format!(
                    "{name} (a {other:?} entry; snapshots hold regular files only)"
                ))));
            }
        }
    }
    let mut rest = ar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
    Ok(members)
}

/// Copies `from` (a file or directory tree) to `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let meta = std::fs::symlink_metadata(from).map_err(SnapshotError::io(from))?;
    if meta.is_dir() {
        std::fs::create_dir_all(to).map_err(SnapshotError::io(to))?;
        for e in std::fs::read_dir(from).map_err(SnapshotError::io(from))? {
            let e = e.map_err(SnapshotError::io(from))?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
    } else if meta.is_file() {
        std::fs::copy(from, to).map_err(SnapshotError::io(from))?;
    }
    Ok(())
}

/// Imports the snapshot of `opts.source` into `opts.data_dir`, checked against the L1 node
/// of `opts.l1_endpoint` unless `--no-check`; returns its header.
///
/// # Errors
/// [`SnapshotError`]; the data directory is then as it was.
pub fn import(opts: &ImportOptions) -> Result<Header, SnapshotError> {
    let l1 = match (&opts.l1_endpoint, opts.check) {
        (Some(e), true) => Some(crate::l1::HttpL1::new(e)?),
        _ => None,
    };
    import_with(opts, l1.as_ref().map(|l| l as &dyn L1View))
}

/// [`import`] with the L1 node `l1` for the checks (`None`: local checks only).
///
/// # Errors
/// See [`import`].
pub fn import_with(opts: &ImportOptions, l1: Option<&dyn L1View>) -> Result<Header, SnapshotError> {
    import_at_level(opts, None, l1, None)
}

/// [`import_with`], then, with `level`, Octez's `snapshot import --level <l>`: the imported
/// store is reset to the L2 block at `level` (> 0, at most the snapshot's head level) before
/// the swap, so the data directory is never seen at the snapshot's head
/// (`octez-rollup-node.md §7`, import: "optional reset to `--level`"). The checks run on the
/// snapshot as shipped, before the reset.
///
/// A compact snapshot, or an Octez one once its first context is converted, is reconstructed
/// with `reconstruct` after extraction, before the checks; without it, it is refused.
///
/// # Errors
/// See [`import`]; also a `level` out of range or without an L2 block in the snapshot, a
/// compact snapshot without `reconstruct`, a failed reconstruction.
pub fn import_at_level(
    opts: &ImportOptions,
    level: Option<Level>,
    l1: Option<&dyn L1View>,
    reconstruct: Option<&dyn Reconstruct>,
) -> Result<Header, SnapshotError> {
    let (data_dir, tmp, old) = siblings(&opts.data_dir)?;
    recover(&data_dir, &tmp, &old)?;
    if data_dir.exists() && !data_dir.is_dir() {
        return Err(SnapshotError::Export(format!(
            "--data-dir {}: exists and is not a directory.",
            data_dir.display()
        )));
    }
    let _locks = lock::lock_data_dir(&data_dir)?;
    let populated = data_dir.join(layout::STORE).exists() || data_dir.join("context").exists();
    if populated && !opts.force {
        return Err(SnapshotError::Populated(opts.data_dir.clone()));
    }
    let ex = existing(&data_dir)?;
    let name = opts.source.name();
    let opened = open(&opts.source)?;
    let bar = progress::bytes("Importing snapshot", opened.len);
    let counted: Box<dyn Read + Send> = Box::new(Counted {
        inner: io::BufReader::with_capacity(1 << 20, opened.reader),
        bar: bar.clone(),
    });
    let decoded = decode(counted, &name)?;
    let header = decoded.header;
    pre_checks(&ex, &header)?;
    if let Some(l) = level
        && (l == Level::ZERO || l > header.head_level)
    {
        return Err(SnapshotError::Export(format!(
            "Option --level {l}: must be above 0 and at most the snapshot's head level {}.",
            header.head_level
        )));
    }
    let l1 = l1.filter(|_| opts.check);
    if let Some(l1) = l1 {
        crate::l1::require_published(
            l1,
            &header.address,
            &header.last_commitment,
            "the last commitment",
        )?;
    }
    let result = (|| {
        std::fs::create_dir_all(&tmp).map_err(SnapshotError::io(&tmp))?;
        let mut members = extract(decoded.archive, &tmp, &name, &bar)?;
        bar.finish_and_clear();
        let octez = members.contains(&Member::OctezContext);
        if octez {
            if members.contains(&Member::Context) {
                return Err(SnapshotError::Check(format!(
                    "the snapshot {name} holds both this node's context (context/{}) and \
                     Octez irmin-pack files under context/: it is corrupted or hostile",
                    pvm_store::CONTEXT_FILE
                )));
            }
            let bar = progress::bytes("Converting Octez context", None);
            crate::octez::convert(&tmp, &bar, crate::octez::FLUSH_BYTES)?;
            bar.finish_and_clear();
            members.retain(|m| *m != Member::OctezContext);
            members.push(Member::Context);
        }
        if members.contains(&Member::Context) && needs_reconstruction(&tmp)? {
            let r = reconstruct.ok_or_else(|| {
                let what = if octez {
                    "an Octez snapshot (its context is converted for the first available \
                     block only)"
                } else {
                    "compact (its context holds the first available block only)"
                };
                SnapshotError::Check(format!(
                    "the snapshot {name} is {what}: rebuilding the others needs the PVM; \
                     import it with `smart-rollup-node snapshot import`"
                ))
            })?;
            let bar = progress::items("Reconstructing context");
            r.reconstruct(&tmp, &bar).map_err(SnapshotError::Check)?;
            bar.finish_and_clear();
        }
        finish(opts, &ex, &header, &members, &data_dir, &tmp)?;
        if let Some(l1) = l1 {
            let (lcc, level) = l1
                .lcc(&header.address)
                .map_err(|reason| SnapshotError::L1 {
                    endpoint: l1.name(),
                    reason,
                })?;
            check::check_lcc(&tmp, &lcc, level)?;
        }
        if let Some(l) = level {
            crate::export::reset_store(&tmp.join(layout::STORE), l, header.head_level)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // The swap.
    if data_dir.exists() {
        std::fs::rename(&data_dir, &old).map_err(SnapshotError::io(&data_dir))?;
    }
    std::fs::rename(&tmp, &data_dir).map_err(SnapshotError::io(&tmp))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(SnapshotError::io(&old))?;
    }
    Ok(header)
}

/// After extraction into `tmp`: required members, metadata, history mode conversion,
/// checks, local files.
fn finish(
    opts: &ImportOptions,
    ex: &Existing,
    header: &Header,
    members: &[Member],
    data_dir: &Path,
    tmp: &Path,
) -> Result<(), SnapshotError> {
    for (m, what) in [
        (Member::Store, layout::STORE),
        (Member::Metadata, layout::METADATA),
        (Member::Context, "context/store"),
    ] {
        if !members.contains(&m) {
            return Err(SnapshotError::Check(format!(
                "the snapshot {} has no member {what}: it is truncated or not a snapshot of \
                 this node",
                opts.source.name()
            )));
        }
    }
    let meta_path = tmp.join(layout::METADATA);
    let text = std::fs::read_to_string(&meta_path).map_err(SnapshotError::io(&meta_path))?;
    let meta_rollup = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["rollup_address"].as_str().map(str::to_string))
        .ok_or_else(|| {
            SnapshotError::Check("the snapshot's metadata has no rollup_address".into())
        })?;
    if meta_rollup != header.address.to_b58check() {
        return Err(SnapshotError::WrongRollup {
            existing: meta_rollup,
            snapshot: header.address.to_b58check(),
        });
    }
    if ex.history_mode == Some(HistoryMode::Full) && header.history_mode == HistoryMode::Archive {
        let path = tmp.join(layout::STORE);
        let store_err = |source| SnapshotError::Store {
            path: path.clone(),
            source,
        };
        let mut store = Store::open(&path).map_err(store_err)?;
        store
            .transaction(|w| w.set_history_mode(HistoryMode::Full))
            .map_err(store_err)?;
    }
    if opts.check {
        let bar = progress::items("Checking imported snapshot");
        check::check_data_dir(tmp, header, check::Contexts::All, &bar)?;
        bar.finish_and_clear();
    }
    if data_dir.is_dir() {
        for e in std::fs::read_dir(data_dir).map_err(SnapshotError::io(data_dir))? {
            let e = e.map_err(SnapshotError::io(data_dir))?;
            let name = e.file_name();
            let n = name.to_string_lossy();
            if layout::REPLACED.contains(&n.as_ref()) || n == "gc_lock" {
                continue;
            }
            copy_tree(&e.path(), &tmp.join(&name))?;
        }
    }
    Ok(())
}
