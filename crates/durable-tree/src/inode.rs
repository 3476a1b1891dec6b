//! Children of a node, and the binary inode trie used for large nodes.
//!
//! Irmin hashes a node with more than 2 entries as the root of a binary trie
//! over the blake2b hashes of the entry names (`Hash_bits`, one bit per
//! level, MSB first): a sub-trie of at most 2 entries is a `Values` inode,
//! a larger one a `Tree` inode split on the next bit (wasm-pvm.md §7.3;
//! `context-hash` documents the pre-images). Large nodes (more than
//! [`FLAT_MAX`] children) are kept in exactly that shape, with the hash of
//! every `Tree` inode memoised, so changing one child of a node with `n`
//! children re-hashes `O(log n)` inodes instead of `O(n)`, and a commit
//! writes `O(log n)` small inode objects instead of the whole node.
//!
//! The shape is canonical (a function of the entry set), so the memoised
//! hashes are Irmin's inode hashes; tests check them against
//! `context_hash::node_hash`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use context_hash::{Entry, EntryKind, Hash};

use crate::store::{self, StoreHandle};
use crate::tree::{Kind, Tree, TreeError};

/// Nodes with more children than this switch to the inode trie.
pub(crate) const FLAT_MAX: usize = 32;
/// Trie nodes with this many children or fewer switch back to a flat map
/// (hysteresis; the representation never changes the hash). Must be > 2.
pub(crate) const FLAT_MIN: usize = 16;

/// Number of children of a `Tree` inode (`entries = 2`).
const ENTRIES: usize = 2;

/// The children of a node.
#[derive(Clone)]
pub(crate) enum Children {
    /// A plain sorted map (small nodes).
    Flat(BTreeMap<Box<str>, Tree>),
    /// The root (depth 0) of an inode trie; always a `Tree` inode holding
    /// more than [`FLAT_MIN`] entries.
    Trie(Inode),
}

/// One inode of the trie.
#[derive(Clone)]
pub(crate) enum Inode {
    /// At most 2 entries, sorted by name (never empty inside a trie).
    Values(Arc<Vec<(Box<str>, Tree)>>),
    /// More than 2 entries, split on bit `depth` of the step hash.
    Tree(Arc<InodeTree>),
    /// A `Tree` inode not loaded yet.
    Lazy(Arc<LazyInode>),
}

pub(crate) struct InodeTree {
    pub(crate) depth: u32,
    pub(crate) len: u64,
    pub(crate) children: [Option<Inode>; ENTRIES],
    memo: OnceLock<Hash>,
    /// Id of the store handle this inode is known to be stored in (0: none).
    persisted: AtomicU64,
}

impl Clone for InodeTree {
    fn clone(&self) -> Self {
        InodeTree {
            depth: self.depth,
            len: self.len,
            children: self.children.clone(),
            memo: OnceLock::new(),
            persisted: AtomicU64::new(0),
        }
    }
}

pub(crate) struct LazyInode {
    pub(crate) hash: Hash,
    pub(crate) len: u64,
    pub(crate) depth: u32,
    pub(crate) store: Arc<StoreHandle>,
    loaded: OnceLock<Inode>,
}

/// Names up to this length have their step hash cached ([`step_hash`]).
const STEP_CACHE_NAME_MAX: usize = 64;
/// Entries of the per-thread step-hash cache before it is cleared.
const STEP_CACHE_CAP: usize = 16 * 1024;

/// FxHash-style string hasher for the step-hash cache (names are not
/// attacker-chosen in a way that matters here: a collision only costs time,
/// and the cache is bounded).
#[derive(Default, Clone, Copy)]
struct BuildFx;

struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
}

impl std::hash::BuildHasher for BuildFx {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

/// `context_hash::step_hash`, memoised per thread for short names: a durable
/// access hashes the same step once per traversal of a large node, and
/// several traversals of one key are common (read, then write).
pub(crate) fn step_hash(name: &str) -> Hash {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static CACHE: RefCell<HashMap<Box<str>, Hash, BuildFx>> =
            const { RefCell::new(HashMap::with_hasher(BuildFx)) };
    }
    if name.len() > STEP_CACHE_NAME_MAX {
        return context_hash::step_hash(name);
    }
    CACHE.with_borrow_mut(|c| {
        if let Some(h) = c.get(name) {
            return *h;
        }
        let h = context_hash::step_hash(name);
        if c.len() >= STEP_CACHE_CAP {
            c.clear();
        }
        c.insert(name.into(), h);
        h
    })
}

/// Bit `depth` (MSB first) of a step hash.
fn bit(h: &Hash, depth: u32) -> usize {
    let d = depth as usize;
    // Depth is bounded by 256 bits of hash; Irmin itself stops at 50.
    usize::from((h.0[(d / 8) % 32] >> (7 - d % 8)) & 1)
}

fn hasher() -> blake2b_simd::State {
    blake2b_simd::Params::new().hash_length(32).to_state()
}

fn finish(st: &blake2b_simd::State) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(st.finalize().as_bytes());
    Hash(out)
}

fn put_varint(st: &mut blake2b_simd::State, mut n: u64) {
    let mut buf = [0u8; 10];
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf[i] = byte;
            i += 1;
            break;
        }
        buf[i] = byte | 0x80;
        i += 1;
    }
    st.update(&buf[..i]);
}

/// `Values` inode pre-image: `0 ‖ count ‖ (name len ‖ name ‖ kind ‖ hash)*`
/// (LEB128 integers, kind 0 = node, 1 = contents), entries sorted by name.
/// Same pre-image as `context-hash` (checked by tests).
fn values_hash(entries: &[(Box<str>, Tree)]) -> Result<Hash, TreeError> {
    let mut st = hasher();
    put_varint(&mut st, 0);
    put_varint(&mut st, entries.len() as u64);
    for (name, t) in entries {
        put_varint(&mut st, name.len() as u64);
        st.update(name.as_bytes());
        put_varint(
            &mut st,
            match t.kind() {
                Kind::Node => 0,
                Kind::Contents => 1,
            },
        );
        st.update(&t.hash()?.0);
    }
    Ok(finish(&st))
}

/// `Tree` inode pre-image: `1 ‖ depth ‖ len ‖ non-empty children ‖
/// (index ‖ hash)*` (LEB128 integers).
fn tree_hash(depth: u32, len: u64, children: [Option<Hash>; ENTRIES]) -> Hash {
    let mut st = hasher();
    put_varint(&mut st, 1);
    put_varint(&mut st, u64::from(depth));
    put_varint(&mut st, len);
    put_varint(&mut st, children.iter().flatten().count() as u64);
    for (index, child) in children.iter().enumerate() {
        if let Some(child) = child {
            put_varint(&mut st, index as u64);
            st.update(&child.0);
        }
    }
    finish(&st)
}

/// Build the canonical sub-trie at `depth` over `items` (any order).
fn build(mut items: Vec<(Hash, Box<str>, Tree)>, depth: u32) -> Inode {
    if items.len() <= ENTRIES {
        items.sort_by(|a, b| a.1.cmp(&b.1));
        return Inode::Values(Arc::new(
            items.into_iter().map(|(_, n, t)| (n, t)).collect(),
        ));
    }
    let len = items.len() as u64;
    let (ones, zeros): (Vec<_>, Vec<_>) =
        items.into_iter().partition(|(h, _, _)| bit(h, depth) == 1);
    let side = |v: Vec<(Hash, Box<str>, Tree)>| (!v.is_empty()).then(|| build(v, depth + 1));
    Inode::Tree(Arc::new(InodeTree::new(
        depth,
        len,
        [side(zeros), side(ones)],
        None,
        0,
    )))
}

impl InodeTree {
    pub(crate) fn new(
        depth: u32,
        len: u64,
        children: [Option<Inode>; ENTRIES],
        hash: Option<Hash>,
        persisted: u64,
    ) -> Self {
        let memo = OnceLock::new();
        if let Some(h) = hash {
            let _ = memo.set(h);
        }
        InodeTree {
            depth,
            len,
            children,
            memo,
            persisted: AtomicU64::new(persisted),
        }
    }

    pub(crate) fn hash(&self) -> Result<Hash, TreeError> {
        if let Some(h) = self.memo.get() {
            return Ok(*h);
        }
        let mut hs = [None, None];
        for (slot, c) in hs.iter_mut().zip(&self.children) {
            if let Some(c) = c {
                *slot = Some(c.hash()?);
            }
        }
        let h = tree_hash(self.depth, self.len, hs);
        let _ = self.memo.set(h);
        Ok(h)
    }

    pub(crate) fn persisted_in(&self, id: u64) -> bool {
        self.persisted.load(Ordering::Relaxed) == id
    }

    pub(crate) fn mark_persisted(&self, id: u64) {
        self.persisted.store(id, Ordering::Relaxed);
    }
}

impl LazyInode {
    pub(crate) fn new(hash: Hash, len: u64, depth: u32, store: Arc<StoreHandle>) -> Self {
        LazyInode {
            hash,
            len,
            depth,
            store,
            loaded: OnceLock::new(),
        }
    }

    pub(crate) fn resolve(&self) -> Result<&Inode, TreeError> {
        if let Some(i) = self.loaded.get() {
            return Ok(i);
        }
        let i = store::load_inode(&self.store, &self.hash, self.depth)?;
        let _ = self.loaded.set(i);
        Ok(self.loaded.get().expect("just set"))
    }
}

fn tree_mut(t: &mut Arc<InodeTree>) -> &mut InodeTree {
    let t = Arc::make_mut(t);
    t.memo = OnceLock::new();
    *t.persisted.get_mut() = 0;
    t
}

impl Inode {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Inode::Values(v) => v.len() as u64,
            Inode::Tree(t) => t.len,
            Inode::Lazy(l) => l.len,
        }
    }

    /// The Irmin inode hash.
    pub(crate) fn hash(&self) -> Result<Hash, TreeError> {
        match self {
            Inode::Values(v) => values_hash(v),
            Inode::Tree(t) => t.hash(),
            Inode::Lazy(l) => Ok(l.hash),
        }
    }

    fn resolve_in_place(&mut self) -> Result<(), TreeError> {
        if let Inode::Lazy(l) = self {
            let loaded = l.resolve()?.clone();
            *self = loaded;
        }
        Ok(())
    }

    fn get(&self, name: &str, sh: &Hash, depth: u32) -> Result<Option<&Tree>, TreeError> {
        match self {
            Inode::Values(v) => Ok(v.iter().find(|(n, _)| &**n == name).map(|(_, t)| t)),
            Inode::Tree(t) => match &t.children[bit(sh, depth)] {
                None => Ok(None),
                Some(c) => c.get(name, sh, depth + 1),
            },
            Inode::Lazy(l) => l.resolve()?.get(name, sh, depth),
        }
    }

    fn get_mut(
        &mut self,
        name: &str,
        sh: &Hash,
        depth: u32,
    ) -> Result<Option<&mut Tree>, TreeError> {
        self.resolve_in_place()?;
        match self {
            Inode::Values(v) => Ok(Arc::make_mut(v)
                .iter_mut()
                .find(|(n, _)| &**n == name)
                .map(|(_, t)| t)),
            Inode::Tree(t) => match &mut tree_mut(t).children[bit(sh, depth)] {
                None => Ok(None),
                Some(c) => c.get_mut(name, sh, depth + 1),
            },
            Inode::Lazy(_) => unreachable!("resolved above"),
        }
    }

    /// Insert or replace; returns whether an entry was added.
    fn insert(&mut self, name: &str, sh: Hash, tree: Tree, depth: u32) -> Result<bool, TreeError> {
        self.resolve_in_place()?;
        match self {
            Inode::Values(v) => {
                let v = Arc::make_mut(v);
                if let Some(e) = v.iter_mut().find(|(n, _)| &**n == name) {
                    e.1 = tree;
                    return Ok(false);
                }
                if v.len() < ENTRIES {
                    let pos = v.partition_point(|(n, _)| &**n < name);
                    v.insert(pos, (name.into(), tree));
                    return Ok(true);
                }
                let mut items: Vec<(Hash, Box<str>, Tree)> = std::mem::take(v)
                    .into_iter()
                    .map(|(n, t)| (step_hash(&n), n, t))
                    .collect();
                items.push((sh, name.into(), tree));
                *self = build(items, depth);
                Ok(true)
            }
            Inode::Tree(t) => {
                let t = tree_mut(t);
                let added = match &mut t.children[bit(&sh, depth)] {
                    slot @ None => {
                        *slot = Some(Inode::Values(Arc::new(vec![(name.into(), tree)])));
                        true
                    }
                    Some(c) => c.insert(name, sh, tree, depth + 1)?,
                };
                if added {
                    t.len += 1;
                }
                Ok(added)
            }
            Inode::Lazy(_) => unreachable!("resolved above"),
        }
    }

    /// Remove `name`, which must be present; keeps the trie canonical.
    fn remove(&mut self, name: &str, sh: &Hash, depth: u32) -> Result<(), TreeError> {
        self.resolve_in_place()?;
        match self {
            Inode::Values(v) => {
                Arc::make_mut(v).retain(|(n, _)| &**n != name);
                Ok(())
            }
            Inode::Tree(t) => {
                let t = tree_mut(t);
                let slot = &mut t.children[bit(sh, depth)];
                if let Some(c) = slot {
                    c.remove(name, sh, depth + 1)?;
                    if c.len() == 0 {
                        *slot = None;
                    }
                }
                t.len -= 1;
                if t.len <= ENTRIES as u64 {
                    // Children of at most 2 entries are always `Values`.
                    let mut entries = Vec::new();
                    for c in t.children.iter().flatten() {
                        match c {
                            Inode::Values(v) => entries.extend(v.iter().cloned()),
                            _ => unreachable!("a sub-trie of <= 2 entries is a Values inode"),
                        }
                    }
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    *self = Inode::Values(Arc::new(entries));
                }
                Ok(())
            }
            Inode::Lazy(_) => unreachable!("resolved above"),
        }
    }

    /// Every entry of the sub-trie (any order), loading it fully.
    pub(crate) fn collect<'a>(
        &'a self,
        out: &mut Vec<(&'a str, &'a Tree)>,
    ) -> Result<(), TreeError> {
        match self {
            Inode::Values(v) => out.extend(v.iter().map(|(n, t)| (&**n, t))),
            Inode::Tree(t) => {
                for c in t.children.iter().flatten() {
                    c.collect(out)?;
                }
            }
            Inode::Lazy(l) => l.resolve()?.collect(out)?,
        }
        Ok(())
    }
}

impl Children {
    pub(crate) fn new() -> Self {
        Children::Flat(BTreeMap::new())
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Children::Flat(m) => m.len() as u64,
            Children::Trie(i) => i.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get(&self, name: &str) -> Result<Option<&Tree>, TreeError> {
        match self {
            Children::Flat(m) => Ok(m.get(name)),
            Children::Trie(i) => i.get(name, &step_hash(name), 0),
        }
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Result<Option<&mut Tree>, TreeError> {
        match self {
            Children::Flat(m) => Ok(m.get_mut(name)),
            Children::Trie(i) => i.get_mut(name, &step_hash(name), 0),
        }
    }

    /// The child `name`, inserting an empty node first if absent (one step
    /// hash, however large the node). Returns whether it was inserted.
    pub(crate) fn get_or_insert_empty(
        &mut self,
        name: &str,
    ) -> Result<(&mut Tree, bool), TreeError> {
        if let Children::Flat(m) = self {
            let inserted = !m.contains_key(name);
            if inserted {
                m.insert(name.into(), Tree::empty());
                // May have grown past FLAT_MAX: then this becomes a trie.
                self.insert_rebuild()?;
            }
            let t = self.get_mut(name)?.expect("present: inserted above");
            return Ok((t, inserted));
        }
        let sh = step_hash(name);
        let Children::Trie(i) = self else {
            unreachable!("flat handled above")
        };
        let inserted = i.get(name, &sh, 0)?.is_none();
        if inserted {
            i.insert(name, sh, Tree::empty(), 0)?;
        }
        let t = i.get_mut(name, &sh, 0)?.expect("present: inserted above");
        Ok((t, inserted))
    }

    /// Turn a flat map grown past [`FLAT_MAX`] into a trie.
    fn insert_rebuild(&mut self) -> Result<(), TreeError> {
        if let Children::Flat(m) = self
            && m.len() > FLAT_MAX
        {
            let items = std::mem::take(m)
                .into_iter()
                .map(|(n, t)| (step_hash(&n), n, t))
                .collect();
            *self = Children::Trie(build(items, 0));
        }
        Ok(())
    }

    pub(crate) fn insert(&mut self, name: &str, tree: Tree) -> Result<(), TreeError> {
        match self {
            Children::Flat(m) => {
                match m.get_mut(name) {
                    Some(slot) => *slot = tree,
                    None => {
                        m.insert(name.into(), tree);
                    }
                }
                self.insert_rebuild()
            }
            Children::Trie(i) => {
                i.insert(name, step_hash(name), tree, 0)?;
                Ok(())
            }
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> Result<(), TreeError> {
        match self {
            Children::Flat(m) => {
                m.remove(name);
                Ok(())
            }
            Children::Trie(i) => {
                let sh = step_hash(name);
                if i.get(name, &sh, 0)?.is_none() {
                    return Ok(());
                }
                i.remove(name, &sh, 0)?;
                if i.len() <= FLAT_MIN as u64 {
                    let mut entries = Vec::new();
                    i.collect(&mut entries)?;
                    let m = entries
                        .into_iter()
                        .map(|(n, t)| (Box::from(n), t.clone()))
                        .collect();
                    *self = Children::Flat(m);
                }
                Ok(())
            }
        }
    }

    /// All entries sorted by name (loads a trie fully).
    pub(crate) fn sorted(&self) -> Result<Vec<(&str, &Tree)>, TreeError> {
        match self {
            Children::Flat(m) => Ok(m.iter().map(|(n, t)| (&**n, t)).collect()),
            Children::Trie(i) => {
                let mut v = Vec::with_capacity(usize::try_from(i.len()).unwrap_or(0));
                i.collect(&mut v)?;
                v.sort_unstable_by(|a, b| a.0.cmp(b.0));
                Ok(v)
            }
        }
    }

    /// The Irmin node hash.
    pub(crate) fn hash(&self) -> Result<Hash, TreeError> {
        match self {
            Children::Flat(m) => {
                let mut hashes = Vec::with_capacity(m.len());
                for child in m.values() {
                    hashes.push(child.hash()?);
                }
                let entries: Vec<Entry<'_>> = m
                    .iter()
                    .zip(hashes)
                    .map(|((name, child), hash)| Entry {
                        name,
                        kind: match child.kind() {
                            Kind::Node => EntryKind::Node,
                            Kind::Contents => EntryKind::Contents,
                        },
                        hash,
                    })
                    .collect();
                Ok(context_hash::node_hash(&entries))
            }
            // Always more than 2 entries: the node hash is the root inode's.
            Children::Trie(i) => i.hash(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(i: u32) -> Tree {
        Tree::contents(i.to_be_bytes().to_vec())
    }

    fn flat_hash(names: &BTreeMap<String, u32>) -> Hash {
        let m = names
            .iter()
            .map(|(n, i)| (Box::from(n.as_str()), c(*i)))
            .collect();
        Children::Flat(m).hash().unwrap()
    }

    /// Check that the trie and context_hash agree through growth and
    /// shrinkage across both thresholds.
    #[test]
    fn trie_hash_matches_context_hash() {
        let mut ch = Children::new();
        let mut model: BTreeMap<String, u32> = BTreeMap::new();
        let mut x: u32 = 12345;
        for round in 0..1200u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let name = format!("k{}", (x >> 8) % 300);
            if round < 600 || !x.is_multiple_of(3) {
                ch.insert(&name, c(round)).unwrap();
                model.insert(name, round);
            } else {
                ch.remove(&name).unwrap();
                model.remove(&name);
            }
            if round % 7 == 0 || model.len() < 40 {
                assert_eq!(ch.len(), model.len() as u64);
                assert_eq!(ch.hash().unwrap(), flat_hash(&model), "round {round}");
            }
        }
        assert!(matches!(ch, Children::Trie(_)));
        // Shrink to nothing.
        let names: Vec<String> = model.keys().cloned().collect();
        for (i, n) in names.iter().enumerate() {
            ch.remove(n).unwrap();
            model.remove(n);
            if i % 5 == 0 || model.len() < 40 {
                assert_eq!(ch.hash().unwrap(), flat_hash(&model));
            }
        }
        assert!(matches!(&ch, Children::Flat(m) if m.is_empty()));
    }

    #[test]
    fn trie_lookup_and_sorted_listing() {
        let mut ch = Children::new();
        for i in 0..100u32 {
            ch.insert(&format!("n{i:03}"), c(i)).unwrap();
        }
        assert!(matches!(ch, Children::Trie(_)));
        for i in 0..100u32 {
            let t = ch.get(&format!("n{i:03}")).unwrap().unwrap();
            assert_eq!(t.get_contents(&[]).unwrap().unwrap(), i.to_be_bytes());
        }
        assert!(ch.get("zz").unwrap().is_none());
        let names: Vec<&str> = ch.sorted().unwrap().into_iter().map(|x| x.0).collect();
        let expected: Vec<String> = (0..100).map(|i| format!("n{i:03}")).collect();
        assert_eq!(names, expected);
        // Replace keeps the length.
        ch.insert("n005", c(999)).unwrap();
        assert_eq!(ch.len(), 100);
        // Removing an absent name is a no-op.
        ch.remove("absent").unwrap();
        assert_eq!(ch.len(), 100);
    }
}
