//! [`Repo`]: commits trees into a [`NodeStore`], checks them out lazily, and
//! garbage-collects unreachable objects.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use context_hash::Hash;

use crate::inode::{Children, Inode, InodeTree};
use crate::store::{
    EncEntry, EncSide, INLINE_MAX, MemStore, NodeStore, StoreError, StoreHandle, encode_contents,
    encode_inode, encode_node, node_object_refs,
};
use crate::tree::{Kind, Tree, TreeError, View};

/// A repository of committed trees over one [`NodeStore`].
///
/// Trees checked out of a repo belong to it: their unmodified parts are
/// never rewritten by a later commit into the same repo.
pub struct Repo {
    handle: Arc<StoreHandle>,
}

/// Outcome of [`Repo::gc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcStats {
    /// Objects reachable from the kept roots.
    pub live: u64,
    /// Objects deleted.
    pub deleted: u64,
}

/// Objects to write and trees to mark persisted once written.
#[derive(Default)]
struct Batch {
    objects: Vec<(Hash, Vec<u8>)>,
    written: Vec<Tree>,
    inodes: Vec<Arc<InodeTree>>,
}

impl Repo {
    /// A repo over `store`.
    pub fn new(store: Arc<dyn NodeStore>) -> Self {
        Repo {
            handle: StoreHandle::new(store),
        }
    }

    /// A repo over a fresh [`MemStore`].
    pub fn in_memory() -> Self {
        Repo::new(Arc::new(MemStore::new()))
    }

    /// A repo over the on-disk store at `path` (created if missing).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(Repo::new(Arc::new(crate::pack::DiskStore::open(path)?)))
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn NodeStore> {
        &self.handle.store
    }

    /// Persist every object reachable from `t` not yet in this repo's store,
    /// atomically, and record `t`'s hash as a committed root.
    pub fn commit(&self, t: &Tree) -> Result<Hash, TreeError> {
        let mut batch = Batch::default();
        let root = self.collect(t, &mut batch)?;
        self.handle.store.write_batch(&batch.objects, &[root])?;
        let id = self.handle.id;
        for t in &batch.written {
            match t.view()? {
                View::Node(n) => n.mark_persisted(id),
                View::Contents(c) => c.mark_persisted(id),
            }
        }
        for i in &batch.inodes {
            i.mark_persisted(id);
        }
        Ok(root)
    }

    /// Queue the objects of `t` missing from this repo's store; returns the
    /// hash of `t`.
    fn collect(&self, t: &Tree, batch: &mut Batch) -> Result<Hash, TreeError> {
        let id = self.handle.id;
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
                    batch.objects.push((h, encode_contents(&c.bytes)));
                    batch.written.push(t.clone());
                }
                Ok(h)
            }
            View::Node(n) => {
                let h = n.hash()?;
                if n.persisted_in(id) {
                    return Ok(h);
                }
                let obj = match &n.children {
                    Children::Flat(m) => {
                        let mut entries = Vec::with_capacity(m.len());
                        for (name, child) in m {
                            entries.push((&**name, self.entry(child, batch)?));
                        }
                        encode_node(entries.len(), entries.into_iter())
                    }
                    Children::Trie(Inode::Tree(root)) => self.inode_object(root, batch)?,
                    // A trie root is always a loaded `Tree` inode (built or
                    // decoded as one); its object is the node object.
                    Children::Trie(_) => unreachable!("trie root is a Tree inode"),
                };
                batch.objects.push((h, obj));
                batch.written.push(t.clone());
                Ok(h)
            }
        }
    }

    /// How a child appears in its parent's object (queueing its objects).
    fn entry<'a>(&self, child: &'a Tree, batch: &mut Batch) -> Result<EncEntry<'a>, TreeError> {
        Ok(match child.view_if_loaded_small()? {
            Some((ch, bytes)) => EncEntry::Inline(ch, bytes),
            None => EncEntry::ByHash(child.kind(), self.collect(child, batch)?),
        })
    }

    /// The object bytes of a `Tree` inode (queueing its sub-objects).
    fn inode_object(&self, t: &InodeTree, batch: &mut Batch) -> Result<Vec<u8>, TreeError> {
        let [c0, c1] = &t.children;
        let s0 = self.side(c0.as_ref(), batch)?;
        let s1 = self.side(c1.as_ref(), batch)?;
        Ok(encode_inode(t.depth, t.len, [s0, s1]))
    }

    fn side<'a>(&self, i: Option<&'a Inode>, batch: &mut Batch) -> Result<EncSide<'a>, TreeError> {
        let id = self.handle.id;
        Ok(match i {
            None => EncSide::Empty,
            Some(Inode::Values(v)) => {
                let mut entries = Vec::with_capacity(v.len());
                for (name, child) in v.iter() {
                    entries.push((&**name, self.entry(child, batch)?));
                }
                EncSide::Values(entries)
            }
            Some(Inode::Lazy(l)) => {
                if Arc::ptr_eq(&l.store, &self.handle) {
                    EncSide::Tree(l.hash, l.len)
                } else {
                    // From another repo: copy it over.
                    let loaded = l.resolve()?;
                    return self.side(Some(loaded), batch);
                }
            }
            Some(Inode::Tree(t)) => {
                let h = t.hash()?;
                if !t.persisted_in(id) {
                    let obj = self.inode_object(t, batch)?;
                    batch.objects.push((h, obj));
                    batch.inodes.push(t.clone());
                }
                EncSide::Tree(h, t.len)
            }
        })
    }

    /// The tree committed under `root` (lazy: objects load on access).
    /// Committed roots are nodes (a PVM state always is).
    pub fn checkout(&self, root: Hash) -> Result<Tree, TreeError> {
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
        let store = &self.handle.store;
        let mut live: HashSet<Hash> = HashSet::new();
        let mut stack: Vec<Hash> = Vec::new();
        for r in keep {
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
        let deleted = store.retain(&|h| live.contains(h), keep)?;
        Ok(GcStats {
            live: live.len() as u64,
            deleted,
        })
    }
}

impl Tree {
    /// `Some((hash, bytes))` if this is (already loaded) contents small
    /// enough to be inlined in its parent's object.
    fn view_if_loaded_small(&self) -> Result<Option<(Hash, &[u8])>, TreeError> {
        if self.lazy_ref().is_some() {
            // Lazy contents are objects of their own (inlined ones are
            // always loaded with their parent).
            return Ok(None);
        }
        match self.view()? {
            View::Contents(c) if c.bytes.len() <= INLINE_MAX => Ok(Some((c.hash(), &c.bytes))),
            _ => Ok(None),
        }
    }
}
