//! A tiny test-only Irmin-like tree (nested `BTreeMap`), hashed with `context-hash`.

use std::collections::BTreeMap;

use context_hash::{Entry, EntryKind, Hash, contents_hash, node_hash};

/// A node or a contents blob.
#[derive(Clone, Debug)]
pub(crate) enum T {
    /// Contents blob.
    C(Vec<u8>),
    /// Node with named children.
    N(BTreeMap<String, T>),
}

impl T {
    /// Empty node.
    pub(crate) fn empty() -> Self {
        T::N(BTreeMap::new())
    }

    /// Set `bytes` at `path` (creating intermediate nodes).
    pub(crate) fn set(&mut self, path: &str, bytes: impl Into<Vec<u8>>) {
        let steps: Vec<&str> = path.split('/').collect();
        self.set_steps(&steps, T::C(bytes.into()));
    }

    /// Set a subtree at `path`.
    pub(crate) fn set_tree(&mut self, path: &str, tree: T) {
        let steps: Vec<&str> = path.split('/').collect();
        self.set_steps(&steps, tree);
    }

    fn set_steps(&mut self, steps: &[&str], v: T) {
        let T::N(m) = self else { panic!("not a node") };
        if steps.len() == 1 {
            m.insert(steps[0].to_owned(), v);
        } else {
            let child = m.entry(steps[0].to_owned()).or_insert_with(T::empty);
            if let T::C(_) = child {
                *child = T::empty();
            }
            child.set_steps(&steps[1..], v);
        }
    }

    /// Remove `path`, pruning nodes left empty (Irmin `update_tree`).
    pub(crate) fn remove(&mut self, path: &str) {
        let steps: Vec<&str> = path.split('/').collect();
        self.remove_steps(&steps);
    }

    fn remove_steps(&mut self, steps: &[&str]) {
        let T::N(m) = self else { return };
        if steps.len() == 1 {
            m.remove(steps[0]);
            return;
        }
        if let Some(child) = m.get_mut(steps[0]) {
            child.remove_steps(&steps[1..]);
            if matches!(child, T::N(c) if c.is_empty()) {
                m.remove(steps[0]);
            }
        }
    }

    /// Get the subtree at `path`.
    pub(crate) fn get(&self, path: &str) -> Option<&T> {
        let mut cur = self;
        for s in path.split('/') {
            let T::N(m) = cur else { return None };
            cur = m.get(s)?;
        }
        Some(cur)
    }

    /// Irmin hash.
    pub(crate) fn hash(&self) -> Hash {
        match self {
            T::C(b) => contents_hash(b),
            T::N(m) => {
                let hashes: Vec<(EntryKind, Hash)> = m
                    .values()
                    .map(|v| match v {
                        T::C(_) => (EntryKind::Contents, v.hash()),
                        T::N(_) => (EntryKind::Node, v.hash()),
                    })
                    .collect();
                let entries: Vec<Entry<'_>> = m
                    .keys()
                    .zip(&hashes)
                    .map(|(name, (kind, hash))| Entry {
                        name,
                        kind: *kind,
                        hash: *hash,
                    })
                    .collect();
                node_hash(&entries)
            }
        }
    }

    /// Print all paths (debug aid).
    pub(crate) fn dump(&self, prefix: &str, out: &mut String) {
        match self {
            T::C(b) => {
                use std::fmt::Write;
                let shown: String = if b.len() > 24 {
                    format!("{}… ({} bytes)", hex(&b[..24]), b.len())
                } else {
                    hex(b)
                };
                writeln!(out, "{prefix} = {shown}").unwrap();
            }
            T::N(m) => {
                for (k, v) in m {
                    v.dump(&format!("{prefix}/{k}"), out);
                }
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
