//! Compact durable values (issue 15, RSS: `BENCHMARKS.md`).
//!
//! A durable value of one chunk is, in the tree, the `@` node
//! `@` → {`contents` → {`0` → chunk}, `length` → 8 bytes big-endian}
//! (`docs/reference/wasm-pvm.md` §2): two nodes, two entry slices and one
//! contents. [`CompactValue`] holds the same subtree as one 72-byte
//! allocation (plus the chunk's bytes before its zero tail): the length, the
//! chunk's head. It is the `children` of the `@` node
//! ([`super::inode::Big::Value`]), so the `@` node keeps its own hash
//! memo and persisted mark; the chunk's hash is not memoised (a process-wide
//! cache keyed by the holder's hash serves the commit: [`chunk_of`]; issue
//! 15, RSS). Every `Tree` operation sees the expanded
//! subtree: reads through [`CompactValue::entries`] (built once, on demand),
//! writes turn it into ordinary children first, hashes and store objects are
//! computed from the fields without expanding. The `contents` node's hash
//! is not kept (one blake2b block from the chunk's hash; a per-thread cache
//! serves the commit's second use of it: [`contents_node_hash`]).
//!
//! A durable key's node whose only child is such an `@` node holds the
//! value itself instead ([`CompactValue::in_key`]: `{@ → value}` as one
//! node, the `@` node, its entry slice and its hash memo gone); reads
//! through `Tree` see the expanded `@` node, built once on demand, and the
//! commit writes the `@` object from the value ([`CompactValue::at_hash`]).

use std::sync::OnceLock;

use context_hash::preimage::{self, Triple};
use context_hash::{EntryKind, Hash};

use super::inode::{Children, Entry, Name, hash_with};
use super::memo::Memo;
use super::{Bytes, ContentsData, NodeData, Repr, Tree, TreeError, with_zero_tail_buf};

/// Name of the `@` child holding the chunks.
const CONTENTS: &str = "contents";
/// Name of the `@` child holding the length.
const LENGTH: &str = "length";
/// Name of a key's value node (`durable::VALUE_MARKER`).
pub(crate) const AT: &str = "@";
/// Name of the only chunk (chunk 0).
const CHUNK_0: &str = "0";
/// Size of a durable chunk (`durable::CHUNK_SIZE`, `docs/reference/wasm-pvm.md`
/// §2): the only chunk size a compact value holds (others stay expanded).
pub(crate) const CHUNK_LEN: usize = 512;
/// Value lengths a compact value holds (they share a word with a flag).
const LEN_LIMIT: u64 = 1 << 61;
/// Bit of [`CompactValue::state`] telling that the value is held by its key's
/// node (`{@ → value}` as one node), not by its `@` node.
const IN_KEY: u64 = LEN_LIMIT;

/// The `@` subtree of a durable value with exactly one chunk, chunk 0, of
/// [`CHUNK_LEN`] bytes. 40 bytes, so that the boxed `Big` holding it fits a
/// 48-byte allocation (issue 15, RSS); its chunk's hash is not memoised
/// ([`super::NodeData::value_chunk_hash`]).
#[derive(Clone)]
pub(crate) struct CompactValue {
    /// The value length (`@/length`, below [`LEN_LIMIT`]) and the
    /// [`IN_KEY`] bit.
    state: u64,
    /// The bytes of `@/contents/0` before its zero tail (the chunk is
    /// [`CHUNK_LEN`] bytes).
    head: Box<[u8]>,
    /// The expanded entries, built by the first read that needs them as
    /// trees: `contents` and `length` when this is the children of an `@`
    /// node, the `@` node when it is the children of its key's node
    /// ([`CompactValue::in_key`]).
    expanded: ExpandedCell,
}

/// The lazily built expanded entries of a [`CompactValue`] (dropped by a
/// clone: rebuilt on demand).
#[derive(Default)]
struct ExpandedCell(OnceLock<Box<Expanded>>);

impl Clone for ExpandedCell {
    fn clone(&self) -> Self {
        ExpandedCell::default()
    }
}

/// The expanded entries of a [`CompactValue`], by the node it is the
/// children of.
pub(crate) enum Expanded {
    /// Of the `@` node: `contents`, `length`.
    At([Entry; 2]),
    /// Of the key's node: `@`.
    Key([Entry; 1]),
}

/// The bytes of a compact value's chunk: its head, then zeros up to
/// [`CHUNK_LEN`] bytes (the reads of [`Bytes`]).
#[derive(Clone, Copy)]
pub(crate) struct Chunk<'a> {
    head: &'a [u8],
}

impl Chunk<'_> {
    /// Number of bytes (always [`CHUNK_LEN`]).
    pub(crate) fn len(&self) -> usize {
        CHUNK_LEN
    }

    /// Append the bytes to `out`.
    pub(crate) fn extend_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.head);
        out.resize(out.len() + (CHUNK_LEN - self.head.len()), 0);
    }

    /// Copy the bytes from offset `from` into `dst`, as many as there are;
    /// returns how many were copied.
    pub(crate) fn copy_to(&self, from: usize, dst: &mut [u8]) -> usize {
        let Some(avail) = CHUNK_LEN.checked_sub(from) else {
            return 0;
        };
        let n = dst.len().min(avail);
        let k = self.head.len().saturating_sub(from).min(n);
        if k > 0 {
            dst[..k].copy_from_slice(&self.head[from..from + k]);
        }
        dst[k..n].fill(0);
        n
    }

    /// The bytes, written out.
    pub(crate) fn as_slice(&self) -> std::borrow::Cow<'static, [u8]> {
        let mut v = Vec::with_capacity(CHUNK_LEN);
        self.extend_into(&mut v);
        std::borrow::Cow::Owned(v)
    }
}

impl CompactValue {
    /// The value `len` with chunk 0 `chunk`; the chunk back when this form
    /// does not hold it: a chunk not [`CHUNK_LEN`] bytes long (a durable
    /// chunk always is; a short one would be inlined in its parent's
    /// object, which this form does not encode) or a length past
    /// [`LEN_LIMIT`].
    pub(crate) fn new(len: u64, mut chunk: Vec<u8>) -> Result<CompactValue, Vec<u8>> {
        const _: () = assert!(CHUNK_LEN > crate::object::INLINE_MAX);
        if chunk.len() != CHUNK_LEN || len >= LEN_LIMIT {
            return Err(chunk);
        }
        let head = super::without_zero_tail(&chunk);
        chunk.truncate(head);
        Ok(CompactValue {
            state: len,
            head: chunk.into_boxed_slice(),
            expanded: ExpandedCell::default(),
        })
    }

    /// The value length (`@/length`).
    pub(crate) fn len(&self) -> u64 {
        self.state & !IN_KEY
    }

    /// Whether the key's node holds this value (`{@ → value}` as one
    /// node), else its `@` node.
    pub(crate) fn in_key(&self) -> bool {
        self.state & IN_KEY != 0
    }

    /// This value, to be held by its key's node.
    pub(crate) fn into_key_role(mut self) -> Self {
        let _ = self.expanded.0.take();
        self.state = self.len() | IN_KEY;
        self
    }

    /// Whether the node holding this value has a child `name`.
    pub(crate) fn has_entry(&self, name: &str) -> bool {
        if self.in_key() {
            name == AT
        } else {
            name == CONTENTS || name == LENGTH
        }
    }

    /// Number of entries of the node holding this value.
    pub(crate) fn entry_count(&self) -> u64 {
        if self.in_key() { 1 } else { 2 }
    }

    /// The bytes of chunk 0.
    pub(crate) fn chunk(&self) -> Chunk<'_> {
        Chunk { head: &self.head }
    }

    /// Hash of the chunk contents (computed; see
    /// [`super::NodeData::value_chunk_hash`]).
    pub(crate) fn compute_chunk_hash(&self) -> Hash {
        // Pre-image: u64 length ‖ bytes.
        crate::hash_trace::record(CHUNK_LEN + 8);
        with_zero_tail_buf(|buf| {
            self.chunk().extend_into(buf);
            context_hash::contents_hash(buf)
        })
    }

    /// Hash of the `contents` node, `{0 → chunk}` (`chunk`: the chunk's hash).
    pub(crate) fn contents_hash(chunk: Hash) -> Hash {
        contents_node_hash(chunk)
    }

    /// The `length` contents (shared between values of one length).
    pub(crate) fn length_tree(&self) -> Tree {
        Tree::length_contents(self.len())
    }

    /// Hash of the node holding this value (the key's node or the `@`
    /// node), from the chunk's hash `chunk`.
    pub(crate) fn hash(&self, chunk: Hash) -> Result<Hash, TreeError> {
        let (at, key) = self.at_and_key_hash(chunk)?;
        Ok(if self.in_key() { key } else { at })
    }

    /// Hash of the `@` node.
    fn at_node_hash(&self, chunk: Hash) -> Result<Hash, TreeError> {
        let t: [Triple<'_>; 2] = [
            (
                CONTENTS.as_bytes(),
                EntryKind::Node,
                contents_node_hash(chunk),
            ),
            (
                LENGTH.as_bytes(),
                EntryKind::Contents,
                self.length_tree().hash()?,
            ),
        ];
        Ok(hash_with(|b| preimage::stable_node(b, &t)))
    }

    /// The entries of the node holding this value, sorted by name (built
    /// once): `contents`, `length` of the `@` node, or `@` of the key's
    /// node.
    /// `chunk`: the chunk's hash, if known (memoised by the trees built).
    pub(crate) fn entries(&self, chunk: Option<Hash>) -> &[Entry] {
        let e = self.expanded.0.get_or_init(|| {
            Box::new(if self.in_key() {
                Expanded::Key([(Name::new(AT), self.clone().into_at_tree(chunk, 0))])
            } else {
                Expanded::At(self.build(chunk, 0))
            })
        });
        match &**e {
            Expanded::At(e) => &e[..],
            Expanded::Key(e) => &e[..],
        }
    }

    /// The entries already built by [`CompactValue::entries`], if any.
    pub(crate) fn expanded(&self) -> Option<&[Entry]> {
        self.expanded.0.get().map(|b| match &**b {
            Expanded::At(e) => &e[..],
            Expanded::Key(e) => &e[..],
        })
    }

    /// The `@` node holding this value (`@` → {`contents`, `length`}),
    /// marked stored in the store of mark `persisted` (0: none); `chunk`:
    /// the chunk's hash, if known.
    fn into_at_tree(mut self, chunk: Option<Hash>, persisted: u64) -> Tree {
        // Built for the key's node: rebuilt on demand.
        let _ = self.expanded.0.take();
        self.state = self.len();
        let at = chunk.and_then(|c| self.at_hash(c).ok());
        Tree::from_node(NodeData::new(Children::value(self), at, persisted))
    }

    /// The expanded entries, for a structural change of the node holding
    /// this value: the trees below are marked stored in the store of mark
    /// `persisted` (the node's mark before the change: its objects include
    /// theirs); `chunk`: the chunk's hash, if known.
    pub(crate) fn into_entries(self, chunk: Option<Hash>, persisted: u64) -> Box<[Entry]> {
        if self.in_key() {
            self.into_key_entries(chunk, persisted)
        } else {
            self.into_at_entries(chunk, persisted)
        }
    }

    /// [`CompactValue::into_entries`] for the `@` node.
    fn into_at_entries(mut self, chunk: Option<Hash>, persisted: u64) -> Box<[Entry]> {
        match self.expanded.0.take().map(|b| *b) {
            Some(Expanded::At(e)) => {
                if persisted != 0 {
                    mark_contents(&e[0].1, persisted);
                }
                Box::new(e)
            }
            _ => Box::new(self.build(chunk, persisted)),
        }
    }

    /// The entry `@` of the key's node holding this value, for a structural
    /// change of that node: the `@` node is marked stored in the store of
    /// mark `persisted` (the key node's mark before the change).
    fn into_key_entries(mut self, chunk: Option<Hash>, persisted: u64) -> Box<[Entry]> {
        match self.expanded.0.take().map(|b| *b) {
            Some(Expanded::Key(e)) => {
                if persisted != 0
                    && let Repr::Node(n) = &e[0].1.0
                {
                    n.mark_persisted(persisted);
                }
                Box::new(e)
            }
            _ => Box::new([(Name::new(AT), self.into_at_tree(chunk, persisted))]),
        }
    }

    /// Hash of the key node `{@ → at}`.
    fn key_node_hash(at: Hash) -> Hash {
        let t: [Triple<'_>; 1] = [(AT.as_bytes(), EntryKind::Node, at)];
        hash_with(|b| preimage::stable_node(b, &t))
    }

    /// Hash of the `@` node of this value (chunk hash `chunk`).
    pub(crate) fn at_hash(&self, chunk: Hash) -> Result<Hash, TreeError> {
        Ok(self.at_and_key_hash(chunk)?.0)
    }

    /// Hashes of the `@` node of this value (chunk hash `chunk`) and of its
    /// key's node `{@ → …}`, through a process-wide direct-mapped cache
    /// keyed by the chunk's hash and the length: held by its key's node, the
    /// `@` node has no memo, and a commit asks for its hash twice per new
    /// value (the key node's hash, then the `@` object); the PVM hashes the
    /// state on its kernel thread, the commit runs on another (issue 15).
    fn at_and_key_hash(&self, chunk: Hash) -> Result<(Hash, Hash), TreeError> {
        /// Slots of the cache (a power of 2; 104 KiB).
        const SLOTS: usize = 1024;
        type Slot = Option<(Hash, u64, Hash, Hash)>;
        static CACHE: std::sync::Mutex<Vec<Slot>> = std::sync::Mutex::new(Vec::new());
        let len = self.len();
        let i = usize::from(u16::from_le_bytes([chunk.0[2], chunk.0[3]])) & (SLOTS - 1);
        let hit = {
            let c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
            match c.get(i) {
                Some(Some((ch, l, at, key))) if *ch == chunk && *l == len => Some((*at, *key)),
                _ => None,
            }
        };
        if let Some(h) = hit {
            return Ok(h);
        }
        let at = self.at_node_hash(chunk)?;
        let key = Self::key_node_hash(at);
        let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if c.is_empty() {
            c.resize(SLOTS, None);
        }
        c[i] = Some((chunk, len, at, key));
        Ok((at, key))
    }

    /// The expanded entries, the trees below `@` marked stored in the store
    /// of mark `persisted` (0: none); `chunk_hash`: the chunk's hash, if known.
    fn build(&self, chunk_hash: Option<Hash>, persisted: u64) -> [Entry; 2] {
        let mut bytes = Vec::with_capacity(CHUNK_LEN);
        self.chunk().extend_into(&mut bytes);
        let chunk = Tree::from_contents(ContentsData {
            bytes: Bytes::new(bytes),
            memo: Memo::new_marked(chunk_hash, persisted),
        });
        let contents = Tree::from_node(NodeData::new(
            Children::Flat(Box::new([(Name::new(CHUNK_0), chunk)])),
            chunk_hash.map(contents_node_hash),
            persisted,
        ));
        [
            (Name::new(CONTENTS), contents),
            (Name::new(LENGTH), self.length_tree()),
        ]
    }
}

/// Hash of the node `{0 → contents of hash chunk}` (a compact value's
/// `contents` node), through a process-wide direct-mapped cache keyed by
/// the chunk's hash: a commit asks for it twice per new value (its object,
/// then the `@` node's hash), one blake2b block each time otherwise, and
/// the PVM's state hash on the kernel thread asks first (issue 15).
fn contents_node_hash(chunk: Hash) -> Hash {
    /// Slots of the cache (a power of 2; 64 KiB).
    const SLOTS: usize = 1024;
    fn compute(chunk: Hash) -> Hash {
        let t: [Triple<'_>; 1] = [(CHUNK_0.as_bytes(), EntryKind::Contents, chunk)];
        hash_with(|b| preimage::stable_node(b, &t))
    }
    static CACHE: std::sync::Mutex<Vec<Option<(Hash, Hash)>>> = std::sync::Mutex::new(Vec::new());
    // The chunk hash is uniform: its first bytes pick the slot.
    let i = usize::from(u16::from_le_bytes([chunk.0[0], chunk.0[1]])) & (SLOTS - 1);
    let hit = {
        let c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        match c.get(i) {
            Some(Some((ch, h))) if *ch == chunk => Some(*h),
            _ => None,
        }
    };
    if let Some(h) = hit {
        return h;
    }
    let h = compute(chunk);
    let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if c.is_empty() {
        c.resize(SLOTS, None);
    }
    c[i] = Some((chunk, h));
    h
}

/// Slots of the process-wide cache of [`chunk_of`] (a power of 2; 264 KiB).
const CHUNK_SLOTS: usize = 4096;

/// [`chunk_of`]'s cache: (hash of a node holding a compact value, hash of
/// its chunk), direct-mapped on the node's hash. Shared between threads: the
/// PVM hashes the state on its kernel thread, the commit runs on another.
static CHUNKS: std::sync::Mutex<Vec<Option<(Hash, Hash)>>> = std::sync::Mutex::new(Vec::new());

/// The slot of `node` in [`CHUNKS`].
fn chunk_slot(node: &Hash) -> usize {
    // The hash is uniform: two of its bytes pick the slot.
    usize::from(u16::from_le_bytes([node.0[4], node.0[5]])) & (CHUNK_SLOTS - 1)
}

/// The chunk's hash of the compact value held by a node of hash `node`, if
/// both were computed recently ([`remember_chunk`]). A node's hash
/// determines its chunk's (a Merkle tree), so an entry never goes stale.
/// Serves the commit of a value whose holder was hashed before (the PVM's
/// state hash, then the commit), without re-hashing its chunk (issue 15,
/// RSS: a compact value keeps no memo of its own).
pub(crate) fn chunk_of(node: Hash) -> Option<Hash> {
    let c = CHUNKS.lock().unwrap_or_else(|e| e.into_inner());
    match c.get(chunk_slot(&node)) {
        Some(Some((n, ch))) if *n == node => Some(*ch),
        _ => None,
    }
}

/// Record that the node of hash `node` holds a compact value whose chunk
/// hashes to `chunk` (see [`chunk_of`]).
pub(crate) fn remember_chunk(node: Hash, chunk: Hash) {
    let mut c = CHUNKS.lock().unwrap_or_else(|e| e.into_inner());
    if c.is_empty() {
        c.resize(CHUNK_SLOTS, None);
    }
    c[chunk_slot(&node)] = Some((node, chunk));
}

/// Mark the `contents` node `t` built by [`CompactValue::build`] and its
/// chunk stored in the store of mark `id`.
fn mark_contents(t: &Tree, id: u64) {
    if let Repr::Node(n) = &t.0 {
        n.mark_persisted(id);
        if let Children::Flat(m) = &n.children {
            for (_, c) in m.iter() {
                if let Repr::Contents(c) = &c.0 {
                    c.mark_persisted(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backend::NodeStore;
    use crate::durable::{CHUNK_SIZE, Durable, Key};
    use crate::proof::{encoding::encode, produce_proof};
    use crate::{MemStore, Repo};

    /// A one-chunk value (`len` bytes of `seed`-derived data, zero-padded).
    fn chunk(len: usize, seed: u8) -> Vec<u8> {
        let mut c: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed | 1)
            .collect();
        c.resize(CHUNK_SIZE as usize, 0);
        c
    }

    /// The same tree, with `@` built compact and expanded (generic writes).
    fn pair(values: &[(&str, u64, Vec<u8>)]) -> (Tree, Tree) {
        let (mut compact, mut expanded) = (Tree::empty(), Tree::empty());
        for (k, len, c) in values {
            compact
                .set_tree(&[k, "@"], Tree::durable_value(*len, c.clone()).unwrap())
                .unwrap();
            assert!(
                compact
                    .find(&[k, "@"])
                    .unwrap()
                    .unwrap()
                    .as_compact_value()
                    .is_some()
            );
            expanded
                .set_contents(&[k, "@", "contents", "0"], c.clone())
                .unwrap();
            expanded
                .set_contents(&[k, "@", "length"], len.to_be_bytes().to_vec())
                .unwrap();
        }
        (compact, expanded)
    }

    const PATHS: &[&[&str]] = &[
        &["a"],
        &["a", "@"],
        &["a", "@", "contents"],
        &["a", "@", "contents", "0"],
        &["a", "@", "contents", "1"],
        &["a", "@", "length"],
        &["a", "@", "length", "x"],
        &["a", "@", "other"],
        &["b", "@", "contents", "0"],
    ];

    /// Every read of `Tree` answers alike on `x` and `y`.
    fn same_reads(x: &Tree, y: &Tree) {
        assert_eq!(x.hash().unwrap(), y.hash().unwrap());
        for p in PATHS {
            assert_eq!(
                x.get_contents(p).unwrap(),
                y.get_contents(p).unwrap(),
                "{p:?}"
            );
            assert_eq!(x.list(p).unwrap(), y.list(p).unwrap(), "{p:?}");
            assert_eq!(x.length(p).unwrap(), y.length(p).unwrap(), "{p:?}");
            let (gx, gy) = (x.get(p).unwrap(), y.get(p).unwrap());
            assert_eq!(
                gx.as_ref().map(Tree::kind),
                gy.as_ref().map(Tree::kind),
                "{p:?}"
            );
            if let (Some(gx), Some(gy)) = (gx, gy) {
                assert_eq!(gx.hash().unwrap(), gy.hash().unwrap(), "{p:?}");
            }
        }
    }

    /// Commit both to fresh stores: same root, same objects, byte for byte.
    fn same_objects(x: &Tree, y: &Tree) {
        let (sx, sy) = (Arc::new(MemStore::new()), Arc::new(MemStore::new()));
        let rx = Repo::new(sx.clone()).commit(x).unwrap();
        let ry = Repo::new(sy.clone()).commit(y).unwrap();
        assert_eq!(rx, ry);
        assert_eq!(sx.object_count().unwrap(), sy.object_count().unwrap());
        for p in PATHS {
            if let Some(t) = y.find(p).unwrap() {
                let h = t.hash().unwrap();
                assert_eq!(sx.get(&h).unwrap(), sy.get(&h).unwrap(), "{p:?}");
            }
        }
        // Read back from the store.
        let back = Repo::new(sx).checkout(rx).unwrap();
        same_reads(&back, y);
    }

    #[test]
    fn the_compact_form_stays_small() {
        use std::mem::size_of;
        // `Children` keeps the slice's niche: a node fits 72 bytes.
        assert_eq!(size_of::<Children>(), 16);
        // One 48-byte allocation (+ the chunk's head) for the `@` subtree
        // (a malloc chunk is the size + 8, rounded up to 16).
        assert_eq!(size_of::<CompactValue>(), 40);
        assert!(size_of::<super::super::inode::Big>() <= 40);
        // The chunk size is the durable storage's.
        assert_eq!(CHUNK_LEN as u64, crate::durable::CHUNK_SIZE);
    }

    #[test]
    fn other_chunk_sizes_and_huge_lengths_stay_expanded() {
        let ok = Tree::durable_value(7, chunk(7, 9)).unwrap();
        assert!(ok.as_compact_value().is_some());
        for (len, c) in [
            (100u64, vec![3u8; 100]),
            (600, vec![4u8; 600]),
            (LEN_LIMIT, chunk(9, 5)),
            (1 << 62, chunk(9, 5)),
            (u64::MAX, chunk(9, 5)),
        ] {
            let t = Tree::durable_value(len, c.clone()).unwrap();
            assert!(t.as_compact_value().is_none(), "{len}");
            let mut e = Tree::empty();
            e.set_contents(&["contents", "0"], c).unwrap();
            e.set_contents(&["length"], len.to_be_bytes().to_vec())
                .unwrap();
            assert_eq!(t.hash().unwrap(), e.hash().unwrap(), "{len}");
        }
        // The largest compact length reads back whole.
        let big = LEN_LIMIT - 1;
        let t = Tree::durable_value(big, chunk(9, 5)).unwrap();
        assert_eq!(t.as_compact_value().map(CompactValue::len), Some(big));
        assert_eq!(
            t.get_contents(&["length"]).unwrap(),
            Some(big.to_be_bytes().to_vec())
        );
    }

    #[test]
    fn chunk_reads_and_contents_hashes_equal_the_expanded_ones() {
        // Heads of every length class, with zeros inside and at the end.
        for data in [0usize, 1, 31, 100, 480, 481, 511, 512] {
            let mut c = chunk(data, 7);
            if data > 10 {
                c[data / 2] = 0;
            }
            let v = CompactValue::new(data as u64, c.clone()).expect("a 512-byte chunk");
            let ch = v.chunk();
            assert_eq!(ch.len(), c.len());
            assert_eq!(&ch.as_slice()[..], &c[..]);
            let mut out = vec![9u8; 3];
            ch.extend_into(&mut out);
            assert_eq!(&out[3..], &c[..]);
            for from in [0usize, 1, data / 2, data, 511, 512, 600] {
                let mut dst = vec![7u8; 40];
                let n = ch.copy_to(from, &mut dst);
                let want = &c[from.min(512)..(from + 40).min(512)];
                assert_eq!(&dst[..n], want, "{data} from {from}");
            }
            assert_eq!(v.compute_chunk_hash(), context_hash::contents_hash(&c));
            let node = context_hash::node_hash(&[context_hash::Entry {
                name: "0",
                kind: EntryKind::Contents,
                hash: context_hash::contents_hash(&c),
            }]);
            // Computed, then from the cache.
            let ch = v.compute_chunk_hash();
            assert_eq!(CompactValue::contents_hash(ch), node);
            assert_eq!(CompactValue::contents_hash(ch), node);
        }
        // The cache's initial slots and a slot's replacement stay true.
        for h in [Hash::default(), Hash([1; 32]), Hash([0; 32])] {
            let want = context_hash::node_hash(&[context_hash::Entry {
                name: "0",
                kind: EntryKind::Contents,
                hash: h,
            }]);
            assert_eq!(contents_node_hash(h), want);
        }
    }

    #[test]
    fn compact_values_behave_as_expanded_ones() {
        for (len, data) in [(100u64, 100usize), (512, 512), (1000, 300), (0, 0), (7, 5)] {
            let values = [("a", len, chunk(data, 1)), ("b", 3, chunk(3, 2))];
            let (c, e) = pair(&values);
            same_reads(&c, &e);
            same_objects(&c, &e);
            // Proofs of reads, byte for byte.
            let read = |r: &dyn crate::proof::TreeRead| {
                PATHS
                    .iter()
                    .map(|p| r.read_value(p))
                    .collect::<Result<Vec<_>, _>>()
            };
            let (pc, vc) = produce_proof(&c, read).unwrap();
            let (pe, ve) = produce_proof(&e, read).unwrap();
            assert_eq!(vc, ve);
            assert_eq!(encode(&pc).unwrap(), encode(&pe).unwrap());
        }
    }

    #[test]
    fn structural_changes_expand_and_stay_equal() {
        type Op = fn(&mut Tree);
        let ops: [Op; 6] = [
            |t| {
                t.set_contents(&["a", "@", "contents", "1"], vec![5; 512])
                    .unwrap()
            },
            |t| {
                t.set_contents(&["a", "@", "length"], 9u64.to_be_bytes().to_vec())
                    .unwrap()
            },
            |t| t.remove(&["a", "@", "contents"]).unwrap(),
            |t| t.remove(&["a", "@", "length"]).unwrap(),
            |t| {
                t.set_contents(&["a", "@", "contents", "0"], vec![1; 512])
                    .unwrap()
            },
            |t| t.set_contents(&["a", "@", "x", "y"], vec![2]).unwrap(),
        ];
        for op in ops {
            let (mut c, mut e) = pair(&[("a", 200, chunk(200, 3)), ("b", 3, chunk(3, 4))]);
            // Committed first: the expanded entries keep the store marks.
            let store = Arc::new(MemStore::new());
            let repo = Repo::new(store.clone());
            repo.commit(&c).unwrap();
            let before = store.object_count().unwrap();
            // A clone shares the compact value: the change must not touch it.
            let kept = c.clone();
            op(&mut c);
            op(&mut e);
            assert!(
                c.find(&["a", "@"])
                    .unwrap()
                    .is_none_or(|t| t.as_compact_value().is_none())
            );
            same_reads(&c, &e);
            same_objects(&c, &e);
            same_reads(
                &kept,
                &pair(&[("a", 200, chunk(200, 3)), ("b", 3, chunk(3, 4))]).1,
            );
            // Only the changed objects are new in the store.
            let (_, e0) = pair(&[("a", 200, chunk(200, 3)), ("b", 3, chunk(3, 4))]);
            let fresh = Arc::new(MemStore::new());
            let r2 = Repo::new(fresh.clone());
            r2.commit(&e0).unwrap();
            r2.commit(&e).unwrap();
            repo.commit(&c).unwrap();
            assert_eq!(
                store.object_count().unwrap(),
                fresh.object_count().unwrap(),
                "objects after {before}"
            );
        }
    }

    #[test]
    fn durable_writes_of_one_chunk_are_compact() {
        let k = |s: &str| Key::from_str_checked(s).unwrap();
        let mut d = Durable::default();
        d.write(&k("/w"), 0, b"hello").unwrap();
        d.set(&k("/s"), &[7; 512]).unwrap();
        d.write(&k("/w"), 0, b"HE").unwrap();
        let mut e = Tree::empty();
        let mut w = b"Hello".to_vec();
        w[1] = b'E';
        w.resize(512, 0);
        e.set_contents(&["w", "@", "contents", "0"], w).unwrap();
        e.set_contents(&["w", "@", "length"], 5u64.to_be_bytes().to_vec())
            .unwrap();
        e.set_contents(&["s", "@", "contents", "0"], vec![7; 512])
            .unwrap();
        e.set_contents(&["s", "@", "length"], 512u64.to_be_bytes().to_vec())
            .unwrap();
        for key in ["w", "s"] {
            let at = d.tree().find(&[key, "@"]).unwrap().unwrap();
            assert!(at.as_compact_value().is_some(), "{key}");
        }
        assert_eq!(d.tree().hash().unwrap(), e.hash().unwrap());
        assert_eq!(d.read(&k("/w"), 1, 10).unwrap(), Some(b"Ello".to_vec()));
        assert_eq!(d.value_size(&k("/s")).unwrap(), Some(512));
        // Through the write-back cache: flushed compact, read back alike.
        {
            let mut cd = crate::durable::CachedDurable::new(&mut d);
            let mut v = cd.value(b"/c").unwrap().unwrap();
            v.write(0, b"cached").unwrap();
            cd.flush().unwrap();
            let mut v = cd.value(b"/c").unwrap().unwrap();
            v.write(1, b"A").unwrap();
            let mut out = Vec::new();
            assert!(v.read_into(0, 100, &mut out).unwrap());
            assert_eq!(out, b"cAched");
            cd.flush().unwrap();
        }
        let at = d.tree().find(&["c", "@"]).unwrap().unwrap();
        assert!(at.as_compact_value().is_some());
        assert_eq!(d.read_all(&k("/c")).unwrap(), Some(b"cAched".to_vec()));
        e.set_contents(&["c", "@", "contents", "0"], {
            let mut c = b"cAched".to_vec();
            c.resize(512, 0);
            c
        })
        .unwrap();
        e.set_contents(&["c", "@", "length"], 6u64.to_be_bytes().to_vec())
            .unwrap();
        assert_eq!(d.tree().hash().unwrap(), e.hash().unwrap());
        // Read back from a store (expanded), then written within chunk 0:
        // compact again, through both write paths.
        let repo = Repo::new(Arc::new(MemStore::new()));
        let root = repo.commit(d.tree()).unwrap();
        let mut back = Durable::new(repo.checkout(root).unwrap());
        assert!(
            back.tree()
                .find(&["w", "@"])
                .unwrap()
                .unwrap()
                .as_compact_value()
                .is_none()
        );
        back.write(&k("/w"), 1, b"e").unwrap();
        {
            let mut cd = crate::durable::CachedDurable::new(&mut back);
            let mut v = cd.value(b"/s").unwrap().unwrap();
            v.write(3, b"x").unwrap();
            cd.flush().unwrap();
        }
        let mut e2 = d.clone();
        e2.write(&k("/w"), 1, b"e").unwrap();
        e2.write(&k("/s"), 3, b"x").unwrap();
        for key in ["w", "s"] {
            let at = back.tree().find(&[key, "@"]).unwrap().unwrap();
            assert!(at.as_compact_value().is_some(), "{key}");
        }
        assert_eq!(back.tree().hash().unwrap(), e2.tree().hash().unwrap());
        assert_eq!(back.read_all(&k("/w")).unwrap(), Some(b"Hello".to_vec()));
        // Past chunk 0: expanded, as Octez's tree.
        d.write(&k("/w"), 5, &[1; 600]).unwrap();
        assert!(
            d.tree()
                .find(&["w", "@"])
                .unwrap()
                .unwrap()
                .as_compact_value()
                .is_none()
        );
        assert_eq!(d.value_size(&k("/w")).unwrap(), Some(605));
        assert_eq!(d.read(&k("/w"), 0, 6).unwrap(), Some(b"HEllo\x01".to_vec()));
    }
    /// A key node whose only child is a compact `@` holds it as one node:
    /// durable reads do not build the `@` node, and hashes, objects, reads
    /// and changes are those of the expanded tree.
    #[test]
    fn key_nodes_hold_their_compact_value() {
        let k = |s: &str| Key::from_str_checked(s).unwrap();
        let held = |d: &Durable, key: &str| {
            let node = d.tree().find(&[key]).unwrap().unwrap();
            node.as_key_value().map(|v| v.expanded().is_some())
        };
        let mut d = Durable::default();
        d.write(&k("/w"), 0, b"hello").unwrap();
        d.set(&k("/s"), &[7; 300]).unwrap();
        d.write(&k("/o"), 0, b"abc").unwrap();
        d.write(&k("/o"), 2, b"CD").unwrap();
        d.set(&k("/big"), &[1; 600]).unwrap();
        // The expanded tree: value `bytes` of `len` bytes at `path`.
        let set = |e: &mut Tree, path: &[&str], len: u64, bytes: &[u8]| {
            for (i, part) in bytes.chunks(512).enumerate() {
                let mut c = part.to_vec();
                c.resize(512, 0);
                let name = i.to_string();
                let mut p = path.to_vec();
                p.extend(["@", "contents", &name]);
                e.set_contents(&p, c).unwrap();
            }
            let mut p = path.to_vec();
            p.extend(["@", "length"]);
            e.set_contents(&p, len.to_be_bytes().to_vec()).unwrap();
        };
        let mut e = Tree::empty();
        set(&mut e, &["w"], 5, b"hello");
        set(&mut e, &["s"], 300, &[7; 300]);
        set(&mut e, &["o"], 4, b"abCD");
        set(&mut e, &["big"], 600, &[1; 600]);
        for key in ["w", "s", "o"] {
            assert_eq!(held(&d, key), Some(false), "{key}");
        }
        assert_eq!(held(&d, "big"), None);
        // Durable reads answer from the value itself.
        assert_eq!(d.read(&k("/o"), 1, 9).unwrap(), Some(b"bCD".to_vec()));
        assert_eq!(d.value_size(&k("/s")).unwrap(), Some(300));
        assert!(d.has_value(&k("/w")).unwrap());
        assert!(!d.has_value(&k("/w/x")).unwrap());
        d.write(&k("/s"), 299, b"xy").unwrap();
        let mut s2 = vec![7; 299];
        s2.extend_from_slice(b"xy");
        set(&mut e, &["s"], 301, &s2);
        for key in ["w", "s", "o"] {
            assert_eq!(held(&d, key), Some(false), "{key}");
        }
        let t = d.tree().clone();
        same_reads(&t, &e);
        same_objects(&t, &e);
        // Reads through `Tree` build the `@` node once, and commit alike.
        let mut w = b"hello".to_vec();
        w.resize(512, 0);
        assert_eq!(
            d.tree().get_contents(&["w", "@", "contents", "0"]).unwrap(),
            Some(w)
        );
        assert_eq!(d.tree().list(&["w"]).unwrap().len(), 1);
        assert_eq!(held(&d, "w"), Some(true));
        assert_eq!(d.read_all(&k("/w")).unwrap(), Some(b"hello".to_vec()));
        same_objects(&t, &e);
        // Changes next to `@` or below it expand the key node first.
        let repo = Repo::new(Arc::new(MemStore::new()));
        repo.commit(d.tree()).unwrap();
        d.set(&k("/w/x"), b"sub").unwrap();
        d.write(&k("/o"), 4, &[2; 596]).unwrap();
        d.delete(&k("/s")).unwrap();
        assert_eq!(held(&d, "w"), None);
        assert_eq!(held(&d, "o"), None);
        set(&mut e, &["w", "x"], 3, b"sub");
        let mut o = b"abCD".to_vec();
        o.extend_from_slice(&[2; 596]);
        set(&mut e, &["o"], 600, &o);
        e.remove(&["s"]).unwrap();
        assert_eq!(d.tree().hash().unwrap(), e.hash().unwrap());
        let root = repo.commit(d.tree()).unwrap();
        let back = repo.checkout(root).unwrap();
        same_reads(&back, &e);
        assert_eq!(back.hash().unwrap(), root);
        // Key nodes in a trie (a large directory): the same root and
        // objects as the expanded tree, then after a lazy reload and writes.
        let mut d = Durable::default();
        let mut e = Tree::empty();
        for i in 0..300u32 {
            let name = format!("{:040x}", u64::from(i) * 0x9e37_79b9);
            let v = i.to_be_bytes().repeat(1 + (i % 40) as usize);
            d.write(&k(&format!("/d/{name}")), 0, &v).unwrap();
            set(&mut e, &["d", &name], v.len() as u64, &v);
        }
        assert!(d.tree().find(&["d"]).unwrap().unwrap().length(&[]).unwrap() == 300);
        let (sd, se) = (Arc::new(MemStore::new()), Arc::new(MemStore::new()));
        let (rd, re) = (Repo::new(sd.clone()), Repo::new(se.clone()));
        let root = rd.commit(d.tree()).unwrap();
        assert_eq!(root, re.commit(&e).unwrap());
        assert_eq!(sd.object_count().unwrap(), se.object_count().unwrap());
        let mut back = Durable::new(rd.checkout(root).unwrap());
        for i in (0..300u32).step_by(7) {
            let name = format!("{:040x}", u64::from(i) * 0x9e37_79b9);
            back.write(&k(&format!("/d/{name}")), 0, b"new").unwrap();
            let mut v = i.to_be_bytes().repeat(1 + (i % 40) as usize);
            v[..3].copy_from_slice(b"new");
            set(&mut e, &["d", &name], v.len() as u64, &v);
            let node = back.tree().find(&["d", &name]).unwrap().unwrap();
            assert!(node.as_key_value().is_some(), "{i}");
        }
        let root = rd.commit(back.tree()).unwrap();
        assert_eq!(root, re.commit(&e).unwrap());
        assert_eq!(sd.object_count().unwrap(), se.object_count().unwrap());
    }
}

#[cfg(test)]
mod hex_name_tests {
    use std::sync::Arc;

    use super::*;
    use crate::{MemStore, Repo};

    /// Packed hex names (`inode::Name`) encode, load and list as written.
    #[test]
    fn hex_names_round_trip_through_a_store() {
        let mut t = Tree::empty();
        let mut names = Vec::new();
        for i in 0..60u64 {
            let name = match i % 3 {
                0 => format!("{:040x}", i * 0x1234_5678_9abc),
                1 => format!("{:064x}", i * 0x1234_5678_9abc),
                _ => format!("{i:044x}"),
            };
            t.set_contents(&["d", &name], vec![i as u8; 3]).unwrap();
            t.set_contents(&["s", &name, "x"], vec![i as u8; 3])
                .unwrap();
            names.push(name);
        }
        names.sort();
        let repo = Repo::new(Arc::new(MemStore::new()));
        let root = repo.commit(&t).unwrap();
        assert_eq!(root, t.hash().unwrap());
        let back = repo.checkout(root).unwrap();
        for tree in [&t, &back] {
            let listed: Vec<String> = tree
                .list(&["d"])
                .unwrap()
                .into_iter()
                .map(|x| x.0)
                .collect();
            assert_eq!(listed, names);
            let listed: Vec<String> = tree
                .list(&["s"])
                .unwrap()
                .into_iter()
                .map(|x| x.0)
                .collect();
            assert_eq!(listed, names);
            for (i, n) in names.iter().enumerate() {
                assert!(tree.get_contents(&["d", n]).unwrap().is_some(), "{i}");
            }
        }
        assert_eq!(back.hash().unwrap(), root);
    }
}
