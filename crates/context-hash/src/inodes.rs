//! Incremental, persistent form of [`node_hash`](crate::node_hash): the binary inode trie of
//! one node, with memoised hashes, so that changing k entries of an n-entry node costs
//! O(k log n) blake2b calls instead of O(n).
//!
//! The trie is canonical (`irmin/lib_irmin_pack/inode.ml`, `add`/`remove`/`stabilize_root`):
//! a sub-trie holding at most `entries = 2` leaves is a `Values` inode, otherwise a `Tree`
//! split on bit `depth` of the step hash. Hence [`Inodes::hash`] always equals
//! [`node_hash`](crate::node_hash) over the same entries, whatever the history of updates.

use std::sync::{Arc, OnceLock};

use crate::{
    ENTRIES, Entry, EntryKind, Hash, STABLE_HASH, bit, stable_hash_of, step_hash, tree_hash,
    values_hash,
};

/// One entry stored in a `Values` inode.
#[derive(Clone, Debug)]
struct Leaf {
    name: Box<str>,
    kind: EntryKind,
    hash: Hash,
}

#[derive(Clone, Debug)]
enum Inode {
    /// 1 or 2 leaves sorted by name.
    Values {
        leaves: Vec<Leaf>,
        memo: OnceLock<Hash>,
    },
    /// More than 2 leaves below, split on bit `depth`.
    Tree {
        depth: usize,
        len: usize,
        children: [Option<Arc<Inode>>; ENTRIES],
        memo: OnceLock<Hash>,
    },
}

impl Inode {
    fn len(&self) -> usize {
        match self {
            Inode::Values { leaves, .. } => leaves.len(),
            Inode::Tree { len, .. } => *len,
        }
    }

    /// Non-root inode hash (`Bin.v` pre-image), memoised.
    fn hash(&self) -> Hash {
        match self {
            Inode::Values { leaves, memo } => *memo.get_or_init(|| {
                values_hash(
                    leaves.len(),
                    leaves.iter().map(|l| (&*l.name, l.kind, &l.hash)),
                )
            }),
            Inode::Tree {
                depth,
                len,
                children,
                memo,
            } => *memo.get_or_init(|| {
                tree_hash(
                    *depth,
                    *len,
                    [
                        children[0].as_ref().map(|c| c.hash()),
                        children[1].as_ref().map(|c| c.hash()),
                    ],
                )
            }),
        }
    }

    fn collect_leaves(&self, out: &mut Vec<Leaf>) {
        match self {
            Inode::Values { leaves, .. } => out.extend(leaves.iter().cloned()),
            Inode::Tree { children, .. } => {
                for c in children.iter().flatten() {
                    c.collect_leaves(out);
                }
            }
        }
    }
}

fn values(mut leaves: Vec<Leaf>) -> Inode {
    leaves.sort_by(|a, b| a.name.cmp(&b.name));
    Inode::Values {
        leaves,
        memo: OnceLock::new(),
    }
}

/// Build the canonical sub-trie at `depth` over `items` (any order, distinct names).
fn build(depth: usize, items: Vec<(Hash, Leaf)>) -> Inode {
    if items.len() <= ENTRIES {
        return values(items.into_iter().map(|(_, l)| l).collect());
    }
    let len = items.len();
    let (zeros, ones): (Vec<_>, Vec<_>) = items.into_iter().partition(|(s, _)| bit(s, depth) == 0);
    let child =
        |part: Vec<(Hash, Leaf)>| (!part.is_empty()).then(|| Arc::new(build(depth + 1, part)));
    Inode::Tree {
        depth,
        len,
        children: [child(zeros), child(ones)],
        memo: OnceLock::new(),
    }
}

/// Insert or replace `leaf` (with step hash `step`) below `node` at `depth`.
/// Returns whether a new entry was added (false: replaced or unchanged).
fn insert(node: &mut Arc<Inode>, depth: usize, step: &Hash, leaf: Leaf) -> bool {
    if let Inode::Values { leaves, .. } = &**node
        && leaves
            .iter()
            .any(|l| l.name == leaf.name && l.kind == leaf.kind && l.hash == leaf.hash)
    {
        return false;
    }
    let n = Arc::make_mut(node);
    match n {
        Inode::Values { leaves, memo } => {
            *memo = OnceLock::new();
            if let Some(old) = leaves.iter_mut().find(|l| l.name == leaf.name) {
                *old = leaf;
                return false;
            }
            if leaves.len() < ENTRIES {
                leaves.push(leaf);
                leaves.sort_by(|a, b| a.name.cmp(&b.name));
                return true;
            }
            let mut items: Vec<(Hash, Leaf)> =
                leaves.drain(..).map(|l| (step_hash(&l.name), l)).collect();
            items.push((*step, leaf));
            *n = build(depth, items);
            true
        }
        Inode::Tree {
            len,
            children,
            memo,
            ..
        } => {
            let slot = &mut children[bit(step, depth)];
            let added = match slot {
                None => {
                    *slot = Some(Arc::new(values(vec![leaf])));
                    true
                }
                Some(child) => insert(child, depth + 1, step, leaf),
            };
            *memo = OnceLock::new();
            if added {
                *len += 1;
            }
            added
        }
    }
}

/// Remove `name` (step hash `step`) below `node` at `depth`; returns whether it was present.
/// The caller drops `node` if it becomes empty.
fn remove(node: &mut Arc<Inode>, depth: usize, step: &Hash, name: &str) -> bool {
    match &**node {
        Inode::Values { leaves, .. } => {
            if !leaves.iter().any(|l| &*l.name == name) {
                return false;
            }
        }
        Inode::Tree { children, .. } => {
            if children[bit(step, depth)].is_none() {
                return false;
            }
        }
    }
    let n = Arc::make_mut(node);
    match n {
        Inode::Values { leaves, memo } => {
            *memo = OnceLock::new();
            leaves.retain(|l| &*l.name != name);
            true
        }
        Inode::Tree {
            len,
            children,
            memo,
            ..
        } => {
            let i = bit(step, depth);
            let Some(child) = &mut children[i] else {
                return false;
            };
            if !remove(child, depth + 1, step, name) {
                return false;
            }
            if child.len() == 0 {
                children[i] = None;
            }
            *memo = OnceLock::new();
            *len -= 1;
            if *len <= ENTRIES {
                let mut leaves = Vec::with_capacity(ENTRIES);
                for c in children.iter().flatten() {
                    c.collect_leaves(&mut leaves);
                }
                *n = values(leaves);
            }
            true
        }
    }
}

/// The entries of one Irmin node as a persistent binary inode trie with memoised hashes.
///
/// Cheap to clone (shared, copy-on-write). [`Inodes::hash`] equals
/// [`node_hash`](crate::node_hash) over the same entries sorted by name.
#[derive(Clone, Debug, Default)]
pub struct Inodes {
    root: Option<Arc<Inode>>,
}

impl Inodes {
    /// The empty node.
    pub fn new() -> Self {
        Self::default()
    }

    /// Build from entries in any order (names must be distinct). O(n log n).
    pub fn from_entries(entries: &[Entry<'_>]) -> Self {
        if entries.is_empty() {
            return Self::new();
        }
        let items = entries
            .iter()
            .map(|e| {
                (
                    step_hash(e.name),
                    Leaf {
                        name: e.name.into(),
                        kind: e.kind,
                        hash: e.hash,
                    },
                )
            })
            .collect();
        Self {
            root: Some(Arc::new(build(0, items))),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.root.as_ref().map_or(0, |r| r.len())
    }

    /// Whether the node has no entry.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Add the entry `name`, or replace its kind and hash. O(log n).
    pub fn insert(&mut self, name: &str, kind: EntryKind, hash: Hash) {
        let leaf = Leaf {
            name: name.into(),
            kind,
            hash,
        };
        match &mut self.root {
            None => self.root = Some(Arc::new(values(vec![leaf]))),
            Some(root) => {
                insert(root, 0, &step_hash(name), leaf);
            }
        }
    }

    /// Remove the entry `name`; returns whether it was present. O(log n).
    pub fn remove(&mut self, name: &str) -> bool {
        let Some(root) = &mut self.root else {
            return false;
        };
        let removed = remove(root, 0, &step_hash(name), name);
        if root.len() == 0 {
            self.root = None;
        }
        removed
    }

    /// The node hash: "V1" stable pre-image for at most `stable_hash = 2` entries, else the
    /// root `Tree` inode hash (`stabilize_root`). Memoised per inode.
    pub fn hash(&self) -> Hash {
        match &self.root {
            None => stable_hash_of(0, std::iter::empty()),
            Some(root) => match &**root {
                Inode::Values { leaves, .. } => {
                    debug_assert!(leaves.len() <= STABLE_HASH);
                    stable_hash_of(
                        leaves.len(),
                        leaves.iter().map(|l| (&*l.name, l.kind, &l.hash)),
                    )
                }
                Inode::Tree { .. } => root.hash(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::node_hash;

    /// Deterministic xorshift generator.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn reference(m: &BTreeMap<String, (EntryKind, Hash)>) -> Hash {
        let es: Vec<Entry<'_>> = m
            .iter()
            .map(|(name, (kind, hash))| Entry {
                name,
                kind: *kind,
                hash: *hash,
            })
            .collect();
        node_hash(&es)
    }

    #[test]
    fn random_updates_match_node_hash() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut m = BTreeMap::new();
        let mut t = Inodes::new();
        assert_eq!(t.hash(), reference(&m));
        for step in 0..3000 {
            let r = rng.next();
            let name = format!("n{}", r % 200);
            if r % 5 < 2 {
                let present = m.remove(&name).is_some();
                assert_eq!(t.remove(&name), present);
            } else {
                let kind = if r.is_multiple_of(7) {
                    EntryKind::Node
                } else {
                    EntryKind::Contents
                };
                let hash = Hash([(r >> 8) as u8; 32]);
                m.insert(name.clone(), (kind, hash));
                t.insert(&name, kind, hash);
            }
            assert_eq!(t.len(), m.len());
            if step % 7 == 0 {
                assert_eq!(t.hash(), reference(&m), "step {step}");
            }
        }
        // Drain to empty.
        let names: Vec<String> = m.keys().cloned().collect();
        for name in names {
            m.remove(&name);
            assert!(t.remove(&name));
            assert_eq!(t.hash(), reference(&m));
        }
        assert!(t.is_empty());
    }

    #[test]
    fn clones_are_independent_and_from_entries_agrees() {
        let names: Vec<String> = (0..500).map(|i| format!("key{i:04}")).collect();
        let es: Vec<Entry<'_>> = names
            .iter()
            .map(|name| Entry {
                name,
                kind: EntryKind::Contents,
                hash: Hash([1; 32]),
            })
            .collect();
        let a = Inodes::from_entries(&es);
        assert_eq!(a.hash(), node_hash(&es));
        let mut b = a.clone();
        b.insert("key0042", EntryKind::Node, Hash([2; 32]));
        assert_eq!(a.hash(), node_hash(&es));
        let mut es2 = es.clone();
        es2[42].kind = EntryKind::Node;
        es2[42].hash = Hash([2; 32]);
        assert_eq!(b.hash(), node_hash(&es2));
        // Re-inserting identical values changes nothing.
        b.insert("key0042", EntryKind::Node, Hash([2; 32]));
        assert_eq!(b.hash(), node_hash(&es2));
        assert!(!b.remove("absent"));
        assert_eq!(b.len(), 500);
    }
}
