//! Stores of the Octez rollup node's schema (`Context_binary`: blake2b-256, `entries = 2`,
//! `stable_hash = 2`; `docs/reference/wasm-pvm.md` §7.1, §7.3). No upstream fixture uses the
//! Tezos schema (the irmin-pack test stores are SHA-1, see the fixtures README), so these
//! stores are written here, entry by entry, in the format irmin-pack documents (v5 control
//! file with its checksum, two suffix chunks, dict, `index/log`, branches), with every hash
//! computed by `context-hash` (values, directories, inode pre-images) and commit hashes from
//! the `Commit.V1` pre-image written out below.

use std::collections::BTreeMap;
use std::path::Path;

use context_hash::data_encoding::write_n_u64;
use context_hash::{Entry, EntryKind, Hash, contents_hash, node_hash, preimage, step_hash};
use irmin_pack::{Error, Item, Kind, ObjHash, Schema, Store};

use crate::corruption::flip;

/// A tree to write: values and directories.
#[derive(Clone, Debug)]
enum Tree {
    Leaf(Vec<u8>),
    Dir(BTreeMap<String, Tree>),
}

fn leaf(b: &[u8]) -> Tree {
    Tree::Leaf(b.to_vec())
}

fn dir(entries: Vec<(&str, Tree)>) -> Tree {
    Tree::Dir(
        entries
            .into_iter()
            .map(|(n, t)| (n.to_owned(), t))
            .collect(),
    )
}

/// The name of the value that is referenced by hash (through the index), not by offset.
const BY_HASH: &str = "indexed";

fn varint(out: &mut Vec<u8>, n: usize) {
    write_n_u64(out, u64::try_from(n).unwrap());
}

/// Writes pack entries into one suffix (global offset = position).
#[derive(Default)]
struct Writer {
    data: Vec<u8>,
    dict: Vec<String>,
    /// `(hash, offset, length, kind)` records of `index/log`.
    index: Vec<(Hash, u64, u32, u8)>,
    /// Offsets of the inner inodes written.
    inner: Vec<u64>,
    /// Offset of the first value written with these contents.
    values: BTreeMap<Vec<u8>, u64>,
    /// Store the first split of big directories on the wrong bit (a trie that is
    /// self-consistent but not the canonical one).
    scramble: bool,
}

struct Child {
    name: String,
    kind: EntryKind,
    hash: Hash,
    offset: u64,
}

impl Writer {
    fn entry(&mut self, hash: &Hash, kind: u8, body: &[u8], length_header: bool) -> u64 {
        let off = u64::try_from(self.data.len()).unwrap();
        self.data.extend(hash.0);
        self.data.push(kind);
        if length_header {
            varint(&mut self.data, body.len());
        }
        self.data.extend(body);
        off
    }

    fn contents(&mut self, bytes: &[u8]) -> (u64, Hash) {
        let h = contents_hash(bytes);
        let mut body = Vec::new();
        varint(&mut body, bytes.len());
        body.extend(bytes);
        let off = self.entry(&h, b'B', &body, false);
        self.values.entry(bytes.to_vec()).or_insert(off);
        let len = u32::try_from(self.data.len()).unwrap() - u32::try_from(off).unwrap();
        self.index.push((h, off, len, b'B'));
        (off, h)
    }

    /// One `Compress.value`: names of 5 bytes or more go through the dict.
    fn value(&mut self, body: &mut Vec<u8>, c: &Child) {
        let indirect = c.name.len() >= 5;
        let by_hash = c.name == BY_HASH;
        let base = match (indirect, by_hash) {
            (true, false) => 0,
            (true, true) => 3,
            (false, false) => 6,
            (false, true) => 9,
        };
        let tag = base + if c.kind == EntryKind::Node { 2 } else { 0 };
        varint(body, tag);
        if indirect {
            let id = match self.dict.iter().position(|d| *d == c.name) {
                Some(i) => i,
                None => {
                    self.dict.push(c.name.clone());
                    self.dict.len() - 1
                }
            };
            varint(body, id);
        } else {
            varint(body, c.name.len());
            body.extend(c.name.as_bytes());
        }
        if by_hash {
            body.extend(c.hash.0);
        } else {
            body.extend(c.offset.to_be_bytes());
        }
    }

    fn values_inode(&mut self, children: &[&Child], kind: u8, hash: Hash) -> u64 {
        let mut body = vec![0];
        varint(&mut body, children.len());
        for c in children {
            self.value(&mut body, c);
        }
        self.entry(&hash, kind, &body, true)
    }

    /// The inode trie below `depth` of `items` (indices into `children`).
    fn trie(&mut self, children: &[Child], items: &[usize], depth: u32, root: bool) -> (u64, Hash) {
        if items.len() <= 2 && !root {
            let mut sorted: Vec<&Child> = items.iter().map(|&i| &children[i]).collect();
            sorted.sort_by(|a, b| a.name.cmp(&b.name));
            let triples: Vec<preimage::Triple<'_>> = sorted
                .iter()
                .map(|c| (c.name.as_bytes(), c.kind, c.hash))
                .collect();
            let mut pre = Vec::new();
            preimage::values(&mut pre, &triples);
            let h = preimage::blake2b_256(&pre);
            let off = self.values_inode(&sorted, b'O', h);
            self.inner.push(off);
            return (off, h);
        }
        let flip = u32::from(self.scramble && depth == 0);
        let mut parts: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for &i in items {
            let b = preimage::bit(&step_hash(&children[i].name), depth);
            parts[b ^ usize::try_from(flip).unwrap()].push(i);
        }
        let mut slots: [Option<Hash>; 2] = [None, None];
        let mut ptrs = Vec::new();
        for (index, part) in parts.iter().enumerate() {
            if !part.is_empty() {
                let (off, h) = self.trie(children, part, depth + 1, false);
                slots[index] = Some(h);
                ptrs.push((index, off));
            }
        }
        let mut pre = Vec::new();
        preimage::tree(&mut pre, depth, u64::try_from(items.len()).unwrap(), &slots);
        let h = preimage::blake2b_256(&pre);
        let mut body = vec![1];
        varint(&mut body, usize::try_from(depth).unwrap());
        varint(&mut body, items.len());
        varint(&mut body, ptrs.len());
        for (index, off) in ptrs {
            varint(&mut body, index);
            body.push(0);
            body.extend(off.to_be_bytes());
        }
        let off = self.entry(&h, if root { b'R' } else { b'O' }, &body, true);
        if !root {
            self.inner.push(off);
        }
        (off, h)
    }

    fn tree(&mut self, t: &Tree) -> (u64, Hash, EntryKind) {
        match t {
            Tree::Leaf(b) => {
                let (o, h) = self.contents(b);
                (o, h, EntryKind::Contents)
            }
            Tree::Dir(m) => {
                let children: Vec<Child> = m
                    .iter()
                    .map(|(name, t)| {
                        let (offset, hash, kind) = self.tree(t);
                        Child {
                            name: name.clone(),
                            kind,
                            hash,
                            offset,
                        }
                    })
                    .collect();
                let entries: Vec<Entry<'_>> = children
                    .iter()
                    .map(|c| Entry {
                        name: &c.name,
                        kind: c.kind,
                        hash: c.hash,
                    })
                    .collect();
                let nh = node_hash(&entries);
                if children.len() <= 2 {
                    let refs: Vec<&Child> = children.iter().collect();
                    let off = self.values_inode(&refs, b'R', nh);
                    return (off, nh, EntryKind::Node);
                }
                let items: Vec<usize> = (0..children.len()).collect();
                let (off, h) = self.trie(&children, &items, 0, true);
                if !self.scramble {
                    assert_eq!(h, nh, "the written trie is the canonical one");
                }
                (off, h, EntryKind::Node)
            }
        }
    }

    /// A `D` commit and its `Commit.V1` hash.
    fn commit(
        &mut self,
        node: (u64, Hash),
        parents: &[(u64, Hash)],
        date: i64,
        msg: &str,
    ) -> (u64, Hash) {
        let author = "octez";
        let mut pre = Vec::new();
        pre.extend(32u64.to_be_bytes());
        pre.extend(node.1.0);
        pre.extend(u64::try_from(parents.len()).unwrap().to_be_bytes());
        for p in parents {
            pre.extend(32u64.to_be_bytes());
            pre.extend(p.1.0);
        }
        pre.extend(date.to_be_bytes());
        pre.extend(u64::try_from(author.len()).unwrap().to_be_bytes());
        pre.extend(author.as_bytes());
        pre.extend(u64::try_from(msg.len()).unwrap().to_be_bytes());
        pre.extend(msg.as_bytes());
        let h = preimage::blake2b_256(&pre);
        let mut body = vec![0];
        body.extend(node.0.to_be_bytes());
        varint(&mut body, parents.len());
        for p in parents {
            body.push(0);
            body.extend(p.0.to_be_bytes());
        }
        body.extend(date.to_be_bytes());
        varint(&mut body, author.len());
        body.extend(author.as_bytes());
        varint(&mut body, msg.len());
        body.extend(msg.as_bytes());
        let off = self.entry(&h, b'D', &body, true);
        let len = u32::try_from(self.data.len()).unwrap() - u32::try_from(off).unwrap();
        self.index.push((h, off, len, b'D'));
        (off, h)
    }

    fn adler32(bytes: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in bytes {
            a = (a + u32::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        (b << 16) | a
    }

    /// Write the store files into `dir`, the suffix cut in two chunks at `split`.
    fn finish(&self, dir: &Path, split: usize, branch: Hash) {
        std::fs::write(dir.join("store.0.suffix"), &self.data[..split]).unwrap();
        std::fs::write(dir.join("store.1.suffix"), &self.data[split..]).unwrap();
        let mut dict = Vec::new();
        for n in &self.dict {
            dict.extend(i32::try_from(n.len()).unwrap().to_be_bytes());
            dict.extend(n.as_bytes());
        }
        std::fs::write(dir.join("store.dict"), &dict).unwrap();
        // v5 control payload (`control_file_intf.ml`), status No_gc_yet.
        let mut p = Vec::new();
        p.extend(u64::try_from(dict.len()).unwrap().to_be_bytes());
        p.extend(
            u64::try_from(self.data.len() - split)
                .unwrap()
                .to_be_bytes(),
        );
        p.push(0); // upgraded_from = None
        p.extend([0; 8]); // checksum, set below
        p.extend([0, 2, 0, 1]); // chunk_start_idx, chunk_num, volume_num, status
        let sum = u64::from(Self::adler32(&p));
        p[17..25].copy_from_slice(&sum.to_be_bytes());
        let mut control = b"00000005".to_vec();
        control.extend(p);
        std::fs::write(dir.join("store.control"), control).unwrap();
        // index/log: header (offset, version, generation, fan size), then records.
        let mut records = Vec::new();
        for (h, off, len, kind) in &self.index {
            records.extend(h.0);
            records.extend(off.to_be_bytes());
            records.extend(len.to_be_bytes());
            records.push(*kind);
        }
        let mut log = u64::try_from(records.len()).unwrap().to_be_bytes().to_vec();
        log.extend(b"00000001");
        log.extend([0; 16]);
        log.extend(records);
        std::fs::create_dir_all(dir.join("index")).unwrap();
        std::fs::write(dir.join("index/log"), log).unwrap();
        let mut br = 0u64.to_be_bytes().to_vec();
        br.extend(b"00000001");
        br.extend(4i32.to_be_bytes());
        br.extend(b"main");
        br.extend(branch.0);
        std::fs::write(dir.join("store.branches"), br).unwrap();
    }
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
    let mut w = Writer {
        scramble,
        ..Writer::default()
    };
    let (o1, r1, _) = w.tree(&state(1));
    let c1 = w.commit((o1, r1), &[], 1_700_000_000, "level 1");
    let split = w.data.len();
    let (o2, r2, _) = w.tree(&state(2));
    let c2 = w.commit((o2, r2), &[c1], 1_700_000_060, "level 2");
    let dir = tempfile::tempdir().unwrap();
    w.finish(dir.path(), split, c2.1);
    Built {
        dir,
        writer: w,
        c1: c1.1,
        c2: c2.1,
        root2: r2,
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
        b.writer.index.len() + b.writer.inner.len() + roots
    );
    assert!(
        b.writer
            .index
            .iter()
            .all(|(_, off, _, k)| scanned.contains(&(*off, Kind::of_magic(*k).unwrap())))
    );
}

#[test]
fn tezos_store_damage_is_reported() {
    // A value byte.
    let b = build(false);
    let off = b.writer.values[b"value 17".as_slice()];
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
    let inner = b.writer.inner[0];
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
    let mut w = Writer::default();
    let mut children = Vec::new();
    for i in 0..40u8 {
        let name = format!("e{i:02}");
        let (offset, hash) = w.contents(&[i]);
        children.push(Child {
            name,
            kind: EntryKind::Contents,
            hash,
            offset,
        });
    }
    let mut ptrs = Vec::new();
    for (index, part) in [(0usize, &children[..20]), (7, &children[20..])] {
        let refs: Vec<&Child> = part.iter().collect();
        let triples: Vec<preimage::Triple<'_>> = part
            .iter()
            .map(|c| (c.name.as_bytes(), c.kind, c.hash))
            .collect();
        let mut pre = Vec::new();
        preimage::values(&mut pre, &triples);
        let off = w.values_inode(&refs, b'O', preimage::blake2b_256(&pre));
        ptrs.push((index, off));
    }
    let triples: Vec<preimage::Triple<'_>> = children
        .iter()
        .map(|c| (c.name.as_bytes(), c.kind, c.hash))
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
    let root = w.entry(&root_hash, b'R', &body, true);
    let c = w.commit((root, root_hash), &[], 0, "l1");
    let dir = tempfile::tempdir().unwrap();
    w.finish(dir.path(), 0, c.1);

    let store = Store::open(dir.path(), Schema::tezos()).unwrap();
    let commit = store.commit(&c.1.into()).unwrap();
    let leaves = store.leaves(&commit).unwrap();
    assert_eq!(leaves.len(), 40);
    assert_eq!(leaves[39].path_string(), "e39");
    assert_eq!(leaves[39].bytes, [39]);
    // The rollup node's binary schema has 2 children per inode: index 7 is refused.
    let store = Store::open(dir.path(), Schema::tezos_binary()).unwrap();
    let commit = store.commit(&c.1.into()).unwrap();
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
    let mut w = Writer::default();
    let (o, r, _) = w.tree(&dir(vec![("durable", Tree::Dir(big))]));
    let c = w.commit((o, r), &[], 0, "big");
    let d = tempfile::tempdir().unwrap();
    w.finish(d.path(), 0, c.1);
    let store = Store::open(d.path(), Schema::tezos_binary()).unwrap();
    let commit = store.commit(&c.1.into()).unwrap();
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
