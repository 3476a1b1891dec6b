//! [`Repo`]: commits trees into a [`NodeStore`], checks them out lazily, and
//! garbage-collects unreachable objects.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use context_hash::{EntryKind, Hash};

use crate::backend::{BatchWriter, MemStore, NodeStore, StoreError};
use crate::object::{self, EncEntry, INLINE_MAX, node_object_refs};
use crate::tree::inode::{Big, Children, Entry, Inode, InodeTree, Part};
use crate::tree::par;
use crate::tree::value::CompactValue;
use crate::tree::{Kind, StoreHandle, Tree, TreeError, View};

/// A repository of committed trees over one [`NodeStore`].
///
/// Trees checked out of a repo belong to it: their unmodified parts are
/// never rewritten by a later commit into the same repo.
pub struct Repo {
    handle: Arc<StoreHandle>,
    /// Threads a commit runs on ([`Repo::set_commit_threads`]).
    commit_threads: AtomicUsize,
}

/// Outcome of [`Repo::gc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcStats {
    /// Objects reachable from the kept roots.
    pub live: u64,
    /// Objects deleted.
    pub deleted: u64,
}

/// A commit in progress: where its objects go, a reused encoding buffer,
/// and the mark given to the nodes written.
struct Batch<'s> {
    sink: &'s mut dyn ObjectSink,
    buf: Vec<u8>,
    mark: u64,
}

/// Where a [`Batch`]'s objects go: the store's batch writer, or a log
/// handed to it later (a part of a commit written on a helper thread:
/// [`Repo::write_parts`]).
trait ObjectSink {
    fn add(&mut self, h: &Hash, bytes: &[u8]) -> Result<(), StoreError>;
}

impl ObjectSink for Box<dyn BatchWriter + '_> {
    fn add(&mut self, h: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        BatchWriter::add(&mut **self, h, bytes)
    }
}

impl ObjectSink for ObjectLog {
    fn add(&mut self, h: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        self.push(h, bytes);
        Ok(())
    }
}

impl Batch<'_> {
    /// Hand the object encoded in `buf` over.
    fn flush(&mut self, h: &Hash) -> Result<(), StoreError> {
        self.sink.add(h, &self.buf)
    }
}

/// Forgets the marks of a commit's nodes when dropped (the commit did not
/// make it); a commit that succeeds forgets the guard instead.
struct MarksGuard<'h>(&'h StoreHandle);

impl Drop for MarksGuard<'_> {
    fn drop(&mut self) {
        self.0.invalidate_marks();
    }
}

/// Objects encoded on a helper thread, in the order they were encoded.
#[derive(Default)]
struct ObjectLog {
    bytes: Vec<u8>,
    /// Each object's hash and the end of its bytes.
    objects: Vec<(Hash, usize)>,
}

impl ObjectLog {
    fn push(&mut self, h: &Hash, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.objects.push((*h, self.bytes.len()));
    }

    /// Add the objects to `w`, in order.
    fn replay(&self, w: &mut dyn BatchWriter) -> Result<(), StoreError> {
        let mut start = 0;
        for (h, end) in &self.objects {
            w.add(h, &self.bytes[start..*end])?;
            start = *end;
        }
        Ok(())
    }
}

impl Repo {
    /// A repo over `store`.
    pub fn new(store: Arc<dyn NodeStore>) -> Self {
        Repo {
            handle: StoreHandle::new(store),
            commit_threads: AtomicUsize::new(crate::default_threads()),
        }
    }

    /// A repo over a fresh [`MemStore`].
    pub fn in_memory() -> Self {
        Repo::new(Arc::new(MemStore::new()))
    }

    /// Run each commit on `n` threads (1: the committing thread alone;
    /// default: the machine's threads, at most 4). Hashes and the objects
    /// stored do not depend on it ([`Repo::commit`]).
    pub fn set_commit_threads(&self, n: usize) {
        self.commit_threads.store(n.max(1), Ordering::Relaxed);
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn NodeStore> {
        &self.handle.store
    }

    /// Persist every object reachable from `t` not yet in this repo's store,
    /// atomically, and record `t`'s hash as a committed root.
    ///
    /// Objects are streamed to the store as they are encoded (children
    /// before parents), so memory stays bounded by the tree, not by the
    /// commit; subtrees already persisted in this store are skipped without
    /// being visited. The hashes not memoised yet are computed on the same
    /// walk (a node right after its children), so committing a changed tree
    /// costs one walk of its changed part. On several threads
    /// ([`Repo::set_commit_threads`]), the changed part of a loaded tree is
    /// first split into parts written concurrently ([`Repo::write_parts`]):
    /// their objects are held in memory until handed over, about the size
    /// of the loaded changed part (plus any subtree of another repo found
    /// inside a part, copied there; a lazy tree of another repo above the
    /// parts, as a whole tree checked out elsewhere, is left to the one walk
    /// that streams it).
    pub fn commit(&self, t: &Tree) -> Result<Hash, TreeError> {
        let _serial = self.handle.commit.lock().unwrap_or_else(|e| e.into_inner());
        // Nodes are marked as their objects are handed over: unless the batch makes it, those
        // marks are forgotten, on an error as on a panic (of a helper thread too).
        let guard = MarksGuard(&self.handle);
        let mark = self.handle.mark();
        let mut writer = self.handle.store.begin_batch()?;
        self.write_parts(t, mark, &mut writer)?;
        let mut batch = Batch {
            sink: &mut writer,
            buf: Vec::with_capacity(1024),
            mark,
        };
        let root = self.collect(t, &mut batch)?;
        writer.commit(&[root])?;
        std::mem::forget(guard);
        Ok(root)
    }

    /// On several threads ([`Repo::set_commit_threads`]): write the objects of
    /// the changed parts of `t` ([`par::frontier`]) concurrently, each part
    /// hashed, encoded and marked on a helper thread into a log, the logs
    /// handed to `writer` in the parts' order; the commit's walk then finds
    /// those parts stored and writes the nodes above them. Nothing on one
    /// thread.
    fn write_parts(
        &self,
        t: &Tree,
        mark: u64,
        writer: &mut Box<dyn BatchWriter + '_>,
    ) -> Result<(), TreeError> {
        let threads = self.commit_threads.load(Ordering::Relaxed);
        if threads < 2 {
            return Ok(());
        }
        let parts = par::frontier(t, |p| self.write_pending(p, mark));
        if parts.len() < par::MIN_PARTS {
            return Ok(());
        }
        par::run(
            &parts,
            threads,
            |p| {
                let mut log = ObjectLog::default();
                let mut batch = Batch {
                    sink: &mut log,
                    buf: Vec::with_capacity(1024),
                    mark,
                };
                match p {
                    Part::Tree(c) => self.write_child(c, &mut batch)?,
                    Part::Inode(i) => self.write_side(i, &mut batch)?,
                }
                Ok(log)
            },
            |l| l.replay(&mut **writer).map_err(TreeError::from),
        )
    }

    /// Whether the part `p` of a tree is one to write on a helper thread:
    /// loaded, with objects to write in the store of mark `mark` (a `Values`
    /// inode, which has no object of its own, is assumed to). Contents
    /// inlined in their parent's object and lazy trees are not (those of
    /// another repo are copied by the commit's walk, streamed).
    fn write_pending(&self, p: Part<'_>, mark: u64) -> bool {
        match p {
            Part::Tree(t) => t.lazy_ref().is_none() && !t.stored_in(mark) && !t.inlined(),
            Part::Inode(Inode::Values(_)) => true,
            Part::Inode(Inode::Tree(i)) => !i.persisted_in(mark),
            Part::Inode(Inode::Lazy(_)) => false,
        }
    }

    /// Write the objects of `t` missing from this repo's store; returns the
    /// hash of `t`.
    fn collect(&self, t: &Tree, batch: &mut Batch<'_>) -> Result<Hash, TreeError> {
        let id = batch.mark;
        if let Some(l) = t.lazy_ref() {
            if Arc::ptr_eq(&l.store, &self.handle) {
                return Ok(l.hash);
            }
            // From another repo: copy it over.
            let loaded = l.resolve()?.clone();
            return self.collect(&loaded, batch);
        }
        match t.view()? {
            View::Contents(c) => {
                let h = c.hash();
                if !c.persisted_in(id) {
                    batch.buf.clear();
                    object::put_contents_header(&mut batch.buf, c.bytes.len());
                    c.bytes.extend_into(&mut batch.buf);
                    batch.flush(&h)?;
                    c.mark_persisted(id);
                }
                Ok(h)
            }
            View::Node(n) => {
                if n.persisted_in(id) {
                    return n.hash();
                }
                let flat: Option<&[Entry]> = match &n.children {
                    Children::Flat(m) => Some(m),
                    Children::Big(b) => match &**b {
                        // A compact durable value: its expanded entries if
                        // built, else its objects written from its fields;
                        // held by its key's node (`{@ → value}` as one
                        // node), the `@` node's object too, then this node.
                        Big::Value(v) => match v.expanded() {
                            Some(m) => Some(m),
                            None => {
                                let Some(chunk) = n.value_chunk_hash()? else {
                                    unreachable!("a compact value")
                                };
                                self.encode_value(v, chunk, batch)?;
                                if v.in_key() {
                                    let at = v.at_hash(chunk)?;
                                    batch.flush(&at)?;
                                    batch.buf.clear();
                                    object::put_node_header(&mut batch.buf, 1);
                                    object::put_entry(
                                        &mut batch.buf,
                                        crate::tree::value::AT.as_bytes(),
                                        &EncEntry::ByHash(EntryKind::Node, at),
                                    );
                                }
                                None
                            }
                        },
                        // A trie root is always a loaded `Tree` inode (built or
                        // decoded as one); its object is the node object.
                        Big::Trie(root) => {
                            let Inode::Tree(root) = root else {
                                unreachable!("trie root is a Tree inode")
                            };
                            self.write_inode_children(root, batch)?;
                            self.encode_inode(root, batch)?;
                            None
                        }
                    },
                };
                if let Some(m) = flat {
                    // Children first (their objects, and their hashes
                    // memoised), then this node, in one buffer.
                    let stored = stored_mask(m.iter(), id);
                    for (i, (_, child)) in m.iter().enumerate() {
                        if i >= 64 || stored & (1 << i) == 0 {
                            self.write_child(child, batch)?;
                        }
                    }
                    batch.buf.clear();
                    object::put_node_header(&mut batch.buf, m.len());
                    for (name, child) in m {
                        let e = self.entry(child)?;
                        object::put_entry(&mut batch.buf, &name.as_bytes(), &e);
                    }
                }
                // Hashed after the children were written (and hashed on the
                // way): one walk of the changed part serves hash and commit.
                let h = n.hash()?;
                batch.flush(&h)?;
                n.mark_persisted(id);
                Ok(h)
            }
        }
    }

    /// Write the objects below the `@` node of the compact durable value
    /// `v` (the chunk, the `contents` node), then encode the `@` node into
    /// the batch buffer: the objects of the expanded subtree
    /// (`docs/reference/wasm-pvm.md` §2), byte for byte.
    /// `chunk`: the chunk's hash (`NodeData::value_chunk_hash` of the node holding `v`).
    fn encode_value(
        &self,
        v: &CompactValue,
        chunk: Hash,
        batch: &mut Batch<'_>,
    ) -> Result<(), TreeError> {
        batch.buf.clear();
        object::put_contents_header(&mut batch.buf, v.chunk().len());
        v.chunk().extend_into(&mut batch.buf);
        batch.flush(&chunk)?;
        let contents = CompactValue::contents_hash(chunk);
        batch.buf.clear();
        object::put_node_header(&mut batch.buf, 1);
        object::put_entry(
            &mut batch.buf,
            b"0",
            &EncEntry::ByHash(EntryKind::Contents, chunk),
        );
        batch.flush(&contents)?;
        let length = v.length_tree();
        self.write_child(&length, batch)?;
        batch.buf.clear();
        object::put_node_header(&mut batch.buf, 2);
        object::put_entry(
            &mut batch.buf,
            b"contents",
            &EncEntry::ByHash(EntryKind::Node, contents),
        );
        object::put_entry(&mut batch.buf, b"length", &self.entry(&length)?);
        Ok(())
    }

    /// Write a child's objects unless it is inlined in its parent.
    fn write_child(&self, child: &Tree, batch: &mut Batch<'_>) -> Result<(), TreeError> {
        if child.view_if_loaded_small()?.is_none() {
            self.collect(child, batch)?;
        }
        Ok(())
    }

    /// How a child appears in its parent's object (its objects written).
    fn entry<'a>(&self, child: &'a Tree) -> Result<EncEntry<'a>, TreeError> {
        Ok(match child.view_if_loaded_small()? {
            Some((ch, bytes)) => EncEntry::Inline(ch, bytes),
            None => EncEntry::ByHash(child.kind().into(), child.hash()?),
        })
    }

    /// Write the objects below the `Tree` inode `t` (not `t` itself).
    fn write_inode_children(&self, t: &InodeTree, batch: &mut Batch<'_>) -> Result<(), TreeError> {
        let id = batch.mark;
        // Both sides are looked at before either is walked (see
        // `stored_mask`), with what encoding `t` reads of them afterwards (a
        // clean side's memoised hash, a `Values` side's names): the loads
        // of a clean sibling overlap the walk down the changed side.
        let mut touched = false;
        let mut side = |c: &Option<Inode>| match c {
            Some(Inode::Tree(s)) => {
                touched ^= s.hash_memoised();
                if s.persisted_in(id) { u64::MAX } else { 0 }
            }
            Some(Inode::Values(v)) => stored_mask(v.iter(), id),
            _ => 0,
        };
        // Both sides written out: `each_ref().map` went through an array
        // drain (~0.1 M instructions of P7's commit a level; `BENCHMARKS.md`, P2).
        let [a, b] = &t.children;
        let stored = [side(a), side(b)];
        std::hint::black_box(touched);
        for (c, stored) in t.children.iter().zip(stored) {
            match c {
                None => {}
                Some(Inode::Values(v)) => self.write_values(v, stored, batch)?,
                Some(c) if stored != u64::MAX => self.write_side(c, batch)?,
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Write the entries of a `Values` inode not in `stored` (bit `i`:
    /// entry `i` is stored, from [`stored_mask`]).
    fn write_values(
        &self,
        v: &[Entry],
        stored: u64,
        batch: &mut Batch<'_>,
    ) -> Result<(), TreeError> {
        // At most 2 entries (`leaf`), well within the mask.
        for (i, (_, child)) in v.iter().enumerate() {
            if stored & (1 << i) == 0 {
                self.write_child(child, batch)?;
            }
        }
        Ok(())
    }

    fn write_side(&self, i: &Inode, batch: &mut Batch<'_>) -> Result<(), TreeError> {
        let id = batch.mark;
        match i {
            Inode::Values(v) => self.write_values(v, stored_mask(v.iter(), id), batch)?,
            Inode::Lazy(l) => {
                if !Arc::ptr_eq(&l.store, &self.handle) {
                    // From another repo: copy it over.
                    self.write_side(l.resolve()?, batch)?;
                }
            }
            Inode::Tree(t) => {
                if !t.persisted_in(id) {
                    self.write_inode_children(t, batch)?;
                    self.encode_inode(t, batch)?;
                    batch.flush(&t.hash()?)?;
                    t.mark_persisted(id);
                }
            }
        }
        Ok(())
    }

    /// Encode the object of the `Tree` inode `t` into the batch buffer (its
    /// sub-objects already written).
    fn encode_inode(&self, t: &InodeTree, batch: &mut Batch<'_>) -> Result<(), TreeError> {
        batch.buf.clear();
        object::put_inode_header(&mut batch.buf, t.depth, t.len);
        for side in &t.children {
            match side {
                None => object::put_side_empty(&mut batch.buf),
                Some(Inode::Values(v)) => {
                    object::put_side_values(&mut batch.buf, v.len());
                    for (name, child) in v.iter() {
                        let e = self.entry(child)?;
                        object::put_entry(&mut batch.buf, &name.as_bytes(), &e);
                    }
                }
                Some(Inode::Lazy(l)) => object::put_side_tree(&mut batch.buf, &l.hash, l.len),
                Some(Inode::Tree(s)) => object::put_side_tree(&mut batch.buf, &s.hash()?, s.len),
            }
        }
        Ok(())
    }

    /// The tree committed under `root` (lazy: objects load on access).
    /// Committed roots are nodes (a PVM state always is).
    pub fn checkout(&self, root: Hash) -> Result<Tree, TreeError> {
        if crate::refuse_store_read() {
            return Err(TreeError::NotInMemory);
        }
        if !self.handle.store.contains(&root)? {
            return Err(StoreError::Missing(root).into());
        }
        Ok(Tree::lazy(root, Kind::Node, self.handle.clone()))
    }

    /// Whether an object (committed root or node) `h` is stored.
    pub fn has(&self, h: &Hash) -> Result<bool, StoreError> {
        self.handle.store.contains(h)
    }

    /// The committed roots recorded (and not yet collected), sorted.
    pub fn roots(&self) -> Result<Vec<Hash>, StoreError> {
        self.handle.store.roots()
    }

    /// Delete every object not reachable from `keep` (and forget the other
    /// roots). Roots in `keep` must be stored.
    pub fn gc(&self, keep: &[Hash]) -> Result<GcStats, TreeError> {
        let mut live = HashSet::new();
        self.mark_live(keep, &mut live)?;
        self.sweep(&live, keep)
    }

    /// The mark phase of [`Repo::gc`], split out so that a caller can mark
    /// without blocking commits, then mark the roots committed meanwhile:
    /// adds to `live` every object reachable from `roots` (objects already in
    /// `live` are assumed complete and not walked again).
    pub fn mark_live(&self, roots: &[Hash], live: &mut HashSet<Hash>) -> Result<(), TreeError> {
        let store = &self.handle.store;
        let mut stack: Vec<Hash> = Vec::new();
        for r in roots {
            if live.insert(*r) {
                stack.push(*r);
            }
        }
        while let Some(h) = stack.pop() {
            let bytes = store.get(&h)?.ok_or(StoreError::Missing(h))?;
            for c in node_object_refs(&h, &bytes)? {
                if live.insert(c) {
                    stack.push(c);
                }
            }
        }
        Ok(())
    }

    /// The sweep phase of [`Repo::gc`]: deletes every object not in `live`
    /// and forgets the roots not in `keep_roots`. No commit may run between
    /// the last [`Repo::mark_live`] and this call (its objects would be lost).
    /// Loaded nodes are rewritten by the next commit, but lazy references are trusted: a
    /// tree checked out before a sweep may only be committed again if its root was kept.
    pub fn sweep(&self, live: &HashSet<Hash>, keep_roots: &[Hash]) -> Result<GcStats, TreeError> {
        let deleted = self
            .handle
            .store
            .retain(&|h| live.contains(h), keep_roots)?;
        // Loaded trees marked as stored may have lost their objects: the
        // next commit rewrites what is loaded.
        self.handle.invalidate_marks();
        Ok(GcStats {
            live: live.len() as u64,
            deleted,
        })
    }
}

/// Bit `i` set when child `i` (of the first 64) is already stored in the
/// store of mark `id`. Every child is looked at before any is walked, and
/// with it what the parent's encoding reads next (the bytes of a shared
/// name, the child's memoised hash and short contents): the loads are
/// independent, so their cache misses overlap instead of queueing behind
/// the walk of the previous child (the commit walk is bound by them;
/// `BENCHMARKS.md`).
fn stored_mask<'a>(children: impl Iterator<Item = &'a Entry>, id: u64) -> u64 {
    let mut mask = 0u64;
    let mut touched = 0u8;
    for (i, (name, c)) in children.take(64).enumerate() {
        mask |= u64::from(c.stored_in(id)) << i;
        touched ^= name.touch() ^ c.touch();
    }
    std::hint::black_box(touched);
    mask
}

impl Tree {
    /// Whether this is loaded contents inlined in its parent's object
    /// ([`Tree::view_if_loaded_small`] without hashing it).
    fn inlined(&self) -> bool {
        self.lazy_ref().is_none()
            && matches!(self.view(), Ok(View::Contents(c))
                if c.bytes.len() <= INLINE_MAX && c.bytes.as_plain().is_some())
    }

    /// `Some((hash, bytes))` if this is (already loaded) contents small
    /// enough to be inlined in its parent's object.
    fn view_if_loaded_small(&self) -> Result<Option<(Hash, &[u8])>, TreeError> {
        if self.lazy_ref().is_some() {
            // Lazy contents are objects of their own (inlined ones are
            // always loaded with their parent).
            return Ok(None);
        }
        match self.view()? {
            // Contents this short are never stored with a zero tail
            // (`tree::Bytes`), so `as_plain` answers.
            View::Contents(c) if c.bytes.len() <= INLINE_MAX => {
                Ok(c.bytes.as_plain().map(|b| (c.hash(), b)))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::in_memory_only;

    /// The objects reachable from `root` in `repo`'s store, with their bytes.
    fn objects(repo: &Repo, root: Hash) -> Vec<(Hash, Vec<u8>)> {
        let mut live = HashSet::new();
        repo.mark_live(&[root], &mut live).unwrap();
        let mut v: Vec<_> = live
            .into_iter()
            .map(|h| (h, repo.store().get(&h).unwrap().unwrap()))
            .collect();
        v.sort();
        v
    }

    /// A store whose batches fail at the `n`-th object added (counting from
    /// when the count is set), then work again.
    struct Flaky {
        inner: MemStore,
        left: std::sync::atomic::AtomicUsize,
    }

    struct FlakyBatch<'a> {
        store: &'a Flaky,
        objects: Vec<(Hash, Vec<u8>)>,
    }

    impl BatchWriter for FlakyBatch<'_> {
        fn add(&mut self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
            let left = &self.store.left;
            if left.load(Ordering::Relaxed) == 1 {
                left.store(usize::MAX, Ordering::Relaxed);
                return Err(StoreError::Missing(*hash));
            }
            let _ = left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n != usize::MAX).then(|| n - 1)
            });
            self.objects.push((*hash, bytes.to_vec()));
            Ok(())
        }

        fn commit(self: Box<Self>, roots: &[Hash]) -> Result<(), StoreError> {
            self.store.inner.write_batch(&self.objects, roots)
        }
    }

    impl NodeStore for Flaky {
        fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(hash)
        }
        fn contains(&self, hash: &Hash) -> Result<bool, StoreError> {
            self.inner.contains(hash)
        }
        fn write_batch(
            &self,
            objects: &[(Hash, Vec<u8>)],
            roots: &[Hash],
        ) -> Result<(), StoreError> {
            self.inner.write_batch(objects, roots)
        }
        fn roots(&self) -> Result<Vec<Hash>, StoreError> {
            self.inner.roots()
        }
        fn retain(&self, live: &dyn Fn(&Hash) -> bool, keep: &[Hash]) -> Result<u64, StoreError> {
            self.inner.retain(live, keep)
        }
        fn object_count(&self) -> Result<u64, StoreError> {
            self.inner.object_count()
        }
        fn begin_batch(&self) -> Result<Box<dyn BatchWriter + '_>, StoreError> {
            Ok(Box::new(FlakyBatch {
                store: self,
                objects: Vec::new(),
            }))
        }
    }

    /// A commit on threads that fails while the parts' objects are handed
    /// over leaves no node marked as stored: the next commit stores every
    /// object of the tree.
    #[test]
    fn a_failed_commit_on_threads_is_written_again_whole() {
        let store = Arc::new(Flaky {
            inner: MemStore::new(),
            left: AtomicUsize::new(usize::MAX),
        });
        let repo = Repo::new(store.clone());
        repo.set_commit_threads(2);
        let mut t = Tree::empty();
        for i in 0..3000u32 {
            let v = format!("value {i} {}", "y".repeat((i % 90) as usize));
            let (dir, key) = (format!("d{}", i % 5), format!("k{i}"));
            t.set_contents(&[dir.as_str(), key.as_str()], v.into_bytes())
                .unwrap();
        }
        for n in [1, 500, 2500] {
            store.left.store(n, Ordering::Relaxed);
            assert!(repo.commit(&t).is_err(), "failing at object {n}");
        }
        let root = repo.commit(&t).unwrap();
        let one = Repo::in_memory();
        one.set_commit_threads(1);
        assert_eq!(one.commit(&t).unwrap(), root);
        assert_eq!(objects(&repo, root), objects(&one, root));
    }

    /// A commit split over threads stores what a commit on one thread
    /// stores: the same root, the same objects, byte for byte; so does the
    /// next, incremental one (parts already stored skipped), a subtree
    /// shared by two paths included.
    #[test]
    fn a_commit_on_threads_stores_what_one_thread_stores() {
        let mut t = Tree::empty();
        for i in 0..3000u32 {
            let v = format!("value {i} {}", "x".repeat((i % 90) as usize));
            let dir = format!("d{}", i % 5);
            let key = format!("k{i}");
            t.set_contents(&[dir.as_str(), key.as_str(), "v"], v.into_bytes())
                .unwrap();
        }
        let shared = t.get(&["d1"]).unwrap().unwrap();
        t.set_tree(&["copy"], shared).unwrap();
        let (one, many) = (Repo::in_memory(), Repo::in_memory());
        one.set_commit_threads(1);
        many.set_commit_threads(3);
        let mut t2 = t.clone();
        let root = one.commit(&t).unwrap();
        assert_eq!(many.commit(&t2).unwrap(), root);
        assert_eq!(objects(&many, root), objects(&one, root));
        // Incremental: a few changes under every directory.
        for i in (0..3000u32).step_by(37) {
            let dir = format!("d{}", i % 5);
            let key = format!("k{i}");
            t.set_contents(&[dir.as_str(), key.as_str(), "v"], b"changed".to_vec())
                .unwrap();
            t2.set_contents(&[dir.as_str(), key.as_str(), "v"], b"changed".to_vec())
                .unwrap();
        }
        let root = one.commit(&t).unwrap();
        assert_eq!(many.commit(&t2).unwrap(), root);
        assert_eq!(objects(&many, root), objects(&one, root));
        assert_eq!(
            many.store().object_count().unwrap(),
            one.store().object_count().unwrap()
        );
    }

    /// In `in_memory_only`, a checkout and a read of an object not loaded are refused
    /// (`None`); once loaded (outside), the same read is answered from memory.
    #[test]
    fn memory_only_reads_refuse_store_reads() {
        let repo = Repo::in_memory();
        let mut t = Tree::empty();
        t.set_contents(&["a", "b"], b"x".to_vec()).unwrap();
        // Longer than `INLINE_MAX`: an object of its own, loaded apart from its parent.
        let big = vec![7u8; 200];
        t.set_contents(&["c"], big.clone()).unwrap();
        let root = repo.commit(&t).unwrap();
        assert!(in_memory_only(|| repo.checkout(root)).is_none());
        let lazy = repo.checkout(root).unwrap();
        assert!(in_memory_only(|| lazy.get_contents(&["a", "b"])).is_none());
        assert_eq!(lazy.get_contents(&["a", "b"]).unwrap(), Some(b"x".to_vec()));
        let again = in_memory_only(|| lazy.get_contents(&["a", "b"]));
        assert_eq!(again.map(Result::unwrap), Some(Some(b"x".to_vec())));
        // A read the closure turned into a value is still reported as refused.
        assert!(in_memory_only(|| lazy.get_contents(&["c"]).is_err()).is_none());
        // Outside, nothing is refused.
        assert_eq!(lazy.get_contents(&["c"]).unwrap(), Some(big));
    }
}
