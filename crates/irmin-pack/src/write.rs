//! A small writer of irmin-pack stores of the rollup node's schema ([`Schema::tezos_binary`],
//! Octez `Context_binary`: blake2b-256, binary inode tries; `docs/reference/wasm-pvm.md` §7.1,
//! §7.3), in the v5 layout irmin-pack documents: `store.control` (with its checksum),
//! `store.<n>.suffix` chunks, `store.dict`, `index/log` and `store.branches`.
//!
//! What it is for: tests that need an Octez context without Octez (this crate's, and the
//! snapshot import's, which builds Octez-layout snapshots with it), and a future export to
//! Octez. It writes what [`crate::Store`] reads, with every hash computed by `context-hash`
//! (values, directories, inode pre-images) and commit hashes from the `Commit.V1` pre-image;
//! it is not tuned for large stores (the whole pack is kept in memory until
//! [`Writer::finish`]).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use irmin_pack::write::{Tree, Writer};
//! let mut w = Writer::new();
//! let root = w.tree(&Tree::dir([("pvm_state", Tree::dir([("a", Tree::leaf(b"1"))]))]))?;
//! let commit = w.commit(&root, &[], 1_700_000_000, "octez", "level 1")?;
//! let dir = tempfile::tempdir()?;
//! w.finish(dir.path(), w.position(), &[("main", commit.hash)])?;
//! let store = irmin_pack::Store::open(dir.path(), irmin_pack::Schema::tezos_binary())?;
//! assert_eq!(store.leaves(&store.commit(&commit.hash.into())?)?.len(), 1);
//! # Ok(()) }
//! ```
//!
//! [`Schema::tezos_binary`]: crate::Schema::tezos_binary

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use context_hash::data_encoding::write_n_u64;
use context_hash::{Entry, EntryKind, Hash, contents_hash, node_hash, preimage, step_hash};

/// Names of this many bytes or more are written through the dict (shorter ones inline; the
/// reader accepts both, as irmin-pack's `Compress` does).
const DICT_MIN: usize = 5;

/// A tree to write: values and directories (children by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tree {
    /// A value.
    Leaf(Vec<u8>),
    /// A directory.
    Dir(BTreeMap<String, Tree>),
}

impl Tree {
    /// A value.
    #[must_use]
    pub fn leaf(bytes: &[u8]) -> Tree {
        Tree::Leaf(bytes.to_vec())
    }

    /// A directory of `entries`.
    pub fn dir<S: Into<String>>(entries: impl IntoIterator<Item = (S, Tree)>) -> Tree {
        Tree::Dir(entries.into_iter().map(|(n, t)| (n.into(), t)).collect())
    }

    /// Adds the value `bytes` at `path` (steps from this tree), creating directories on the
    /// way and replacing a value met on the way by a directory.
    pub fn insert(&mut self, path: &[&str], bytes: Vec<u8>) {
        let Some((first, rest)) = path.split_first() else {
            *self = Tree::Leaf(bytes);
            return;
        };
        if let Tree::Leaf(_) = self {
            *self = Tree::Dir(BTreeMap::new());
        }
        if let Tree::Dir(m) = self {
            m.entry((*first).to_owned())
                .or_insert_with(|| Tree::Dir(BTreeMap::new()))
                .insert(rest, bytes);
        }
    }
}

/// Where an object was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Global offset of its entry.
    pub offset: u64,
    /// Its hash.
    pub hash: Hash,
    /// Value or directory (a commit is written as a directory kind).
    pub kind: EntryKind,
}

/// One `index/log` record: hash, offset, length, kind magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexRecord {
    /// Hash of the entry.
    pub hash: Hash,
    /// Global offset.
    pub offset: u64,
    /// Length in bytes.
    pub len: u32,
    /// Kind magic (`B` or `D`).
    pub kind: u8,
}

/// A failed write.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A size does not fit the format.
    #[error("{0} does not fit the irmin-pack format; split the data")]
    TooLarge(&'static str),
}

fn too_large<T>(what: &'static str) -> impl FnOnce(T) -> WriteError {
    move |_| WriteError::TooLarge(what)
}

fn varint(out: &mut Vec<u8>, n: usize) -> Result<(), WriteError> {
    write_n_u64(out, u64::try_from(n).map_err(too_large("a length"))?);
    Ok(())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory entry being written.
struct Child {
    name: String,
    kind: EntryKind,
    hash: Hash,
    offset: u64,
}

/// Writes pack entries into one suffix (global offset = position), then the store files.
#[derive(Debug, Default)]
pub struct Writer {
    data: Vec<u8>,
    dict: Vec<String>,
    index: Vec<IndexRecord>,
    inner: Vec<u64>,
    values: BTreeMap<Vec<u8>, u64>,
    by_hash: BTreeSet<String>,
    scramble: bool,
}

impl Writer {
    /// An empty store.
    #[must_use]
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Children named `name` are referenced by hash (resolved through the index), not by
    /// offset: both are valid irmin-pack, readers must follow either.
    #[must_use]
    pub fn with_by_hash(mut self, name: &str) -> Writer {
        self.by_hash.insert(name.to_owned());
        self
    }

    /// Directories of more than two entries get their first inode split on the wrong bit:
    /// every stored hash agrees with the stored structure, but the trie is not the canonical
    /// one Octez hashes. For testing that readers refuse it.
    #[must_use]
    pub fn with_non_canonical_tries(mut self) -> Writer {
        self.scramble = true;
        self
    }

    /// Bytes written so far (the global offset of the next entry).
    #[must_use]
    pub fn position(&self) -> u64 {
        u64::try_from(self.data.len()).unwrap_or(u64::MAX)
    }

    /// The `index/log` records written so far (values and commits).
    #[must_use]
    pub fn index(&self) -> &[IndexRecord] {
        &self.index
    }

    /// Offsets of the inner (non-root) inodes written so far.
    #[must_use]
    pub fn inner_inodes(&self) -> &[u64] {
        &self.inner
    }

    /// Offset of the first value written with these bytes.
    #[must_use]
    pub fn value_offset(&self, bytes: &[u8]) -> Option<u64> {
        self.values.get(bytes).copied()
    }

    /// Appends a raw entry: hash, kind magic, the body's length when `length_header`, then
    /// `body` as given (for tests of readers that need entries this writer does not build).
    ///
    /// # Errors
    /// [`WriteError::TooLarge`] past the format's limits.
    pub fn raw_entry(
        &mut self,
        hash: &Hash,
        kind: u8,
        body: &[u8],
        length_header: bool,
    ) -> Result<u64, WriteError> {
        let off = self.position();
        self.data.extend(hash.0);
        self.data.push(kind);
        if length_header {
            varint(&mut self.data, body.len())?;
        }
        self.data.extend(body);
        Ok(off)
    }

    fn record(&mut self, hash: Hash, off: u64, kind: u8) -> Result<(), WriteError> {
        let len = self
            .position()
            .checked_sub(off)
            .and_then(|l| u32::try_from(l).ok())
            .ok_or(WriteError::TooLarge("an entry"))?;
        self.index.push(IndexRecord {
            hash,
            offset: off,
            len,
            kind,
        });
        Ok(())
    }

    /// Writes a value (`B` entry, indexed).
    ///
    /// # Errors
    /// [`WriteError::TooLarge`] past the format's limits.
    pub fn contents(&mut self, bytes: &[u8]) -> Result<Written, WriteError> {
        let h = contents_hash(bytes);
        let mut body = Vec::with_capacity(bytes.len().saturating_add(10));
        varint(&mut body, bytes.len())?;
        body.extend(bytes);
        let off = self.raw_entry(&h, b'B', &body, false)?;
        self.values.entry(bytes.to_vec()).or_insert(off);
        self.record(h, off, b'B')?;
        Ok(Written {
            offset: off,
            hash: h,
            kind: EntryKind::Contents,
        })
    }

    /// One `Compress.value` of a `Values` inode.
    fn value(&mut self, body: &mut Vec<u8>, c: &Child) -> Result<(), WriteError> {
        let indirect = c.name.len() >= DICT_MIN;
        let by_hash = self.by_hash.contains(&c.name);
        let base = match (indirect, by_hash) {
            (true, false) => 0,
            (true, true) => 3,
            (false, false) => 6,
            (false, true) => 9,
        };
        let tag = base + if c.kind == EntryKind::Node { 2 } else { 0 };
        varint(body, tag)?;
        if indirect {
            let id = match self.dict.iter().position(|d| *d == c.name) {
                Some(i) => i,
                None => {
                    self.dict.push(c.name.clone());
                    self.dict.len() - 1
                }
            };
            varint(body, id)?;
        } else {
            varint(body, c.name.len())?;
            body.extend(c.name.as_bytes());
        }
        if by_hash {
            body.extend(c.hash.0);
        } else {
            body.extend(c.offset.to_be_bytes());
        }
        Ok(())
    }

    fn values_inode(
        &mut self,
        children: &[&Child],
        kind: u8,
        hash: Hash,
    ) -> Result<u64, WriteError> {
        let mut body = vec![0];
        varint(&mut body, children.len())?;
        for c in children {
            self.value(&mut body, c)?;
        }
        self.raw_entry(&hash, kind, &body, true)
    }

    /// The inode trie below `depth` of `items` (indices into `children`).
    fn trie(
        &mut self,
        children: &[Child],
        items: &[usize],
        depth: u32,
        root: bool,
    ) -> Result<(u64, Hash), WriteError> {
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
            let off = self.values_inode(&sorted, b'O', h)?;
            self.inner.push(off);
            return Ok((off, h));
        }
        let flip = usize::from(self.scramble && depth == 0);
        let mut parts: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for &i in items {
            let b = preimage::bit(&step_hash(&children[i].name), depth);
            parts[b ^ flip].push(i);
        }
        let mut slots: [Option<Hash>; 2] = [None, None];
        let mut ptrs = Vec::new();
        let below = depth
            .checked_add(1)
            .ok_or(WriteError::TooLarge("an inode trie"))?;
        for (index, part) in parts.iter().enumerate() {
            if !part.is_empty() {
                let (off, h) = self.trie(children, part, below, false)?;
                slots[index] = Some(h);
                ptrs.push((index, off));
            }
        }
        let mut pre = Vec::new();
        let len = u64::try_from(items.len()).map_err(too_large("a directory"))?;
        preimage::tree(&mut pre, depth, len, &slots);
        let h = preimage::blake2b_256(&pre);
        let mut body = vec![1];
        varint(
            &mut body,
            usize::try_from(depth).map_err(too_large("an inode trie"))?,
        )?;
        varint(&mut body, items.len())?;
        varint(&mut body, ptrs.len())?;
        for (index, off) in ptrs {
            varint(&mut body, index)?;
            body.push(0);
            body.extend(off.to_be_bytes());
        }
        let off = self.raw_entry(&h, if root { b'R' } else { b'O' }, &body, true)?;
        if !root {
            self.inner.push(off);
        }
        Ok((off, h))
    }

    /// Writes `t` (children before parents); a directory's hash is `context-hash`'s.
    ///
    /// # Errors
    /// [`WriteError::TooLarge`] past the format's limits.
    pub fn tree(&mut self, t: &Tree) -> Result<Written, WriteError> {
        match t {
            Tree::Leaf(b) => self.contents(b),
            Tree::Dir(m) => {
                let mut children = Vec::with_capacity(m.len());
                for (name, t) in m {
                    let w = self.tree(t)?;
                    children.push(Child {
                        name: name.clone(),
                        kind: w.kind,
                        hash: w.hash,
                        offset: w.offset,
                    });
                }
                let entries: Vec<Entry<'_>> = children
                    .iter()
                    .map(|c| Entry {
                        name: &c.name,
                        kind: c.kind,
                        hash: c.hash,
                    })
                    .collect();
                let nh = node_hash(&entries);
                let (offset, hash) = if children.len() <= 2 {
                    let refs: Vec<&Child> = children.iter().collect();
                    (self.values_inode(&refs, b'R', nh)?, nh)
                } else {
                    let items: Vec<usize> = (0..children.len()).collect();
                    self.trie(&children, &items, 0, true)?
                };
                Ok(Written {
                    offset,
                    hash,
                    kind: EntryKind::Node,
                })
            }
        }
    }

    /// Writes a `D` commit of the tree `root` with `parents`, `date` (seconds), `author` and
    /// `message`; its hash is the `Commit.V1` pre-image's (an Octez context hash, `Co…`).
    ///
    /// # Errors
    /// [`WriteError::TooLarge`] past the format's limits.
    pub fn commit(
        &mut self,
        root: &Written,
        parents: &[Written],
        date: i64,
        author: &str,
        message: &str,
    ) -> Result<Written, WriteError> {
        let n = |x: usize| u64::try_from(x).map_err(too_large("a commit"));
        let mut pre = Vec::new();
        pre.extend(32u64.to_be_bytes());
        pre.extend(root.hash.0);
        pre.extend(n(parents.len())?.to_be_bytes());
        for p in parents {
            pre.extend(32u64.to_be_bytes());
            pre.extend(p.hash.0);
        }
        pre.extend(date.to_be_bytes());
        pre.extend(n(author.len())?.to_be_bytes());
        pre.extend(author.as_bytes());
        pre.extend(n(message.len())?.to_be_bytes());
        pre.extend(message.as_bytes());
        let h = preimage::blake2b_256(&pre);
        let mut body = vec![0];
        body.extend(root.offset.to_be_bytes());
        varint(&mut body, parents.len())?;
        for p in parents {
            body.push(0);
            body.extend(p.offset.to_be_bytes());
        }
        body.extend(date.to_be_bytes());
        varint(&mut body, author.len())?;
        body.extend(author.as_bytes());
        varint(&mut body, message.len())?;
        body.extend(message.as_bytes());
        let off = self.raw_entry(&h, b'D', &body, true)?;
        self.record(h, off, b'D')?;
        Ok(Written {
            offset: off,
            hash: h,
            kind: EntryKind::Node,
        })
    }

    fn adler32(bytes: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in bytes {
            a = (a + u32::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        (b << 16) | a
    }

    /// Writes the store files into `dir` (created if missing): the pack cut into two suffix
    /// chunks at offset `split` (`0`: all in `store.1.suffix`; [`Writer::position`]: all in
    /// `store.0.suffix`), the dict, the v5 control file (status `No_gc_yet`), `index/log` and
    /// `store.branches` holding `branches`.
    ///
    /// # Errors
    /// [`WriteError::Io`] naming the file; [`WriteError::TooLarge`] for a `split` past the end.
    pub fn finish(
        &self,
        dir: &Path,
        split: u64,
        branches: &[(&str, Hash)],
    ) -> Result<(), WriteError> {
        let split = usize::try_from(split)
            .ok()
            .filter(|s| *s <= self.data.len())
            .ok_or(WriteError::TooLarge("the split offset"))?;
        std::fs::create_dir_all(dir.join("index")).map_err(io(dir))?;
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(io(&p))
        };
        write("store.0.suffix", &self.data[..split])?;
        write("store.1.suffix", &self.data[split..])?;
        let mut dict = Vec::new();
        for n in &self.dict {
            dict.extend(
                i32::try_from(n.len())
                    .map_err(too_large("a dict name"))?
                    .to_be_bytes(),
            );
            dict.extend(n.as_bytes());
        }
        write("store.dict", &dict)?;
        // v5 control payload (`control_file_intf.ml`): dict end, suffix end (of the last
        // chunk), upgraded_from = None, checksum, chunk_start_idx 0, chunk_num 2,
        // volume_num 0, status No_gc_yet.
        let n = |x: usize| u64::try_from(x).map_err(too_large("a file"));
        let mut p = Vec::new();
        p.extend(n(dict.len())?.to_be_bytes());
        p.extend(n(self.data.len() - split)?.to_be_bytes());
        p.push(0);
        p.extend([0; 8]);
        p.extend([0, 2, 0, 1]);
        let sum = u64::from(Self::adler32(&p));
        p[17..25].copy_from_slice(&sum.to_be_bytes());
        let mut control = b"00000005".to_vec();
        control.extend(p);
        write("store.control", &control)?;
        // index/log: header (offset, version, generation, fan size), then records.
        let mut records = Vec::new();
        for r in &self.index {
            records.extend(r.hash.0);
            records.extend(r.offset.to_be_bytes());
            records.extend(r.len.to_be_bytes());
            records.push(r.kind);
        }
        let mut log = n(records.len())?.to_be_bytes().to_vec();
        log.extend(b"00000001");
        log.extend([0; 16]);
        log.extend(records);
        write("index/log", &log)?;
        let mut br = 0u64.to_be_bytes().to_vec();
        br.extend(b"00000001");
        for (name, hash) in branches {
            br.extend(
                i32::try_from(name.len())
                    .map_err(too_large("a branch name"))?
                    .to_be_bytes(),
            );
            br.extend(name.as_bytes());
            br.extend(hash.0);
        }
        write("store.branches", &br)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_builds_directories() {
        let mut t = Tree::dir::<&str>([]);
        t.insert(&["a", "b"], b"1".to_vec());
        t.insert(&["a", "c"], b"2".to_vec());
        t.insert(&["d"], b"3".to_vec());
        assert_eq!(
            t,
            Tree::dir([
                (
                    "a",
                    Tree::dir([("b", Tree::leaf(b"1")), ("c", Tree::leaf(b"2"))])
                ),
                ("d", Tree::leaf(b"3")),
            ])
        );
    }

    #[test]
    fn split_past_the_end_is_refused() {
        let w = Writer::new();
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            w.finish(d.path(), 1, &[]),
            Err(WriteError::TooLarge(_))
        ));
    }
}
