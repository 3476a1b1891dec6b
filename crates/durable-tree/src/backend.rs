//! Object stores: the [`NodeStore`] trait, its streamed [`BatchWriter`], the
//! in-memory [`MemStore`] and the [`StoreError`]s of every backend. Stores
//! hold opaque bytes addressed by Irmin hash; what the bytes mean is
//! [`crate::object`]'s business.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock};

use context_hash::Hash;

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
    /// A store file holds damaged data that had been synced (crate `pack-store`'s
    /// `DiskStore`): never dropped silently.
    #[error("{0}")]
    Corrupted(Box<StoreCorruption>),
}

/// Damage found in a store file: bytes before the end of the synced batches (so written
/// whole and synced) that no longer read back as valid records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCorruption {
    /// The store file.
    pub file: std::path::PathBuf,
    /// Start of the damaged batch: the first byte not known good.
    pub offset: u64,
    /// End of the synced batches (from the synced mark; for a version-1
    /// file, the file length).
    pub synced: u64,
    /// What is wrong, and where.
    pub detail: String,
}

impl std::fmt::Display for StoreCorruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is corrupted at byte offset {}: {} (the file was synced up to byte {}; \
             the batches from offset {} on cannot be used)",
            self.file.display(),
            self.offset,
            self.detail,
            self.synced,
            self.offset
        )
    }
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
#[derive(Default, Clone, Copy, Debug)]
pub struct BuildPrefix;

/// The hasher of [`BuildPrefix`]: the last 8 bytes written, as a big-endian word.
#[derive(Default, Debug)]
pub struct PrefixHasher(u64);

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
}
