use proptest::prelude::*;

use super::super::encoding::{decode, encode};
use super::*;

#[derive(Clone, Debug)]
enum Op {
    Read(Vec<String>),
    Add(Vec<String>, Vec<u8>),
    Remove(Vec<String>),
}

fn base_tree(big: usize, small: usize) -> Tree {
    let mut t = Tree::empty();
    for i in 0..big {
        t.set_contents(&["big", &format!("k{i}")], vec![1, i as u8])
            .unwrap();
    }
    for i in 0..small {
        t.set_contents(&["small", &format!("s{i}")], vec![2, i as u8])
            .unwrap();
    }
    t.set_contents(&["top"], b"top".to_vec()).unwrap();
    t.set_contents(&["deep", "a", "b"], vec![7; 600]).unwrap();
    t
}

fn run(st: &mut StepTree, ops: &[Op]) -> Result<Vec<Option<Vec<u8>>>, ProofError> {
    let mut reads = Vec::new();
    for op in ops {
        match op {
            Op::Read(p) => {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                reads.push(st.find_value(&p)?);
            }
            Op::Add(p, v) => {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                st.add(&p, v.clone())?;
            }
            Op::Remove(p) => {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                st.remove(&p)?;
            }
        }
    }
    Ok(reads)
}

fn apply_real(t: &mut Tree, ops: &[Op]) -> Vec<Option<Vec<u8>>> {
    let mut reads = Vec::new();
    for op in ops {
        match op {
            Op::Read(p) => {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                reads.push(t.get_contents(&p).unwrap());
            }
            Op::Add(p, v) => {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                t.set_contents(&p, v.clone()).unwrap();
            }
            Op::Remove(p) => {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                t.remove(&p).unwrap();
            }
        }
    }
    reads
}

fn path() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        (0..45usize).prop_map(|i| vec!["big".to_string(), format!("k{i}")]),
        (0..5usize).prop_map(|i| vec!["small".to_string(), format!("s{i}")]),
        Just(vec!["top".to_string()]),
        Just(vec!["deep".to_string(), "a".to_string(), "b".to_string()]),
        Just(vec!["deep".to_string(), "a".to_string()]),
        Just(vec!["fresh".to_string(), "x".to_string()]),
        Just(vec!["top".to_string(), "under".to_string()]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        path().prop_map(Op::Read),
        (path(), proptest::collection::vec(any::<u8>(), 0..4)).prop_map(|(p, v)| Op::Add(p, v)),
        path().prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The step tree computes the real tree's reads and hash, its proof verifies by replaying
    /// the same operations, and the replay records the same partial tree.
    #[test]
    fn step_proofs_agree_with_the_real_tree(
        big in 0..40usize,
        small in 0..4usize,
        ops in proptest::collection::vec(op(), 0..20),
    ) {
        let t = base_tree(big, small);
        let mut real = t.clone();
        let expected = apply_real(&mut real, &ops);
        let (proof, reads, new) = produce_step_proof(&t, |st| run(st, &ops)).unwrap();
        prop_assert_eq!(&reads, &expected);
        prop_assert_eq!(proof.before, KindedHash::Node(t.hash().unwrap()));
        prop_assert_eq!(proof.after.hash(), real.hash().unwrap());
        prop_assert_eq!(new.hash().unwrap(), real.hash().unwrap());
        let decoded = decode(&encode(&proof).unwrap()).unwrap();
        prop_assert_eq!(&decoded, &proof);
        let (again, st) = verify_step_proof(&decoded, |st| run(st, &ops)).unwrap();
        prop_assert_eq!(again, expected);
        prop_assert_eq!(st.proof_state().unwrap(), proof.state);
    }
}

#[test]
fn reaching_a_blinded_part_is_an_error() {
    let t = base_tree(10, 2);
    let (proof, _, _) = produce_step_proof(&t, |st| {
        st.add(&["small", "s0"], vec![9])?;
        Ok::<_, ProofError>(())
    })
    .unwrap();
    let err = verify_step_proof(&proof, |st| st.find_value(&["big", "k1"]))
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(err, ProofError::Blinded { ref path } if path == "big/k1"),
        "{err}"
    );
    // Another write than the proven one: another hash.
    let err = verify_step_proof(&proof, |st| st.add(&["small", "s0"], vec![8]))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, ProofError::StepAfterMismatch { .. }), "{err}");
}

#[test]
fn removing_then_adding_a_step_is_one_update() {
    // A root of 3 entries: removing one alone collapses the root (all entries loaded); a
    // removal followed by an addition of the same step is one replacement (Irmin keeps one
    // pending update per step).
    let mut t = Tree::empty();
    for k in ["a", "b", "c"] {
        t.set_contents(&[k, "x"], k.as_bytes().to_vec()).unwrap();
    }
    let (replace, _, _) = produce_step_proof(&t, |st| {
        st.remove(&["b"])?;
        st.add(&["b", "y"], vec![1])
    })
    .unwrap();
    // The root's other side stays blinded: nothing collapsed.
    let ProofTree::Inode(root) = &replace.state else {
        panic!("a root of 3 entries is an inode: {:?}", replace.state)
    };
    assert!(
        [&root.left, &root.right]
            .into_iter()
            .flatten()
            .any(|c| matches!(**c, InodeTree::Blinded(_)))
    );
    let (remove, _, _) = produce_step_proof(&t, |st| st.remove(&["b"])).unwrap();
    let mut expected = t.clone();
    expected.remove(&["b"]).unwrap();
    assert_eq!(remove.after.hash(), expected.hash().unwrap());
    // The collapse loads the whole root: no inode of it stays blinded.
    let ProofTree::Inode(root) = &remove.state else {
        panic!("a root of 3 entries is an inode: {:?}", remove.state)
    };
    assert!(
        [&root.left, &root.right]
            .into_iter()
            .flatten()
            .all(|c| !matches!(**c, InodeTree::Blinded(_)))
    );
    verify_step_proof(&remove, |st| st.remove(&["b"])).unwrap();
}

/// `length` (Irmin `Tree.length`) agrees with the plain tree's, loads only the root inode of
/// an unchanged large node (its children stay blinded: a smaller proof than a listing), and
/// replays on the proof's partial tree.
#[test]
fn length_loads_only_the_root_inode() {
    let t = base_tree(40, 2);
    let (proof, n, _) = produce_step_proof(&t, |st: &mut StepTree| {
        Ok::<_, ProofError>((
            st.length(&["big"])?,
            st.length(&["small"])?,
            st.length(&["top"])?,
            st.length(&["absent"])?,
        ))
    })
    .unwrap();
    assert_eq!(n, (40, 2, 0, 0));
    assert_eq!(t.length(&["big"]).unwrap(), 40);
    let listed = produce_step_proof(&t, |st: &mut StepTree| st.children(&["big"]).map(|_| ()))
        .unwrap()
        .0;
    assert!(encode(&proof).unwrap().len() < encode(&listed).unwrap().len());
    let (again, _) = verify_step_proof(&proof, |st: &mut StepTree| st.length(&["big"])).unwrap();
    assert_eq!(again, 40);
    // A changed node is listed.
    let (_, n, _) = produce_step_proof(&t, |st: &mut StepTree| {
        st.add(&["big", "new"], vec![1])?;
        st.remove(&["big", "k0"])?;
        st.length(&["big"])
    })
    .unwrap();
    assert_eq!(n, 40);
}

/// Filling a vector (Octez's decoder `FKIns`: `ins_kont/vector/contents/<i>`): writing the
/// next entry does not load the entries already there, so they stay blinded values in the
/// proof (Irmin rebuilds the node from their hashes), and that proof verifies.
#[test]
fn writing_an_entry_leaves_its_siblings_blinded() {
    for filled in [1usize, 2, 3] {
        let mut t = Tree::empty();
        for i in 0..filled {
            t.set_contents(&["v", "contents", &i.to_string()], vec![0])
                .unwrap();
        }
        let next = filled.to_string();
        let write = |st: &mut StepTree| st.add(&["v", "contents", &next], vec![0]);
        let (proof, _, _) = produce_step_proof(&t, write).unwrap();
        let mut expected = t.clone();
        expected
            .set_contents(&["v", "contents", &next], vec![0])
            .unwrap();
        assert_eq!(proof.after.hash(), expected.hash().unwrap());
        let mut out = Vec::new();
        fn values(p: &ProofTree, out: &mut Vec<bool>) {
            fn inode(i: &InodeTree, out: &mut Vec<bool>) {
                match i {
                    InodeTree::Values(es) => es.iter().for_each(|(_, c)| values(c, out)),
                    InodeTree::Tree(p) => {
                        [&p.left, &p.right]
                            .into_iter()
                            .flatten()
                            .for_each(|k| inode(k, out));
                    }
                    InodeTree::Extender(e) => inode(&e.proof, out),
                    InodeTree::Blinded(_) => {}
                }
            }
            match p {
                ProofTree::Value(_) => out.push(true),
                ProofTree::BlindedValue(_) => out.push(false),
                ProofTree::Node(es) => es.iter().for_each(|(_, c)| values(c, out)),
                ProofTree::Inode(i) => [&i.left, &i.right]
                    .into_iter()
                    .flatten()
                    .for_each(|k| inode(k, out)),
                ProofTree::Extender(e) => inode(&e.proof, out),
                ProofTree::BlindedNode(_) => {}
            }
        }
        values(&proof.state, &mut out);
        assert!(
            !out.contains(&true),
            "{filled} entries: no value in the proof"
        );
        assert!(
            out.contains(&false),
            "{filled} entries: the siblings are blinded"
        );
        let decoded = decode(&encode(&proof).unwrap()).unwrap();
        verify_step_proof(&decoded, write).unwrap();
    }
}
