//! Every bad snapshot is refused with a clear error, the target data directory left as it
//! was and nothing left beside it; a killed import is recovered by the next one.

use std::io::Write;
use std::path::Path;

use node_config::HistoryMode;
use snapshot::{Header, SnapshotError};

use super::*;

/// A good compressed snapshot of an 8-level data directory, in `dir/good.snap`.
fn good(dir: &Path) -> (std::path::PathBuf, Header) {
    let src = dir.join("src");
    make_data_dir(&src, 8, HistoryMode::Full);
    let file = dir.join("good.snap");
    let out = snapshot::export(&export_opts(&src, &file)).unwrap();
    (file, out.header)
}

/// Asserts an import of `file` into `dir/dst` fails, leaving `dst` absent and no leftovers;
/// returns the error.
fn refused_into_fresh(dir: &Path, file: &Path) -> SnapshotError {
    let dst = dir.join("dst");
    let e = snapshot::import(&import_opts(&dst, file)).unwrap_err();
    assert!(!dst.exists(), "the data dir was created: {e}");
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?} after {e}");
    e
}

/// An uncompressed snapshot of `header` with raw tar members `(name, data)` (names written
/// as is, bypassing the tar crate's path checks).
fn raw_snapshot(path: &Path, header: &Header, members: &[(&str, &[u8])]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&header.encode()).unwrap();
    let mut b = tar::Builder::new(f);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap();
}

#[test]
fn bad_header() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = good(dir.path());
    // Version 1 inside the gzip stream.
    let mut plain = vec![];
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap()),
        &mut plain,
    )
    .unwrap();
    plain[0] = 1;
    let bad = dir.path().join("bad.snap");
    std::fs::write(&bad, &plain).unwrap();
    let e = refused_into_fresh(dir.path(), &bad);
    assert!(e.to_string().contains("invalid snapshot version 1"), "{e}");
    let e = snapshot::info(&snapshot::Source::File(bad)).unwrap_err();
    assert!(matches!(e, SnapshotError::Header { .. }), "{e}");
    // Too short to hold a header.
    let short = dir.path().join("short.snap");
    std::fs::write(&short, b"not a snapshot").unwrap();
    let e = refused_into_fresh(dir.path(), &short);
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn wrong_rollup() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = good(dir.path());
    let dst = dir.path().join("dst");
    std::fs::create_dir_all(&dst).unwrap();
    let other = "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf";
    std::fs::write(
        dst.join("metadata"),
        format!(r#"{{"rollup_address":"{other}"}}"#),
    )
    .unwrap();
    let before = tree(&dst);
    let e = snapshot::import(&import_opts(&dst, &file)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("The existing rollup node is for {other}, but the snapshot is for rollup {ADDR}.")
    );
    assert_eq!(tree(&dst), before);
}

#[test]
fn member_escaping_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (_, header) = good(dir.path());
    for name in ["../escaped", "/tmp/escaped-abs", "wasm_2_0_0/../../escaped"] {
        let bad = dir.path().join("bad.snap");
        raw_snapshot(&bad, &header, &[("metadata", b"{}"), (name, b"evil")]);
        let e = refused_into_fresh(dir.path(), &bad);
        assert!(matches!(e, SnapshotError::Member { .. }), "{e}");
        assert!(e.to_string().contains("escaping"), "{e}");
        assert!(!dir.path().join("escaped").exists());
        assert!(!Path::new("/tmp/escaped-abs").exists());
    }
}

#[test]
fn octez_irmin_context_is_named() {
    // An Octez snapshot whose irmin-pack `store.pack` is not one: the error names the file.
    let dir = tempfile::tempdir().unwrap();
    let (_, header) = good(dir.path());
    let src = dir.path().join("src");
    let copy = dir.path().join("copy.sqlite");
    rusqlite::Connection::open(src.join("store.sqlite"))
        .unwrap()
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    let store = std::fs::read(&copy).unwrap();
    let metadata = std::fs::read(src.join("metadata")).unwrap();
    let bad = dir.path().join("octez.snap");
    raw_snapshot(
        &bad,
        &header,
        &[
            ("store.sqlite", &store),
            ("metadata", &metadata),
            ("context/store.pack", b"irmin"),
        ],
    );
    let e = refused_into_fresh(dir.path(), &bad);
    assert!(matches!(e, SnapshotError::Irmin { .. }), "{e}");
    let e = e.to_string();
    assert!(
        e.contains("store.pack") && e.contains("Octez context"),
        "{e}"
    );
}

#[test]
fn truncated_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = good(dir.path());
    let bytes = std::fs::read(&file).unwrap();
    for cut in [bytes.len() * 9 / 10, bytes.len() - 4] {
        let bad = dir.path().join("cut.snap");
        std::fs::write(&bad, &bytes[..cut]).unwrap();
        let e = refused_into_fresh(dir.path(), &bad);
        assert!(matches!(e, SnapshotError::Read { .. }), "cut at {cut}: {e}");
    }
    // A flipped byte in the middle: gzip (or its CRC) refuses it.
    let mut flipped = bytes;
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    let bad = dir.path().join("flip.snap");
    std::fs::write(&bad, &flipped).unwrap();
    refused_into_fresh(dir.path(), &bad);
}

#[test]
fn inconsistent_content_fails_the_checks() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 8, HistoryMode::Full);
    // A commitment whose content no longer hashes to its key.
    let conn = rusqlite::Connection::open(src.join("store.sqlite")).unwrap();
    let n = conn
        .execute(
            "UPDATE commitments SET number_of_ticks = 99 WHERE hash = ?1",
            [blocks[3].commitment_hash.unwrap().to_b58check()],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let file = dir.path().join("s.snap");
    // The export's own check refuses it…
    let e = snapshot::export(&export_opts(&src, &file)).unwrap_err();
    assert!(e.to_string().contains("Erroneous commitment hash"), "{e}");
    // …and so does the import of an unchecked export.
    let mut o = export_opts(&src, &file);
    o.check = false;
    snapshot::export(&o).unwrap();
    let e = refused_into_fresh(dir.path(), &file).to_string();
    assert!(
        e.contains("Erroneous commitment hash") && e.contains("level 4"),
        "{e}"
    );
    // With --no-check it imports.
    let mut o = import_opts(&dir.path().join("dst"), &file);
    o.check = false;
    snapshot::import(&o).unwrap();
}

#[test]
fn populated_and_older_targets() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = good(dir.path());
    let dst = dir.path().join("dst");
    snapshot::import(&import_opts(&dst, &file)).unwrap();
    let before = tree(&dst);
    let e = snapshot::import(&import_opts(&dst, &file)).unwrap_err();
    assert!(matches!(e, SnapshotError::Populated(_)), "{e}");
    assert!(e.to_string().contains("--force"), "{e}");
    let mut o = import_opts(&dst, &file);
    o.force = true;
    let e = snapshot::import(&o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "The rollup node is already at level 8 but the snapshot is only for level 8."
    );
    assert_eq!(tree(&dst), before);
}

/// A running node (it holds its context open) is exported from copies of its store and of
/// its context's synced prefix, and goes on committing; an import into its data directory is
/// refused. An export waits for a context GC (`gc_lock`) to finish.
#[test]
fn a_running_node_is_exported_from_copies_and_refuses_imports() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 4, HistoryMode::Full);
    let ctx = pvm_store::Context::open(&src.join("context")).unwrap();
    let file = dir.path().join("s");
    snapshot::export(&export_opts(&src, &file)).unwrap();
    ctx.commit(&state(99)).unwrap();
    let dst = dir.path().join("dst");
    snapshot::import(&import_opts(&dst, &file)).unwrap();
    let imported = pvm_store::Context::open(&dst.join("context")).unwrap();
    for b in &blocks {
        imported.state_of(b).unwrap();
    }
    let mut o = import_opts(&src, &file);
    o.force = true;
    let e = snapshot::import(&o).unwrap_err();
    assert!(matches!(e, SnapshotError::Locked(_)), "{e}");

    // A context GC holds `gc_lock`: the export waits for it.
    let gc_lock = std::fs::File::create(src.join("gc_lock")).unwrap();
    gc_lock.lock().unwrap();
    let opts = export_opts(&src, &dir.path().join("s2"));
    let export = std::thread::spawn(move || snapshot::export(&opts));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!export.is_finished(), "the export did not wait for gc_lock");
    drop(gc_lock);
    export.join().unwrap().unwrap();
    drop(ctx);
}

#[test]
fn killed_imports_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (file, header) = good(dir.path());
    let dst = dir.path().join("dst");
    // Killed during extraction: a partial temporary directory.
    let tmp = dir.path().join(".dst.snapshot-import");
    std::fs::create_dir_all(tmp.join("context")).unwrap();
    std::fs::write(tmp.join("store.sqlite"), b"partial").unwrap();
    assert_eq!(snapshot::import(&import_opts(&dst, &file)).unwrap(), header);
    assert!(!tmp.exists());
    let imported = tree(&dst);

    // Killed between the two renames of the swap: the old data dir is put back.
    let old = dir.path().join(".dst.snapshot-old");
    std::fs::rename(&dst, &old).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let e = snapshot::import(&import_opts(&dst, &file)).unwrap_err();
    assert!(matches!(e, SnapshotError::Populated(_)), "{e}");
    assert_eq!(tree(&dst), imported);
    assert!(!old.exists() && !tmp.exists());
}

/// An L1 node knowing the commitments `published` and cemented at `lcc`.
struct FakeL1 {
    published: Vec<tezos_types::CommitmentHash>,
    lcc: (tezos_types::CommitmentHash, tezos_types::Level),
}

impl snapshot::L1View for FakeL1 {
    fn commitment_published(
        &self,
        _: &tezos_types::SmartRollupAddress,
        c: &tezos_types::CommitmentHash,
    ) -> Result<bool, String> {
        Ok(self.published.contains(c))
    }
    fn lcc(
        &self,
        _: &tezos_types::SmartRollupAddress,
    ) -> Result<(tezos_types::CommitmentHash, tezos_types::Level), String> {
        Ok(self.lcc)
    }
    fn name(&self) -> String {
        "fake-l1".into()
    }
}

#[test]
fn checks_against_l1() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 8, HistoryMode::Full);
    let c = |l: usize| blocks[l - 1].commitment_hash.unwrap();
    let file = dir.path().join("s.snap");
    // Export: the predecessor (level 6) of the last commitment (level 8) must be published.
    let l1 = FakeL1 {
        published: vec![c(2), c(4)],
        lcc: (c(4), crate::lv(4)),
    };
    let e = snapshot::export_with(&export_opts(&src, &file), Some(&l1)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("not published on L1") && text.contains(&c(6).to_b58check()),
        "{e}"
    );
    assert!(!file.exists());
    let l1 = FakeL1 {
        published: vec![c(2), c(4), c(6), c(8)],
        lcc: (c(4), crate::lv(4)),
    };
    snapshot::export_with(&export_opts(&src, &file), Some(&l1)).unwrap();
    // Import: the last commitment must be published…
    let dst = dir.path().join("dst");
    let unpublished = FakeL1 {
        published: vec![c(6)],
        lcc: (c(4), crate::lv(4)),
    };
    let e = snapshot::import_with(&import_opts(&dst, &file), Some(&unpublished)).unwrap_err();
    assert!(e.to_string().contains(&c(8).to_b58check()), "{e}");
    // …and L1's LCC the snapshot's commitment at that level.
    let other_lcc = FakeL1 {
        published: vec![c(8)],
        lcc: (c(2), crate::lv(4)),
    };
    let e = refused_into_fresh_with(dir.path(), &file, &other_lcc).to_string();
    assert!(e.contains("for LCC at level 4"), "{e}");
    snapshot::import_with(&import_opts(&dst, &file), Some(&l1)).unwrap();
    // With --no-check, no L1 question is asked.
    let mut o = import_opts(&dir.path().join("dst2"), &file);
    o.check = false;
    snapshot::import_with(&o, Some(&unpublished)).unwrap();
}

fn refused_into_fresh_with(dir: &Path, file: &Path, l1: &dyn snapshot::L1View) -> SnapshotError {
    let dst = dir.join("dst");
    let e = snapshot::import_with(&import_opts(&dst, file), Some(l1)).unwrap_err();
    assert!(!dst.exists(), "the data dir was created: {e}");
    e
}
