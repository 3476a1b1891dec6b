//! Stores of the Octez rollup node's schema (`Context_binary`: blake2b-256, `entries = 2`,
//! `stable_hash = 2`; `docs/reference/wasm-pvm.md` §7.1, §7.3). No upstream fixture uses the
//! Tezos schema (the irmin-pack test stores are SHA-1, see the fixtures README), so these
//! stores are written by the crate's writer (`irmin_pack::write`), entry by entry, in the
//! format irmin-pack documents (v5 control file with its checksum, two suffix chunks, dict,
//! `index/log`, branches), with every hash computed by `context-hash` (values, directories,
//! inode pre-images) and commit hashes from the `Commit.V1` pre-image.

use std::collections::BTreeMap;

use context_hash::data_encoding::write_n_u64;
use context_hash::{Entry, EntryKind, Hash, contents_hash, node_hash, preimage};
use irmin_pack::write::{Tree, Writer};
use irmin_pack::{Error, Item, Kind, ObjHash, Schema, Store};

use crate::corruption::flip;

fn leaf(b: &[u8]) -> Tree {
    Tree::leaf(b)
}

fn dir(entries: Vec<(&str, Tree)>) -> Tree {
    Tree::dir(entries)
}

/// The name of the value that is referenced by hash (through the index), not by offset.
const BY_HASH: &str = "indexed";

fn varint(out: &mut Vec<u8>, n: usize) {
    write_n_u64(out, u64::try_from(n).unwrap());
}

fn state(counter: u64) -> Tree {
    let many: Vec<(String, Tree)> = (0..40)
        .map(|i| (format!("k{i:02}"), leaf(format!("value {i}").as_bytes())))
        .collect();
    dir(vec![
        (
            "durable",
            dir(vec![
                (
                    "kernel",
                    dir(vec![(
                        "boot.wasm",
                        dir(vec![("@", leaf(&(0..=255u8).collect::<Vec<u8>>()))]),
                    )]),
                ),
                ("counter", dir(vec![("@", leaf(&counter.to_le_bytes()))])),
                ("empty", leaf(b"")),
                ("many", Tree::Dir(many.into_iter().collect())),
            ]),
        ),
        (
            "pvm",
            dir(vec![
                ("max_nb_ticks", leaf(&[0x80, 0x01])),
                (BY_HASH, leaf(b"by hash")),
            ]),
        ),
        (
            "wasm",
            dir(vec![
                ("tag", leaf(b"\x00\x00\x00\x07collect")),
                ("current_tick", leaf(&[5])),
            ]),
        ),
    ])
}

fn flatten(t: &Tree, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
    match t {
        Tree::Leaf(b) => out.push((prefix.to_owned(), b.clone())),
        Tree::Dir(m) => {
            for (n, c) in m {
                let p = if prefix.is_empty() {
                    n.clone()
                } else {
                    format!("{prefix}/{n}")
                };
                flatten(c, &p, out);
            }
        }
    }
}

struct Built {
    dir: tempfile::TempDir,
    writer: Writer,
    c1: Hash,
    c2: Hash,
    root2: Hash,
}

fn build(scramble: bool) -> Built {
    let mut w = Writer::new().with_by_hash(BY_HASH);
    if scramble {
        w = w.with_non_canonical_tries();
    }
    let r1 = w.tree(&state(1)).unwrap();
    let c1 = w
        .commit(&r1, &[], 1_700_000_000, "octez", "level 1")
        .unwrap();
    let split = w.position();
    let r2 = w.tree(&state(2)).unwrap();
    if !scramble {
        assert_eq!(r2.hash, context_hash_of(&state(2)), "the canonical trie");
    }
    let c2 = w
        .commit(&r2, &[c1], 1_700_000_060, "octez", "level 2")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    w.finish(dir.path(), split, &[("main", c2.hash)]).unwrap();
    Built {
        dir,
        writer: w,
        c1: c1.hash,
        c2: c2.hash,
        root2: r2.hash,
    }
}

/// The hash of `t` computed by `context-hash` alone.
fn context_hash_of(t: &Tree) -> Hash {
    match t {
        Tree::Leaf(b) => contents_hash(b),
        Tree::Dir(m) => {
            let hashes: Vec<(String, EntryKind, Hash)> = m
                .iter()
                .map(|(n, c)| {
                    let kind = match c {
                        Tree::Leaf(_) => EntryKind::Contents,
                        Tree::Dir(_) => EntryKind::Node,
                    };
                    (n.clone(), kind, context_hash_of(c))
                })
                .collect();
            let entries: Vec<Entry<'_>> = hashes
                .iter()
                .map(|(name, kind, hash)| Entry {
                    name,
                    kind: *kind,
                    hash: *hash,
                })
                .collect();
            node_hash(&entries)
        }
    }
}

#[test]
fn tezos_store_walks_with_every_hash_checked() {
    let b = build(false);
    let store = Store::open(b.dir.path(), Schema::tezos_binary()).unwrap();
    assert_eq!(store.version(), 5);
    assert_eq!(store.control().unwrap().chunk_num, 2);
    assert_eq!(store.branches(), [("main".to_owned(), ObjHash::from(b.c2))]);
    let commits: Vec<ObjHash> = store
        .indexed_commits()
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    assert_eq!(commits, vec![ObjHash::from(b.c1), ObjHash::from(b.c2)]);

    let c2 = store.commit(&b.c2.into()).unwrap();
    assert_eq!(c2.kind, Kind::CommitV2);
    assert_eq!(c2.parents, vec![ObjHash::from(b.c1)]);
    assert_eq!(c2.node, ObjHash::from(b.root2));
    assert_eq!(c2.info.message, b"level 2");
    // The commit hash is an Octez context hash (`Co…`).
    assert!(context_hash::to_context_b58(&c2.hash.to_context_hash().unwrap()).starts_with("Co"));

    for (hash, counter) in [(b.c1, 1u64), (b.c2, 2)] {
        let c = store.commit(&hash.into()).unwrap();
        let got: Vec<(String, Vec<u8>)> = store
            .leaves(&c)
            .unwrap()
            .into_iter()
            .map(|l| (l.path_string(), l.bytes))
            .collect();
        let mut want = Vec::new();
        flatten(&state(counter), "", &mut want);
        assert_eq!(got, want);
    }

    // Directory hashes seen by the walk are context-hash's.
    let mut dirs = BTreeMap::new();
    let stats = store
        .walk(&c2, |item| -> Result<(), Error> {
            if let Item::Dir { path, hash, .. } = item {
                let p: Vec<String> = path
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect();
                dirs.insert(p.join("/"), hash);
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(dirs[""], ObjHash::from(b.root2));
    let many: Vec<(String, Hash)> = (0..40)
        .map(|i| {
            (
                format!("k{i:02}"),
                contents_hash(format!("value {i}").as_bytes()),
            )
        })
        .collect();
    let entries: Vec<Entry<'_>> = many
        .iter()
        .map(|(n, h)| Entry {
            name: n,
            kind: EntryKind::Contents,
            hash: *h,
        })
        .collect();
    assert_eq!(dirs["durable/many"], ObjHash::from(node_hash(&entries)));
    // 40 entries in a binary trie: many inner inodes were read and checked.
    assert!(stats.inodes > stats.dirs + 30, "{stats:?}");
    assert_eq!(stats.contents, 47);

    // Scan: every entry of both chunks, commits where the index says.
    let mut scanned = Vec::new();
    store
        .scan(&mut |e| scanned.push((e.offset, e.kind)))
        .unwrap();
    let roots = scanned
        .iter()
        .filter(|(_, k)| *k == Kind::InodeV2Root)
        .count();
    assert_eq!(roots, 2 * 8, "8 directories per state");
    assert_eq!(
        scanned.len(),
        b.writer.index().len() + b.writer.inner_inodes().len() + roots
    );
    assert!(
        b.writer
            .index()
            .iter()
            .all(|r| scanned.contains(&(r.offset, Kind::of_magic(r.kind).unwrap())))
    );
}

#[test]
fn tezos_store_damage_is_reported() {
    // A value byte.
    let b = build(false);
    let off = b.writer.value_offset(b"value 17").unwrap();
    // The first state is in chunk 0, at its global offset: hash, kind, length, then bytes.
    flip(
        &b.dir.path().join("store.0.suffix"),
        usize::try_from(off).unwrap() + 32 + 2 + 3,
    );
    let store = Store::open(b.dir.path(), Schema::tezos_binary()).unwrap();
    let c1 = store.commit(&b.c1.into()).unwrap();
    let err = store.leaves(&c1).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::HashMismatch {
                what: "contents",
                ..
            }
        ),
        "{err}"
    );
    // The second state (in chunk 1) is intact.
    store.leaves(&store.commit(&b.c2.into()).unwrap()).unwrap();

    // The stored hash of an inner inode: its parent no longer hashes right.
    let b = build(false);
    let inner = b.writer.inner_inodes()[0];
    flip(
        &b.dir.path().join("store.0.suffix"),
        usize::try_from(inner).unwrap(),
    );
    let store = Store::open(b.dir.path(), Schema::tezos_binary()).unwrap();
    let err = store
        .leaves(&store.commit(&b.c1.into()).unwrap())
        .unwrap_err();
    assert!(matches!(&err, Error::HashMismatch { .. }), "{err}");

    // The control checksum.
    let b = build(false);
    flip(&b.dir.path().join("store.control"), 30);
    let err = Store::open(b.dir.path(), Schema::tezos_binary()).unwrap_err();
    assert!(matches!(&err, Error::ControlChecksum { .. }), "{err}");
}

#[test]
fn non_canonical_trie_is_refused() {
    // Every stored hash agrees with the stored structure, but the big directories' tries are
    // not laid out by the step-hash bits: Octez would hash these directories differently.
    let b = build(true);
    let store = Store::open(b.dir.path(), Schema::tezos_binary()).unwrap();
    let c = store.commit(&b.c1.into()).unwrap();
    let err = store.leaves(&c).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::HashMismatch {
                what: "directory (canonical Tezos inode trie)",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn wrong_schema_gives_hash_mismatch() {
    // Reading the binary-context store with the L1 schema (`stable_hash = 256`) hashes the
    // big directories as plain nodes: the stored hashes do not match.
    let b = build(false);
    let store = Store::open(b.dir.path(), Schema::tezos()).unwrap();
    let c = store.commit(&b.c1.into()).unwrap();
    let err = store.leaves(&c).unwrap_err();
    assert!(
        matches!(&err, Error::HashMismatch { .. } | Error::Inode { .. }),
        "{err}"
    );
}

#[test]
fn l1_schema_hashes_big_roots_as_plain_nodes() {
    // `Schema::tezos()` (`entries = 32`, `stable_hash = 256`): a directory of 40 entries is a
    // tree inode whose hash is the plain ("V1") node hash of all 40 entries; its two inner
    // inodes hash as `Values` inodes.
    let mut w = Writer::new();
    let mut children = Vec::new();
    for i in 0..40u8 {
        let name = format!("e{i:02}");
        let c = w.contents(&[i]).unwrap();
        children.push((name, c));
    }
    // A `Values` inode of short (inline) contents names, written by hand.
    let values_inode = |w: &mut Writer, part: &[(String, irmin_pack::write::Written)], hash| {
        let mut body = vec![0];
        varint(&mut body, part.len());
        for (name, c) in part {
            varint(&mut body, 6);
            varint(&mut body, name.len());
            body.extend(name.as_bytes());
            body.extend(c.offset.to_be_bytes());
        }
        w.raw_entry(&hash, b'O', &body, true).unwrap()
    };
    let mut ptrs = Vec::new();
    for (index, part) in [(0usize, &children[..20]), (7, &children[20..])] {
        let triples: Vec<preimage::Triple<'_>> = part
            .iter()
            .map(|(n, c)| (n.as_bytes(), EntryKind::Contents, c.hash))
            .collect();
        let mut pre = Vec::new();
        preimage::values(&mut pre, &triples);
        let off = values_inode(&mut w, part, preimage::blake2b_256(&pre));
        ptrs.push((index, off));
    }
    let triples: Vec<preimage::Triple<'_>> = children
        .iter()
        .map(|(n, c)| (n.as_bytes(), EntryKind::Contents, c.hash))
        .collect();
    let mut pre = Vec::new();
    preimage::stable_node(&mut pre, &triples);
    let root_hash = preimage::blake2b_256(&pre);
    let mut body = vec![1, 0, 40, 2];
    for (index, off) in ptrs {
        varint(&mut body, index);
        body.push(0);
        body.extend(off.to_be_bytes());
    }
    let root = irmin_pack::write::Written {
        offset: w.raw_entry(&root_hash, b'R', &body, true).unwrap(),
        hash: root_hash,
        kind: EntryKind::Node,
    };
    let c = w.commit(&root, &[], 0, "octez", "l1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    w.finish(dir.path(), 0, &[("main", c.hash)]).unwrap();

    let store = Store::open(dir.path(), Schema::tezos()).unwrap();
    let commit = store.commit(&c.hash.into()).unwrap();
    let leaves = store.leaves(&commit).unwrap();
    assert_eq!(leaves.len(), 40);
    assert_eq!(leaves[39].path_string(), "e39");
    assert_eq!(leaves[39].bytes, [39]);
    // The rollup node's binary schema has 2 children per inode: index 7 is refused.
    let store = Store::open(dir.path(), Schema::tezos_binary()).unwrap();
    let commit = store.commit(&c.hash.into()).unwrap();
    let err = store.leaves(&commit).unwrap_err();
    assert!(matches!(&err, Error::Inode { .. }), "{err}");
}

/// A visitor's own error next to the store's.
#[derive(Debug)]
enum Stop {
    Store(Error),
    Enough(usize),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Store(e)
    }
}

#[test]
fn a_visitor_error_stops_the_walk() {
    let b = build(false);
    let store = Store::open(b.dir.path(), Schema::tezos_binary()).unwrap();
    let c = store.commit(&b.c2.into()).unwrap();
    let mut seen = 0;
    let r = store.walk(&c, |item| {
        if let Item::Contents { .. } = item {
            seen += 1;
            if seen == 3 {
                return Err(Stop::Enough(seen));
            }
        }
        Ok(())
    });
    assert!(matches!(r, Err(Stop::Enough(3))), "{r:?}");
    assert_eq!(seen, 3);
    // A store error comes through the same type.
    flip(&b.dir.path().join("store.1.suffix"), 40);
    let store = Store::open(b.dir.path(), Schema::tezos_binary()).unwrap();
    let r = store.walk(&c, |_| Ok::<(), Stop>(()));
    let Err(Stop::Store(e)) = r else {
        panic!("{r:?}")
    };
    assert!(
        matches!(
            e,
            Error::HashMismatch {
                what: "contents",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn large_directory_deep_binary_trie() {
    // 3000 entries: a binary inode trie about 12 levels deep, every inner inode checked.
    let big: BTreeMap<String, Tree> = (0..3000)
        .map(|i| {
            (
                format!("{i}"),
                leaf(&u32::try_from(i).unwrap().to_be_bytes()),
            )
        })
        .collect();
    let mut w = Writer::new();
    let r = w.tree(&dir(vec![("durable", Tree::Dir(big))])).unwrap();
    let c = w.commit(&r, &[], 0, "octez", "big").unwrap();
    let d = tempfile::tempdir().unwrap();
    w.finish(d.path(), 0, &[("main", c.hash)]).unwrap();
    let store = Store::open(d.path(), Schema::tezos_binary()).unwrap();
    let commit = store.commit(&c.hash.into()).unwrap();
    let start = std::time::Instant::now();
    let mut n = 0u32;
    let stats = store
        .walk(&commit, |item| -> Result<(), Error> {
            if let Item::Contents { path, bytes, .. } = item {
                let i: u32 = std::str::from_utf8(&path[1]).unwrap().parse().unwrap();
                assert_eq!(bytes, i.to_be_bytes());
                n += 1;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 3000);
    assert!(stats.inodes > 2000, "{stats:?}");
    eprintln!("walked {stats:?} in {:?}", start.elapsed());
}
