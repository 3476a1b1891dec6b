//! The narrow access to a state tree that a tick of the PVM needs (issue 13): the same step
//! code runs on a plain [`Tree`] (execution) and on a
//! [`StepTree`](crate::proof::partial::StepTree) (proof production and verification, which
//! records what is loaded), so that a tick and its proof have one semantics
//! (`docs/reference/wasm-ticks.md` §1.1, §4).
//!
//! The operations are Irmin's `Tree` functions that `lib_tree_encoding` uses
//! (`src/lib_tree_encoding/tree_encoding.ml` backends: `find`, `find_tree`, `list`, `add`,
//! `add_tree`, `remove`), with their loading behaviour on a [`StepTree`]: a lookup loads the
//! nodes and inodes on the way to the step and the contents read; [`TreeAccess::get_tree`]
//! loads nothing of the subtree it returns (a lazy handle, as a lazy structure's origin is);
//! [`TreeAccess::list`] loads the whole node (all its inodes).
//!
//! A subtree handle is the same type as the tree (`Self`): reads through a handle taken from
//! a [`StepTree`] are recorded in the same proof, and putting the handle back elsewhere
//! ([`TreeAccess::set_tree`]) is Irmin's `add_tree` of a kept subtree (no load).

use crate::proof::ProofError;
use crate::proof::partial::StepTree;
use crate::tree::{Kind, Tree, TreeError};

/// An error of a tree access: a plain tree's (a store read) or a partial tree's (a blinded
/// part reached: the proof does not hold what the step reads).
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Reading or writing the plain tree failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The partial tree lacks what is read, or is inconsistent.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// Read and write access to a state tree, implemented by [`Tree`] and [`StepTree`].
///
/// `Default` is the empty node; `Clone` is cheap (shared structure) and, on a [`StepTree`],
/// clones share what they load.
pub trait TreeAccess: Sized + Clone + Default {
    /// The contents at `path` (Irmin `Tree.find`): `None` when absent or a node.
    fn get_contents(&self, path: &[&str]) -> Result<Option<Vec<u8>>, AccessError>;

    /// The kind of what is at `path` (Irmin `Tree.find_tree` then `kind`), not loading it.
    fn kind(&self, path: &[&str]) -> Result<Option<Kind>, AccessError>;

    /// The subtree at `path` (`[]`: the whole tree) as a handle of the same type (Irmin
    /// `Tree.find_tree`): `None` when absent or below contents.
    fn get_tree(&self, path: &[&str]) -> Result<Option<Self>, AccessError>;

    /// The children of the node at `path`, sorted by name, with their kinds (Irmin
    /// `Tree.list`); empty when absent or contents.
    fn list(&self, path: &[&str]) -> Result<Vec<(String, Kind)>, AccessError>;

    /// Set contents at `path` (Irmin `Tree.add`).
    fn set_contents(&mut self, path: &[&str], bytes: Vec<u8>) -> Result<(), AccessError>;

    /// Put `sub` at `path` (Irmin `Tree.add_tree`): an empty node removes `path`.
    fn set_tree(&mut self, path: &[&str], sub: Self) -> Result<(), AccessError>;

    /// Remove what is at `path` (Irmin `Tree.remove`), pruning the parents left empty.
    fn remove(&mut self, path: &[&str]) -> Result<(), AccessError>;
}

impl TreeAccess for Tree {
    fn get_contents(&self, path: &[&str]) -> Result<Option<Vec<u8>>, AccessError> {
        Ok(Tree::get_contents(self, path)?)
    }

    fn kind(&self, path: &[&str]) -> Result<Option<Kind>, AccessError> {
        Ok(self.find(path)?.map(Tree::kind))
    }

    fn get_tree(&self, path: &[&str]) -> Result<Option<Self>, AccessError> {
        Ok(self.get(path)?)
    }

    fn list(&self, path: &[&str]) -> Result<Vec<(String, Kind)>, AccessError> {
        Ok(Tree::list(self, path)?)
    }

    fn set_contents(&mut self, path: &[&str], bytes: Vec<u8>) -> Result<(), AccessError> {
        Ok(Tree::set_contents(self, path, bytes)?)
    }

    fn set_tree(&mut self, path: &[&str], sub: Self) -> Result<(), AccessError> {
        Ok(Tree::set_tree(self, path, sub)?)
    }

    fn remove(&mut self, path: &[&str]) -> Result<(), AccessError> {
        Ok(Tree::remove(self, path)?)
    }
}

impl TreeAccess for StepTree {
    fn get_contents(&self, path: &[&str]) -> Result<Option<Vec<u8>>, AccessError> {
        Ok(self.find_value(path)?)
    }

    fn kind(&self, path: &[&str]) -> Result<Option<Kind>, AccessError> {
        Ok(self.find_kind(path)?)
    }

    fn get_tree(&self, path: &[&str]) -> Result<Option<Self>, AccessError> {
        Ok(self.subtree(path)?)
    }

    fn list(&self, path: &[&str]) -> Result<Vec<(String, Kind)>, AccessError> {
        Ok(self.children(path)?)
    }

    fn set_contents(&mut self, path: &[&str], bytes: Vec<u8>) -> Result<(), AccessError> {
        Ok(self.add(path, bytes)?)
    }

    fn set_tree(&mut self, path: &[&str], sub: Self) -> Result<(), AccessError> {
        Ok(self.put_subtree(path, sub)?)
    }

    fn remove(&mut self, path: &[&str]) -> Result<(), AccessError> {
        Ok(StepTree::remove(self, path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::partial::produce_step_proof;

    /// A step written once against the trait: the same tree whichever implementation runs it.
    fn step<T: TreeAccess>(t: &mut T) -> Result<(Option<Vec<u8>>, Vec<String>), AccessError> {
        let kept = t.get_tree(&["a"])?.unwrap_or_default();
        let v = kept.get_contents(&["x"])?;
        let names = t.list(&["b"])?.into_iter().map(|(n, _)| n).collect();
        t.remove(&["a"])?;
        t.set_tree(&["moved"], kept)?;
        t.set_contents(&["b", "new"], b"n".to_vec())?;
        t.set_tree(&["gone"], T::default())?;
        assert_eq!(t.kind(&["moved", "x"])?, Some(Kind::Contents));
        assert_eq!(t.kind(&["moved"])?, Some(Kind::Node));
        assert_eq!(t.kind(&["nothing"])?, None);
        Ok((v, names))
    }

    fn sample() -> Tree {
        let mut t = Tree::empty();
        t.set_contents(&["a", "x"], b"1".to_vec()).unwrap();
        t.set_contents(&["a", "y"], b"2".to_vec()).unwrap();
        for i in 0..40 {
            t.set_contents(&["b", &format!("k{i}")], vec![i]).unwrap();
        }
        t.set_contents(&["gone", "z"], b"3".to_vec()).unwrap();
        t.set_contents(&["c"], b"c".to_vec()).unwrap();
        t
    }

    #[test]
    fn tree_and_step_tree_agree() {
        let mut plain = sample();
        let (v, names) = step(&mut plain).unwrap();
        assert_eq!(v.as_deref(), Some(&b"1"[..]));
        assert_eq!(names.len(), 40);
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert_eq!(plain.get_contents(&["gone", "z"]).unwrap(), None);

        let (proof, (v2, names2), after) =
            produce_step_proof(&sample(), |st: &mut StepTree| step(st)).unwrap();
        assert_eq!((v2, names2), (v, names));
        assert_eq!(after.hash().unwrap(), plain.hash().unwrap());
        assert_eq!(proof.after.hash(), plain.hash().unwrap());
        // Replaying on the proof's partial tree gives the same result.
        let ((v3, _), _) =
            crate::proof::partial::verify_step_proof(&proof, |st: &mut StepTree| step(st)).unwrap();
        assert_eq!(v3.as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn list_of_absent_or_contents_is_empty() {
        let t = sample();
        let st = StepTree::of_tree(&t).unwrap();
        for p in [&["nothing"][..], &["c"], &["a", "x"]] {
            assert!(TreeAccess::list(&t, p).unwrap().is_empty());
            assert!(TreeAccess::list(&st, p).unwrap().is_empty());
        }
        assert!(
            TreeAccess::get_tree(&st, &["c", "deeper"])
                .unwrap()
                .is_none()
        );
    }
}
