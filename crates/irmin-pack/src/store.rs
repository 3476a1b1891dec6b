//! Opening a store, resolving commits and walking their trees with every hash checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::codec::{
    Address, Body, DecodeError, Decoded, InodeBody, Kind, Name, decode_entry, header_len,
};
use crate::error::{Error, Result};
use crate::files::{
    Control, Data, DataFile, IndexEntry, LEGACY_HEADER, Loc, Status, legacy_header, read_branches,
    read_control, read_dict, read_index,
};
use crate::schema::{CommitInfo, EntryType, NodeEntry, ObjHash, PreImages, Schema};

/// First read size for an entry; entries without a length header are read again, larger,
/// until they decode.
const FIRST_READ: usize = 4096;

/// Deepest directory nesting walked (a guard against hostile stores; Tezos paths are short).
const MAX_PATH_DEPTH: usize = 1024;

/// An irmin-pack store opened for reading.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    schema: Schema,
    version: u8,
    control: Option<Control>,
    data: Data,
    dict: Vec<Vec<u8>>,
    index: HashMap<ObjHash, IndexEntry>,
    branches: Vec<(String, ObjHash)>,
}

/// A commit, its own hash checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Hash of the commit.
    pub hash: ObjHash,
    /// Global offset of its entry.
    pub offset: u64,
    /// Its entry kind (`C`, `D` or `P`).
    pub kind: Kind,
    /// Hash of the root directory.
    pub node: ObjHash,
    /// Global offset of the root directory.
    pub node_offset: u64,
    /// Hashes of the parents.
    pub parents: Vec<ObjHash>,
    /// Date, author, message.
    pub info: CommitInfo,
}

/// What [`Store::walk`] visits, parents before children, entries of a directory by name.
#[derive(Debug)]
pub enum Item<'a> {
    /// A directory (the root has an empty path).
    Dir {
        /// Steps from the root.
        path: &'a [Vec<u8>],
        /// Its hash (checked).
        hash: ObjHash,
        /// Number of entries.
        entries: usize,
    },
    /// A value.
    Contents {
        /// Steps from the root.
        path: &'a [Vec<u8>],
        /// Its hash (checked).
        hash: ObjHash,
        /// The bytes.
        bytes: &'a [u8],
    },
}

/// Counts of a walk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Directories visited.
    pub dirs: u64,
    /// Values visited.
    pub contents: u64,
    /// Inode entries read and checked (directories included).
    pub inodes: u64,
    /// Bytes of values.
    pub contents_bytes: u64,
}

/// One leaf of a tree: its path and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// Steps from the root.
    pub path: Vec<Vec<u8>>,
    /// The value.
    pub bytes: Vec<u8>,
}

impl Leaf {
    /// The path as `a/b/c` (steps that are not UTF-8 shown lossily).
    pub fn path_string(&self) -> String {
        self.path
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// An entry met by [`Store::scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    /// Global offset.
    pub offset: u64,
    /// Kind.
    pub kind: Kind,
    /// Stored hash (not checked by the scan).
    pub hash: ObjHash,
    /// Length in bytes.
    pub len: u64,
}

/// A directory entry resolved to where its child is.
#[derive(Clone, Debug)]
struct Child {
    name: Vec<u8>,
    kind: EntryType,
    hash: ObjHash,
    offset: u64,
}

fn u64_of(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Store {
    /// Open the irmin-pack store in `dir` (an Octez `context/` directory), read with `schema`.
    ///
    /// Reads the control file (v3+, checksum checked for v4/v5) or the legacy `store.pack`
    /// header (v1/v2), the dict, the index and the branches. Objects are read and checked
    /// later, on demand.
    pub fn open(dir: impl AsRef<Path>, schema: Schema) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::NotAStore {
                dir,
                reason: "not a directory".into(),
            });
        }
        let control_path = dir.join("store.control");
        let pack_path = dir.join("store.pack");
        let (version, control, data, dict) = if control_path.exists() {
            let control = read_control(&DataFile::open(control_path, "control file")?)?;
            let data = Data::from_control(&dir, &control)?;
            let dict_header = if matches!(control.status, Status::FromV1V2 { .. }) {
                LEGACY_HEADER
            } else {
                0
            };
            let dict_file = DataFile::open(dir.join("store.dict"), "step names (dict)")?;
            let dict = read_dict(&dict_file, dict_header, control.dict_end_poff)?;
            (control.version, Some(control), data, dict)
        } else if pack_path.exists() {
            let pack = DataFile::open(pack_path, "pack file")?;
            let (end, version) = legacy_header(&pack)?;
            if version > 2 {
                return Err(Error::Malformed {
                    path: pack.path,
                    offset: 8,
                    what: "store.pack version".into(),
                    expected: "version 1 or 2 (v3+ stores have store.control)".into(),
                });
            }
            let dict_file = DataFile::open(dir.join("store.dict"), "step names (dict)")?;
            let (dict_end, _) = legacy_header(&dict_file)?;
            let dict = read_dict(&dict_file, LEGACY_HEADER, dict_end)?;
            (version, None, Data::legacy(pack, end), dict)
        } else {
            return Err(Error::NotAStore {
                dir,
                reason: "neither store.control nor store.pack".into(),
            });
        };
        let index = read_index(&dir, schema.hash_size)?;
        let branches_path = dir.join("store.branches");
        let branches = if branches_path.exists() {
            read_branches(
                &DataFile::open(branches_path, "branches")?,
                schema.hash_size,
            )?
        } else {
            Vec::new()
        };
        Ok(Store {
            dir,
            schema,
            version,
            control,
            data,
            dict,
            index,
            branches,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Format version: 1 or 2 (`store.pack`), 3 to 5 (`store.control`).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The control file of a v3+ store.
    pub fn control(&self) -> Option<&Control> {
        self.control.as_ref()
    }

    /// The step names of `store.dict`.
    pub fn dict(&self) -> &[Vec<u8>] {
        &self.dict
    }

    /// Branches and their commits (Octez does not use branches: its commits are named by
    /// the rollup node's SQL store).
    pub fn branches(&self) -> &[(String, ObjHash)] {
        &self.branches
    }

    /// The index record of a hash.
    pub fn index_entry(&self, hash: &ObjHash) -> Option<IndexEntry> {
        self.index.get(hash).copied()
    }

    /// Commits in the index, by offset (every commit is indexed, whatever the strategy).
    pub fn indexed_commits(&self) -> Vec<(ObjHash, u64)> {
        let mut v: Vec<(ObjHash, u64)> = self
            .index
            .iter()
            .filter(|(_, e)| e.kind.is_commit())
            .map(|(h, e)| (*h, e.offset))
            .collect();
        v.sort_by_key(|&(h, o)| (o, h));
        v
    }

    /// Decode the entry at global offset `off`.
    fn read_entry(&self, off: u64, what: &str) -> Result<(Decoded, Loc)> {
        let hs = self.schema.hash_size;
        let mut want = FIRST_READ.max(header_len(hs));
        loop {
            let (buf, loc) = self.data.read(off, want, what)?;
            match decode_entry(&buf, hs) {
                Ok(d) => return Ok((d, loc)),
                Err(DecodeError::Short { needed, what: w }) => {
                    let have = u64_of(buf.len());
                    if have >= loc.available || needed > loc.available {
                        return Err(Error::Truncated {
                            path: loc.path,
                            offset: loc.poff,
                            what: format!("{w} of the entry for {what}"),
                            needed,
                            available: loc.available,
                        });
                    }
                    let grown = want.saturating_mul(2);
                    want = usize::try_from(needed).unwrap_or(usize::MAX).max(grown);
                }
                Err(DecodeError::UnknownKind(magic)) => {
                    return Err(Error::UnknownKind {
                        path: loc.path,
                        offset: loc.poff,
                        magic,
                    });
                }
                Err(DecodeError::Malformed {
                    pos,
                    what: w,
                    expected,
                }) => {
                    return Err(Error::Malformed {
                        path: loc.path,
                        offset: loc.poff.saturating_add(pos),
                        what: format!("{w} (entry for {what})"),
                        expected,
                    });
                }
            }
        }
    }

    /// The stored hash and kind at `off`, without decoding the body.
    fn read_header(&self, off: u64, what: &str) -> Result<(ObjHash, Kind, Loc)> {
        let hs = self.schema.hash_size;
        let n = hs.saturating_add(1);
        let (buf, loc) = self.data.read(off, n, what)?;
        if buf.len() < n {
            return Err(Error::Truncated {
                path: loc.path,
                offset: loc.poff,
                what: format!("entry header of {what}"),
                needed: u64_of(n),
                available: loc.available,
            });
        }
        let hash = ObjHash::from_slice(&buf[..hs]).ok_or_else(|| Error::Malformed {
            path: loc.path.clone(),
            offset: loc.poff,
            what: "entry hash".into(),
            expected: "a hash".into(),
        })?;
        let kind = Kind::of_magic(buf[hs]).ok_or_else(|| Error::UnknownKind {
            path: loc.path.clone(),
            offset: loc.poff.saturating_add(u64_of(hs)),
            magic: buf[hs],
        })?;
        Ok((hash, kind, loc))
    }

    /// Where the object at `addr` is, and its stored hash; its kind must be `accept`.
    fn resolve(
        &self,
        addr: &Address,
        expected: &'static str,
        accept: fn(Kind) -> bool,
    ) -> Result<(u64, ObjHash)> {
        let (off, want) = match addr {
            Address::Offset(o) => (*o, None),
            Address::Hash(h) => {
                let e = self.index.get(h).ok_or(Error::HashNotIndexed {
                    hash: *h,
                    what: expected,
                })?;
                (e.offset, Some(*h))
            }
        };
        let (hash, kind, loc) = self.read_header(off, expected)?;
        if !accept(kind) {
            return Err(Error::UnexpectedKind {
                path: loc.path,
                offset: loc.poff,
                expected,
                found: kind.name(),
            });
        }
        if let Some(w) = want
            && w != hash
        {
            return Err(Error::HashMismatch {
                path: loc.path,
                offset: loc.poff,
                what: "object found through the index",
                stored: Box::new(hash),
                computed: Box::new(w),
                schema: self.schema.name,
            });
        }
        Ok((off, hash))
    }

    /// The commit with this hash (looked up in the index), its own hash checked.
    pub fn commit(&self, hash: &ObjHash) -> Result<Commit> {
        let e = self.index.get(hash).ok_or(Error::HashNotIndexed {
            hash: *hash,
            what: "commit",
        })?;
        let c = self.commit_at(e.offset)?;
        if c.hash != *hash {
            let (_, _, loc) = self.read_header(e.offset, "commit")?;
            return Err(Error::HashMismatch {
                path: loc.path,
                offset: loc.poff,
                what: "commit found through the index",
                stored: Box::new(c.hash),
                computed: Box::new(*hash),
                schema: self.schema.name,
            });
        }
        Ok(c)
    }

    /// The commit at global offset `off`: its hash is recomputed from its root node's hash,
    /// its parents' hashes and its info, and compared with the stored one.
    pub fn commit_at(&self, off: u64) -> Result<Commit> {
        let (d, loc) = self.read_entry(off, "commit")?;
        let Body::Commit {
            node,
            parents,
            info,
        } = d.body
        else {
            return Err(Error::UnexpectedKind {
                path: loc.path,
                offset: loc.poff,
                expected: "a commit",
                found: d.kind.name(),
            });
        };
        let (node_offset, node_hash) = self.resolve(&node, "a root node", is_root_inode)?;
        let mut parent_hashes = Vec::with_capacity(parents.len());
        for p in &parents {
            parent_hashes.push(match p {
                // After a GC, parents may be gone: a hash is all the pre-image needs.
                Address::Hash(h) => *h,
                Address::Offset(o) => {
                    let (h, kind, ploc) = self.read_header(*o, "parent commit")?;
                    if !kind.is_commit() {
                        return Err(Error::UnexpectedKind {
                            path: ploc.path,
                            offset: ploc.poff,
                            expected: "a parent commit",
                            found: kind.name(),
                        });
                    }
                    h
                }
            });
        }
        let computed = self.schema.commit_hash(&node_hash, &parent_hashes, &info);
        if computed != d.hash {
            return Err(Error::HashMismatch {
                path: loc.path,
                offset: loc.poff,
                what: "commit",
                stored: Box::new(d.hash),
                computed: Box::new(computed),
                schema: self.schema.name,
            });
        }
        Ok(Commit {
            hash: d.hash,
            offset: off,
            kind: d.kind,
            node: node_hash,
            node_offset,
            parents: parent_hashes,
            info,
        })
    }

    fn name(&self, n: Name, loc: &Loc) -> Result<Vec<u8>> {
        match n {
            Name::Direct(s) => Ok(s),
            Name::Dict(id) => usize::try_from(id)
                .ok()
                .and_then(|i| self.dict.get(i))
                .cloned()
                .ok_or_else(|| Error::DictKey {
                    path: loc.path.clone(),
                    offset: loc.poff,
                    id,
                    count: self.dict.len(),
                }),
        }
    }

    /// Whether an inode hashes as a plain node (`should_be_stable` in irmin `inode.ml`; v1
    /// entries say it with their kind).
    fn is_stable(&self, kind: Kind, root: bool, length: u64) -> bool {
        match kind {
            Kind::InodeV1Stable => true,
            Kind::InodeV1Unstable => false,
            _ => length == 0 || (root && length <= u64::from(self.schema.stable_hash)),
        }
    }

    /// Read the inode at `off` and the inodes below it; push the directory entries to `out`
    /// and return the inode's stored hash once checked, and its number of entries.
    fn load_inode(
        &self,
        off: u64,
        depth: u64,
        root: bool,
        out: &mut Vec<Child>,
        stats: &mut WalkStats,
    ) -> Result<(ObjHash, u64)> {
        let (d, loc) = self.read_entry(off, "inode")?;
        stats.inodes = stats.inodes.saturating_add(1);
        let kind_ok = match d.kind {
            Kind::InodeV2Root => root,
            Kind::InodeV2Nonroot => !root,
            Kind::InodeV1Stable | Kind::InodeV1Unstable => true,
            _ => false,
        };
        if !kind_ok {
            return Err(Error::UnexpectedKind {
                path: loc.path,
                offset: loc.poff,
                expected: if root {
                    "a root inode"
                } else {
                    "an inner inode"
                },
                found: d.kind.name(),
            });
        }
        let Body::Inode(body) = d.body else {
            return Err(Error::UnexpectedKind {
                path: loc.path,
                offset: loc.poff,
                expected: "an inode",
                found: d.kind.name(),
            });
        };
        let inode_err = |reason: String| Error::Inode {
            path: loc.path.clone(),
            offset: loc.poff,
            reason,
        };
        if !root && d.kind == Kind::InodeV1Stable {
            // Only roots are stable (`check_stable` of irmin's `integrity_check`).
            return Err(inode_err(
                "a stable inode (N) below the root of a directory".into(),
            ));
        }
        let (computed, length) = match body {
            InodeBody::Values(values) => {
                if values.is_empty() && !root {
                    // `contains_empty_map` of irmin's `integrity_check`.
                    return Err(inode_err(
                        "empty inode below the root of a directory".into(),
                    ));
                }
                if values.len()
                    > usize::try_from(self.schema.entries.max(self.schema.stable_hash))
                        .unwrap_or(usize::MAX)
                {
                    return Err(inode_err(format!(
                        "{} values in one inode, more than the {} schema allows",
                        values.len(),
                        self.schema.name
                    )));
                }
                let mut children = Vec::with_capacity(values.len());
                for v in values {
                    let name = self.name(v.name, &loc)?;
                    let (offset, hash) = match v.kind {
                        EntryType::Contents => {
                            self.resolve(&v.address, "a contents", |k| k == Kind::Contents)?
                        }
                        EntryType::Node => {
                            self.resolve(&v.address, "a directory", is_root_inode)?
                        }
                    };
                    children.push(Child {
                        name,
                        kind: v.kind,
                        hash,
                        offset,
                    });
                }
                children.sort_by(|a, b| a.name.cmp(&b.name));
                if let Some(w) = children.windows(2).find(|w| w[0].name == w[1].name) {
                    return Err(inode_err(format!(
                        "step {:?} appears twice",
                        String::from_utf8_lossy(&w[0].name)
                    )));
                }
                let length = u64_of(children.len());
                let entries: Vec<NodeEntry> = children.iter().map(to_entry).collect();
                let h = if self.is_stable(d.kind, root, length) {
                    self.schema.stable_node_hash(&entries)
                } else {
                    self.schema.inode_values_hash(&entries)
                };
                out.extend(children);
                (h, length)
            }
            InodeBody::Tree {
                depth: stored_depth,
                length,
                pointers,
            } => {
                if stored_depth != depth {
                    return Err(inode_err(format!(
                        "tree inode at depth {depth} says depth {stored_depth}"
                    )));
                }
                if depth > 64 {
                    return Err(inode_err(format!(
                        "inode tree deeper than 64 levels ({depth})"
                    )));
                }
                let first = out.len();
                let mut hashed = Vec::with_capacity(pointers.len());
                let mut below = 0u64;
                let mut prev: Option<u64> = None;
                for (index, addr) in pointers {
                    if index >= u64::from(self.schema.entries) || prev.is_some_and(|p| p >= index) {
                        return Err(inode_err(format!(
                            "child index {index} out of order or not below {}",
                            self.schema.entries
                        )));
                    }
                    prev = Some(index);
                    let (child_off, want) = match addr {
                        Address::Offset(o) => (o, None),
                        Address::Hash(h) => {
                            let e = self.index.get(&h).ok_or(Error::HashNotIndexed {
                                hash: h,
                                what: "inner inode",
                            })?;
                            (e.offset, Some(h))
                        }
                    };
                    let next = depth
                        .checked_add(1)
                        .ok_or_else(|| inode_err("depth overflow".into()))?;
                    let (h, n) = self.load_inode(child_off, next, false, out, stats)?;
                    if let Some(w) = want
                        && w != h
                    {
                        return Err(inode_err(format!(
                            "child {index} found through the index has hash {h}, expected {w}"
                        )));
                    }
                    below = below
                        .checked_add(n)
                        .ok_or_else(|| inode_err("length overflow".into()))?;
                    hashed.push((index, h));
                }
                if below != length {
                    return Err(inode_err(format!(
                        "tree inode says {length} entries, its children hold {below}"
                    )));
                }
                let h = if self.is_stable(d.kind, root, length) {
                    let mut all: Vec<NodeEntry> = out[first..].iter().map(to_entry).collect();
                    all.sort_by(|a, b| a.name.cmp(&b.name));
                    self.schema.stable_node_hash(&all)
                } else {
                    self.schema.inode_tree_hash(depth, length, &hashed)
                };
                (h, length)
            }
        };
        if root && matches!(d.kind, Kind::InodeV1Stable | Kind::InodeV1Unstable) {
            // A v1 root is stable exactly when it has at most `stable_hash` entries.
            let should = length <= u64::from(self.schema.stable_hash);
            if should != (d.kind == Kind::InodeV1Stable) {
                return Err(inode_err(format!(
                    "root inode of {length} entries is {} but the schema's stable_hash is {}",
                    d.kind.name(),
                    self.schema.stable_hash
                )));
            }
        }
        if computed != d.hash {
            return Err(Error::HashMismatch {
                path: loc.path,
                offset: loc.poff,
                what: if root {
                    "directory (root inode)"
                } else {
                    "inner inode"
                },
                stored: Box::new(d.hash),
                computed: Box::new(computed),
                schema: self.schema.name,
            });
        }
        Ok((d.hash, length))
    }

    /// The entries of the directory at `off`, sorted by name, with its hash checked.
    fn load_dir(&self, off: u64, stats: &mut WalkStats) -> Result<(ObjHash, Vec<Child>)> {
        let mut children = Vec::new();
        let (hash, _) = self.load_inode(off, 0, true, &mut children, stats)?;
        children.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = children.windows(2).find(|w| w[0].name == w[1].name) {
            let (_, _, loc) = self.read_header(off, "directory")?;
            return Err(Error::Inode {
                path: loc.path,
                offset: loc.poff,
                reason: format!(
                    "step {:?} appears twice in the directory",
                    String::from_utf8_lossy(&w[0].name)
                ),
            });
        }
        self.check_canonical(off, &hash, &children)?;
        Ok((hash, children))
    }

    /// For the Octez rollup node's schema, the directory hash must also be the one
    /// `context-hash` computes from the entries alone (the canonical `Hash_bits` inode trie,
    /// `docs/reference/wasm-pvm.md` §7.3): this checks the stored inode layout too.
    fn check_canonical(&self, off: u64, hash: &ObjHash, children: &[Child]) -> Result<()> {
        let s = &self.schema;
        if !(s.pre_images == PreImages::Tezos
            && s.hash_size == 32
            && s.entries == 2
            && s.stable_hash == 2)
        {
            return Ok(());
        }
        let mut entries = Vec::with_capacity(children.len());
        for c in children {
            let (Ok(name), Some(h)) = (std::str::from_utf8(&c.name), c.hash.to_context_hash())
            else {
                return Ok(());
            };
            entries.push(context_hash::Entry {
                name,
                kind: c.kind.into(),
                hash: h,
            });
        }
        let computed = ObjHash::from(context_hash::node_hash(&entries));
        if computed != *hash {
            let (_, _, loc) = self.read_header(off, "directory")?;
            return Err(Error::HashMismatch {
                path: loc.path,
                offset: loc.poff,
                what: "directory (canonical Tezos inode trie)",
                stored: Box::new(*hash),
                computed: Box::new(computed),
                schema: s.name,
            });
        }
        Ok(())
    }

    /// Walk the tree of `commit`: every directory and value, with its path, parents first and
    /// entries by name. Every inode, directory and value hash is recomputed and compared with
    /// the stored one before the item is visited. The walk stops at the first error, the
    /// store's or the visitor's (`E` holds both).
    pub fn walk<E, F>(&self, commit: &Commit, mut visit: F) -> Result<WalkStats, E>
    where
        E: From<Error>,
        F: FnMut(Item<'_>) -> Result<(), E>,
    {
        let mut stats = WalkStats::default();
        let mut path = Vec::new();
        self.walk_dir(
            commit.node_offset,
            commit.node,
            &mut path,
            &mut visit,
            &mut stats,
        )?;
        Ok(stats)
    }

    fn walk_dir<E: From<Error>>(
        &self,
        off: u64,
        expected: ObjHash,
        path: &mut Vec<Vec<u8>>,
        visit: &mut dyn FnMut(Item<'_>) -> Result<(), E>,
        stats: &mut WalkStats,
    ) -> Result<(), E> {
        let (hash, children) = self.load_dir(off, stats)?;
        if hash != expected {
            let (_, _, loc) = self.read_header(off, "directory")?;
            return Err(Error::HashMismatch {
                path: loc.path,
                offset: loc.poff,
                what: "directory referenced by its parent",
                stored: Box::new(hash),
                computed: Box::new(expected),
                schema: self.schema.name,
            }
            .into());
        }
        stats.dirs = stats.dirs.saturating_add(1);
        visit(Item::Dir {
            path,
            hash,
            entries: children.len(),
        })?;
        if path.len() >= MAX_PATH_DEPTH {
            let (_, _, loc) = self.read_header(off, "directory")?;
            return Err(Error::Inode {
                path: loc.path,
                offset: loc.poff,
                reason: format!("directories nested deeper than {MAX_PATH_DEPTH} levels"),
            }
            .into());
        }
        for c in children {
            path.push(c.name);
            match c.kind {
                EntryType::Node => self.walk_dir(c.offset, c.hash, path, visit, stats)?,
                EntryType::Contents => {
                    let bytes = self.read_contents(c.offset, &c.hash)?;
                    stats.contents = stats.contents.saturating_add(1);
                    stats.contents_bytes = stats.contents_bytes.saturating_add(u64_of(bytes.len()));
                    visit(Item::Contents {
                        path,
                        hash: c.hash,
                        bytes: &bytes,
                    })?;
                }
            }
            path.pop();
        }
        Ok(())
    }

    /// The value at `off`, its hash recomputed and compared with the stored one and with
    /// `expected` (what the directory referencing it holds).
    fn read_contents(&self, off: u64, expected: &ObjHash) -> Result<Vec<u8>> {
        let (d, loc) = self.read_entry(off, "contents")?;
        let Body::Contents(bytes) = d.body else {
            return Err(Error::UnexpectedKind {
                path: loc.path,
                offset: loc.poff,
                expected: "a contents",
                found: d.kind.name(),
            });
        };
        let computed = self.schema.contents_hash(&bytes);
        if computed != d.hash || d.hash != *expected {
            return Err(Error::HashMismatch {
                path: loc.path,
                offset: loc.poff,
                what: "contents",
                stored: Box::new(d.hash),
                computed: Box::new(computed),
                schema: self.schema.name,
            });
        }
        Ok(bytes)
    }

    /// Every value of `commit`'s tree with its path (all hashes checked, see [`Store::walk`]),
    /// in memory: for a large context prefer [`Store::walk`], which streams.
    pub fn leaves(&self, commit: &Commit) -> Result<Vec<Leaf>> {
        let mut out = Vec::new();
        self.walk(commit, |item| -> Result<()> {
            if let Item::Contents { path, bytes, .. } = item {
                out.push(Leaf {
                    path: path.to_vec(),
                    bytes: bytes.to_vec(),
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every entry of the data files in offset order (prefix ranges, then suffix chunks),
    /// decoded one after the other; hashes are not checked. Lists the commits of a store
    /// whose index is missing.
    pub fn scan(&self, visit: &mut dyn FnMut(&EntryInfo)) -> Result<()> {
        let mut ranges = self.data.prefix_ranges();
        ranges.extend(self.data.suffix_ranges());
        for (start, end) in ranges {
            let mut off = start;
            while off < end {
                let (d, _) = self.read_entry(off, "entry of a sequential scan")?;
                visit(&EntryInfo {
                    offset: off,
                    kind: d.kind,
                    hash: d.hash,
                    len: d.len,
                });
                off = off.checked_add(d.len.max(1)).ok_or(Error::OffsetNotFound {
                    offset: off,
                    what: "end of an entry".into(),
                })?;
            }
        }
        Ok(())
    }
}

fn is_root_inode(k: Kind) -> bool {
    matches!(
        k,
        Kind::InodeV2Root | Kind::InodeV1Stable | Kind::InodeV1Unstable
    )
}

fn to_entry(c: &Child) -> NodeEntry {
    NodeEntry {
        name: c.name.clone(),
        kind: c.kind,
        hash: c.hash,
    }
}
