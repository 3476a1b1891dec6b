//! A write-back cache of durable values for one `kernel_run` (reference: `wasm-pvm.md` §2 for
//! the value layout and host-function semantics; the tree it leaves is exactly the one the
//! plain [`Durable`] operations would).
//!
//! Kernels read and write the same values over and over, and walking the Merkle tree for every
//! host call (key steps, `@`, `contents`, chunk name, copy-on-write of the whole path) costs
//! several hundred nanoseconds. [`CachedDurable`] keeps, for each key the run touched, the
//! value's `@` node as it is in the tree plus the chunks written since, and applies them to the
//! tree when it [flushes](CachedDurable::flush).
//!
//! Rules:
//! * value operations ([`ValueRef`]: size, read, write, create, delete the value) only touch the
//!   cache; entries are found by the key's raw bytes, so a cached key is neither parsed nor
//!   allocated again;
//! * hashes flush every pending change first;
//! * structural queries ([`CachedDurable::structure`]: exists, children count and names) flush
//!   first only if a pending change adds or removes a value: other changes only edit `@` nodes,
//!   which no key path reaches (a key step never is `@`);
//! * subtree operations (delete, copy, move, [`CachedDurable::with_durable`]) flush, run on the
//!   tree, then mark the cached entries at or below the keys they touched absent or unknown;
//! * a flush applies the pending changes in bytewise key order, never in hash-map order, and
//!   materialises exactly what [`Durable::write`], [`Durable::create`] and
//!   [`Durable::delete_value`] would: the chunks a write touched (each a full, zero-padded
//!   [`CHUNK_SIZE`] chunk), `length`, and a fresh `@` for a created value.
//!
//! After a failed flush (a storage error) the cache refuses every further operation: the
//! caller's run is aborted and its state discarded.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};

use super::{CHUNK_SIZE, Durable, Key, KeyError, chunk_range, itoa, itoa_buf, value_length};
use crate::tree::{Kind, Tree, TreeError};
use context_hash::Hash;

/// [`CHUNK_SIZE`] as a `usize`.
const CHUNK: usize = CHUNK_SIZE as usize;

/// Bytes of absent chunks.
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// Entries kept at most (each costs about 100 bytes plus its written chunks): a kernel probing
/// ever new keys makes the cache flush and start afresh, which changes no result.
const MAX_ENTRIES: usize = 1 << 16;

/// Error of every operation after a failed flush.
const BROKEN: TreeError =
    TreeError::Precondition("durable cache used after a failed flush: discard the run");

/// Hasher of the key index: a folded multiply per 8 bytes with a random seed per cache
/// (several times faster than SipHash on short keys; the seed keeps kernel-chosen keys from
/// colliding on purpose). Only lookups depend on it, never the order of any result.
#[derive(Clone, Copy)]
struct KeyHasher {
    seed: u64,
    state: u64,
}

/// Odd 64-bit constant (the fractional part of pi).
const MULTIPLIER: u64 = 0x243f_6a88_85a3_08d3;

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let k = MULTIPLIER ^ self.seed;
        let mut h = self.state;
        let len = bytes.len();
        if len >= 8 {
            let mut i = 0;
            while i + 8 < len {
                h = fold(h ^ word(i), k);
                i += 8;
            }
            // The last 8 bytes, overlapping the previous word if needed (the length was
            // hashed first).
            h = fold(h ^ word(len - 8), k);
        } else if len > 0 {
            let w = bytes
                .iter()
                .rev()
                .fold(0u64, |w, &b| (w << 8) | u64::from(b));
            h = fold(h ^ w, k);
        }
        self.state = h;
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.state = fold(self.state ^ n as u64, MULTIPLIER ^ self.seed);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold(self.state, self.seed | 1)
    }
}

/// Builds [`KeyHasher`]s with one random seed.
#[derive(Clone, Copy)]
struct KeyHash {
    seed: u64,
    /// Tests: every key hashes alike, so that lookups walk collision chains.
    #[cfg(test)]
    collide: bool,
}

impl KeyHash {
    fn new() -> Self {
        KeyHash {
            seed: std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64),
            #[cfg(test)]
            collide: false,
        }
    }
}

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;

    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            seed: self.seed,
            state: self.seed.rotate_left(32),
        }
    }
}

impl KeyHash {
    /// Hash of a key's bytes (the index's key).
    #[inline]
    fn of(&self, key: &[u8]) -> u64 {
        #[cfg(test)]
        if self.collide {
            return 7;
        }
        let mut h = self.build_hasher();
        h.write_usize(key.len());
        h.write(key);
        h.finish()
    }
}

/// Hasher of the index's `u64` keys, already [`KeyHash`] values: the identity.
#[derive(Clone, Copy, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed; fold anything else anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`Prehashed`] hashers.
#[derive(Clone, Copy, Default)]
struct BuildPrehashed;

impl BuildHasher for BuildPrehashed {
    type Hasher = Prehashed;

    #[inline]
    fn build_hasher(&self) -> Prehashed {
        Prehashed(0)
    }
}

/// No entry (end of a collision chain).
const NONE: usize = usize::MAX;

/// What the cache knows about the value at a key.
enum State {
    /// Nothing: look in the tree at the next access.
    Unknown,
    /// No value.
    Absent,
    /// A value.
    Value(Value),
}

/// A value: the tree's `@` node and the chunks written since.
struct Value {
    /// The `@` node in the tree when loaded or last flushed; `None` for a value that replaces
    /// whatever the tree holds at the next flush (created, or written where none was).
    base: Option<Tree>,
    /// `base`'s `contents` child (the chunks not written since).
    contents: Option<Tree>,
    /// Current length in bytes.
    len: u64,
    /// Chunks written since `base`, each [`CHUNK_SIZE`] bytes.
    chunks: BTreeMap<u64, Box<[u8; CHUNK]>>,
}

struct Entry {
    key: Key,
    state: State,
    /// `state` differs from the tree (the entry is listed in `CachedDurable::dirty`).
    dirty: bool,
    /// The previous entry whose key has the same [`KeyHash`] value ([`NONE`] if none).
    next: usize,
}

/// A [`Durable`] with a write-back value cache, for the duration of one kernel run.
///
/// Dropping it flushes (see [`CachedDurable::flush`] to observe a failure).
pub struct CachedDurable<'a> {
    durable: &'a mut Durable,
    /// Hash of the key bytes ([`KeyHash::of`]) → index in `entries` of the last entry with
    /// that hash, the others chained through [`Entry::next`]: keys are compared with
    /// [`same_bytes`] (inlined), and no key bytes are allocated for the index.
    index: HashMap<u64, usize, BuildPrehashed>,
    /// Seeded hasher of the key bytes.
    hasher: KeyHash,
    entries: Vec<Entry>,
    /// Index of the entry found last (kernels often use a key twice in a row, e.g. get its
    /// size then read it): checked before hashing.
    last: usize,
    /// Indices of the dirty entries, each once.
    dirty: Vec<usize>,
    /// Some pending change adds or removes a value.
    structural: bool,
    /// A flush failed: every operation fails.
    broken: bool,
    /// Entry count at which the cache is flushed and emptied before adding one more.
    max_entries: usize,
}

/// One cached value slot, as returned by [`CachedDurable::value`].
pub struct ValueRef<'c> {
    index: usize,
    entry: &'c mut Entry,
    dirty: &'c mut Vec<usize>,
    structural: &'c mut bool,
}

/// Byte equality, inlined for short keys (no `memcmp` call).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in (&mut x).zip(&mut y) {
        if u64::from_ne_bytes(p.try_into().expect("8 bytes"))
            != u64::from_ne_bytes(q.try_into().expect("8 bytes"))
        {
            return false;
        }
    }
    x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q)
}

/// Whether `key` is `prefix` or below it.
fn is_under(key: &Key, prefix: &Key) -> bool {
    let (k, p) = (key.as_str().as_bytes(), prefix.as_str().as_bytes());
    k.starts_with(p) && (k.len() == p.len() || k[p.len()] == b'/')
}

/// The state of the value at `key` in `tree` (as [`Durable::value_size`] sees it).
fn load(tree: &Tree, key: &Key) -> Result<State, TreeError> {
    match tree.find(&key.value_path())? {
        None => Ok(State::Absent),
        Some(at) if at.kind() == Kind::Node => {
            let len = value_length(at, key)?;
            Ok(State::Value(Value {
                contents: contents_of(at)?,
                base: Some(at.clone()),
                len,
                chunks: BTreeMap::new(),
            }))
        }
        Some(_) => Err(TreeError::Malformed(key.to_string())),
    }
}

/// The `contents` child of the `@` node `at`; `None` for a compact value
/// (its chunk is read from `at` itself: [`Value::tree_chunk`]).
fn contents_of(at: &Tree) -> Result<Option<Tree>, TreeError> {
    if at.as_compact_value().is_some() {
        return Ok(None);
    }
    Ok(at.find(&["contents"])?.cloned())
}

impl Value {
    /// Apply `f` to chunk `i` as the tree holds it (`None`: not
    /// materialised there).
    fn tree_chunk<R>(&self, i: u64, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, TreeError> {
        if let Some(contents) = &self.contents {
            let mut buf = itoa_buf();
            return contents.with_contents(&[itoa(i, &mut buf)], f);
        }
        match self.base.as_ref().and_then(Tree::as_compact_value) {
            Some(v) if i == 0 => Ok(Some(f(&v.chunk().as_slice()))),
            _ => Ok(None),
        }
    }

    /// A new value with no chunk, replacing the tree's at the next flush.
    fn fresh(len: u64) -> Value {
        Value {
            base: None,
            contents: None,
            len,
            chunks: BTreeMap::new(),
        }
    }

    /// Hand the bytes `lo..hi` of chunk `i` to `f(position from lo, bytes)`, in order; absent
    /// bytes (no chunk, or a chunk shorter than [`CHUNK_SIZE`]) read as zeros.
    fn visit_chunk(
        &self,
        i: u64,
        lo: usize,
        hi: usize,
        mut f: impl FnMut(usize, &[u8]),
    ) -> Result<(), TreeError> {
        if let Some(c) = self.chunks.get(&i) {
            f(0, &c[lo..hi]);
            return Ok(());
        }
        let found = self.tree_chunk(i, |chunk| {
            let avail = chunk.len().min(hi).max(lo);
            if lo < avail {
                f(0, &chunk[lo..avail]);
            }
            if avail < hi {
                f(avail - lo, &ZEROS[..hi - avail]);
            }
        })?;
        if found.is_none() {
            f(0, &ZEROS[..hi - lo]);
        }
        Ok(())
    }

    /// Chunk `i` for writing: the written one, else the tree's (zero-padded), else zeros.
    #[inline]
    fn chunk_mut(&mut self, i: u64) -> Result<&mut [u8; CHUNK], TreeError> {
        use std::collections::btree_map::Entry as E;
        match self.chunks.entry(i) {
            E::Occupied(o) => Ok(o.into_mut()),
            E::Vacant(v) => {
                let mut c = Box::new([0u8; CHUNK]);
                let tree = match &self.contents {
                    Some(contents) => {
                        let mut buf = itoa_buf();
                        contents.with_contents(&[itoa(i, &mut buf)], |b| {
                            let n = b.len().min(CHUNK);
                            c[..n].copy_from_slice(&b[..n]);
                        })?;
                        None
                    }
                    None => self.base.as_ref().and_then(Tree::as_compact_value),
                };
                if let Some(t) = tree
                    && i == 0
                {
                    t.chunk().copy_to(0, &mut c[..]);
                }
                Ok(v.insert(c))
            }
        }
    }
}

impl ValueRef<'_> {
    /// The key of this slot.
    #[inline]
    pub fn key(&self) -> &Key {
        &self.entry.key
    }

    /// Length of the value, `None` if there is none (as [`Durable::value_size`]).
    #[inline]
    pub fn size(&self) -> Option<u64> {
        match &self.entry.state {
            State::Value(v) => Some(v.len),
            _ => None,
        }
    }

    /// Read `len` bytes at `offset` into `out` (replacing its contents), clipped to the end
    /// of the value, as [`Durable::read`]. `false` (and `out` empty) if there is no value.
    pub fn read_into(&self, offset: u64, len: u64, out: &mut Vec<u8>) -> Result<bool, TreeError> {
        out.clear();
        // The pieces come in order and cover the result exactly.
        let n = self.read_with(offset, len, |_, piece| out.extend_from_slice(piece))?;
        Ok(n.is_some())
    }

    /// [`ValueRef::read_into`] without a buffer: `f(position in the result, bytes)` is called
    /// on consecutive pieces covering the result. Returns the result's length, `None` if there
    /// is no value.
    pub fn read_with(
        &self,
        offset: u64,
        len: u64,
        mut f: impl FnMut(usize, &[u8]),
    ) -> Result<Option<usize>, TreeError> {
        let State::Value(v) = &self.entry.state else {
            return Ok(None);
        };
        if offset >= v.len || len == 0 {
            return Ok(Some(0));
        }
        let end = offset.saturating_add(len).min(v.len);
        let n = usize::try_from(end - offset)
            .map_err(|_| TreeError::Precondition("read size exceeds usize"))?;
        for i in chunk_range(offset, end - offset) {
            let chunk_start = i * CHUNK_SIZE;
            let from = offset.max(chunk_start);
            let to = end.min(chunk_start.saturating_add(CHUNK_SIZE));
            let pos = (from - offset) as usize;
            let (lo, hi) = ((from - chunk_start) as usize, (to - chunk_start) as usize);
            v.visit_chunk(i, lo, hi, |at, piece| f(pos + at, piece))?;
        }
        Ok(Some(n))
    }

    #[inline]
    fn mark_dirty(&mut self, structural: bool) {
        if !self.entry.dirty {
            self.entry.dirty = true;
            self.dirty.push(self.index);
        }
        if structural {
            *self.structural = true;
        }
    }

    /// Write `data` at `offset`, as [`Durable::write`]: precondition `offset <= size` (0 for
    /// no value, which creates one), else [`TreeError::Precondition`] and nothing changes.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), TreeError> {
        self.write_with(offset, data.len() as u64, |pos, dst| {
            dst.copy_from_slice(&data[pos..pos + dst.len()]);
        })
    }

    /// [`ValueRef::write`] of `len` bytes that `fill(position in the data, destination)`
    /// provides, piece by piece, in order.
    pub fn write_with(
        &mut self,
        offset: u64,
        len: u64,
        mut fill: impl FnMut(usize, &mut [u8]),
    ) -> Result<(), TreeError> {
        let size = self.size().unwrap_or(0);
        if offset > size {
            return Err(TreeError::Precondition(
                "write offset past the end of the value",
            ));
        }
        let end = offset
            .checked_add(len)
            .ok_or(TreeError::Precondition("write end overflows"))?;
        let created = !matches!(self.entry.state, State::Value(_));
        if created {
            self.entry.state = State::Value(Value::fresh(0));
        }
        self.mark_dirty(created);
        let State::Value(v) = &mut self.entry.state else {
            unreachable!("set just above");
        };
        if len > 0 {
            for i in chunk_range(offset, len) {
                let chunk_start = i * CHUNK_SIZE;
                let from = offset.max(chunk_start);
                let to = end.min(chunk_start.saturating_add(CHUNK_SIZE));
                let chunk = v.chunk_mut(i)?;
                fill(
                    (from - offset) as usize,
                    &mut chunk[(from - chunk_start) as usize..(to - chunk_start) as usize],
                );
            }
        }
        v.len = size.max(end);
        Ok(())
    }

    /// Create a zero value of `size` bytes without chunks, as [`Durable::create`]: `false`
    /// (nothing changes) if there is a value already.
    pub fn create(&mut self, size: u64) -> bool {
        if matches!(self.entry.state, State::Value(_)) {
            return false;
        }
        self.entry.state = State::Value(Value::fresh(size));
        self.mark_dirty(true);
        true
    }

    /// Delete the value (sub-keys stay), as [`Durable::delete_value`].
    pub fn delete(&mut self) {
        if matches!(self.entry.state, State::Value(_)) {
            self.entry.state = State::Absent;
            self.mark_dirty(true);
        }
    }
}

/// The empty index, entry and dirty vectors of a finished cache, kept for the next one.
type Spare = (HashMap<u64, usize, BuildPrehashed>, Vec<Entry>, Vec<usize>);

/// Entries a [`Spare`] may have room for (about 100 bytes each): a run that cached more gives
/// its vectors back to the allocator.
const SPARE_MAX_ENTRIES: usize = 4096;

std::thread_local! {
    /// The vectors of this thread's last dropped cache (cleared: they hold no tree). A
    /// kernel run caches a few hundred keys, and growing the vectors afresh at every run
    /// reallocates them ~10 times, each large reallocation making glibc consolidate its
    /// free lists (issue 15, P7 profile: `BENCHMARKS.md`). Only capacity is reused: no
    /// result depends on it.
    static SPARE: std::cell::RefCell<Option<Spare>> = const { std::cell::RefCell::new(None) };
}

impl<'a> CachedDurable<'a> {
    /// An empty cache over `durable`.
    pub fn new(durable: &'a mut Durable) -> Self {
        let (index, entries, dirty) = SPARE
            .with_borrow_mut(Option::take)
            .unwrap_or_else(|| (HashMap::with_hasher(BuildPrehashed), Vec::new(), Vec::new()));
        debug_assert!(index.is_empty() && entries.is_empty() && dirty.is_empty());
        CachedDurable {
            durable,
            index,
            hasher: KeyHash::new(),
            entries,
            last: usize::MAX,
            dirty,
            structural: false,
            broken: false,
            max_entries: MAX_ENTRIES,
        }
    }

    #[inline]
    fn check(&self) -> Result<(), TreeError> {
        if self.broken { Err(BROKEN) } else { Ok(()) }
    }

    /// The value slot of the key whose bytes are `key` (`""` or `/step(/step)*`). A key not
    /// cached yet is validated ([`Key::parse`], hence the inner `KeyError`) and looked up in
    /// the tree.
    #[inline]
    pub fn value(&mut self, key: &[u8]) -> Result<Result<ValueRef<'_>, KeyError>, TreeError> {
        self.check()?;
        let last = self.last;
        let index = match self.entries.get(last) {
            Some(e) if same_bytes(e.key.as_str().as_bytes(), key) => last,
            _ => {
                let hash = self.hasher.of(key);
                let mut i = self.index.get(&hash).copied().unwrap_or(NONE);
                while let Some(e) = self.entries.get(i) {
                    if same_bytes(e.key.as_str().as_bytes(), key) {
                        break;
                    }
                    i = e.next;
                }
                if i == NONE {
                    i = match self.insert(key, hash)? {
                        Ok(i) => i,
                        Err(e) => return Ok(Err(e)),
                    };
                }
                i
            }
        };
        self.last = index;
        let entry = &mut self.entries[index];
        if matches!(entry.state, State::Unknown) {
            entry.state = load(&self.durable.tree, &entry.key)?;
        }
        Ok(Ok(ValueRef {
            index,
            entry,
            dirty: &mut self.dirty,
            structural: &mut self.structural,
        }))
    }

    /// Add the entry of a key not cached yet (`hash` is [`KeyHash::of`] its bytes): validated
    /// ([`Key::parse`]) and looked up in the tree. Returns its index.
    fn insert(&mut self, key: &[u8], hash: u64) -> Result<Result<usize, KeyError>, TreeError> {
        if self.entries.len() >= self.max_entries {
            self.with_durable(|_| Ok(()))?;
        }
        let k = match Key::parse(key) {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        let state = load(&self.durable.tree, &k)?;
        let i = self.entries.len();
        let next = self.index.insert(hash, i).unwrap_or(NONE);
        self.entries.push(Entry {
            key: k,
            state,
            dirty: false,
            next,
        });
        Ok(Ok(i))
    }

    /// Apply every pending change to the tree, in bytewise key order.
    pub fn flush(&mut self) -> Result<(), TreeError> {
        self.check()?;
        let mut pending = std::mem::take(&mut self.dirty);
        pending.sort_unstable_by(|&a, &b| self.entries[a].key.cmp(&self.entries[b].key));
        let tree = &mut self.durable.tree;
        let r = pending
            .iter()
            .try_for_each(|&i| flush_entry(tree, &mut self.entries[i]));
        // The list's room is kept for the next changes.
        pending.clear();
        self.dirty = pending;
        if let Err(e) = r {
            self.broken = true;
            return Err(e);
        }
        self.structural = false;
        Ok(())
    }

    /// The durable storage with every pending change applied.
    pub fn durable(&mut self) -> Result<&Durable, TreeError> {
        self.flush()?;
        Ok(self.durable)
    }

    /// The durable storage for structural queries (exists, list, count, nth key, has value):
    /// flushed if a pending change adds or removes a value. Values read through it may be
    /// stale: read values through [`CachedDurable::value`].
    pub fn structure(&mut self) -> Result<&Durable, TreeError> {
        self.check()?;
        if self.structural {
            self.flush()?;
        }
        Ok(self.durable)
    }

    /// Irmin hash of the subtree at `k` ([`Durable::subtree_hash`]), after a flush.
    pub fn subtree_hash(&mut self, k: &Key) -> Result<Option<Hash>, TreeError> {
        self.durable()?.subtree_hash(k)
    }

    /// Set the state of every entry at or below `prefix`.
    fn mark_under(&mut self, prefix: &Key, absent: bool) {
        for e in &mut self.entries {
            if is_under(&e.key, prefix) {
                e.state = if absent {
                    State::Absent
                } else {
                    State::Unknown
                };
            }
        }
    }

    /// Delete the subtree at `k` ([`Durable::delete`]).
    pub fn delete(&mut self, k: &Key) -> Result<(), TreeError> {
        self.flush()?;
        self.durable.delete(k)?;
        self.mark_under(k, true);
        Ok(())
    }

    /// Copy the subtree at `from` onto `to` ([`Durable::copy`]).
    pub fn copy(&mut self, from: &Key, to: &Key) -> Result<bool, TreeError> {
        self.flush()?;
        let copied = self.durable.copy(from, to)?;
        self.mark_under(to, false);
        Ok(copied)
    }

    /// Move the subtree at `from` to `to` ([`Durable::move_tree`]).
    pub fn move_tree(&mut self, from: &Key, to: &Key) -> Result<bool, TreeError> {
        self.flush()?;
        let moved = self.durable.move_tree(from, to)?;
        self.mark_under(from, false);
        self.mark_under(to, false);
        Ok(moved)
    }

    /// Run `f` on the flushed durable storage; every cached entry is forgotten afterwards.
    pub fn with_durable<R>(
        &mut self,
        f: impl FnOnce(&mut Durable) -> Result<R, TreeError>,
    ) -> Result<R, TreeError> {
        self.flush()?;
        let r = f(self.durable);
        self.index.clear();
        self.entries.clear();
        self.last = usize::MAX;
        r
    }
}

/// Apply one dirty entry to `tree`.
fn flush_entry(tree: &mut Tree, e: &mut Entry) -> Result<(), TreeError> {
    let path = e.key.value_path();
    match &mut e.state {
        // Never dirty: entries are flushed before they are marked unknown.
        State::Unknown => {}
        State::Absent => tree.remove(&path)?,
        State::Value(v) => {
            if let Some(at) = compact_flush(v)? {
                // The value stays (or becomes) one chunk: its `@` replaced whole.
                tree.set_tree(&path, at.clone())?;
                v.contents = None;
                v.base = Some(at);
                v.chunks.clear();
                e.dirty = false;
                return Ok(());
            }
            // Release the handles on the tree's nodes, so that editing in place does not
            // copy them.
            v.contents = None;
            // The `@` node as written, kept as the value's new base (no second walk).
            let at = match v.base.take() {
                // `Durable::create` (a fresh `@`), then the writes.
                None => {
                    let mut at = Tree::empty();
                    write_chunks(&mut at, v)?;
                    tree.set_tree(&path, at.clone())?;
                    at
                }
                // `Durable::write`: edit the existing `@` in place.
                Some(base) => {
                    drop(base);
                    let at = tree.node_at_mut(&path)?;
                    write_chunks(at, v)?;
                    at.compact_durable_value()?;
                    at.clone()
                }
            };
            v.contents = contents_of(&at)?;
            v.base = Some(at);
            v.chunks.clear();
        }
    }
    e.dirty = false;
    Ok(())
}

/// The new `@` node of `v` as a compact value (issue 15, RSS), when only
/// chunk 0 is materialised after the flush: `v` was created or written where
/// no value was, or its tree value is compact, and only chunk 0 was written.
/// `None`: `v` is flushed by editing its `@` node.
fn compact_flush(v: &Value) -> Result<Option<Tree>, TreeError> {
    if v.chunks.keys().any(|&i| i != 0) {
        return Ok(None);
    }
    let base = match &v.base {
        None => None,
        Some(b) => match b.as_compact_value() {
            Some(c) => Some(c),
            None => return Ok(None),
        },
    };
    let chunk = match (v.chunks.get(&0), base) {
        (Some(c), _) => c.to_vec(),
        (None, Some(b)) => b.chunk().as_slice().into_owned(),
        // Created, never written: `@/length` alone.
        (None, None) => return Ok(None),
    };
    Tree::durable_value(v.len, chunk).map(Some)
}

/// Materialise the written chunks of `v` and its length in the `@` node `at`.
fn write_chunks(at: &mut Tree, v: &Value) -> Result<(), TreeError> {
    for (i, c) in &v.chunks {
        let mut buf = itoa_buf();
        at.set_contents(&["contents", itoa(*i, &mut buf)], c.to_vec())?;
    }
    at.set_tree(&["length"], Tree::length_contents(v.len))
}

impl Drop for CachedDurable<'_> {
    fn drop(&mut self) {
        if !self.broken && !self.dirty.is_empty() {
            // A failure here cannot be reported: callers that need to see it flush first.
            let _ = self.flush();
        }
        // Keep the vectors, emptied (their entries hold trees), for the next cache.
        if self.entries.capacity() <= SPARE_MAX_ENTRIES {
            self.index.clear();
            self.entries.clear();
            self.dirty.clear();
            let spare = (
                std::mem::take(&mut self.index),
                std::mem::take(&mut self.entries),
                std::mem::take(&mut self.dirty),
            );
            // `try_with`: a cache dropped while the thread's locals are destroyed keeps nothing.
            let _ = SPARE.try_with(|s| {
                if let Ok(mut s) = s.try_borrow_mut() {
                    *s = Some(spare);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Repo;

    fn k(s: &str) -> Key {
        Key::parse(s.as_bytes()).unwrap()
    }

    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Keys with values, sub-keys, a readonly prefix and the root.
    const KEYS: &[&str] = &[
        "",
        "/a",
        "/a/b",
        "/a/b/c",
        "/a/x",
        "/b",
        "/b/0",
        "/b/1",
        "/big",
        "/readonly/k",
        "/readonly",
        "/z/y/x",
    ];

    /// A starting tree: a few values, one large enough for an inode `contents` node, committed
    /// and checked out so that the cache starts from lazy nodes.
    fn start(repo: &Repo) -> Durable {
        let mut d = Durable::default();
        d.set(&k("/a"), b"value of a").unwrap();
        d.set(&k("/a/b"), &[3; 700]).unwrap();
        d.set(&k("/b/0"), b"").unwrap();
        d.create(&k("/b/1"), 1500).unwrap();
        let big: Vec<u8> = (0..100 * CHUNK as u32).map(|i| (i / 7) as u8).collect();
        d.set(&k("/big"), &big).unwrap();
        d.set(&k("/readonly/k"), b"kernel").unwrap();
        let h = repo.commit(d.tree()).unwrap();
        Durable::new(repo.checkout(h).unwrap())
    }

    fn same<T: PartialEq + std::fmt::Debug>(
        a: Result<T, TreeError>,
        b: Result<T, TreeError>,
        what: &str,
    ) {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
            (Err(TreeError::Precondition(_)), Err(TreeError::Precondition(_))) => {}
            (a, b) => panic!("{what}: cached {a:?} vs plain {b:?}"),
        }
    }

    /// The same random durable operations through the cache and straight on the tree give
    /// the same answers, the same hashes whenever the tree is observed, and the same tree.
    #[test]
    fn random_ops_match_the_plain_tree() {
        let repo = Repo::in_memory();
        for seed in 1..=40u64 {
            let mut rng = Lcg(seed);
            let mut plain = start(&repo);
            let mut owner = start(&repo);
            let mut cached = CachedDurable::new(&mut owner);
            if seed % 2 == 0 {
                // Exercise the flush-and-forget of a full cache.
                cached.max_entries = 1 + (seed % 5) as usize;
            }
            // Exercise the index's collision chains.
            cached.hasher.collide = seed % 3 == 0;
            let mut out = Vec::new();
            for step in 0..400u32 {
                let key = k(KEYS[rng.below(KEYS.len() as u64) as usize]);
                let other = k(KEYS[rng.below(KEYS.len() as u64) as usize]);
                let what = format!("seed {seed} step {step}");
                match rng.below(16) {
                    0..=2 => {
                        let size = plain.value_size(&key).unwrap();
                        let mut v = cached.value(key.as_str().as_bytes()).unwrap().unwrap();
                        assert_eq!(v.size(), size, "{what}: size");
                        // Mostly inside or at the end; sometimes past it (refused).
                        let max = size.unwrap_or(0) + 2;
                        let off = rng.below(max + 1).min(max);
                        let len = match rng.below(4) {
                            0 => 0,
                            1 => rng.below(10),
                            _ => rng.below(2 * CHUNK as u64 + 100),
                        };
                        let data: Vec<u8> = (0..len).map(|i| (i as u32 + step) as u8).collect();
                        same(
                            v.write(off, &data),
                            plain.write(&key, off, &data),
                            &format!("{what}: write {off}+{len}"),
                        );
                    }
                    3..=5 => {
                        let off = rng.below(3000);
                        let len = rng.below(2500);
                        let v = cached.value(key.as_str().as_bytes()).unwrap().unwrap();
                        let has = v.read_into(off, len, &mut out).unwrap();
                        let expected = plain.read(&key, off, len).unwrap();
                        assert_eq!(has.then(|| out.clone()), expected, "{what}: read");
                    }
                    6 => {
                        let size = rng.below(1200);
                        let mut v = cached.value(key.as_str().as_bytes()).unwrap().unwrap();
                        assert_eq!(v.create(size), plain.create(&key, size).unwrap(), "{what}");
                    }
                    7 => {
                        cached
                            .value(key.as_str().as_bytes())
                            .unwrap()
                            .unwrap()
                            .delete();
                        plain.delete_value(&key).unwrap();
                    }
                    8 => {
                        let d = cached.structure().unwrap();
                        assert_eq!(d.exists(&key).unwrap(), plain.exists(&key).unwrap());
                        assert_eq!(d.list_size(&key).unwrap(), plain.list_size(&key).unwrap());
                        assert_eq!(d.has_value(&key).unwrap(), plain.has_value(&key).unwrap());
                        assert_eq!(d.subkeys(&key).unwrap(), plain.subkeys(&key).unwrap());
                        let i = rng.below(4);
                        assert_eq!(d.nth_key(&key, i).unwrap(), plain.nth_key(&key, i).unwrap());
                    }
                    9 => {
                        same(
                            cached.subtree_hash(&key),
                            plain.subtree_hash(&key),
                            &format!("{what}: hash"),
                        );
                    }
                    10 if rng.below(3) == 0 => {
                        same(cached.delete(&key), plain.delete(&key), &what);
                    }
                    11 => {
                        same(cached.copy(&key, &other), plain.copy(&key, &other), &what);
                    }
                    12 => {
                        same(
                            cached.move_tree(&key, &other),
                            plain.move_tree(&key, &other),
                            &what,
                        );
                    }
                    13 => cached.flush().unwrap(),
                    14 => {
                        let h = cached.durable().unwrap().tree().hash().unwrap();
                        assert_eq!(h, plain.tree().hash().unwrap(), "{what}: root hash");
                    }
                    _ => {
                        cached
                            .with_durable(|d| d.write(&k("/readonly/k"), 0, b"K"))
                            .unwrap();
                        plain.write(&k("/readonly/k"), 0, b"K").unwrap();
                    }
                }
            }
            drop(cached);
            assert_eq!(
                owner.tree().hash().unwrap(),
                plain.tree().hash().unwrap(),
                "seed {seed}: final hash"
            );
            // Both commit to the same objects.
            assert_eq!(
                repo.commit(owner.tree()).unwrap(),
                repo.commit(plain.tree()).unwrap()
            );
        }
    }

    #[test]
    fn value_ops_stay_in_the_cache_until_flushed() {
        let mut d = Durable::default();
        d.set(&k("/v"), b"abc").unwrap();
        let before = d.tree().hash().unwrap();
        let mut c = CachedDurable::new(&mut d);
        let mut v = c.value(b"/v").unwrap().unwrap();
        v.write(3, b"def").unwrap();
        assert_eq!(v.size(), Some(6));
        let mut n = c.value(b"/n").unwrap().unwrap();
        assert!(n.create(10));
        // Structural queries see the created value (flushed for them).
        assert!(c.structure().unwrap().has_value(&k("/n")).unwrap());
        c.value(b"/v").unwrap().unwrap().write(0, b"A").unwrap();
        let mut out = Vec::new();
        assert!(
            c.value(b"/v")
                .unwrap()
                .unwrap()
                .read_into(0, 10, &mut out)
                .unwrap()
        );
        assert_eq!(out, b"Abcdef");
        // Not structural: the tree still holds the old bytes.
        assert_eq!(
            c.structure().unwrap().read_all(&k("/v")).unwrap().unwrap(),
            b"abcdef"
        );
        assert_eq!(
            c.durable().unwrap().read_all(&k("/v")).unwrap().unwrap(),
            b"Abcdef"
        );
        drop(c);
        assert_ne!(d.tree().hash().unwrap(), before);
        assert_eq!(d.value_size(&k("/n")).unwrap(), Some(10));
    }

    #[test]
    fn invalid_keys_are_reported_and_not_cached() {
        let mut d = Durable::default();
        let mut c = CachedDurable::new(&mut d);
        assert!(matches!(c.value(b"/a/"), Ok(Err(KeyError::Invalid))));
        assert!(matches!(c.value(b"a"), Ok(Err(KeyError::Invalid))));
        let long = format!("/{}", "a".repeat(240));
        assert!(matches!(
            c.value(long.as_bytes()),
            Ok(Err(KeyError::TooLarge))
        ));
        assert!(matches!(c.value(b"/a/"), Ok(Err(KeyError::Invalid))));
        assert_eq!(c.value(b"/a").unwrap().unwrap().size(), None);
    }

    #[test]
    fn subtree_operations_refresh_cached_entries() {
        let mut d = Durable::default();
        d.set(&k("/s/x"), b"1").unwrap();
        d.set(&k("/t/x"), b"22").unwrap();
        let mut c = CachedDurable::new(&mut d);
        assert_eq!(c.value(b"/s/x").unwrap().unwrap().size(), Some(1));
        assert_eq!(c.value(b"/t/x").unwrap().unwrap().size(), Some(2));
        assert!(c.copy(&k("/t"), &k("/s")).unwrap());
        assert_eq!(c.value(b"/s/x").unwrap().unwrap().size(), Some(2));
        assert!(c.move_tree(&k("/s"), &k("/u")).unwrap());
        assert_eq!(c.value(b"/s/x").unwrap().unwrap().size(), None);
        assert_eq!(c.value(b"/u/x").unwrap().unwrap().size(), Some(2));
        c.delete(&k("/u")).unwrap();
        assert_eq!(c.value(b"/u/x").unwrap().unwrap().size(), None);
        c.delete(&k("")).unwrap();
        assert_eq!(c.value(b"/t/x").unwrap().unwrap().size(), None);
    }
}
