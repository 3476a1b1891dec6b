//! Snapshots end to end (octez-rollup-node.md §7): a node follows a real sandbox; its data
//! directory is exported (while it runs, and stopped; full and compact), inspected with `snapshot info`,
//! imported into fresh data directories (from a file and from standard input); a node started
//! on the import serves the same head state and durable values and keeps following L1. An
//! import killed with SIGKILL leaves the data directory as it was, and a retry succeeds. A
//! snapshot in Octez's layout (irmin-pack context) made from a real node's data directory
//! imports, and a node started on it follows L1.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Sandbox, wait_until};

use super::{bin, init_config, run, text};

const BOUND: Duration = Duration::from_secs(180);

fn count_hex(n: u32) -> Value {
    json!(hex::encode(n.to_le_bytes()))
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{args:?} failed:\n{out}\n{err}");
    out
}

/// Names in `dir` starting with a dot (temporary directories of an import).
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// A node following a real sandbox's rollup of the recorder kernel, at L1 level `orig + 7` with
/// three messages processed; the snapshots end there: its last commitment (`orig + 5`) is
/// published and cemented on L1, so the L1 checks of export and import pass.
struct Followed {
    sb: Sandbox,
    addr: String,
    node_dir: std::path::PathBuf,
    node: test_support::RollupNode,
    /// The snapshots' head level (`orig + 7`).
    head_level: i64,
    /// The node's state hash at `head_level`.
    state_hash: Value,
}

fn followed(dir: &Path) -> Followed {
    let sb = Sandbox::start(&dir.join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let orig = sb.level();
    let node_dir = dir.join("node");
    init_config(&node_dir, &addr);
    let mut node = super::node(&node_dir, sb.endpoint())
        .log_file(dir.join("node.log"))
        .start()
        .unwrap();
    sb.send_messages(&[b"aaaa", b"bbbb"]);
    sb.send_messages(&[b"cccc"]);
    for _ in 0..6 {
        sb.bake();
    }
    node.wait_synced(&sb, BOUND).unwrap();
    let head_level = orig + 7;
    let state_hash = node.get(&format!("/global/block/{head_level}/state_hash"));
    assert_eq!(
        node.durable(&head_level.to_string(), "/count"),
        count_hex(3)
    );
    super::history::publish_and_cement(&sb, &node, &addr, orig + 5);
    node.wait_synced(&sb, BOUND).unwrap();
    Followed {
        sb,
        addr,
        node_dir,
        node,
        head_level,
        state_hash,
    }
}

#[test]
fn export_info_import_and_the_imported_node_follows() {
    let dir = tempfile::tempdir().unwrap();
    let Followed {
        sb,
        addr,
        node_dir,
        mut node,
        head_level,
        state_hash,
    } = followed(dir.path());
    let level_s = head_level.to_string();
    let snap = dir.path().join("snap");
    let snap_s = snap.to_str().unwrap();
    let node_s = node_dir.to_str().unwrap();
    let l1 = sb.endpoint();
    let export = |level: &str| {
        run(&[
            "-E",
            l1,
            "snapshot",
            "export",
            snap_s,
            "--data-dir",
            node_s,
            "--level",
            level,
        ])
    };

    // A running node: exported from copies of its store and context, after asking it to
    // cancel its GC; the node goes on, and the snapshot imports with every check. The context
    // GC the cementation above started may still run on a loaded machine: cancelled here until
    // none is left (`true`: one was), so that the export finds none.
    wait_until("no context GC running", BOUND, || {
        node.get("/admin/cancel_gc") == json!(false)
    })
    .unwrap();
    let live = dir.path().join("live.snap");
    let live_s = live.to_str().unwrap();
    let rpc = format!("http://127.0.0.1:{}", node.port());
    let o = run(&[
        "-E",
        l1,
        "snapshot",
        "export",
        live_s,
        "--data-dir",
        node_s,
        "--level",
        &level_s,
        "--rollup-node-endpoint",
        &rpc,
    ]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("No ongoing GC in rollup node"), "{err}");
    assert!(err.contains("The rollup node is running"), "{err}");
    node.check_running().unwrap();
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();
    let live_dst = dir.path().join("live-dst");
    let out = ok(&[
        "-E",
        l1,
        "snapshot",
        "import",
        live_s,
        "--data-dir",
        live_dst.to_str().unwrap(),
    ]);
    assert_eq!(out, "Snapshot successfully imported\n");
    assert!(hidden(dir.path()).is_empty(), "{:?}", hidden(dir.path()));

    node.terminate(BOUND).unwrap();
    // At the head, the predecessor of the last commitment is not published on L1.
    let o = export("head");
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("not published on L1") && err.contains("--no-check"),
        "{err}"
    );
    assert!(!snap.exists());
    let o = export(&level_s);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out, format!("Snapshot exported to {snap_s}\n"));

    let info = ok(&["snapshot", "info", snap_s]);
    let lines: Vec<&str> = info.lines().collect();
    assert_eq!(lines[0], "Valid smart rollup node snapshot.");
    assert_eq!(lines[1], "Format:          compressed");
    assert_eq!(lines[2], "History mode:    full");
    assert_eq!(lines[3], format!("Rollup address:  {addr}"));
    assert_eq!(lines[4], format!("Head level:      {head_level}"));
    assert!(lines[5].starts_with("Last commitment: src1"), "{info}");

    // A compact snapshot (one context, the first available block's): smaller; its import
    // rebuilds every context by replaying the stored inboxes, then checks them all.
    let compact = dir.path().join("compact.snap");
    let compact_s = compact.to_str().unwrap();
    ok(&[
        "-E",
        l1,
        "snapshot",
        "export",
        compact_s,
        "--data-dir",
        node_s,
        "--level",
        &level_s,
        "--compact",
    ]);
    assert!(std::fs::metadata(&compact).unwrap().len() < std::fs::metadata(&snap).unwrap().len());
    let rebuilt = dir.path().join("rebuilt");
    let rebuilt_s = rebuilt.to_str().unwrap();
    let out = ok(&[
        "-E",
        l1,
        "snapshot",
        "import",
        compact_s,
        "--data-dir",
        rebuilt_s,
    ]);
    assert_eq!(out, "Snapshot successfully imported\n");
    {
        let store = node_store::Store::open(&rebuilt.join("store.sqlite")).unwrap();
        let ctx = pvm_store::Context::open(&rebuilt.join("context")).unwrap();
        let first = store.first_stored_level().unwrap().unwrap();
        let head = tezos_types::Level::try_from(head_level).unwrap();
        assert!(first < head);
        for l in first.get()..=head.get() {
            let b = store
                .block_by_level(tezos_types::Level::new(l).unwrap())
                .unwrap()
                .unwrap();
            assert!(ctx.has(&b.context.unwrap()).unwrap(), "level {l}");
        }
    }

    // Import into a data directory holding only its configuration. Without an L1 node the
    // checks fail and nothing changes.
    let dst = dir.path().join("dst");
    init_config(&dst, &addr);
    let dst_s = dst.to_str().unwrap();
    let o = run(&[
        "-E",
        "http://127.0.0.1:9",
        "snapshot",
        "import",
        snap_s,
        "--data-dir",
        dst_s,
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("L1 node http://127.0.0.1:9"), "{err}");
    assert!(!dst.join("store.sqlite").exists());
    let out = ok(&["-E", l1, "snapshot", "import", snap_s, "--data-dir", dst_s]);
    assert_eq!(out, "Snapshot successfully imported\n");
    assert!(dst.join("config.json").exists(), "local files are kept");
    assert!(hidden(dir.path()).is_empty());

    // The same snapshot from standard input, into a fresh directory, reset with `--level`
    // to the level below its head (Octez's `snapshot import --level`).
    let piped = dir.path().join("piped");
    let below = (head_level - 1).to_string();
    let mut child = bin()
        .args([
            "snapshot",
            "import",
            "-",
            "--no-check",
            "--level",
            &below,
            "--data-dir",
            piped.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&snap).unwrap())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(piped.join("context").join("store").exists());
    let piped_store = node_store::Store::open(&piped.join("store.sqlite")).unwrap();
    assert_eq!(
        piped_store.head().unwrap().map(|b| i64::from(b.level)),
        Some(head_level - 1),
        "--level resets the imported head"
    );
    drop(piped_store);

    // The imported node serves the same state and keeps following L1.
    let mut imported = super::node(&dst, sb.endpoint())
        .log_file(dir.path().join("imported.log"))
        .start()
        .unwrap();
    imported.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(
        imported.get(&format!("/global/block/{head_level}/state_hash")),
        state_hash
    );
    assert_eq!(imported.durable(&level_s, "/count"), count_hex(3));
    assert_eq!(
        imported.durable(&level_s, "/last"),
        json!(hex::encode(b"cccc"))
    );
    sb.send_messages(&[b"dddd"]);
    sb.bake();
    imported.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(imported.durable("head", "/count"), count_hex(4));
    assert_eq!(
        imported.durable("head", "/last"),
        json!(hex::encode(b"dddd"))
    );
    imported.terminate(BOUND).unwrap();

    // SIGKILL during an import: the data directory is as it was; a retry succeeds.
    let killed = dir.path().join("killed");
    init_config(&killed, &addr);
    let killed_s = killed.to_str().unwrap();
    let before = std::fs::read(killed.join("config.json")).unwrap();
    let bytes = std::fs::read(&snap).unwrap();
    let mut child = bin()
        .args(["-E", l1, "snapshot", "import", "-", "--data-dir", killed_s])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let tmp = dir.path().join(".killed.snapshot-import");
    wait_until("the import to start extracting", BOUND, || tmp.exists()).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    let names: Vec<String> = std::fs::read_dir(&killed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["config.json".to_string()]);
    assert_eq!(std::fs::read(killed.join("config.json")).unwrap(), before);
    let out = ok(&[
        "-E",
        l1,
        "snapshot",
        "import",
        snap_s,
        "--data-dir",
        killed_s,
    ]);
    assert_eq!(out, "Snapshot successfully imported\n");
    assert!(hidden(dir.path()).is_empty(), "{:?}", hidden(dir.path()));
    assert!(killed.join("store.sqlite").exists());
}

#[test]
fn snapshot_command_errors_name_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = run(&["snapshot", "info", &format!("{d}/missing")]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("missing"), "{err}");
    let o = run(&[
        "snapshot",
        "export",
        "--data-dir",
        d,
        "--uncompressed",
        "--compress-on-the-fly",
    ]);
    assert!(text(&o).1.contains("exclusive"));
    let o = run(&["snapshot", "export", "--data-dir", d, "--level", "soon"]);
    assert!(text(&o).1.contains("Option --level"));
    let o = run(&["snapshot", "export", "--data-dir", d]);
    let (_, err) = text(&o);
    assert!(err.contains("No rollup node metadata"), "{err}");
}

/// The members of an uncompressed tar archive (ustar, as this node's export writes it).
fn untar(mut ar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    while ar.len() >= 512 && ar[..512].iter().any(|b| *b != 0) {
        let (h, rest) = ar.split_at(512);
        let field = |r: std::ops::Range<usize>| {
            let f = &h[r];
            let end = f.iter().position(|b| *b == 0).unwrap_or(f.len());
            String::from_utf8(f[..end].to_vec()).unwrap()
        };
        let (prefix, name) = (field(345..500), field(0..100));
        let name = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let size = usize::from_str_radix(field(124..136).trim(), 8).unwrap();
        if h[156] == b'0' || h[156] == 0 {
            out.push((name, rest[..size].to_vec()));
        }
        ar = &rest[size.div_ceil(512) * 512..];
    }
    out
}

/// An uncompressed tar archive (ustar) of `members`.
fn tar(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![];
    for (name, data) in members {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[148..156].copy_from_slice(b"        ");
        h[156] = b'0';
        h[257..265].copy_from_slice(b"ustar\x0000");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend(h);
        out.extend(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A committed state tree as the irmin-pack writer takes it.
fn to_irmin(t: &durable_tree::Tree) -> irmin_pack::write::Tree {
    use irmin_pack::write::Tree;
    match t.kind() {
        durable_tree::Kind::Contents => Tree::Leaf(t.get_contents(&[]).unwrap().unwrap()),
        durable_tree::Kind::Node => Tree::Dir(
            t.list(&[])
                .unwrap()
                .into_iter()
                .map(|(n, _)| {
                    let c = to_irmin(&t.get(&[n.as_str()]).unwrap().unwrap());
                    (n, c)
                })
                .collect(),
        ),
    }
}

/// Rewrites this node's uncompressed snapshot `ours` as `octez-smart-rollup-node` exports it
/// (working in `work`): each block's PVM state is an Irmin commit of `{pvm_state: …}` in an
/// irmin-pack `context/`, and its `l2_blocks.context` that commit's hash.
fn to_octez_layout(ours: &Path, out: &Path, work: &Path) {
    use irmin_pack::write::{Tree, Writer};
    let bytes = std::fs::read(ours).unwrap();
    let (header, archive) = bytes.split_at(snapshot::HEADER_SIZE);
    for (name, data) in untar(archive) {
        let p = work.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let mut store = node_store::Store::open(&work.join("store.sqlite")).unwrap();
    let ctx = pvm_store::Context::open(&work.join("context")).unwrap();
    let head = store.head().unwrap().unwrap().level;
    let mut w = Writer::new();
    let (mut blocks, mut parents) = (vec![], vec![]);
    for l in store.first_stored_level().unwrap().unwrap().get()..=head.get() {
        let mut b = store
            .block_by_level(tezos_types::Level::new(l).unwrap())
            .unwrap()
            .unwrap();
        let state = to_irmin(&ctx.state_tree(&b).unwrap());
        let root = w.tree(&Tree::dir([("pvm_state", state)])).unwrap();
        let c = w.commit(&root, &parents, i64::from(l), "", "").unwrap();
        b.context = Some(node_store::SmartRollupContextHash::new(c.hash.0));
        (parents, blocks) = (vec![c], [blocks, vec![b]].concat());
    }
    store
        .transaction(|t| blocks.iter().try_for_each(|b| t.insert_block(b)))
        .unwrap();
    drop((store, ctx));
    std::fs::remove_dir_all(work.join("context")).unwrap();
    w.finish(
        &work.join("context"),
        w.position(),
        &[("main", parents[0].hash)],
    )
    .unwrap();
    let mut members = vec![];
    let mut stack = vec![work.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.strip_prefix(work).unwrap().to_str().unwrap().to_owned();
                members.push((name, std::fs::read(&p).unwrap()));
            }
        }
    }
    assert!(
        members.iter().all(|(n, _)| !n.ends_with("-wal")),
        "{members:?}"
    );
    std::fs::write(out, [header.to_vec(), tar(&members)].concat()).unwrap();
}

/// A snapshot in Octez's layout (irmin-pack `context/`, commit hashes in the store), made from
/// a real node's data directory, imports with every check; a node started on it serves the
/// same state and keeps following L1.
#[test]
fn an_octez_snapshot_imports_and_the_imported_node_follows() {
    let dir = tempfile::tempdir().unwrap();
    let Followed {
        sb,
        addr,
        node_dir,
        mut node,
        head_level,
        state_hash,
    } = followed(dir.path());
    let level_s = head_level.to_string();
    node.terminate(BOUND).unwrap();
    let l1 = sb.endpoint();
    let ours = dir.path().join("ours.snap");
    let node_s = node_dir.to_str().unwrap();
    let export = ["-E", l1, "snapshot", "export", ours.to_str().unwrap()];
    ok(&[
        &export[..],
        &["--data-dir", node_s, "--level", &level_s, "--uncompressed"],
    ]
    .concat());
    let octez = dir.path().join("octez.snap");
    to_octez_layout(&ours, &octez, &dir.path().join("octez"));

    let dst = dir.path().join("dst");
    init_config(&dst, &addr);
    let dst_s = dst.to_str().unwrap();
    let octez_s = octez.to_str().unwrap();
    let out = ok(&["-E", l1, "snapshot", "import", octez_s, "--data-dir", dst_s]);
    assert_eq!(out, "Snapshot successfully imported\n");
    assert!(dst.join("context").join("store").exists());
    assert!(!dst.join("context").join("store.control").exists());
    let mut imported = super::node(&dst, sb.endpoint())
        .log_file(dir.path().join("imported.log"))
        .start()
        .unwrap();
    imported.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(
        imported.get(&format!("/global/block/{head_level}/state_hash")),
        state_hash
    );
    assert_eq!(imported.durable(&level_s, "/count"), count_hex(3));
    sb.send_messages(&[b"dddd"]);
    sb.bake();
    imported.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(imported.durable("head", "/count"), count_hex(4));
    imported.terminate(BOUND).unwrap();
}
