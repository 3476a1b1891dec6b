//! Octez snapshots: `context/` in irmin-pack format, `l2_blocks.context` holding Irmin commit
//! hashes whose trees hold the PVM state under `pvm_state` (docs/reference/octez-rollup-node.md
//! §7; `irmin_context.ml`). Built here from the fixture data directory with the irmin-pack
//! writer, imported (the first block's context converted, the others rebuilt), and every
//! mismatch refused with nothing imported.

use irmin_pack::write::{Tree, Writer};
use node_config::HistoryMode;
use node_store::{L2Block, SmartRollupContextHash, Store};
use snapshot::{Header, SnapshotError, Source};
use tezos_types::StateHash;

use super::roundtrip::Recommit;
use super::*;

/// The tree of a committed state, as the irmin-pack writer takes it.
pub(crate) fn to_irmin(t: &durable_tree::Tree) -> Tree {
    match t.kind() {
        durable_tree::Kind::Contents => Tree::Leaf(t.get_contents(&[]).unwrap().unwrap()),
        durable_tree::Kind::Node => Tree::Dir(
            t.list(&[])
                .unwrap()
                .into_iter()
                .map(|(name, _)| {
                    let child = t.get(&[name.as_str()]).unwrap().unwrap();
                    (name, to_irmin(&child))
                })
                .collect(),
        ),
    }
}

/// Appends a tar member (ustar) `name` holding `bytes`.
fn tar_member(out: &mut tar::Builder<Vec<u8>>, name: &str, bytes: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_size(u64::try_from(bytes.len()).unwrap());
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    out.append_data(&mut h, name, bytes).unwrap();
}

/// An Octez-layout snapshot of the fixture data directory `src` (`blocks`) in `dir/name`:
/// its store copy with each block's context set to the Irmin commit of `{pvm_state: …}`, the
/// commits in an irmin-pack `context/` (block 1 in `store.0.suffix`, the others in
/// `store.1.suffix`), uncompressed. `tamper` may change the Octez data directory (its
/// store, its context files) before it is archived; it gets the commit hashes by level.
fn octez_snapshot(
    dir: &Path,
    src: &Path,
    blocks: &[L2Block],
    name: &str,
    tamper: impl FnOnce(&Path, &[durable_tree::Hash]),
) -> PathBuf {
    let oct = dir.join(format!("{name}.octez"));
    std::fs::create_dir_all(&oct).unwrap();
    let ctx = pvm_store::Context::open(&src.join("context")).unwrap();
    let mut w = Writer::new();
    let mut commits: Vec<irmin_pack::write::Written> = vec![];
    let mut split = 0;
    for b in blocks {
        let state = to_irmin(&ctx.state_tree(b).unwrap());
        let root = w.tree(&Tree::dir([("pvm_state", state)])).unwrap();
        let parents: Vec<_> = commits.last().copied().into_iter().collect();
        let c = w
            .commit(&root, &parents, 1_700_000_000 + i64::from(b.level), "", "")
            .unwrap();
        commits.push(c);
        if b.level == crate::lv(1) {
            split = w.position();
        }
    }
    drop(ctx);
    let last = commits.last().unwrap().hash;
    w.finish(&oct.join("context"), split, &[("main", last)])
        .unwrap();
    let store_path = oct.join("store.sqlite");
    rusqlite::Connection::open(src.join("store.sqlite"))
        .unwrap()
        .execute("VACUUM INTO ?1", [store_path.to_str().unwrap()])
        .unwrap();
    let mut store = Store::open(&store_path).unwrap();
    store
        .transaction(|t| {
            for (b, c) in blocks.iter().zip(&commits) {
                let mut b = b.clone();
                b.context = Some(SmartRollupContextHash::new(c.hash.0));
                t.insert_block(&b)?;
            }
            Ok(())
        })
        .unwrap();
    drop(store);
    std::fs::copy(src.join("metadata"), oct.join("metadata")).unwrap();
    std::fs::create_dir_all(oct.join("wasm_2_0_0")).unwrap();
    std::fs::copy(
        src.join("wasm_2_0_0").join("00aa"),
        oct.join("wasm_2_0_0").join("00aa"),
    )
    .unwrap();
    let hashes: Vec<durable_tree::Hash> = commits.iter().map(|c| c.hash).collect();
    tamper(&oct, &hashes);

    let head = blocks.last().unwrap();
    let header = Header {
        history_mode: HistoryMode::Full,
        address: addr(),
        head_level: head.level,
        last_commitment: snapshot::check::most_recent_commitment(head),
    };
    let mut ar = tar::Builder::new(Vec::new());
    for (rel, bytes) in tree(&oct) {
        tar_member(&mut ar, rel.to_str().unwrap(), &bytes);
    }
    let mut out = header.encode().to_vec();
    out.extend(ar.into_inner().unwrap());
    let file = dir.join(name);
    std::fs::write(&file, out).unwrap();
    file
}

fn import(dst: &Path, file: &Path) -> Result<Header, SnapshotError> {
    snapshot::import_at_level(
        &import_opts(dst, file),
        None,
        None,
        Some(&Recommit { skip: false }),
    )
}

/// Changes block `level`'s row with `f`.
fn set_block(oct: &Path, level: i32, f: impl FnOnce(&mut L2Block)) {
    let mut store = Store::open(&oct.join("store.sqlite")).unwrap();
    let mut b = store.block_by_level(crate::lv(level)).unwrap().unwrap();
    f(&mut b);
    store.transaction(|t| t.insert_block(&b)).unwrap();
}

#[test]
fn octez_snapshot_imports_with_every_state_checked() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 8, HistoryMode::Full);
    let file = octez_snapshot(dir.path(), &src, &blocks, "snap", |_, _| {});
    let (h, _) = snapshot::info(&Source::File(file.clone())).unwrap();
    assert_eq!(h.head_level, crate::lv(8));

    let dst = dir.path().join("dst");
    // Without a reconstructor (the PVM), it is refused.
    let e = snapshot::import(&import_opts(&dst, &file)).unwrap_err();
    assert!(e.to_string().contains("an Octez snapshot"), "{e}");
    assert!(!dst.exists());

    let header = import(&dst, &file).unwrap();
    assert_eq!(header, h);
    // Our context only, with every block's state; each context column is its state hash.
    let names: Vec<String> = std::fs::read_dir(dst.join("context"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![pvm_store::CONTEXT_FILE.to_string()]);
    let store = Store::open(&dst.join("store.sqlite")).unwrap();
    let ctx = pvm_store::Context::open(&dst.join("context")).unwrap();
    for b in &blocks {
        let got = store.block_by_level(b.level).unwrap().unwrap();
        assert_eq!(got.context, b.context, "level {}", b.level);
        assert_eq!(
            ctx.state_of(&got).unwrap().hash().unwrap().0,
            b.state_hash.unwrap().0
        );
    }
    assert!(dst.join("wasm_2_0_0").join("00aa").exists());
    let hidden: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.starts_with('.').then_some(n)
        })
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

/// The conversion streams: committing the tree being built after every value (a flush each)
/// gives the same state, the irmin-pack files replaced by this node's context.
#[test]
fn conversion_flushes_give_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 4, HistoryMode::Full);
    octez_snapshot(dir.path(), &src, &blocks, "snap", |_, _| {});
    let oct = dir.path().join("snap.octez");
    let bar = indicatif::ProgressBar::hidden();
    let c = snapshot::octez::convert(&oct, &bar, 1).unwrap();
    assert_eq!(c.level, 1);
    assert_eq!(Some(c.state_hash), blocks[0].state_hash);
    assert_eq!(c.blocks, 4);
    assert!(c.values > 3, "{c:?}");
    assert_eq!(c.flushes, c.values, "{c:?}");
    assert!(!oct.join("context").join("store.control").exists());
    assert!(!oct.join("context.converted").exists());
    let store = Store::open(&oct.join("store.sqlite")).unwrap();
    let ctx = pvm_store::Context::open(&oct.join("context")).unwrap();
    let first = store.block_by_level(crate::lv(1)).unwrap().unwrap();
    assert_eq!(first.context, blocks[0].context);
    assert_eq!(
        ctx.state_of(&first).unwrap().hash().unwrap().0,
        blocks[0].state_hash.unwrap().0
    );
}

/// Every refusal leaves no data directory and no temporary sibling.
fn refused(dir: &Path, file: &Path) -> SnapshotError {
    let dst = dir.join("dst");
    let e = import(&dst, file).unwrap_err();
    assert!(!dst.exists(), "{e}");
    assert!(!dir.join(".dst.snapshot-import").exists(), "{e}");
    e
}

#[test]
fn damaged_octez_contexts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 8, HistoryMode::Full);

    // A flipped byte in the irmin-pack files of the first block's context: the reader names
    // the file and the offset.
    let file = octez_snapshot(dir.path(), &src, &blocks, "flipped", |oct, _| {
        let p = oct.join("context").join("store.0.suffix");
        let mut b = std::fs::read(&p).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0x10;
        std::fs::write(&p, b).unwrap();
    });
    let e = refused(dir.path(), &file);
    assert!(matches!(e, SnapshotError::Irmin { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("store.0.suffix") && msg.contains("offset"),
        "{msg}"
    );

    // The first block's context is a commit the irmin store does not hold.
    let file = octez_snapshot(dir.path(), &src, &blocks, "unknown", |oct, _| {
        set_block(oct, 1, |b| {
            b.context = Some(SmartRollupContextHash::new([0x11; 32]));
        });
    });
    let e = refused(dir.path(), &file);
    assert!(matches!(e, SnapshotError::Irmin { .. }), "{e}");
    assert!(e.to_string().contains("reading the context commit"), "{e}");

    // The first block's context is another block's commit: its PVM state is not the block's.
    let file = octez_snapshot(dir.path(), &src, &blocks, "other", |oct, commits| {
        set_block(oct, 1, |b| {
            b.context = Some(SmartRollupContextHash::new(commits[1].0));
        });
    });
    let e = refused(dir.path(), &file);
    assert!(
        e.to_string().contains("holds a PVM state hashing to"),
        "{e}"
    );

    // The first block's state hash does not match its context.
    let file = octez_snapshot(dir.path(), &src, &blocks, "state", |oct, _| {
        set_block(oct, 1, |b| {
            b.state_hash = Some(StateHash::new([0x22; 32]));
        });
    });
    let e = refused(dir.path(), &file);
    assert!(
        e.to_string().contains("but the block's state hash is"),
        "{e}"
    );

    // A later block's state hash does not match the replayed state: the checks after the
    // reconstruction find no context for it.
    let file = octez_snapshot(dir.path(), &src, &blocks, "later", |oct, _| {
        set_block(oct, 5, |b| {
            b.state_hash = Some(StateHash::new([0x33; 32]));
        });
    });
    let e = refused(dir.path(), &file);
    assert!(
        e.to_string().contains("Could not read context at block"),
        "{e}"
    );

    // Octez irmin-pack files next to this node's context file.
    let file = octez_snapshot(dir.path(), &src, &blocks, "mixed", |oct, _| {
        std::fs::write(oct.join("context").join(pvm_store::CONTEXT_FILE), b"").unwrap();
    });
    let e = refused(dir.path(), &file);
    assert!(e.to_string().contains("holds both"), "{e}");
}
