//! Lines 12–18 of `serialized_refutation_proofs.hex`: real WASM PVM one-tick proofs
//! (`docs/reference/wasm-ticks.md` §3.3).

use durable_tree::proof::{InodeTree, ProofError, ProofTree, encoding};
use pvm_tick::{Input, TickError, reproduce_proof, verify_proof};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../wasm-pvm/tests/fixtures/ticks/serialized_refutation_proofs.hex"
);

/// `(pvm step proof, input proof)` of line `n` (1-based): a refutation proof is the PVM step
/// as a 4-byte length and bytes, then the optional input proof.
fn line(n: usize) -> (Vec<u8>, Vec<u8>) {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    let l = text.lines().nth(n - 1).expect("line");
    let b = hex::decode(l.trim()).expect("hex");
    let len = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
    (b[4..4 + len].to_vec(), b[4 + len..].to_vec())
}

#[test]
fn padding_proofs_round_trip_verify_and_reproduce() {
    for n in 14..=18 {
        let (step, input) = line(n);
        assert_eq!(
            input,
            [0x00],
            "line {n}: no input proof (a computation tick)"
        );
        let proof = encoding::decode(&step).unwrap();
        assert_eq!(
            encoding::encode(&proof).unwrap(),
            step,
            "line {n}: re-encoding"
        );
        let (before, after) = verify_proof(&step, None).unwrap_or_else(|e| panic!("line {n}: {e}"));
        assert_eq!(before, proof.before.hash());
        assert_eq!(after, proof.after.hash());
        let again = reproduce_proof(&step, None).unwrap();
        assert_eq!(
            hex::encode(&again),
            hex::encode(&step),
            "line {n}: produced again"
        );
    }
}

/// The message an inbox proof proves: its serialization ends with the payload option of the
/// message proof (`ff`, 4-byte length, payload). Not a decoder of the inbox proof.
fn inbox_proof_payload(input: &[u8]) -> Vec<u8> {
    for k in (0..input.len().saturating_sub(5)).rev() {
        let len = u32::from_be_bytes(input[k + 1..k + 5].try_into().unwrap()) as usize;
        if input[k] == 0xff && k + 5 + len == input.len() {
            return input[k + 5..].to_vec();
        }
    }
    panic!("no payload at the end of the inbox proof")
}

#[test]
fn first_input_proof_verifies_and_is_produced_again() {
    let (step, input) = line(12);
    assert_eq!(input, [0xff, 0x02], "first input proof");
    // The first input is `Start_of_level` (`00 01`, counter 0) at the level after the
    // origination, which the proof does not hold: level 3 is the only level of 0..200 for
    // which the replay gives `after`.
    let sol = |level| Input::Message {
        level,
        counter: 0,
        payload: vec![0x00, 0x01],
    };
    let (before, after) = verify_proof(&step, Some(&sol(3))).unwrap();
    let proof = encoding::decode(&step).unwrap();
    assert_eq!((before, after), (proof.before.hash(), proof.after.hash()));
    for level in [2, 4] {
        assert!(matches!(
            verify_proof(&step, Some(&sol(level))),
            Err(TickError::Proof(ProofError::StepAfterMismatch { .. }))
        ));
    }
    assert_eq!(
        hex::encode(reproduce_proof(&step, Some(&sol(3))).unwrap()),
        hex::encode(&step)
    );
}

#[test]
fn input_tick_proof_verifies_and_is_produced_again() {
    let (step, input) = line(13);
    assert_eq!(&input[..2], [0xff, 0x00], "inbox proof");
    // The inbox proof starts at the last message read, (3, 3), and proves the next one.
    let payload = inbox_proof_payload(&input);
    assert_eq!(payload, b"\x011 1 x");
    let msg = Input::Message {
        level: 3,
        counter: 4,
        payload,
    };
    verify_proof(&step, Some(&msg)).unwrap();
    assert_eq!(
        hex::encode(reproduce_proof(&step, Some(&msg)).unwrap()),
        hex::encode(&step)
    );
    // Another message gives another state.
    let other = Input::Message {
        level: 3,
        counter: 4,
        payload: b"\x011 1 y".to_vec(),
    };
    assert!(matches!(
        verify_proof(&step, Some(&other)),
        Err(TickError::Proof(ProofError::StepAfterMismatch { .. }))
    ));
}

#[test]
fn tampered_proofs_give_typed_errors() {
    let (step, _) = line(14);
    // Truncated.
    for cut in [0, 1, 40, step.len() / 2, step.len() - 1] {
        let err = verify_proof(&step[..cut], None).unwrap_err();
        assert!(
            matches!(err, TickError::Proof(ProofError::Decode { .. })),
            "{cut}: {err}"
        );
    }
    // Wrong before (byte 3 is inside the before hash).
    let mut b = step.clone();
    b[3] ^= 1;
    let err = verify_proof(&b, None).unwrap_err();
    assert!(
        matches!(err, TickError::Proof(ProofError::BeforeMismatch { .. })),
        "{err}"
    );
    // Wrong after (byte 35 is inside the after hash).
    let mut b = step.clone();
    b[35] ^= 1;
    let err = verify_proof(&b, None).unwrap_err();
    assert!(
        matches!(err, TickError::Proof(ProofError::StepAfterMismatch { .. })),
        "{err}"
    );
    // A part the step reads blinded (same before hash): `wasm/current_tick`.
    let mut proof = encoding::decode(&step).unwrap();
    assert!(blind_value(&mut proof.state, &["wasm", "current_tick"]));
    let b = encoding::encode(&proof).unwrap();
    let err = verify_proof(&b, None).unwrap_err();
    match err {
        TickError::Proof(ProofError::Blinded { path }) => assert_eq!(path, "wasm/current_tick"),
        other => panic!("{other}"),
    }
    // A computation proof replayed as an input tick: the state does not take an input, the
    // step is the same computation tick.
    assert!(verify_proof(&step, Some(&Input::Reveal(vec![1]))).is_ok());
}

/// Replace the value at `path` of a partial tree by its hash.
fn blind_value(t: &mut ProofTree, path: &[&str]) -> bool {
    fn in_entries(es: &mut [(String, ProofTree)], path: &[&str]) -> bool {
        es.iter_mut()
            .any(|(n, t)| n == path[0] && blind_value(t, &path[1..]))
    }
    fn in_inode(i: &mut InodeTree, path: &[&str]) -> bool {
        match i {
            InodeTree::Values(es) => in_entries(es, path),
            InodeTree::Tree(i) => [&mut i.left, &mut i.right]
                .into_iter()
                .flatten()
                .any(|c| in_inode(c, path)),
            InodeTree::Extender(e) => in_inode(&mut e.proof, path),
            InodeTree::Blinded(_) => false,
        }
    }
    if path.is_empty() {
        if let ProofTree::Value(v) = t {
            *t = ProofTree::BlindedValue(context_hash::contents_hash(v));
            return true;
        }
        return false;
    }
    match t {
        ProofTree::Node(es) => in_entries(es, path),
        ProofTree::Inode(i) => [&mut i.left, &mut i.right]
            .into_iter()
            .flatten()
            .any(|c| in_inode(c, path)),
        ProofTree::Extender(e) => in_inode(&mut e.proof, path),
        _ => false,
    }
}
