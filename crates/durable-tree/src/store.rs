//! Object stores: the [`NodeStore`] trait, the in-memory [`MemStore`], and
//! our own compact object encoding.
//!
//! Objects are addressed by their Irmin hash (the one [`crate::Tree::hash`]
//! computes); the bytes stored are our format, not Irmin's:
//!
//! * contents object: `b'C' ‖ bytes`;
//! * inode object (large nodes, see [`encode_inode`]): `b'I' ‖ …`;
//! * node object: `b'N' ‖ LEB128 entry count ‖ entries`, each entry being
//!   `LEB128 name length ‖ name ‖ tag ‖ 32-byte hash` where `tag` is
//!   `0` (node object), `1` (contents object) or `2` (contents inlined:
//!   followed by `LEB128 length ‖ bytes`; no separate object exists).
//!
//! Contents of at most [`INLINE_MAX`] bytes are inlined in their parent node
//! (durable `@/length` values, small flags), larger ones (512-byte chunks)
//! are objects of their own so that identical chunks are shared.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use context_hash::Hash;

use crate::inode::{Children, Inode, InodeTree, LazyInode, Name, leaf};
use crate::tree::{ContentsData, Kind, NodeData, Tree, TreeError};

/// Contents up to this size are inlined in their parent node object.
pub const INLINE_MAX: usize = 64;

const TAG_CONTENTS_OBJ: u8 = b'C';
const TAG_NODE_OBJ: u8 = b'N';
const TAG_INODE_OBJ: u8 = b'I';
const SIDE_EMPTY: u8 = 0;
const SIDE_VALUES: u8 = 1;
const SIDE_TREE: u8 = 2;
const ENTRY_NODE: u8 = 0;
const ENTRY_CONTENTS: u8 = 1;
const ENTRY_INLINE: u8 = 2;

/// Operational errors of an object store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An object the tree refers to is not in the store.
    #[error("object {0} missing from the store")]
    Missing(Hash),
    /// An object's bytes do not decode.
    #[error("object {0} is corrupt: {1}")]
    Corrupt(Hash, &'static str),
    /// File-system error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The storage engine failed.
    #[error("storage engine error: {0}")]
    Backend(String),
}

/// A content-addressed store of serialised tree objects.
///
/// Implementations must make [`NodeStore::write_batch`] atomic: after a crash
/// either every object and root of the batch is present, or none is.
pub trait NodeStore: Send + Sync {
    /// The object stored under `hash`, if any.
    fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError>;
    /// Whether an object is stored under `hash`.
    fn contains(&self, hash: &Hash) -> Result<bool, StoreError>;
    /// Atomically store `objects` (idempotent for existing hashes) and
    /// record each of `roots` as a committed root.
    fn write_batch(&self, objects: &[(Hash, Vec<u8>)], roots: &[Hash]) -> Result<(), StoreError>;
    /// The recorded committed roots, sorted.
    fn roots(&self) -> Result<Vec<Hash>, StoreError>;
    /// Atomically delete every object for which `live` is false, and every
    /// recorded root not in `keep_roots`. Returns the number of objects
    /// deleted.
    fn retain(&self, live: &dyn Fn(&Hash) -> bool, keep_roots: &[Hash]) -> Result<u64, StoreError>;
    /// Number of stored objects.
    fn object_count(&self) -> Result<u64, StoreError>;
    /// With `on`, commits no longer sync the store each (they stay atomic:
    /// a crash of the process loses nothing written; after a power loss the
    /// batches since the last [`NodeStore::sync`] may be lost, whole).
    /// Default: ignored (every commit is durable).
    fn set_deferred_sync(&self, _on: bool) {}
    /// Make every committed batch durable. Default: nothing to do.
    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Start a streamed batch: objects are handed over one at a time as a
    /// commit produces them (so a commit never holds all its objects in
    /// memory), then [`BatchWriter::commit`] makes them durable with the
    /// roots, with the same atomicity as [`NodeStore::write_batch`].
    /// Dropping the writer without committing abandons the batch. The
    /// default buffers the objects and calls [`NodeStore::write_batch`].
    fn begin_batch(&self) -> Result<Box<dyn BatchWriter + '_>, StoreError> {
        Ok(Box::new(BufferedBatch {
            store: self,
            objects: Vec::new(),
        }))
    }
}

/// A batch being streamed into a [`NodeStore`] ([`NodeStore::begin_batch`]).
pub trait BatchWriter {
    /// Add an object; objects already stored or already added are skipped.
    fn add(&mut self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError>;
    /// Atomically make every added object durable and record `roots` as
    /// committed roots.
    fn commit(self: Box<Self>, roots: &[Hash]) -> Result<(), StoreError>;
}

/// The default [`BatchWriter`]: buffers, then one [`NodeStore::write_batch`].
struct BufferedBatch<'a, S: ?Sized> {
    store: &'a S,
    objects: Vec<(Hash, Vec<u8>)>,
}

impl<S: NodeStore + ?Sized> BatchWriter for BufferedBatch<'_, S> {
    fn add(&mut self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        self.objects.push((*hash, bytes.to_vec()));
        Ok(())
    }

    fn commit(self: Box<Self>, roots: &[Hash]) -> Result<(), StoreError> {
        self.store.write_batch(&self.objects, roots)
    }
}

/// [`MemStore`]'s batch: objects are buffered (already in their final
/// shared form) and inserted under one lock at commit.
struct MemBatch<'a> {
    store: &'a MemStore,
    objects: Vec<(Hash, Arc<[u8]>)>,
}

impl BatchWriter for MemBatch<'_> {
    fn add(&mut self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        self.objects.push((*hash, Arc::from(bytes)));
        Ok(())
    }

    fn commit(self: Box<Self>, roots: &[Hash]) -> Result<(), StoreError> {
        let mut inner = self.store.write();
        inner.objects.reserve(self.objects.len());
        for (h, b) in self.objects {
            inner.objects.entry(h).or_insert(b);
        }
        for r in roots {
            inner.roots.insert(*r, ());
        }
        Ok(())
    }
}

/// An in-memory [`NodeStore`] (tests, proofs, ephemeral trees).
#[derive(Default)]
pub struct MemStore {
    inner: RwLock<MemInner>,
}

/// The prefix of a blake2b hash is already uniformly distributed: use it as
/// is instead of hashing it again (for maps keyed by a hash or its first 8
/// bytes).
#[derive(Default, Clone, Copy)]
pub(crate) struct BuildPrefix;

#[derive(Default)]
pub(crate) struct PrefixHasher(u64);

impl std::hash::Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl std::hash::BuildHasher for BuildPrefix {
    type Hasher = PrefixHasher;
    fn build_hasher(&self) -> PrefixHasher {
        PrefixHasher(0)
    }
}

#[derive(Default)]
struct MemInner {
    objects: HashMap<Hash, Arc<[u8]>, BuildPrefix>,
    roots: BTreeMap<Hash, ()>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemInner> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way that matters (inserts are idempotent), so ignore poison.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, MemInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl NodeStore for MemStore {
    fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read().objects.get(hash).map(|b| b.to_vec()))
    }

    fn contains(&self, hash: &Hash) -> Result<bool, StoreError> {
        Ok(self.read().objects.contains_key(hash))
    }

    fn write_batch(&self, objects: &[(Hash, Vec<u8>)], roots: &[Hash]) -> Result<(), StoreError> {
        let mut inner = self.write();
        for (h, b) in objects {
            inner
                .objects
                .entry(*h)
                .or_insert_with(|| Arc::from(b.as_slice()));
        }
        for r in roots {
            inner.roots.insert(*r, ());
        }
        Ok(())
    }

    fn roots(&self) -> Result<Vec<Hash>, StoreError> {
        Ok(self.read().roots.keys().copied().collect())
    }

    fn retain(&self, live: &dyn Fn(&Hash) -> bool, keep_roots: &[Hash]) -> Result<u64, StoreError> {
        let mut inner = self.write();
        let before = inner.objects.len();
        inner.objects.retain(|h, _| live(h));
        inner.roots.retain(|h, _| keep_roots.contains(h));
        Ok((before - inner.objects.len()) as u64)
    }

    fn object_count(&self) -> Result<u64, StoreError> {
        Ok(self.read().objects.len() as u64)
    }

    fn begin_batch(&self) -> Result<Box<dyn BatchWriter + '_>, StoreError> {
        Ok(Box::new(MemBatch {
            store: self,
            objects: Vec::new(),
        }))
    }
}

/// A store handle shared by every lazy tree loaded from it.
///
/// Nodes known to be stored in this store carry its current *mark* (a
/// process-wide unique number). A commit marks each node right after
/// handing its object to the store; if the commit then fails, the handle
/// takes a fresh mark, which invalidates every mark at once (the next
/// commit rewrites what is loaded; correctness never depends on a mark of
/// an uncommitted batch). Commits through one handle are serialised by
/// `commit`, so no commit can see another's not-yet-durable marks.
pub(crate) struct StoreHandle {
    mark: AtomicU64,
    pub(crate) store: Arc<dyn NodeStore>,
    pub(crate) commit: Mutex<()>,
}

fn fresh_mark() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl StoreHandle {
    pub(crate) fn new(store: Arc<dyn NodeStore>) -> Arc<Self> {
        Arc::new(StoreHandle {
            mark: AtomicU64::new(fresh_mark()),
            store,
            commit: Mutex::new(()),
        })
    }

    /// The current mark of nodes persisted in this store.
    pub(crate) fn mark(&self) -> u64 {
        self.mark.load(Ordering::Acquire)
    }

    /// Forget every mark (after a failed commit).
    pub(crate) fn invalidate_marks(&self) {
        self.mark.store(fresh_mark(), Ordering::Release);
    }
}

// ---------------------------------------------------------------- codec

fn put_leb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn leb(&mut self) -> Option<u64> {
        let mut n: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            if shift >= 64 {
                return None;
            }
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
            shift += 7;
        }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn hash(&mut self) -> Option<Hash> {
        let mut h = [0u8; 32];
        h.copy_from_slice(self.take(32)?);
        Some(Hash(h))
    }
}

/// Append a contents object to `out`.
pub(crate) fn put_contents_obj(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 1);
    out.push(TAG_CONTENTS_OBJ);
    out.extend_from_slice(bytes);
}

/// One entry of a node or inode object being encoded.
pub(crate) enum EncEntry<'a> {
    /// A child stored as its own object.
    ByHash(Kind, Hash),
    /// Small contents inlined (with its hash).
    Inline(Hash, &'a [u8]),
}

/// Append one entry (of a node object or a `Values` side).
pub(crate) fn put_entry(out: &mut Vec<u8>, name: &[u8], e: &EncEntry<'_>) {
    put_leb(out, name.len() as u64);
    out.extend_from_slice(name);
    match e {
        EncEntry::ByHash(kind, h) => {
            out.push(match kind {
                Kind::Node => ENTRY_NODE,
                Kind::Contents => ENTRY_CONTENTS,
            });
            out.extend_from_slice(&h.0);
        }
        EncEntry::Inline(h, bytes) => {
            out.push(ENTRY_INLINE);
            out.extend_from_slice(&h.0);
            put_leb(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
    }
}

/// Append the header of a flat node object of `len` entries (the entries
/// follow, in name order, see [`put_entry`]).
pub(crate) fn put_node_header(out: &mut Vec<u8>, len: usize) {
    out.push(TAG_NODE_OBJ);
    put_leb(out, len as u64);
}

/// Append the header of a `Tree` inode object (also the root object of a
/// large node): `b'I' ‖ LEB128 depth ‖ LEB128 len`, followed by two sides,
/// each `0` (empty, [`put_side_empty`]), `1 ‖ LEB128 count ‖ entries`
/// (values, [`put_side_values`]) or `2 ‖ hash ‖ LEB128 len` (sub-inode
/// object, [`put_side_tree`]).
pub(crate) fn put_inode_header(out: &mut Vec<u8>, depth: u32, len: u64) {
    out.push(TAG_INODE_OBJ);
    put_leb(out, u64::from(depth));
    put_leb(out, len);
}

/// Append an empty inode side.
pub(crate) fn put_side_empty(out: &mut Vec<u8>) {
    out.push(SIDE_EMPTY);
}

/// Append the header of a `Values` inode side of `count` entries.
pub(crate) fn put_side_values(out: &mut Vec<u8>, count: usize) {
    out.push(SIDE_VALUES);
    put_leb(out, count as u64);
}

/// Append a side referring to a sub-inode object.
pub(crate) fn put_side_tree(out: &mut Vec<u8>, h: &Hash, len: u64) {
    out.push(SIDE_TREE);
    out.extend_from_slice(&h.0);
    put_leb(out, len);
}

/// A decoded entry: name, tag, hash, inline bytes.
struct RawEntry<'a> {
    name: &'a str,
    tag: u8,
    hash: Hash,
    inline: &'a [u8],
}

impl<'a> Reader<'a> {
    fn entry(&mut self, obj: &Hash) -> Result<RawEntry<'a>, StoreError> {
        let corrupt = |m| StoreError::Corrupt(*obj, m);
        let nl = self.leb().ok_or(corrupt("bad name length"))?;
        let name = self
            .take(usize::try_from(nl).map_err(|_| corrupt("name too long"))?)
            .ok_or(corrupt("truncated name"))?;
        let name = std::str::from_utf8(name).map_err(|_| corrupt("name not utf-8"))?;
        let tag = self.byte().ok_or(corrupt("truncated entry"))?;
        let hash = self.hash().ok_or(corrupt("truncated hash"))?;
        let inline: &[u8] = match tag {
            ENTRY_NODE | ENTRY_CONTENTS => &[],
            ENTRY_INLINE => {
                let l = self.leb().ok_or(corrupt("bad inline length"))?;
                self.take(usize::try_from(l).map_err(|_| corrupt("inline too long"))?)
                    .ok_or(corrupt("truncated inline contents"))?
            }
            _ => return Err(corrupt("unknown entry tag")),
        };
        Ok(RawEntry {
            name,
            tag,
            hash,
            inline,
        })
    }

    fn count(&mut self, obj: &Hash) -> Result<u64, StoreError> {
        let n = self.leb().ok_or(StoreError::Corrupt(*obj, "bad count"))?;
        // Each entry takes at least 34 bytes: reject absurd counts early.
        if n > (self.buf.len() as u64) {
            return Err(StoreError::Corrupt(*obj, "count exceeds object size"));
        }
        Ok(n)
    }

    fn end(&self, obj: &Hash) -> Result<(), StoreError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(StoreError::Corrupt(*obj, "trailing bytes"))
        }
    }
}

/// A decoded inode side.
enum RawSide<'a> {
    Empty,
    Values(Vec<RawEntry<'a>>),
    Tree(Hash, u64),
}

/// Decode the body of an inode object (after the tag).
fn read_inode<'a>(
    r: &mut Reader<'a>,
    obj: &Hash,
) -> Result<(u32, u64, [RawSide<'a>; 2]), StoreError> {
    let corrupt = |m| StoreError::Corrupt(*obj, m);
    let depth = r.leb().ok_or(corrupt("bad depth"))?;
    let depth = u32::try_from(depth).map_err(|_| corrupt("bad depth"))?;
    let len = r.leb().ok_or(corrupt("bad length"))?;
    let mut side = || -> Result<RawSide<'a>, StoreError> {
        match r.byte().ok_or(corrupt("truncated side"))? {
            SIDE_EMPTY => Ok(RawSide::Empty),
            SIDE_VALUES => {
                let n = r.count(obj)?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(r.entry(obj)?);
                }
                Ok(RawSide::Values(v))
            }
            SIDE_TREE => {
                let h = r.hash().ok_or(corrupt("truncated hash"))?;
                let l = r.leb().ok_or(corrupt("bad length"))?;
                Ok(RawSide::Tree(h, l))
            }
            _ => Err(corrupt("unknown side tag")),
        }
    };
    let s0 = side()?;
    let s1 = side()?;
    r.end(obj)?;
    Ok((depth, len, [s0, s1]))
}

/// Hashes of the objects an object refers to (not the inlined ones).
pub(crate) fn node_object_refs(hash: &Hash, bytes: &[u8]) -> Result<Vec<Hash>, StoreError> {
    let mut r = Reader { buf: bytes, pos: 1 };
    let mut refs = Vec::new();
    fn push(refs: &mut Vec<Hash>, e: &RawEntry<'_>) {
        if e.tag != ENTRY_INLINE {
            refs.push(e.hash);
        }
    }
    match bytes.first() {
        Some(&TAG_CONTENTS_OBJ) => {}
        Some(&TAG_NODE_OBJ) => {
            let n = r.count(hash)?;
            for _ in 0..n {
                push(&mut refs, &r.entry(hash)?);
            }
            r.end(hash)?;
        }
        Some(&TAG_INODE_OBJ) => {
            let (_, _, sides) = read_inode(&mut r, hash)?;
            for side in &sides {
                match side {
                    RawSide::Empty => {}
                    RawSide::Values(v) => v.iter().for_each(|e| push(&mut refs, e)),
                    RawSide::Tree(h, _) => refs.push(*h),
                }
            }
        }
        _ => return Err(StoreError::Corrupt(*hash, "unknown object tag")),
    }
    Ok(refs)
}

fn entry_tree(e: &RawEntry<'_>, handle: &Arc<StoreHandle>) -> Tree {
    match e.tag {
        ENTRY_NODE => Tree::lazy(e.hash, Kind::Node, handle.clone()),
        ENTRY_CONTENTS => Tree::lazy(e.hash, Kind::Contents, handle.clone()),
        _ => Tree::from_contents(ContentsData::new(
            e.inline.to_vec(),
            Some(e.hash),
            handle.mark(),
        )),
    }
}

fn inode_from_raw(
    obj: &Hash,
    depth: u32,
    len: u64,
    sides: [RawSide<'_>; 2],
    handle: &Arc<StoreHandle>,
) -> Result<Inode, StoreError> {
    let corrupt = |m| StoreError::Corrupt(*obj, m);
    let next = depth.checked_add(1).ok_or(corrupt("depth overflow"))?;
    let [s0, s1] = sides;
    let conv = |s: RawSide<'_>| -> Result<Option<Inode>, StoreError> {
        Ok(match s {
            RawSide::Empty => None,
            RawSide::Values(v) => Some(Inode::Values(
                leaf(v.iter().map(|e| (Name::new(e.name), entry_tree(e, handle))))
                    .map_err(|_| corrupt("values inode over 2 entries"))?,
            )),
            RawSide::Tree(h, l) => Some(Inode::Lazy(Arc::new(LazyInode::new(
                h,
                l,
                next,
                handle.clone(),
            )))),
        })
    };
    Ok(Inode::Tree(Arc::new(InodeTree::new(
        depth,
        len,
        [conv(s0)?, conv(s1)?],
        Some(*obj),
        handle.mark(),
    ))))
}

/// Load the `Tree` inode object `hash`, expected at `depth`.
pub(crate) fn load_inode(
    handle: &Arc<StoreHandle>,
    hash: &Hash,
    depth: u32,
) -> Result<Inode, TreeError> {
    let bytes = handle.store.get(hash)?.ok_or(StoreError::Missing(*hash))?;
    if bytes.first() != Some(&TAG_INODE_OBJ) {
        return Err(StoreError::Corrupt(*hash, "not an inode object").into());
    }
    let mut r = Reader {
        buf: &bytes,
        pos: 1,
    };
    let (d, len, sides) = read_inode(&mut r, hash)?;
    if d != depth {
        return Err(StoreError::Corrupt(*hash, "inode depth mismatch").into());
    }
    Ok(inode_from_raw(hash, d, len, sides, handle)?)
}

/// Load the object `hash` of kind `kind` as a tree whose children are lazy.
pub(crate) fn load_object(
    handle: &Arc<StoreHandle>,
    hash: &Hash,
    kind: Kind,
) -> Result<Tree, TreeError> {
    let bytes = handle.store.get(hash)?.ok_or(StoreError::Missing(*hash))?;
    let corrupt = |m| StoreError::Corrupt(*hash, m);
    let mut r = Reader {
        buf: &bytes,
        pos: 1,
    };
    match (kind, bytes.first()) {
        (Kind::Contents, Some(&TAG_CONTENTS_OBJ)) => {
            let mut bytes = bytes;
            bytes.remove(0);
            Ok(Tree::from_contents(ContentsData::new(
                bytes,
                Some(*hash),
                handle.mark(),
            )))
        }
        (Kind::Node, Some(&TAG_NODE_OBJ)) => {
            let n = r.count(hash)?;
            let mut children: Vec<(Name, Tree)> =
                Vec::with_capacity(usize::try_from(n).map_err(|_| corrupt("bad count"))?);
            for _ in 0..n {
                let e = r.entry(hash)?;
                if children
                    .last()
                    .is_some_and(|(p, _)| p.as_bytes() >= e.name.as_bytes())
                {
                    return Err(corrupt("node entries not sorted").into());
                }
                children.push((Name::new(e.name), entry_tree(&e, handle)));
            }
            r.end(hash)?;
            Ok(Tree::from_node(NodeData::new(
                Children::Flat(children),
                Some(*hash),
                handle.mark(),
            )))
        }
        (Kind::Node, Some(&TAG_INODE_OBJ)) => {
            let (d, len, sides) = read_inode(&mut r, hash)?;
            if d != 0 || len <= 2 {
                return Err(corrupt("bad root inode").into());
            }
            let root = inode_from_raw(hash, d, len, sides, handle)?;
            Ok(Tree::from_node(NodeData::new(
                Children::Trie(root),
                Some(*hash),
                handle.mark(),
            )))
        }
        _ => Err(corrupt("object kind mismatch").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb_round_trip() {
        for n in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut v = Vec::new();
            put_leb(&mut v, n);
            let mut r = Reader { buf: &v, pos: 0 };
            assert_eq!(r.leb(), Some(n));
            assert_eq!(r.pos, v.len());
        }
    }

    #[test]
    fn truncated_node_is_corrupt() {
        let h = Hash([1; 32]);
        let mut obj = Vec::new();
        put_node_header(&mut obj, 1);
        put_entry(&mut obj, b"a", &EncEntry::ByHash(Kind::Node, Hash([2; 32])));
        assert_eq!(node_object_refs(&h, &obj).unwrap(), vec![Hash([2; 32])]);
        let cut = &obj[..obj.len() - 1];
        assert!(matches!(
            node_object_refs(&h, cut),
            Err(StoreError::Corrupt(..))
        ));
        assert!(matches!(
            node_object_refs(&h, b"X"),
            Err(StoreError::Corrupt(..))
        ));
    }
}
