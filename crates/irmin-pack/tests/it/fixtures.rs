//! The upstream irmin-pack test stores (irmin `test/irmin-pack/data/`), opened with the schema
//! their tests use, every commit walked with every hash checked, and the contents their tests
//! expect found (`test_existing_stores.ml`: the `version_1` archive; `test_upgrade.ml`: the
//! preloaded objects `borphan | b01 <- n01 <- n0 <- c0` of the v2/v3 stores).

use std::path::PathBuf;

use irmin_pack::{Item, Kind, ObjHash, Status, Store};

use crate::sha1::irmin_test_schema;

pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn hash(s: &str) -> ObjHash {
    ObjHash::from_hex(s).unwrap()
}

fn open(name: &str) -> Store {
    Store::open(fixture(name), irmin_test_schema())
        .unwrap_or_else(|e| panic!("opening {name}: {e}"))
}

/// Leaves of a commit as `(path, value)` strings, sorted.
fn leaves(store: &Store, commit: &ObjHash) -> Vec<(String, String)> {
    let c = store.commit(commit).unwrap();
    let mut v: Vec<(String, String)> = store
        .leaves(&c)
        .unwrap()
        .into_iter()
        .map(|l| (l.path_string(), String::from_utf8(l.bytes).unwrap()))
        .collect();
    v.sort();
    v
}

/// `c0` of `test_upgrade.ml`.
pub(crate) const C0: &str = "22e159de13b427226e5901defd17f0c14e744205";
const N0: &str = "fe0084f902d55464e9e6dbd82fb60fcf058bb6b1";

fn check_c0(name: &str) -> Store {
    let store = open(name);
    let c0 = store.commit(&hash(C0)).unwrap();
    assert_eq!(c0.offset, 122, "{name}");
    assert_eq!(c0.node, hash(N0), "{name}");
    assert!(c0.parents.is_empty());
    assert_eq!(
        leaves(&store, &hash(C0)),
        vec![("step-n01/step-b01".to_owned(), "b01".to_owned())],
        "{name}"
    );
    // Directories and values are visited with their checked hashes.
    let mut items = Vec::new();
    let stats = store
        .walk(&c0, |item| -> Result<(), irmin_pack::Error> {
            items.push(match item {
                Item::Dir {
                    path,
                    hash,
                    entries,
                } => format!("dir {} {hash} {entries}", path.len()),
                Item::Contents { path, hash, bytes } => {
                    format!("contents {} {hash} {}", path.len(), bytes.len())
                }
            });
            Ok(())
        })
        .unwrap();
    assert_eq!(
        items,
        vec![
            format!("dir 0 {N0} 1"),
            "dir 1 9b120e5019dcc6cd90b4d9c9826c9ebbebdc0023 1".to_owned(),
            "contents 2 5368d2c2f4fc5521fe8e8acd17cdd7349aa8f753 3".to_owned(),
        ]
    );
    assert_eq!((stats.dirs, stats.contents, stats.inodes), (2, 1, 2));
    assert_eq!(store.dict(), [b"step-b01".to_vec(), b"step-n01".to_vec()]);
    store
}

#[test]
fn version_1_store() {
    let store = open("version_1");
    assert_eq!(store.version(), 1);
    assert!(store.control().is_none());
    let branches: Vec<&str> = store.branches().iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(branches, ["bar", "foo"]);
    // `archive` of test_existing_stores.ml.
    let bar = store.branches()[0].1;
    let foo = store.branches()[1].1;
    assert_eq!(
        leaves(&store, &bar),
        vec![
            ("a/b/c".to_owned(), "z".to_owned()),
            ("a/d".to_owned(), "x".to_owned())
        ]
    );
    assert_eq!(leaves(&store, &foo), vec![("b".to_owned(), "y".to_owned())]);
    // Every commit of the index walks cleanly; v1 commits (C) and v1 nodes (N).
    let commits = store.indexed_commits();
    assert_eq!(commits.len(), 3);
    for (h, _) in commits {
        let c = store.commit(&h).unwrap();
        assert_eq!(c.kind, Kind::CommitV1);
        store.leaves(&c).unwrap();
    }
}

#[test]
fn version_2_stores() {
    for name in ["version_2_always", "version_2_minimal"] {
        let store = check_c0(name);
        assert_eq!(store.version(), 2);
        assert!(store.branches().is_empty());
    }
    // The "always" strategy indexes every object, "minimal" only commits.
    let always = open("version_2_always");
    let b01 = hash("5368d2c2f4fc5521fe8e8acd17cdd7349aa8f753");
    assert_eq!(
        always.index_entry(&b01).map(|e| (e.offset, e.kind)),
        Some((29, Kind::Contents))
    );
    assert!(open("version_2_minimal").index_entry(&b01).is_none());
}

#[test]
fn version_3_stores() {
    for name in ["version_3_always", "version_3_minimal"] {
        let store = check_c0(name);
        assert_eq!(store.version(), 3);
        assert_eq!(store.indexed_commits(), vec![(hash(C0), 122)]);
    }
    let c = open("version_3_minimal");
    assert_eq!(c.control().unwrap().status, Status::NoGcYet);
    assert_eq!(
        open("version_3_always").control().unwrap().status,
        Status::NonMinimalIndexing
    );
}

#[test]
fn upgraded_v2_to_v3_store_has_a_v4_control_file_and_a_legacy_chunk() {
    let store = check_c0("version_2_to_3_always");
    assert_eq!(store.version(), 4);
    assert_eq!(
        store.control().unwrap().status,
        Status::FromV1V2 {
            entry_offset_at_upgrade: 164
        }
    );
}

#[test]
fn gced_store_reads_through_prefix_and_mapping() {
    let store = check_c0("version_3_minimal_gced");
    let Status::Gced(g) = store.control().unwrap().status else {
        panic!("not GC'd")
    };
    assert_eq!((g.suffix_start_offset, g.generation), (122, 1));
    // The orphan contents at offset 0 was collected.
    let err = store.commit_at(0).unwrap_err();
    assert!(
        matches!(err, irmin_pack::Error::OffsetNotFound { offset: 0, .. }),
        "{err}"
    );
}

#[test]
fn scan_lists_every_entry_in_order() {
    let store = open("version_3_minimal");
    let mut seen = Vec::new();
    store
        .scan(&mut |e| seen.push((e.offset, e.kind.magic(), e.len)))
        .unwrap();
    // test_upgrade.ml: borphan 0/29, b01 29/25, n01 54/34, n0 88/34, c0 122/42.
    assert_eq!(
        seen,
        vec![
            (0, b'B', 29),
            (29, b'B', 25),
            (54, b'R', 34),
            (88, b'R', 34),
            (122, b'D', 42)
        ]
    );
    let gced = open("version_3_minimal_gced");
    let mut offsets = Vec::new();
    gced.scan(&mut |e| offsets.push(e.offset)).unwrap();
    assert_eq!(offsets, vec![29, 54, 88, 122]);
}

#[test]
fn v1_inodes_of_a_small_conf_store_and_a_corrupted_one() {
    // `Test_corrupted_inode` of test_existing_stores.ml: `Small_conf` (`entries = 2`,
    // `stable_hash = 3`), v1 inodes `I`/`N`; the inodes of commit c1 are intact, one inode
    // of c2 is corrupted.
    let schema = irmin_pack::Schema {
        entries: 2,
        stable_hash: 3,
        ..irmin_test_schema()
    };
    let store = Store::open(fixture("corrupted_inode"), schema).unwrap();
    assert_eq!(store.version(), 1);
    let c1 = store
        .commit(&hash("1b1e259ca4e7bb8dc32c73ade93d8181c29cebe6"))
        .unwrap();
    let mut kinds = Vec::new();
    store
        .walk(&c1, |item| -> Result<(), irmin_pack::Error> {
            if let Item::Contents { path, bytes, .. } = item {
                kinds.push(format!(
                    "{}={}",
                    String::from_utf8_lossy(&path.join(&b'/')),
                    String::from_utf8_lossy(bytes)
                ));
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(
        kinds,
        [
            "w=w0", "x/w=w1", "x/x=x1", "x/y=y1", "x/z=z1", "y=y0", "z=z0"
        ]
    );
    let c2 = store
        .commit(&hash("8d89b97726d9fb650d088cb7e21b78d84d132c6e"))
        .unwrap();
    // Its hashes are consistent, but a stable (`N`) empty inode sits below the root, which
    // irmin's `integrity_check` refuses (offset 712 = 16 + virtual 696).
    let err = store.leaves(&c2).unwrap_err();
    assert!(
        matches!(&err, irmin_pack::Error::Inode { offset: 712, .. }),
        "{err}"
    );
}
