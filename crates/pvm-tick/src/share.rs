//! Irmin's sharing of the objects of the tree before a step, by hash (`irmin/src/irmin/proof.ml`
//! `Env`: in `Produce` mode each node of the `before` tree has a single representative per
//! hash, "that will witness all the lazy inode loadings", and contents read are kept by hash;
//! `tree.ml` `produce_proof` then serialises the `before` tree looking every node and contents
//! up by hash, `Proof.of_tree`).
//!
//! So a subtree read at one path is shown expanded at every path of the `before` tree where
//! an object of the same hash is reached, and what is loaded of two occurrences of one node is
//! merged: [`share`] turns the path-by-path partial tree of a step into Irmin's.

use std::collections::HashMap;

use durable_tree::Hash;
use durable_tree::proof::{
    ExtenderProof, InodeProof, InodeTree, KindedHash, ProofError, ProofTree, inode_node, root_hash,
};

/// What was loaded, by hash: the merged expansion of every node, the bytes of every contents.
#[derive(Default)]
struct Loaded {
    nodes: HashMap<Hash, ProofTree>,
    contents: HashMap<Hash, Vec<u8>>,
}

/// Hashes of the nodes already hashed, by address (of `t` and of [`Loaded::nodes`]'s trees,
/// which do not move while it is used): each node is hashed once from its children's hashes.
type Memo = HashMap<*const ProofTree, KindedHash>;

/// The kinded hash of `t`, its nodes hashed from their children's memoized hashes.
fn hash_of(t: &ProofTree, memo: &mut Memo) -> Result<KindedHash, ProofError> {
    let blind = |c: &ProofTree, memo: &mut Memo| -> Result<ProofTree, ProofError> {
        Ok(match hash_of(c, memo)? {
            KindedHash::Value(h) => ProofTree::BlindedValue(h),
            KindedHash::Node(h) => ProofTree::BlindedNode(h),
        })
    };
    fn blind_entries(
        es: &[(String, ProofTree)],
        memo: &mut Memo,
        blind: &dyn Fn(&ProofTree, &mut Memo) -> Result<ProofTree, ProofError>,
    ) -> Result<Vec<(String, ProofTree)>, ProofError> {
        es.iter()
            .map(|(n, c)| Ok((n.clone(), blind(c, memo)?)))
            .collect()
    }
    fn blind_inode(
        t: &InodeTree,
        memo: &mut Memo,
        blind: &dyn Fn(&ProofTree, &mut Memo) -> Result<ProofTree, ProofError>,
    ) -> Result<InodeTree, ProofError> {
        Ok(match t {
            InodeTree::Blinded(_) => t.clone(),
            InodeTree::Values(es) => InodeTree::Values(blind_entries(es, memo, blind)?),
            InodeTree::Tree(i) => InodeTree::Tree(blind_inode_proof(i, memo, blind)?),
            InodeTree::Extender(e) => InodeTree::Extender(ExtenderProof {
                length: e.length,
                segments: e.segments.clone(),
                proof: Box::new(blind_inode(&e.proof, memo, blind)?),
            }),
        })
    }
    fn blind_inode_proof(
        i: &InodeProof,
        memo: &mut Memo,
        blind: &dyn Fn(&ProofTree, &mut Memo) -> Result<ProofTree, ProofError>,
    ) -> Result<InodeProof, ProofError> {
        let mut kid = |k: &Option<Box<InodeTree>>| -> Result<Option<Box<InodeTree>>, ProofError> {
            k.as_ref()
                .map(|k| blind_inode(k, memo, blind).map(Box::new))
                .transpose()
        };
        Ok(InodeProof {
            length: i.length,
            left: kid(&i.left)?,
            right: kid(&i.right)?,
        })
    }
    let shallow = match t {
        ProofTree::Value(_) | ProofTree::BlindedValue(_) | ProofTree::BlindedNode(_) => {
            return root_hash(t);
        }
        _ if memo.contains_key(&std::ptr::from_ref(t)) => {
            return Ok(memo[&std::ptr::from_ref(t)]);
        }
        ProofTree::Node(es) => ProofTree::Node(blind_entries(es, memo, &blind)?),
        ProofTree::Inode(i) => ProofTree::Inode(blind_inode_proof(i, memo, &blind)?),
        ProofTree::Extender(e) => ProofTree::Extender(ExtenderProof {
            length: e.length,
            segments: e.segments.clone(),
            proof: Box::new(blind_inode(&e.proof, memo, &blind)?),
        }),
    };
    let h = root_hash(&shallow)?;
    memo.insert(std::ptr::from_ref(t), h);
    Ok(h)
}

/// The partial tree `t` as Irmin serialises it: every occurrence of a loaded object expanded
/// as the union of what was loaded of that object anywhere in `t`.
pub(crate) fn share(t: &ProofTree) -> Result<ProofTree, ProofError> {
    let mut loaded = Loaded::default();
    let mut memo = Memo::new();
    collect(t, &mut loaded, &mut memo)?;
    if loaded.nodes.is_empty() && loaded.contents.is_empty() {
        return Ok(t.clone());
    }
    rebuild(t, &loaded, &mut memo)
}

fn is_node(t: &ProofTree) -> bool {
    matches!(
        t,
        ProofTree::Node(_) | ProofTree::Inode(_) | ProofTree::Extender(_)
    )
}

/// Record the expansions and values of `t` (children first), returning its hash.
fn collect(t: &ProofTree, l: &mut Loaded, memo: &mut Memo) -> Result<KindedHash, ProofError> {
    match t {
        ProofTree::Value(v) => {
            let h = context_hash::contents_hash(v);
            l.contents.entry(h).or_insert_with(|| v.clone());
            Ok(KindedHash::Value(h))
        }
        ProofTree::BlindedValue(h) => Ok(KindedHash::Value(*h)),
        ProofTree::BlindedNode(h) => Ok(KindedHash::Node(*h)),
        ProofTree::Node(es) => {
            for (_, c) in es {
                collect(c, l, memo)?;
            }
            add_node(t, l, memo)
        }
        ProofTree::Inode(i) => {
            collect_inode_proof(i, l, memo)?;
            add_node(t, l, memo)
        }
        ProofTree::Extender(e) => {
            collect_inode(&e.proof, l, memo)?;
            add_node(t, l, memo)
        }
    }
}

fn add_node(t: &ProofTree, l: &mut Loaded, memo: &mut Memo) -> Result<KindedHash, ProofError> {
    let h = hash_of(t, memo)?;
    let key = h.hash();
    let merged = match l.nodes.remove(&key) {
        Some(old) => merge(&old, t)?,
        None => t.clone(),
    };
    l.nodes.insert(key, merged);
    Ok(h)
}

fn collect_inode_proof(i: &InodeProof, l: &mut Loaded, memo: &mut Memo) -> Result<(), ProofError> {
    for k in [&i.left, &i.right].into_iter().flatten() {
        collect_inode(k, l, memo)?;
    }
    Ok(())
}

fn collect_inode(t: &InodeTree, l: &mut Loaded, memo: &mut Memo) -> Result<(), ProofError> {
    match t {
        InodeTree::Blinded(_) => Ok(()),
        InodeTree::Values(es) => {
            for (_, c) in es {
                collect(c, l, memo)?;
            }
            Ok(())
        }
        InodeTree::Tree(i) => collect_inode_proof(i, l, memo),
        InodeTree::Extender(e) => collect_inode(&e.proof, l, memo),
    }
}

/// The union of two partial views of one object (same hash).
fn merge(a: &ProofTree, b: &ProofTree) -> Result<ProofTree, ProofError> {
    Ok(match (a, b) {
        (ProofTree::BlindedNode(_) | ProofTree::BlindedValue(_), x)
        | (x, ProofTree::BlindedNode(_) | ProofTree::BlindedValue(_)) => x.clone(),
        (ProofTree::Value(v), _) => ProofTree::Value(v.clone()),
        (ProofTree::Node(x), ProofTree::Node(y)) => ProofTree::Node(merge_entries(x, y)?),
        (x, y) if is_node(x) && is_node(y) => {
            let (Some(ix), Some(iy)) = (root_inode(x), root_inode(y)) else {
                return Err(ProofError::Invalid("one node seen as small and as large"));
            };
            match merge_inode(&ix, &iy)? {
                InodeTree::Tree(i) => ProofTree::Inode(i),
                InodeTree::Extender(e) => ProofTree::Extender(e),
                _ => return Err(ProofError::Invalid("large node without a root inode")),
            }
        }
        _ => return Err(ProofError::Invalid("one hash for a node and contents")),
    })
}

fn root_inode(t: &ProofTree) -> Option<InodeTree> {
    match t {
        ProofTree::Inode(i) => Some(InodeTree::Tree(i.clone())),
        ProofTree::Extender(e) => Some(InodeTree::Extender(e.clone())),
        _ => None,
    }
}

fn merge_entries(
    x: &[(String, ProofTree)],
    y: &[(String, ProofTree)],
) -> Result<Vec<(String, ProofTree)>, ProofError> {
    if x.len() != y.len() {
        return Err(ProofError::Invalid("one node with two sets of entries"));
    }
    let mut out = Vec::with_capacity(x.len());
    for (n, a) in x {
        let Some((_, b)) = y.iter().find(|(m, _)| m == n) else {
            return Err(ProofError::Invalid("one node with two sets of entries"));
        };
        out.push((n.clone(), merge(a, b)?));
    }
    Ok(out)
}

/// An inode with its extenders unfolded into one-child inner inodes.
fn unfold(t: &InodeTree) -> InodeTree {
    match t {
        InodeTree::Extender(e) => {
            let mut cur = unfold(&e.proof);
            for seg in e.segments.iter().rev() {
                let kid = Some(Box::new(cur));
                let (left, right) = if *seg == 0 { (kid, None) } else { (None, kid) };
                cur = InodeTree::Tree(InodeProof {
                    length: e.length,
                    left,
                    right,
                });
            }
            cur
        }
        InodeTree::Tree(i) => InodeTree::Tree(InodeProof {
            length: i.length,
            left: i.left.as_ref().map(|k| Box::new(unfold(k))),
            right: i.right.as_ref().map(|k| Box::new(unfold(k))),
        }),
        other => other.clone(),
    }
}

fn merge_inode(a: &InodeTree, b: &InodeTree) -> Result<InodeTree, ProofError> {
    merge_unfolded(&unfold(a), &unfold(b)).map(|t| fold(&t))
}

fn merge_unfolded(a: &InodeTree, b: &InodeTree) -> Result<InodeTree, ProofError> {
    Ok(match (a, b) {
        (InodeTree::Blinded(_), x) | (x, InodeTree::Blinded(_)) => x.clone(),
        (InodeTree::Values(x), InodeTree::Values(y)) => InodeTree::Values(merge_entries(x, y)?),
        (InodeTree::Tree(x), InodeTree::Tree(y)) => {
            let kid = |p: &Option<Box<InodeTree>>, q: &Option<Box<InodeTree>>| match (p, q) {
                (None, None) => Ok(None),
                (Some(p), Some(q)) => merge_unfolded(p, q).map(|t| Some(Box::new(t))),
                _ => Err(ProofError::Invalid("one inode with two shapes")),
            };
            InodeTree::Tree(InodeProof {
                length: x.length,
                left: kid(&x.left, &y.left)?,
                right: kid(&x.right, &y.right)?,
            })
        }
        _ => return Err(ProofError::Invalid("one inode with two shapes")),
    })
}

/// Fold chains of one-child inner inodes back into extenders (`Proof.of_tree`).
fn fold(t: &InodeTree) -> InodeTree {
    match t {
        InodeTree::Tree(i) => inode_node(
            i.length,
            i.left.as_ref().map(|k| Box::new(fold(k))),
            i.right.as_ref().map(|k| Box::new(fold(k))),
        ),
        other => other.clone(),
    }
}

/// `t` with every object replaced by its merged expansion (recursively).
fn rebuild(t: &ProofTree, l: &Loaded, memo: &mut Memo) -> Result<ProofTree, ProofError> {
    match t {
        ProofTree::Value(_) => Ok(t.clone()),
        ProofTree::BlindedValue(h) => Ok(match l.contents.get(h) {
            Some(v) => ProofTree::Value(v.clone()),
            None => t.clone(),
        }),
        _ => {
            let h = hash_of(t, memo)?.hash();
            let full = match l.nodes.get(&h) {
                Some(n) => n,
                None => return Ok(t.clone()),
            };
            Ok(match full {
                ProofTree::Node(es) => ProofTree::Node(rebuild_entries(es, l, memo)?),
                ProofTree::Inode(i) => ProofTree::Inode(rebuild_inode_proof(i, l, memo)?),
                ProofTree::Extender(e) => ProofTree::Extender(ExtenderProof {
                    length: e.length,
                    segments: e.segments.clone(),
                    proof: Box::new(rebuild_inode(&e.proof, l, memo)?),
                }),
                other => other.clone(),
            })
        }
    }
}

fn rebuild_entries(
    es: &[(String, ProofTree)],
    l: &Loaded,
    memo: &mut Memo,
) -> Result<Vec<(String, ProofTree)>, ProofError> {
    es.iter()
        .map(|(n, c)| Ok((n.clone(), rebuild(c, l, memo)?)))
        .collect()
}

fn rebuild_inode_proof(
    i: &InodeProof,
    l: &Loaded,
    memo: &mut Memo,
) -> Result<InodeProof, ProofError> {
    let mut kid = |k: &Option<Box<InodeTree>>| -> Result<Option<Box<InodeTree>>, ProofError> {
        k.as_ref()
            .map(|k| rebuild_inode(k, l, memo).map(Box::new))
            .transpose()
    };
    Ok(InodeProof {
        length: i.length,
        left: kid(&i.left)?,
        right: kid(&i.right)?,
    })
}

fn rebuild_inode(t: &InodeTree, l: &Loaded, memo: &mut Memo) -> Result<InodeTree, ProofError> {
    Ok(match t {
        InodeTree::Blinded(_) => t.clone(),
        InodeTree::Values(es) => InodeTree::Values(rebuild_entries(es, l, memo)?),
        InodeTree::Tree(i) => InodeTree::Tree(rebuild_inode_proof(i, l, memo)?),
        InodeTree::Extender(e) => InodeTree::Extender(ExtenderProof {
            length: e.length,
            segments: e.segments.clone(),
            proof: Box::new(rebuild_inode(&e.proof, l, memo)?),
        }),
    })
}

#[cfg(test)]
mod tests {
    use durable_tree::Tree;
    use durable_tree::proof::partial::{StepTree, produce_step_proof};

    use super::*;

    /// `s/a` and `s/b` hold equal subtrees (`x/{p,q}` and a value), `u/c` another one; a
    /// node of 5 entries (inodes) is copied under `big1` and `big2`.
    fn tree() -> Tree {
        let mut t = Tree::empty();
        for top in ["a", "b"] {
            t.set_contents(&["s", top, "x", "p"], vec![1]).unwrap();
            t.set_contents(&["s", top, "x", "q"], vec![2]).unwrap();
            t.set_contents(&["s", top, "v"], vec![3]).unwrap();
        }
        t.set_contents(&["u", "c", "x", "p"], vec![9]).unwrap();
        t.set_contents(&["u", "c", "v"], vec![3]).unwrap();
        for big in ["big1", "big2"] {
            for k in 0..5u8 {
                t.set_contents(&[big, &k.to_string()], vec![100 + k])
                    .unwrap();
            }
        }
        t
    }

    /// The proof of reading `paths`, with and without sharing (values as `path=bytes`).
    fn proof_of(paths: &[&[&str]]) -> (Vec<String>, Vec<String>) {
        let (p, (), _) = produce_step_proof(&tree(), |st: &mut StepTree| {
            for p in paths {
                st.find_value(p)?;
            }
            Ok::<(), ProofError>(())
        })
        .unwrap();
        let shared = share(&p.state).unwrap();
        assert_eq!(root_hash(&shared).unwrap(), root_hash(&p.state).unwrap());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        values(&p.state, "", &mut a);
        values(&shared, "", &mut b);
        (a, b)
    }

    fn values(t: &ProofTree, path: &str, out: &mut Vec<String>) {
        fn inode(i: &InodeTree, path: &str, out: &mut Vec<String>) {
            match i {
                InodeTree::Values(es) => es
                    .iter()
                    .for_each(|(n, t)| values(t, &format!("{path}/{n}"), out)),
                InodeTree::Tree(p) => [&p.left, &p.right]
                    .into_iter()
                    .flatten()
                    .for_each(|k| inode(k, path, out)),
                InodeTree::Extender(e) => inode(&e.proof, path, out),
                InodeTree::Blinded(_) => {}
            }
        }
        match t {
            ProofTree::Value(v) => out.push(format!("{path}={v:?}")),
            ProofTree::Node(es) => es
                .iter()
                .for_each(|(n, t)| values(t, &format!("{path}/{n}"), out)),
            ProofTree::Inode(p) => [&p.left, &p.right]
                .into_iter()
                .flatten()
                .for_each(|k| inode(k, path, out)),
            ProofTree::Extender(e) => inode(&e.proof, path, out),
            ProofTree::BlindedValue(_) | ProofTree::BlindedNode(_) => {}
        }
        out.sort();
    }

    #[test]
    fn a_subtree_read_at_one_path_is_shown_at_every_path_of_its_hash() {
        let (plain, shared) = proof_of(&[&["s", "a", "x", "p"]]);
        assert_eq!(plain, ["/s/a/x/p=[1]"]);
        // `s/b/x` is the same node as `s/a/x`; `u/c/x` is not.
        assert_eq!(shared, ["/s/a/x/p=[1]", "/s/b/x/p=[1]"]);
    }

    #[test]
    fn a_value_read_is_shown_wherever_its_node_is_expanded() {
        // `s/a/v`, `s/b/v` and `u/c/v` are one value; `u/c` is expanded (its `x` read), and
        // so is `s/b` (the node `s/a`).
        let (plain, shared) = proof_of(&[&["s", "a", "v"], &["u", "c", "x", "p"]]);
        assert_eq!(plain, ["/s/a/v=[3]", "/u/c/x/p=[9]"]);
        assert_eq!(
            shared,
            ["/s/a/v=[3]", "/s/b/v=[3]", "/u/c/v=[3]", "/u/c/x/p=[9]"]
        );
    }

    #[test]
    fn the_loads_of_two_occurrences_of_a_node_are_merged() {
        let (plain, shared) = proof_of(&[
            &["s", "a", "x", "p"],
            &["s", "b", "x", "q"],
            &["big1", "0"],
            &["big2", "3"],
        ]);
        assert_eq!(
            plain,
            [
                "/big1/0=[100]",
                "/big2/3=[103]",
                "/s/a/x/p=[1]",
                "/s/b/x/q=[2]"
            ]
        );
        assert_eq!(
            shared,
            [
                "/big1/0=[100]",
                "/big1/3=[103]",
                "/big2/0=[100]",
                "/big2/3=[103]",
                "/s/a/x/p=[1]",
                "/s/a/x/q=[2]",
                "/s/b/x/p=[1]",
                "/s/b/x/q=[2]"
            ]
        );
    }

    #[test]
    fn nothing_shared_leaves_the_proof_as_it_is() {
        let (p, (), _) = produce_step_proof(&tree(), |st: &mut StepTree| {
            st.find_value(&["u", "c", "x", "p"])?;
            Ok::<(), ProofError>(())
        })
        .unwrap();
        assert_eq!(share(&p.state).unwrap(), p.state);
    }
}
