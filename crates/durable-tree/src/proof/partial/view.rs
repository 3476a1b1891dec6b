//! Subtree handles and listing on a [`StepTree`], for
//! [`TreeAccess`](crate::access::TreeAccess): a handle is a [`StepTree`] over the working
//! subtree found at a path (sharing what it loads with the tree it comes from); listing a
//! node loads all its inodes, as Irmin's `Tree.list` does (`docs/reference/wasm-ticks.md` §4).

use std::cell::{Cell, OnceCell};
use std::rc::Rc;

use context_hash::Hash;

use super::{Cur, Inode, NCell, Obj, StepTree, WNode, Work, fresh, is_empty, update, work_hash};
use crate::proof::ProofError;
use crate::tree::Kind;

/// The empty node, as the `before` of a handle on a subtree made by the computation (a
/// handle's `before` is never shown in a proof: only the root's is).
fn empty_obj() -> Obj {
    Obj::N(Rc::new(NCell {
        hash: crate::tree::empty_node_hash(),
        src: Some(crate::tree::Tree::empty()),
        root: OnceCell::from(Inode::Values(Vec::new())),
        opened: Cell::new(false),
    }))
}

fn over(work: Work) -> StepTree {
    let before = match &work {
        Work::Orig(o) => o.clone(),
        _ => empty_obj(),
    };
    StepTree { before, work }
}

fn obj_kind(o: &Obj) -> Kind {
    match o {
        Obj::C(_) => Kind::Contents,
        Obj::N(_) => Kind::Node,
    }
}

/// Every entry of an inode, loading the inodes below it.
fn inode_entries(i: &Inode, path: &[&str], out: &mut Vec<(String, Obj)>) -> Result<(), ProofError> {
    match i {
        Inode::Values(es) => out.extend(es.iter().cloned()),
        Inode::Tree { kids, .. } => {
            for k in kids.iter().flatten() {
                inode_entries(k.open(path)?, path, out)?;
            }
        }
    }
    Ok(())
}

fn node_entries(n: &NCell, path: &[&str]) -> Result<Vec<(String, Obj)>, ProofError> {
    let mut out = Vec::new();
    inode_entries(n.open(path)?, path, &mut out)?;
    Ok(out)
}

fn work_entries(wn: &WNode, path: &[&str]) -> Result<Vec<(String, Kind)>, ProofError> {
    let mut out: std::collections::BTreeMap<String, Kind> = std::collections::BTreeMap::new();
    if let Some(n) = &wn.base {
        for (name, o) in node_entries(n, path)? {
            out.insert(name, obj_kind(&o));
        }
    }
    for (step, u) in &wn.updates {
        match u {
            None => {
                out.remove(step);
            }
            Some(w) if is_empty(w, path)? => {
                out.remove(step);
            }
            Some(w) => {
                let k = match w {
                    Work::Contents(_) | Work::Orig(Obj::C(_)) => Kind::Contents,
                    _ => Kind::Node,
                };
                out.insert(step.clone(), k);
            }
        }
    }
    Ok(out.into_iter().collect())
}

impl StepTree {
    /// The subtree at `path` as a handle (Irmin `Tree.find_tree`): nothing of it is loaded;
    /// reads through it are recorded as reads of this tree.
    pub fn subtree(&self, path: &[&str]) -> Result<Option<StepTree>, ProofError> {
        Ok(match self.walk(path)? {
            None => None,
            Some(Cur::O(o)) => Some(over(Work::Orig(o))),
            Some(Cur::W(w)) => Some(over(w.clone())),
        })
    }

    /// The children of the node at `path`, sorted by name (Irmin `Tree.list`: the whole node
    /// is loaded); empty when absent or contents.
    pub fn children(&self, path: &[&str]) -> Result<Vec<(String, Kind)>, ProofError> {
        let mut out = match self.walk(path)? {
            None | Some(Cur::W(Work::Contents(_))) => Vec::new(),
            Some(Cur::O(Obj::C(_))) | Some(Cur::W(Work::Orig(Obj::C(_)))) => Vec::new(),
            Some(Cur::O(Obj::N(n))) => node_entries(&n, path)?
                .into_iter()
                .map(|(name, o)| (name, obj_kind(&o)))
                .collect(),
            Some(Cur::W(Work::Orig(Obj::N(n)))) => node_entries(n, path)?
                .into_iter()
                .map(|(name, o)| (name, obj_kind(&o)))
                .collect(),
            Some(Cur::W(Work::Node(wn))) => work_entries(wn, path)?,
        };
        out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(out)
    }

    /// The number of children of the node at `path` (Irmin `Tree.length`): an unchanged node
    /// loads its root inode only (a large node's length is stored there); a changed one is
    /// listed ([`StepTree::children`]); 0 when absent or contents.
    pub fn length(&self, path: &[&str]) -> Result<u64, ProofError> {
        let n = match self.walk(path)? {
            Some(Cur::O(Obj::N(n))) => n,
            Some(Cur::W(Work::Orig(Obj::N(n)))) => n.clone(),
            Some(Cur::W(Work::Node(_))) => {
                return u64::try_from(self.children(path)?.len())
                    .map_err(|_| ProofError::Invalid("node length"));
            }
            _ => return Ok(0),
        };
        Ok(match n.open(path)? {
            Inode::Values(es) => {
                u64::try_from(es.len()).map_err(|_| ProofError::Invalid("node length"))?
            }
            Inode::Tree { len, .. } => *len,
        })
    }

    /// The hash of the subtree at `path` (Irmin `Tree.find_tree` then `Tree.hash`): nothing
    /// of an unchanged subtree is loaded (its hash is in its parent's entry).
    pub fn find_hash(&self, path: &[&str]) -> Result<Option<Hash>, ProofError> {
        Ok(match self.walk(path)? {
            None => None,
            Some(Cur::O(o)) => Some(o.hash()),
            Some(Cur::W(w)) => {
                let mut p: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
                Some(work_hash(w, &mut p)?.1)
            }
        })
    }

    /// Put a handle at `path` (Irmin `Tree.add_tree`): an empty node removes `path`.
    pub fn put_subtree(&mut self, path: &[&str], sub: StepTree) -> Result<(), ProofError> {
        update(&mut self.work, path, path, Some(sub.work))
    }
}

impl Default for StepTree {
    /// The empty node.
    fn default() -> Self {
        over(fresh())
    }
}
