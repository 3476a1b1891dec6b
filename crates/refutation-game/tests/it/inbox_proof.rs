//! Inbox proofs (`sc_rollup_inbox_repr.ml` `verify_proof`) on an inbox built level by level
//! as the protocol builds it (`tezos_types::inbox` cells, checked against Octez in that crate).

use refutation_game::{InboxProof, verify_inbox_proof};
use tezos_types::inbox::{InboxHistoryCell, InternalMessage, PayloadCell};
use tezos_types::{BinEncode, InboxMessage};

use crate::lvl;

/// The payload cells of a level's messages, oldest first.
fn payload_cells(messages: &[InboxMessage]) -> Vec<PayloadCell> {
    let mut cells = vec![PayloadCell::genesis(messages[0].hash())];
    for m in &messages[1..] {
        let next = cells.last().unwrap().next(m.hash()).unwrap();
        cells.push(next);
    }
    cells
}

fn level_messages(level: i32) -> Vec<InboxMessage> {
    vec![
        InboxMessage::SOL,
        InboxMessage::External(format!("message of level {level}").into_bytes()),
        InboxMessage::External(vec![u8::try_from(level).unwrap(); 3]),
        InboxMessage::Internal(InternalMessage::EndOfLevel),
    ]
}

/// History cells of levels 2..=`last` (index 0 is level 2) and each level's payload cells.
fn history(last: i32) -> (Vec<InboxHistoryCell>, Vec<Vec<PayloadCell>>) {
    let mut cells: Vec<InboxHistoryCell> = Vec::new();
    let mut payloads = Vec::new();
    for level in 2..=last {
        let p = payload_cells(&level_messages(level));
        let witness = p.last().unwrap().hash();
        let cell = match cells.last() {
            None => InboxHistoryCell {
                witness,
                level: lvl(level),
                index: 0,
                back_pointers: vec![],
            },
            Some(prev) => prev.next(witness, lvl(level)).unwrap(),
        };
        cells.push(cell);
        payloads.push(p);
    }
    (cells, payloads)
}

/// The minimal back path from `from` to `to` (indices in `cells`), as `produce_proof` gives
/// it: at each cell the back pointer reaching the smallest index not below the target.
fn back_path<C: Clone>(
    cells: &[C],
    from: usize,
    to: usize,
    index_of: impl Fn(&C) -> usize,
    pointers: impl Fn(&C) -> usize,
) -> Vec<C> {
    let mut path = vec![cells[from].clone()];
    let mut cur = from;
    while cur != to {
        let n = pointers(&cells[cur]);
        let i = index_of(&cells[cur]);
        // Pointer k reaches the cell `i - (i mod 4^k) - 1`.
        let best = (0..n)
            .map(|k| i - i % 4usize.pow(u32::try_from(k).unwrap()) - 1)
            .filter(|&j| j >= to)
            .min()
            .unwrap();
        cur = best;
        path.push(cells[cur].clone());
    }
    path
}

fn proof(
    cells: &[InboxHistoryCell],
    payloads: &[Vec<PayloadCell>],
    snapshot: usize,
    level_idx: usize,
    counter: usize,
    messages: &[InboxMessage],
) -> InboxProof {
    let inclusion_proof = back_path(
        cells,
        snapshot,
        level_idx,
        |c| c.index as usize,
        |c| c.back_pointers.len(),
    );
    let p = &payloads[level_idx];
    let head = p.len() - 1;
    let target = counter.min(head);
    let payload_proof = back_path(
        p,
        head,
        target,
        |c| c.index as usize,
        |c| c.back_pointers.len(),
    );
    InboxProof {
        inclusion_proof,
        payload_proof,
        payload: (counter <= head).then(|| messages[counter].to_bin()),
    }
}

#[test]
fn messages_are_proved_against_the_snapshot() {
    let (cells, payloads) = history(40);
    let snapshot = cells.len() - 1; // level 40, index 38
    for level_idx in [0, 5, 17, 37, 38] {
        let level = i32::try_from(level_idx).unwrap() + 2;
        let msgs = level_messages(level);
        for counter in 0..msgs.len() {
            let p = proof(&cells, &payloads, snapshot, level_idx, counter, &msgs);
            // The binary form round-trips.
            assert_eq!(InboxProof::decode(&p.encode()).as_ref(), Some(&p));
            let got = verify_inbox_proof(&cells[snapshot], lvl(level), counter as u64, &p).unwrap();
            assert_eq!(
                got,
                Some((lvl(level), counter as u64, msgs[counter].to_bin())),
                "{level}/{counter}"
            );
        }
        // One past the level's last message: the next level's `Start_of_level`, or nothing at
        // the snapshot's level.
        let p = proof(&cells, &payloads, snapshot, level_idx, msgs.len(), &msgs);
        let got = verify_inbox_proof(&cells[snapshot], lvl(level), msgs.len() as u64, &p).unwrap();
        if level_idx == snapshot {
            assert_eq!(got, None);
        } else {
            assert_eq!(got, Some((lvl(level + 1), 0, InboxMessage::SOL.to_bin())));
        }
    }
}

#[test]
fn forged_proofs_are_refused() {
    let (cells, payloads) = history(30);
    let snapshot = cells.len() - 1;
    let msgs = level_messages(9);
    let good = proof(&cells, &payloads, snapshot, 7, 1, &msgs);
    verify_inbox_proof(&cells[snapshot], lvl(9), 1, &good).unwrap();
    // Another payload.
    let mut p = good.clone();
    p.payload = Some(InboxMessage::External(b"forged".to_vec()).to_bin());
    assert!(verify_inbox_proof(&cells[snapshot], lvl(9), 1, &p).is_err());
    // Another counter than the proved cell's.
    assert!(verify_inbox_proof(&cells[snapshot], lvl(9), 2, &good).is_err());
    // Out of range.
    assert!(verify_inbox_proof(&cells[snapshot], lvl(9), 9, &good).is_err());
    // Against another snapshot (the inclusion proof starts elsewhere).
    assert!(verify_inbox_proof(&cells[snapshot - 1], lvl(9), 1, &good).is_err());
    // A path that skips the best pointer (not minimal).
    let mut p = good.clone();
    p.inclusion_proof.remove(1);
    assert!(verify_inbox_proof(&cells[snapshot], lvl(9), 1, &p).is_err());
    // A message cell of another level.
    let mut p = good.clone();
    p.payload_proof = proof(&cells, &payloads, snapshot, 8, 1, &level_messages(10)).payload_proof;
    assert!(verify_inbox_proof(&cells[snapshot], lvl(9), 1, &p).is_err());
    // Truncated bytes do not decode.
    let bytes = good.encode();
    assert!(InboxProof::decode(&bytes[..bytes.len() - 1]).is_none());
}

/// Real inbox proofs of Octez's rollup node tests (`src/proto_alpha/lib_sc_rollup_node/test/
/// serialized_proofs.ml`, in the repository as
/// `crates/wasm-pvm/tests/fixtures/ticks/serialized_refutation_proofs.hex`, see its README):
/// the lines whose input proof is an inbox proof decode, re-encode to the same bytes, and
/// verify against the proof's own first history cell (the snapshot is not in the fixture).
#[test]
fn octez_inbox_proofs_decode_and_verify() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wasm-pvm/tests/fixtures/ticks/serialized_refutation_proofs.hex"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut checked = 0;
    let mut with_paths = 0;
    for (n, line) in text.lines().enumerate() {
        let b = hex::decode(line.trim()).unwrap();
        let len = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
        let input = &b[4 + len..];
        // `ff` (some input proof), tag 0 (inbox proof): level, counter (`n`), proof bytes.
        if input.len() < 2 || input[..2] != [0xff, 0x00] {
            continue;
        }
        let level = i32::from_be_bytes(input[2..6].try_into().unwrap());
        let mut r = tezos_types::Reader::new(&input[6..]);
        let counter = r.n_u64().unwrap();
        let bytes = r.dyn_bytes().unwrap().to_vec();
        r.finish().unwrap();
        let proof = InboxProof::decode(&bytes).unwrap_or_else(|| panic!("line {}", n + 1));
        assert_eq!(proof.encode(), bytes, "line {}: re-encoding", n + 1);
        let snapshot = &proof.inclusion_proof[0];
        let got = verify_inbox_proof(snapshot, lvl(level), counter + 1, &proof)
            .unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        match got {
            Some((l, c, payload)) => {
                assert!(
                    (l, c) == (lvl(level), counter + 1) || (l, c) == (lvl(level + 1), 0),
                    "line {}: {l}/{c}",
                    n + 1
                );
                assert!(!payload.is_empty());
            }
            None => assert_eq!(proof.inclusion_proof.len(), 1, "line {}", n + 1),
        }
        checked += 1;
        if proof.inclusion_proof.len() > 1 && proof.payload_proof.len() > 1 {
            with_paths += 1;
        }
    }
    assert_eq!(checked, 6, "lines 2–5, 7 and 13 hold inbox proofs");
    assert!(with_paths > 0, "some proofs walk both skip lists");
}
