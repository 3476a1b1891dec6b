//! Export → info → import → checks, with each compression, `--level`, and history modes.

use node_config::HistoryMode;
use node_store::Store;
use snapshot::{Compression, ExportLevel, Format, Source};

use super::*;

#[test]
fn export_info_import_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 8, HistoryMode::Full);
    let file = dir.path().join("snap");
    let out = snapshot::export(&export_opts(&src, &file)).unwrap();
    assert_eq!(out.file, file);
    assert!(!dir.path().join("snap.uncompressed").exists());
    let head = blocks.last().unwrap();
    assert_eq!(out.header.head_level, crate::lv(8));
    assert_eq!(out.header.address, addr());
    assert_eq!(out.header.last_commitment, head.commitment_hash.unwrap());
    assert_eq!(out.header.history_mode, HistoryMode::Full);

    // The file is gzip, and its decompressed start is the header.
    let raw = std::fs::read(&file).unwrap();
    assert_eq!(&raw[..2], &[0x1f, 0x8b]);
    let mut plain = vec![];
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut plain).unwrap();
    assert_eq!(&plain[..58], &out.header.encode());

    let (h, f) = snapshot::info(&Source::File(file.clone())).unwrap();
    assert_eq!((h, f), (out.header, Format::Compressed));

    let dst = dir.path().join("dst");
    let imported = snapshot::import(&import_opts(&dst, &file)).unwrap();
    assert_eq!(imported, out.header);
    let s = Store::open(&dst.join("store.sqlite")).unwrap();
    assert_eq!(s.head().unwrap().as_ref(), Some(head));
    assert_eq!(
        s.lpc().unwrap(),
        None,
        "the operator-local lpc row is not exported"
    );
    let ctx = pvm_store::Context::open(&dst.join("context")).unwrap();
    ctx.state_of(head).unwrap();
    assert_eq!(
        std::fs::read(dst.join("wasm_2_0_0/00aa")).unwrap(),
        b"preimage"
    );
    assert!(
        !dst.join("injector").exists(),
        "local files are not exported"
    );
    assert!(!dst.join("kernel.log").exists());
    // No leftovers beside the data directory.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn uncompressed_and_on_the_fly_and_default_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_data_dir(&src, 6, HistoryMode::Archive);
    let dest = dir.path().join("out");
    let mut o = export_opts(&src, &dest);
    o.file = None;
    o.dest = Some(dest.clone());
    o.compression = Compression::No;
    let out = snapshot::export(&o).unwrap();
    let short: String = ADDR.chars().take(13).collect();
    assert_eq!(
        out.file,
        dest.join(format!("snapshot-{short}-6.archive.uncompressed"))
    );
    let (_, f) = snapshot::info(&Source::File(out.file)).unwrap();
    assert_eq!(f, Format::Uncompressed);

    o.compression = Compression::OnTheFly;
    let out = snapshot::export(&o).unwrap();
    assert_eq!(out.file, dest.join(format!("snapshot-{short}-6.archive")));
    let (_, f) = snapshot::info(&Source::File(out.file.clone())).unwrap();
    assert_eq!(f, Format::Compressed);
    snapshot::import(&import_opts(&dir.path().join("dst"), &out.file)).unwrap();
}

#[test]
fn level_resets_the_store_copy() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 8, HistoryMode::Full);
    let file = dir.path().join("snap");
    // Default level: finalized (6 here).
    let mut o = export_opts(&src, &file);
    o.level = ExportLevel::Finalized;
    let out = snapshot::export(&o).unwrap();
    assert_eq!(out.header.head_level, crate::lv(6));
    let dst = dir.path().join("dst");
    snapshot::import(&import_opts(&dst, &file)).unwrap();
    let s = Store::open(&dst.join("store.sqlite")).unwrap();
    assert_eq!(s.head().unwrap().as_ref(), Some(&blocks[5]));
    assert_eq!(s.block_by_level(crate::lv(7)).unwrap(), None);
    assert_eq!(
        s.commitment(&blocks[7].commitment_hash.unwrap()).unwrap(),
        None
    );

    // An odd level: the last commitment is the previous one.
    o.level = ExportLevel::Level(crate::lv(5));
    let out = snapshot::export(&o).unwrap();
    assert_eq!(
        out.header.last_commitment,
        blocks[3].commitment_hash.unwrap()
    );
    o.level = ExportLevel::Level(crate::lv(9));
    let e = snapshot::export(&o).unwrap_err().to_string();
    assert!(e.contains("--level") && e.contains("above the head"), "{e}");
}

#[test]
fn import_level_resets_the_imported_store() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 8, HistoryMode::Full);
    let file = dir.path().join("snap");
    let mut o = export_opts(&src, &file);
    o.level = ExportLevel::Head;
    snapshot::export(&o).unwrap();
    let dst = dir.path().join("dst");
    for bad in [0, 9] {
        let e =
            snapshot::import_at_level(&import_opts(&dst, &file), Some(crate::lv(bad)), None, None)
                .unwrap_err()
                .to_string();
        assert!(e.contains("--level"), "{e}");
        assert!(!dst.join("store.sqlite").exists(), "nothing imported");
    }
    snapshot::import_at_level(&import_opts(&dst, &file), Some(crate::lv(4)), None, None).unwrap();
    let s = Store::open(&dst.join("store.sqlite")).unwrap();
    assert_eq!(s.head().unwrap().as_ref(), Some(&blocks[3]));
    assert_eq!(s.block_by_level(crate::lv(5)).unwrap(), None);
}

#[test]
fn history_modes_on_import() {
    let dir = tempfile::tempdir().unwrap();
    // A full node's data dir refuses nothing from an archive snapshot (converted to full)…
    let archive = dir.path().join("archive");
    make_data_dir(&archive, 8, HistoryMode::Archive);
    let snap_archive = dir.path().join("a.snap");
    snapshot::export(&export_opts(&archive, &snap_archive)).unwrap();
    let full = dir.path().join("full");
    make_data_dir(&full, 4, HistoryMode::Full);
    let mut o = import_opts(&full, &snap_archive);
    o.force = true;
    snapshot::import(&o).unwrap();
    let s = Store::open(&full.join("store.sqlite")).unwrap();
    assert_eq!(s.history_mode().unwrap(), Some(HistoryMode::Full));
    assert_eq!(s.head().unwrap().unwrap().level, crate::lv(8));
    assert_eq!(
        std::fs::read(full.join("injector/queue")).unwrap(),
        b"local",
        "local files kept"
    );

    // …but an archive node refuses a full snapshot.
    let full_src = dir.path().join("full_src");
    make_data_dir(&full_src, 8, HistoryMode::Full);
    let snap_full = dir.path().join("f.snap");
    snapshot::export(&export_opts(&full_src, &snap_full)).unwrap();
    let arch_dst = dir.path().join("arch_dst");
    make_data_dir(&arch_dst, 4, HistoryMode::Archive);
    let before = tree(&arch_dst);
    let mut o = import_opts(&arch_dst, &snap_full);
    o.force = true;
    let e = snapshot::import(&o).unwrap_err().to_string();
    assert_eq!(
        e,
        "Cannot import a full snapshot into an archive rollup node."
    );
    assert_eq!(tree(&arch_dst), before);
}

/// Serves one `GET` per connection on a loopback port: `status` with `body` (its whole
/// length announced, only the first `sent` bytes sent). Returns the URL.
fn serve(body: Vec<u8>, status: &'static str, sent: usize) -> String {
    use std::io::{BufRead, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut r = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body[..sent.min(body.len())]);
        }
    });
    format!("http://127.0.0.1:{port}/snap")
}

#[test]
fn import_streams_from_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 6, HistoryMode::Full);
    let file = dir.path().join("snap");
    snapshot::export(&export_opts(&src, &file)).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let dst = dir.path().join("dst");
    let mut o = import_opts(&dst, &file);

    // Cut at 90%: refused, nothing left.
    o.source = Source::Url(serve(bytes.clone(), "200 OK", bytes.len() * 9 / 10));
    let e = snapshot::import(&o).unwrap_err();
    assert!(matches!(e, snapshot::SnapshotError::Read { .. }), "{e}");
    assert!(!dst.exists());
    // Not found.
    o.source = Source::Url(serve(vec![], "404 Not Found", 0));
    let e = snapshot::import(&o).unwrap_err().to_string();
    assert!(e.contains("404") && e.contains("/snap"), "{e}");
    assert!(!dst.exists());

    let n = bytes.len();
    o.source = Source::Url(serve(bytes, "200 OK", n));
    let (h, _) = snapshot::info(&o.source).unwrap();
    assert_eq!(h.head_level, crate::lv(6));
    snapshot::import(&o).unwrap();
    let s = Store::open(&dst.join("store.sqlite")).unwrap();
    assert_eq!(s.head().unwrap().as_ref(), blocks.last());
}

/// The reconstructor of the fixtures: commits level `l`'s state (`state(l)`) again, as
/// replaying its inbox would; with `skip`, it commits nothing (a reconstruction that lies).
pub(crate) struct Recommit {
    /// Commit nothing.
    pub(crate) skip: bool,
}

impl snapshot::Reconstruct for Recommit {
    fn reconstruct(&self, dir: &Path, bar: &indicatif::ProgressBar) -> Result<(), String> {
        let store = Store::open(&dir.join("store.sqlite")).unwrap();
        let ctx = pvm_store::Context::open(&dir.join("context")).unwrap();
        let first = store.first_stored_level().unwrap().unwrap();
        let head = store.head().unwrap().unwrap().level;
        for l in first.get() + 1..=head.get() {
            if !self.skip {
                ctx.commit(&state(u8::try_from(l).unwrap())).unwrap();
            }
            bar.inc(1);
        }
        ctx.sync().map_err(|e| e.to_string())
    }
}

/// `--compact`: the snapshot's context holds the first available block's state only (the
/// export's checks accept it); an import refuses it without a reconstructor, and checks every
/// context after the reconstruction, so one that rebuilds nothing is caught.
#[test]
fn compact_snapshots_are_reconstructed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let blocks = make_data_dir(&src, 8, HistoryMode::Full);
    let full = dir.path().join("full");
    snapshot::export(&export_opts(&src, &full)).unwrap();
    let file = dir.path().join("compact");
    let mut opts = export_opts(&src, &file);
    opts.compact = true;
    opts.compression = Compression::No;
    snapshot::export(&opts).unwrap();

    // Only the first block's context is in the compact snapshot.
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let raw = std::fs::read(&file).unwrap();
    tar::Archive::new(&raw[snapshot::HEADER_SIZE..])
        .unpack(&plain)
        .unwrap();
    let ctx = pvm_store::Context::open(&plain.join("context")).unwrap();
    assert!(ctx.has(&blocks[0].context.unwrap()).unwrap());
    for b in &blocks[1..] {
        assert!(!ctx.has(&b.context.unwrap()).unwrap(), "level {}", b.level);
    }
    drop(ctx);

    let dst = dir.path().join("dst");
    let e = snapshot::import(&import_opts(&dst, &file)).unwrap_err();
    assert!(e.to_string().contains("is compact"), "{e}");
    assert!(!dst.exists());
    let e = snapshot::import_at_level(
        &import_opts(&dst, &file),
        None,
        None,
        Some(&Recommit { skip: true }),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("Head context cannot be checkouted"),
        "{e}"
    );
    assert!(!dst.exists());
    snapshot::import_at_level(
        &import_opts(&dst, &file),
        None,
        None,
        Some(&Recommit { skip: false }),
    )
    .unwrap();
    let ctx = pvm_store::Context::open(&dst.join("context")).unwrap();
    for b in &blocks {
        ctx.state_of(b).unwrap();
    }
}
