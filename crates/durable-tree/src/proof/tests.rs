use super::encoding::{decode, encode};
use super::*;

fn read_all(r: &dyn TreeRead, paths: &[Vec<&str>]) -> Result<Vec<Option<Vec<u8>>>, ProofError> {
    paths.iter().map(|p| r.read_value(p)).collect()
}

fn big_tree() -> Tree {
    let mut t = Tree::empty();
    for i in 0..200u32 {
        t.set_contents(&["big", &format!("k{i}")], format!("v{i}").into_bytes())
            .unwrap();
    }
    t.set_contents(&["small", "x"], b"1".to_vec()).unwrap();
    t.set_contents(&["small", "y", "z"], vec![7; 300]).unwrap();
    t.set_contents(&["other"], vec![9; 70_000]).unwrap();
    t
}

fn count_extenders(t: &ProofTree) -> usize {
    fn it(t: &InodeTree) -> usize {
        match t {
            InodeTree::Blinded(_) => 0,
            InodeTree::Values(es) => es.iter().map(|(_, t)| count_extenders(t)).sum(),
            InodeTree::Tree(i) => [&i.left, &i.right]
                .into_iter()
                .flatten()
                .map(|c| it(c))
                .sum(),
            InodeTree::Extender(e) => 1 + it(&e.proof),
        }
    }
    match t {
        ProofTree::Node(es) => es.iter().map(|(_, t)| count_extenders(t)).sum(),
        ProofTree::Inode(i) => [&i.left, &i.right]
            .into_iter()
            .flatten()
            .map(|c| it(c))
            .sum(),
        ProofTree::Extender(e) => 1 + it(&e.proof),
        _ => 0,
    }
}

#[test]
fn produce_encode_decode_verify_round_trip() {
    let t = big_tree();
    let paths = vec![
        vec!["big", "k17"],
        vec!["big", "k150"],
        vec!["big", "absent"],
        vec!["small", "y", "z"],
        vec!["small", "nope", "deeper"],
        vec!["other"],
    ];
    let (proof, expected) = produce_proof(&t, |r| read_all(r, &paths)).unwrap();
    assert_eq!(expected[0], Some(b"v17".to_vec()));
    assert_eq!(expected[2], None);
    assert_eq!(proof.before, KindedHash::Node(t.hash().unwrap()));
    let bytes = encode(&proof).unwrap();
    let decoded = decode(&bytes).unwrap();
    assert_eq!(decoded, proof);
    let got = verify_proof(&decoded, |r| read_all(r, &paths)).unwrap();
    assert_eq!(got, expected);
}

#[test]
fn extenders_appear_and_hash_like_the_tree() {
    let t = big_tree();
    let mut extenders = 0;
    for i in 0..200u32 {
        let key = format!("k{i}");
        let path = vec!["big", key.as_str()];
        let (proof, v) = produce_proof(&t, |r| r.read_value(&path)).unwrap();
        extenders += count_extenders(&proof.state);
        let proof = decode(&encode(&proof).unwrap()).unwrap();
        assert_eq!(verify_proof(&proof, |r| r.read_value(&path)).unwrap(), v);
    }
    assert!(extenders > 0, "200 names give one-child inode chains");
}

#[test]
fn every_tampered_byte_is_refused() {
    let t = big_tree();
    let path = ["big", "k3"];
    let (proof, v) = produce_proof(&t, |r| r.read_value(&path)).unwrap();
    assert_eq!(v, Some(b"v3".to_vec()));
    let bytes = encode(&proof).unwrap();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        let res = decode(&b).and_then(|p| verify_proof(&p, |r| r.read_value(&path)));
        assert!(
            !matches!(&res, Ok(x) if *x == v),
            "flipping byte {i} still proves the value"
        );
    }
}

#[test]
fn reading_outside_the_proof_is_a_blinded_error() {
    let t = big_tree();
    let (proof, _) = produce_proof(&t, |r| r.read_value(&["big", "k3"])).unwrap();
    // Another key of the same large node: its inode (or value) is blinded.
    let e = verify_proof(&proof, |r| r.read_value(&["big", "k4"])).unwrap_err();
    assert!(matches!(e, ProofError::Blinded { .. }), "{e}");
    // A sibling node never visited.
    let e = verify_proof(&proof, |r| r.read_value(&["small", "x"])).unwrap_err();
    assert!(
        matches!(e, ProofError::Blinded { ref path } if path == "small/x"),
        "{e}"
    );
    // Absent steps of the expanded root are provably absent.
    assert_eq!(
        verify_proof(&proof, |r| r.read_value(&["zzz"])).unwrap(),
        None
    );
}

#[test]
fn small_tree_by_hand() {
    let mut t = Tree::empty();
    t.set_contents(&["a"], b"x".to_vec()).unwrap();
    t.set_contents(&["b", "c"], b"y".to_vec()).unwrap();
    let (proof, v) = produce_proof(&t, |r| r.read_value(&["a"])).unwrap();
    assert_eq!(v, Some(b"x".to_vec()));
    let hb = t.get(&["b"]).unwrap().unwrap().hash().unwrap();
    assert_eq!(
        proof.state,
        ProofTree::Node(vec![
            ("a".into(), ProofTree::Value(b"x".to_vec())),
            ("b".into(), ProofTree::BlindedNode(hb)),
        ])
    );
    let root = t.hash().unwrap();
    let mut expected = vec![0x03, 0x00, 0x02];
    expected.extend_from_slice(&root.0);
    expected.extend_from_slice(&root.0);
    // Node of 2 entries; "a" → short value "x"; "b" → blinded node.
    expected.extend_from_slice(&[0x82, 1, b'a', 0xC0, 1, b'x', 1, b'b', 0xD0]);
    expected.extend_from_slice(&hb.0);
    assert_eq!(encode(&proof).unwrap(), expected);
    // The root hash is the V1 node hash of the two entries.
    let ha = context_hash::contents_hash(b"x");
    let want = context_hash::node_hash(&[
        Entry {
            name: "a",
            kind: EntryKind::Contents,
            hash: ha,
        },
        Entry {
            name: "b",
            kind: EntryKind::Node,
            hash: hb,
        },
    ]);
    assert_eq!(root_hash(&proof.state).unwrap(), KindedHash::Node(want));
}

#[test]
fn wrong_version_and_after_are_refused() {
    let t = big_tree();
    let (mut proof, _) = produce_proof(&t, |r| r.read_value(&["other"])).unwrap();
    proof.version = 0;
    assert!(matches!(
        verify_proof(&proof, |r| r.read_value(&["other"])),
        Err(ProofError::Version(0))
    ));
    proof.version = BINARY_TREE_PROOF_VERSION;
    proof.after = KindedHash::Node(Hash([0; 32]));
    assert!(matches!(
        verify_proof(&proof, |r| r.read_value(&["other"])),
        Err(ProofError::AfterMismatch { .. })
    ));
}

#[test]
fn trailing_bytes_and_truncation_are_refused() {
    let t = big_tree();
    let (proof, _) = produce_proof(&t, |r| r.read_value(&["small", "x"])).unwrap();
    let bytes = encode(&proof).unwrap();
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(decode(&longer), Err(ProofError::Decode { .. })));
    assert!(matches!(
        decode(&bytes[..bytes.len() - 1]),
        Err(ProofError::Decode { .. })
    ));
}

#[test]
fn a_value_read_and_gone_through_is_shown() {
    let t = big_tree();
    let paths = vec![vec!["other"], vec!["other", "below"]];
    let (proof, v) = produce_proof(&t, |r| read_all(r, &paths)).unwrap();
    assert_eq!(v[0].as_ref().map(Vec::len), Some(70_000));
    assert_eq!(v[1], None);
    let proof = decode(&encode(&proof).unwrap()).unwrap();
    assert_eq!(verify_proof(&proof, |r| read_all(r, &paths)).unwrap(), v);
}

mod random {
    use super::*;
    use proptest::prelude::*;

    fn step() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u8..40).prop_map(|i| format!("k{i}")),
            Just("@".to_string()),
            Just("length".to_string()),
        ]
    }

    fn path() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(step(), 1..4)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the tree and the reads: the proof decodes to itself, hashes to the tree's
        /// hash and answers every read as the tree does.
        #[test]
        fn proofs_answer_like_the_tree(
            writes in proptest::collection::vec((path(), proptest::collection::vec(any::<u8>(), 0..300)), 1..80),
            reads in proptest::collection::vec(path(), 1..10),
        ) {
            let mut t = Tree::empty();
            for (p, v) in &writes {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                t.set_contents(&p, v.clone()).unwrap();
            }
            let reads: Vec<Vec<&str>> =
                reads.iter().map(|p| p.iter().map(String::as_str).collect()).collect();
            let (proof, expected) = produce_proof(&t, |r| read_all(r, &reads)).unwrap();
            let direct: Vec<Option<Vec<u8>>> =
                reads.iter().map(|p| t.get_contents(p).unwrap()).collect();
            prop_assert_eq!(&expected, &direct);
            prop_assert_eq!(root_hash(&proof.state).unwrap().hash(), t.hash().unwrap());
            let decoded = decode(&encode(&proof).unwrap()).unwrap();
            prop_assert_eq!(&decoded, &proof);
            prop_assert_eq!(verify_proof(&decoded, |r| read_all(r, &reads)).unwrap(), expected);
        }
    }
}
