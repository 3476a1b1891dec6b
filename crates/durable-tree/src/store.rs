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
    /// A pack file holds damaged data that had been synced
    /// ([`crate::DiskStore`]): never dropped silently.
    #[error("{0}")]
    Corrupted(Box<crate::pack::PackCorruption>),
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

/// [`MemStore`] segments are filled up to this size (a larger object gets
/// a segment of its own).
const SEG_MAX: usize = 1 << 20;

/// A batch whose bytes fit in this much is appended to the store's last
/// segment at commit (if that one has room) instead of adding a segment.
const SEG_SMALL: usize = 64 << 10;

/// Where a [`MemStore`] object's bytes are: `segments[seg][off..off + len]`.
#[derive(Clone, Copy)]
struct Loc {
    seg: u32,
    off: u32,
    len: u32,
}

/// A [`MemStore`] index key: hashed by its 8-byte prefix (already uniform,
/// see [`BuildPrefix`]) in one step.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key(Hash);

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0.0[..8]);
        state.write_u64(u64::from_le_bytes(b));
    }
}

fn too_big() -> StoreError {
    StoreError::Backend("object or segment over 4 GiB".to_string())
}

fn to_u32(n: usize) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| too_big())
}

/// [`MemStore`]'s batch: object bytes are appended to the batch's own
/// segments (no allocation per object) and the objects are indexed under
/// one lock at commit, so nothing of a dropped batch is ever visible.
struct MemBatch<'a> {
    store: &'a MemStore,
    /// Full segments of this batch.
    full: Vec<Vec<u8>>,
    /// The segment being filled (number `full.len()` of this batch).
    cur: Vec<u8>,
    /// Objects added, `seg` numbering this batch's segments.
    objects: Vec<(Key, Loc)>,
}

impl BatchWriter for MemBatch<'_> {
    fn add(&mut self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        let len = to_u32(bytes.len())?;
        if !self.cur.is_empty() && self.cur.len().saturating_add(bytes.len()) > SEG_MAX {
            let next = Vec::with_capacity(SEG_MAX.max(bytes.len()));
            self.full.push(std::mem::replace(&mut self.cur, next));
        }
        let loc = Loc {
            seg: to_u32(self.full.len())?,
            off: to_u32(self.cur.len())?,
            len,
        };
        self.cur.extend_from_slice(bytes);
        self.objects.push((Key(*hash), loc));
        Ok(())
    }

    fn commit(self: Box<Self>, roots: &[Hash]) -> Result<(), StoreError> {
        let MemBatch {
            store,
            mut full,
            mut cur,
            mut objects,
        } = *self;
        let mut guard = store.write();
        let inner = &mut *guard;
        // Batch segment `i` becomes store segment `base + i`; a small
        // batch goes at offset `shift` of the store's last segment.
        let (base, shift) = match inner.segments.last_mut() {
            Some(last)
                if full.is_empty()
                    && cur.len() <= SEG_SMALL
                    && last.len().saturating_add(cur.len()) <= SEG_MAX =>
            {
                let shift = to_u32(last.len())?;
                last.extend_from_slice(&cur);
                (inner.segments.len() - 1, shift)
            }
            _ => {
                if cur.capacity() - cur.len() > cur.len() / 8 {
                    cur.shrink_to_fit();
                }
                full.push(cur);
                let base = inner.segments.len();
                to_u32(base.saturating_add(full.len()))?;
                inner.segments.append(&mut full);
                (base, 0)
            }
        };
        let base = to_u32(base)?;
        inner.objects.reserve(objects.len());
        for (key, mut loc) in objects.drain(..) {
            // In range (segment count and length checked above): no error
            // can leave the batch half indexed.
            loc.seg = loc.seg.checked_add(base).ok_or_else(too_big)?;
            loc.off = loc.off.checked_add(shift).ok_or_else(too_big)?;
            match inner.objects.entry(key) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(loc);
                }
                // Already stored (or added earlier in this batch): its
                // copy here is dead bytes.
                std::collections::hash_map::Entry::Occupied(_) => {
                    inner.dead = inner.dead.saturating_add(u64::from(loc.len));
                }
            }
        }
        if inner.dead > SEG_MAX as u64 {
            // Past two thirds dead: compaction brings it under one half, so
            // it runs again only after a third of the store has gone dead
            // (amortised constant cost per byte).
            let total: u64 = inner.segments.iter().map(|s| s.len() as u64).sum();
            if inner.dead.saturating_mul(3) > total.saturating_mul(2) {
                // Only reclaims memory: it fails (segment count over u32)
                // before changing anything, and the batch is in already.
                let _ = inner.compact();
            }
        }
        for r in roots {
            inner.roots.insert(*r, ());
        }
        drop(guard);
        store.recycle(objects);
        Ok(())
    }
}

/// An in-memory [`NodeStore`] (tests, proofs, ephemeral trees).
///
/// Object bytes live in shared segments (one or a few per batch) indexed by
/// hash. Compaction moves the survivors of every segment that is less than
/// half live into fresh segments; it runs at each [`NodeStore::retain`] and
/// when a commit leaves over two thirds of the bytes dead (objects added
/// again), so memory stays within about three times the live bytes.
#[derive(Default)]
pub struct MemStore {
    inner: RwLock<MemInner>,
    /// The object list of the last batch, emptied, for the next one (a
    /// fresh one would page-fault its memory in again each batch).
    spare: Mutex<Vec<(Key, Loc)>>,
}

/// Largest batch object list kept for reuse ([`MemStore::spare`]).
const SPARE_MAX: usize = 1 << 16;

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
    objects: HashMap<Key, Loc, BuildPrefix>,
    segments: Vec<Vec<u8>>,
    /// Bytes of the segments no object refers to (objects added again by a
    /// batch, or deleted): [`MemInner::compact`] runs when they pass half
    /// of the segments' bytes.
    dead: u64,
    roots: BTreeMap<Hash, ()>,
}

impl MemInner {
    fn bytes(&self, loc: Loc) -> Option<&[u8]> {
        let off = loc.off as usize;
        self.segments
            .get(loc.seg as usize)?
            .get(off..off.checked_add(loc.len as usize)?)
    }

    /// Move the live objects of every segment under half live into fresh
    /// segments, and drop the dead segments.
    fn compact(&mut self) -> Result<(), StoreError> {
        // Checked before changing anything: every fresh segment holds at
        // least one object, so no segment number below can overflow.
        to_u32(self.segments.len().saturating_add(self.objects.len()))?;
        let mut live = vec![0u64; self.segments.len()];
        for loc in self.objects.values() {
            live[loc.seg as usize] += u64::from(loc.len);
        }
        let mut old = std::mem::take(&mut self.segments);
        // Where each kept old segment goes (`u32::MAX`: compacted).
        let mut remap = vec![u32::MAX; old.len()];
        let mut to_copy = 0u64;
        for (i, seg) in old.iter_mut().enumerate() {
            let (l, len) = (live[i], seg.len() as u64);
            if l > 0 && l.saturating_mul(2) >= len {
                remap[i] = to_u32(self.segments.len())?;
                self.segments.push(std::mem::take(seg));
            } else {
                to_copy += l;
            }
        }
        let fresh_cap = |left: u64| usize::try_from(left).unwrap_or(usize::MAX).min(SEG_MAX);
        let mut cur: Vec<u8> = Vec::with_capacity(fresh_cap(to_copy));
        for loc in self.objects.values_mut() {
            let new = remap[loc.seg as usize];
            if new != u32::MAX {
                loc.seg = new;
                continue;
            }
            let off = loc.off as usize;
            let end = off.checked_add(loc.len as usize).ok_or_else(too_big)?;
            let bytes = &old[loc.seg as usize][off..end];
            if !cur.is_empty() && cur.len().saturating_add(bytes.len()) > SEG_MAX {
                let next = Vec::with_capacity(fresh_cap(to_copy).max(bytes.len()));
                self.segments.push(std::mem::replace(&mut cur, next));
            }
            *loc = Loc {
                seg: to_u32(self.segments.len())?,
                off: to_u32(cur.len())?,
                len: loc.len,
            };
            cur.extend_from_slice(bytes);
            to_copy -= u64::from(loc.len);
        }
        if !cur.is_empty() {
            self.segments.push(cur);
        }
        let total: u64 = self.segments.iter().map(|s| s.len() as u64).sum();
        let live: u64 = self.objects.values().map(|l| u64::from(l.len)).sum();
        self.dead = total.saturating_sub(live);
        Ok(())
    }
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

    /// Keep `objects` (emptied) for the next batch, unless it is large.
    fn recycle(&self, mut objects: Vec<(Key, Loc)>) {
        if objects.capacity() <= SPARE_MAX {
            objects.clear();
            *self.spare.lock().unwrap_or_else(|e| e.into_inner()) = objects;
        }
    }

    /// Number of byte segments (tests).
    #[cfg(test)]
    fn segment_count(&self) -> usize {
        self.read().segments.len()
    }
}

impl NodeStore for MemStore {
    fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.read();
        match inner.objects.get(&Key(*hash)) {
            None => Ok(None),
            Some(&loc) => match inner.bytes(loc) {
                Some(b) => Ok(Some(b.to_vec())),
                None => Err(StoreError::Corrupt(*hash, "index past its segment")),
            },
        }
    }

    fn contains(&self, hash: &Hash) -> Result<bool, StoreError> {
        Ok(self.read().objects.contains_key(&Key(*hash)))
    }

    fn write_batch(&self, objects: &[(Hash, Vec<u8>)], roots: &[Hash]) -> Result<(), StoreError> {
        let mut batch = self.begin_batch()?;
        for (h, b) in objects {
            batch.add(h, b)?;
        }
        batch.commit(roots)
    }

    fn roots(&self) -> Result<Vec<Hash>, StoreError> {
        Ok(self.read().roots.keys().copied().collect())
    }

    fn retain(&self, live: &dyn Fn(&Hash) -> bool, keep_roots: &[Hash]) -> Result<u64, StoreError> {
        let mut inner = self.write();
        let before = inner.objects.len();
        inner.objects.retain(|h, _| live(&h.0));
        inner.roots.retain(|h, _| keep_roots.contains(h));
        let deleted = (before - inner.objects.len()) as u64;
        inner.compact()?;
        Ok(deleted)
    }

    fn object_count(&self) -> Result<u64, StoreError> {
        Ok(self.read().objects.len() as u64)
    }

    fn begin_batch(&self) -> Result<Box<dyn BatchWriter + '_>, StoreError> {
        let objects = std::mem::take(&mut *self.spare.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(Box::new(MemBatch {
            store: self,
            full: Vec::new(),
            cur: Vec::with_capacity(SEG_SMALL),
            objects,
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

    /// A distinct hash per `i`, spread over its prefix like a real one.
    fn h(i: u32) -> Hash {
        let mut b = [0u8; 32];
        let x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        b[..8].copy_from_slice(&x.to_le_bytes());
        b[8..12].copy_from_slice(&i.to_le_bytes());
        Hash(b)
    }

    fn bytes(i: u32, len: usize) -> Vec<u8> {
        (0..len).map(|k| (k as u32 ^ i) as u8).collect()
    }

    #[test]
    fn mem_batches_share_segments() {
        let s = MemStore::new();
        // Small batches go into one segment.
        for i in 0..100 {
            s.write_batch(&[(h(i), bytes(i, 100))], &[h(i)]).unwrap();
        }
        assert_eq!(s.segment_count(), 1);
        // A batch spanning several segments, with an object larger than a
        // segment and duplicates (stored once).
        let mut b = s.begin_batch().unwrap();
        for i in 100..30_000 {
            b.add(&h(i), &bytes(i, 100)).unwrap();
            b.add(&h(i), &bytes(i, 100)).unwrap();
        }
        b.add(&h(1), &bytes(1, 100)).unwrap();
        b.add(&h(40_000), &bytes(7, SEG_MAX + 3)).unwrap();
        b.add(&h(40_001), b"").unwrap();
        b.commit(&[h(29_999)]).unwrap();
        assert!(s.segment_count() > 3);
        assert_eq!(s.object_count().unwrap(), 30_002);
        for i in (0..30_000).step_by(7) {
            assert_eq!(s.get(&h(i)).unwrap(), Some(bytes(i, 100)), "object {i}");
        }
        assert_eq!(s.get(&h(40_000)).unwrap(), Some(bytes(7, SEG_MAX + 3)));
        assert_eq!(s.get(&h(40_001)).unwrap(), Some(Vec::new()));
        assert_eq!(s.get(&h(50_000)).unwrap(), None);
        assert_eq!(s.roots().unwrap().len(), 101);
    }

    #[test]
    fn mem_abandoned_batch_is_invisible() {
        let s = MemStore::new();
        s.write_batch(&[(h(1), bytes(1, 10))], &[h(1)]).unwrap();
        let mut b = s.begin_batch().unwrap();
        for i in 2..20_000 {
            b.add(&h(i), &bytes(i, 150)).unwrap();
        }
        // Not visible before the commit, nor after the drop.
        assert!(!s.contains(&h(2)).unwrap());
        drop(b);
        assert_eq!(s.object_count().unwrap(), 1);
        assert_eq!(s.get(&h(2)).unwrap(), None);
        assert_eq!(s.roots().unwrap(), vec![h(1)]);
        assert_eq!(s.get(&h(1)).unwrap(), Some(bytes(1, 10)));
    }

    #[test]
    fn mem_retain_compacts_segments() {
        let s = MemStore::new();
        for batch in 0..4u32 {
            let mut b = s.begin_batch().unwrap();
            for i in batch * 20_000..(batch + 1) * 20_000 {
                b.add(&h(i), &bytes(i, 120)).unwrap();
            }
            b.commit(&[h(batch * 20_000)]).unwrap();
        }
        let total = |s: &MemStore| -> usize { s.read().segments.iter().map(Vec::len).sum() };
        assert_eq!(total(&s), 80_000 * 120);
        // Batch 0 all live, batch 1 mostly live, batches 2 and 3 mostly dead.
        let live = |x: &Hash| {
            let i = u32::from_le_bytes(x.0[8..12].try_into().unwrap());
            i < 20_000 || (i < 40_000 && i % 4 != 0) || i % 10 == 0
        };
        let deleted = s.retain(&live, &[h(0)]).unwrap();
        let kept = (0..80_000).filter(|&i| live(&h(i))).count();
        assert_eq!(deleted as usize, 80_000 - kept);
        assert_eq!(s.object_count().unwrap() as usize, kept);
        // Batches 2 and 3 were compacted away; batch 1 was kept whole.
        assert_eq!(total(&s), 40_000 * 120 + 4_000 * 120);
        for i in 0..80_000 {
            let want = live(&h(i)).then(|| bytes(i, 120));
            assert_eq!(s.get(&h(i)).unwrap(), want, "object {i}");
        }
        assert_eq!(s.roots().unwrap(), vec![h(0)]);
        // Everything dead: no segment left.
        s.retain(&|_| false, &[]).unwrap();
        assert_eq!(s.segment_count(), 0);
        s.write_batch(&[(h(3), bytes(3, 5))], &[]).unwrap();
        assert_eq!(s.get(&h(3)).unwrap(), Some(bytes(3, 5)));
    }

    #[test]
    fn mem_objects_added_again_do_not_pile_up() {
        // The same 1000 objects of 512 bytes committed again and again (as
        // a commit does for every node it cannot tell is stored).
        let s = MemStore::new();
        let total =
            |s: &MemStore| -> u64 { s.read().segments.iter().map(|g| g.len() as u64).sum() };
        let live = 1000 * 512;
        for _ in 0..60 {
            let mut b = s.begin_batch().unwrap();
            for i in 0..1000 {
                b.add(&h(i), &bytes(i, 512)).unwrap();
            }
            b.commit(&[]).unwrap();
            assert!(
                total(&s) <= 3 * live + SEG_MAX as u64,
                "{} bytes",
                total(&s)
            );
        }
        assert_eq!(s.object_count().unwrap(), 1000);
        for i in 0..1000 {
            assert_eq!(s.get(&h(i)).unwrap(), Some(bytes(i, 512)));
        }
    }

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
