//! Inbox proofs (`sc_rollup_inbox_repr.ml` `verify_proof`) on an inbox built level by level
//! as the protocol builds it (`tezos_types::inbox` cells, checked against Octez in that crate).

use std::collections::BTreeMap;
use std::convert::Infallible;

use refutation_game::{
    InboxProof, InboxProofProduceError, ProducedInboxProof, StepInput, produce_inbox_input_proof,
    produce_inbox_proof, verify_inbox_proof,
};
use tezos_types::inbox::{
    Inbox, InboxHistoryCell, InfoPerLevel, InternalMessage, PayloadCell, level_witness,
};
use tezos_types::operation::InputProof;
use tezos_types::{BinEncode, BlockHash, InboxHash, InboxMessage, MerkelizedPayloadHashesHash};

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

/// The inbox proofs of Octez's rollup node tests (`src/proto_alpha/lib_sc_rollup_node/test/
/// serialized_proofs.ml`, in the repository as
/// `crates/wasm-pvm/tests/fixtures/ticks/serialized_refutation_proofs.hex`, see its README):
/// `(line - 1, level, message_counter, serialized proof)` of the lines whose input proof is an
/// inbox proof.
fn octez_inbox_proofs() -> Vec<(usize, i32, u64, Vec<u8>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wasm-pvm/tests/fixtures/ticks/serialized_refutation_proofs.hex"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut out = Vec::new();
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
        out.push((n, level, counter, bytes));
    }
    out
}

/// Real inbox proofs of Octez's rollup node tests (`src/proto_alpha/lib_sc_rollup_node/test/
/// serialized_proofs.ml`, in the repository as
/// `crates/wasm-pvm/tests/fixtures/ticks/serialized_refutation_proofs.hex`, see its README):
/// the lines whose input proof is an inbox proof decode, re-encode to the same bytes, and
/// verify against the proof's own first history cell (the snapshot is not in the fixture).
#[test]
fn octez_inbox_proofs_decode_and_verify() {
    let mut checked = 0;
    let mut with_paths = 0;
    for (n, level, counter, bytes) in octez_inbox_proofs() {
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

// ---- Producing proofs (`produce_inbox_proof`, Octez `Sc_rollup_inbox_repr.produce_proof`) ----

/// An inbox built level by level with the project's own inbox code (`inbox::next_inbox`),
/// and what a node's store holds of it: history cells by hash, messages by witness.
struct Chain {
    /// The inbox after each level, genesis first (level 1, index 0, as in Octez's fixture).
    inboxes: Vec<Inbox>,
    /// Each level's messages (same order).
    messages: Vec<Vec<InboxMessage>>,
    history: BTreeMap<InboxHash, InboxHistoryCell>,
    payloads: BTreeMap<MerkelizedPayloadHashesHash, Vec<Vec<u8>>>,
}

/// The messages of a level: `Start_of_level`, `Info_per_level`, externals, `End_of_level`
/// (`count` ≥ 3 in all).
fn chain_level_messages(level: i32, count: usize) -> Vec<InboxMessage> {
    let byte = u8::try_from(level).unwrap();
    let mut out = vec![
        InboxMessage::SOL,
        InboxMessage::Internal(InternalMessage::InfoPerLevel(InfoPerLevel {
            predecessor_timestamp: i64::from(level) * 8,
            predecessor: BlockHash::new([byte; 32]),
        })),
    ];
    for i in 0..count - 3 {
        out.push(InboxMessage::External(format!("{level}/{i}").into_bytes()));
    }
    out.push(InboxMessage::EOL);
    out
}

/// Levels 1 (genesis) to `last`, level `l` having `count(l)` messages.
fn chain(last: i32, count: impl Fn(i32) -> usize) -> Chain {
    let first = chain_level_messages(1, count(1));
    let genesis = Inbox {
        level: lvl(1),
        old_levels_messages: InboxHistoryCell {
            witness: level_witness(&first).unwrap(),
            level: lvl(1),
            index: 0,
            back_pointers: vec![],
        },
    };
    let mut inboxes = vec![genesis];
    let mut messages = vec![first];
    for l in 2..=last {
        let msgs = chain_level_messages(l, count(l));
        let (next, _) = inbox::next_inbox(inboxes.last().unwrap(), &msgs).unwrap();
        assert_eq!(next.level, lvl(l));
        inboxes.push(next);
        messages.push(msgs);
    }
    let history = inboxes
        .iter()
        .map(|i| (i.hash(), i.old_levels_messages.clone()))
        .collect();
    let payloads = inboxes
        .iter()
        .zip(&messages)
        .map(|(i, m)| {
            let serialized = m.iter().map(BinEncode::to_bin).collect();
            (i.old_levels_messages.witness, serialized)
        })
        .collect();
    Chain {
        inboxes,
        messages,
        history,
        payloads,
    }
}

type Produced = Result<ProducedInboxProof, InboxProofProduceError<Infallible>>;

impl Chain {
    fn cell(&self, level: i32) -> &InboxHistoryCell {
        &self.inboxes[usize::try_from(level - 1).unwrap()].old_levels_messages
    }

    fn msgs(&self, level: i32) -> &[InboxMessage] {
        &self.messages[usize::try_from(level - 1).unwrap()]
    }

    fn history_fn(&self) -> impl Fn(&InboxHash) -> Result<Option<InboxHistoryCell>, Infallible> {
        |h| Ok(self.history.get(h).cloned())
    }

    fn payloads_fn(
        &self,
    ) -> impl Fn(&MerkelizedPayloadHashesHash) -> Result<Option<Vec<Vec<u8>>>, Infallible> {
        |w| Ok(self.payloads.get(w).cloned())
    }

    /// The proof of `(level, counter)` against the snapshot of level `snapshot`.
    fn produce(&self, snapshot: i32, level: i32, counter: usize) -> Produced {
        produce_inbox_proof(
            self.cell(snapshot),
            self.history_fn(),
            self.payloads_fn(),
            lvl(level),
            counter as u64,
        )
    }
}

/// What `verify` reads at `(level, counter)` of a level with `msgs`, under a snapshot of
/// level `snapshot`.
fn expected_input(
    msgs: &[InboxMessage],
    snapshot: i32,
    level: i32,
    counter: usize,
) -> Option<(tezos_types::Level, u64, Vec<u8>)> {
    if counter < msgs.len() {
        Some((lvl(level), counter as u64, msgs[counter].to_bin()))
    } else if level == snapshot {
        None
    } else {
        Some((lvl(level + 1), 0, InboxMessage::SOL.to_bin()))
    }
}

#[test]
fn produced_proofs_read_every_message() {
    // Levels of 3 to 72 messages: payload lists with up to 4 back pointers.
    let ch = chain(45, |l| 3 + usize::try_from(l * 29).unwrap() % 70);
    let cells: Vec<InboxHistoryCell> = ch
        .inboxes
        .iter()
        .map(|i| i.old_levels_messages.clone())
        .collect();
    let pcells: Vec<Vec<PayloadCell>> = ch.messages.iter().map(|m| payload_cells(m)).collect();
    for snap in [45, 30] {
        let snapshot = ch.cell(snap);
        for level in [1, 2, 3, 9, 16, 17, 29, 30, 44, 45] {
            if level > snap {
                continue;
            }
            let msgs = ch.msgs(level);
            for counter in 0..=msgs.len() {
                let got = ch.produce(snap, level, counter).unwrap();
                let expected = expected_input(msgs, snap, level, counter);
                assert_eq!(got.input, expected, "{snap}: {level}/{counter}");
                assert_eq!(
                    verify_inbox_proof(snapshot, lvl(level), counter as u64, &got.proof),
                    Ok(expected)
                );
                // The minimal paths, built independently by index arithmetic.
                let usize_of = |l: i32| usize::try_from(l - 1).unwrap();
                let independent = proof(
                    &cells,
                    &pcells,
                    usize_of(snap),
                    usize_of(level),
                    counter,
                    msgs,
                );
                assert_eq!(got.proof, independent, "{snap}: {level}/{counter}");
                assert_eq!(InboxProof::decode(&got.proof.encode()), Some(got.proof));
            }
            // Two past the last message: no proof exists.
            match ch.produce(snap, level, msgs.len() + 1) {
                Err(InboxProofProduceError::CounterOutOfRange { count, .. }) => {
                    assert_eq!(count, msgs.len() as u64);
                }
                other => panic!("{level}: {other:?}"),
            }
        }
        match ch.produce(snap, snap + 1, 0) {
            Err(InboxProofProduceError::LevelAfterSnapshot { level, snapshot }) => {
                assert_eq!((level, snapshot), (lvl(snap + 1), lvl(snap)));
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Octez's proofs (fixture above) come from an inbox of levels 1 to 18 with 8 messages each
/// (history index = level − 1), the snapshot at level 18. The same inbox shape built here
/// gives proofs walking the same cells (indices, levels, numbers of back pointers) and
/// reading the same `(level, counter)`; the contents differ (the messages are not in the
/// fixture). As `verify` accepts only the minimal paths, equal bytes follow from equal
/// inboxes.
#[test]
fn produced_proofs_have_the_shape_of_octez_proofs() {
    let ch = chain(18, |_| 8);
    let octez = octez_inbox_proofs();
    assert_eq!(octez.len(), 6);
    for (n, level, counter, bytes) in octez {
        let theirs = InboxProof::decode(&bytes).unwrap();
        let their_snapshot = &theirs.inclusion_proof[0];
        assert_eq!((their_snapshot.index, their_snapshot.level), (17, lvl(18)));
        let ours = ch
            .produce(18, level, usize::try_from(counter + 1).unwrap())
            .unwrap();
        let hist = |p: &InboxProof| -> Vec<(u64, tezos_types::Level, usize)> {
            p.inclusion_proof
                .iter()
                .map(|c| (c.index, c.level, c.back_pointers.len()))
                .collect()
        };
        let pay = |p: &InboxProof| -> Vec<(u64, usize)> {
            p.payload_proof
                .iter()
                .map(|c| (c.index, c.back_pointers.len()))
                .collect()
        };
        assert_eq!(hist(&ours.proof), hist(&theirs), "line {}", n + 1);
        assert_eq!(pay(&ours.proof), pay(&theirs), "line {}", n + 1);
        assert_eq!(
            ours.proof.payload.is_some(),
            theirs.payload.is_some(),
            "line {}",
            n + 1
        );
        let read = |i: Option<(tezos_types::Level, u64, Vec<u8>)>| i.map(|(l, c, _)| (l, c));
        let their_input =
            verify_inbox_proof(their_snapshot, lvl(level), counter + 1, &theirs).unwrap();
        assert_eq!(read(ours.input), read(their_input), "line {}", n + 1);
    }
}

#[test]
fn tampered_produced_proofs_are_refused() {
    let ch = chain(30, |l| 3 + usize::try_from(l).unwrap());
    let snapshot = ch.cell(30);
    let good = ch.produce(30, 12, 5).unwrap().proof;
    verify_inbox_proof(snapshot, lvl(12), 5, &good).unwrap();
    let mut p = good.clone();
    p.payload = Some(InboxMessage::External(b"forged".to_vec()).to_bin());
    assert!(verify_inbox_proof(snapshot, lvl(12), 5, &p).is_err());
    let mut p = good.clone();
    p.payload = None;
    assert!(verify_inbox_proof(snapshot, lvl(12), 5, &p).is_err());
    assert!(verify_inbox_proof(snapshot, lvl(12), 4, &good).is_err());
    assert!(verify_inbox_proof(ch.cell(29), lvl(12), 5, &good).is_err());
    let mut p = good.clone();
    p.inclusion_proof.remove(1);
    assert!(verify_inbox_proof(snapshot, lvl(12), 5, &p).is_err());
    let mut p = good.clone();
    p.payload_proof.pop();
    assert!(verify_inbox_proof(snapshot, lvl(12), 5, &p).is_err());
    let mut p = good.clone();
    p.payload_proof = ch.produce(30, 13, 5).unwrap().proof.payload_proof;
    assert!(verify_inbox_proof(snapshot, lvl(12), 5, &p).is_err());
    // The past-the-end proof read as a message proof, and the other way round.
    let end = ch.produce(30, 12, ch.msgs(12).len()).unwrap().proof;
    assert!(verify_inbox_proof(snapshot, lvl(12), 5, &end).is_err());
    assert!(verify_inbox_proof(snapshot, lvl(12), ch.msgs(12).len() as u64, &good).is_err());
}

#[test]
fn an_incomplete_or_corrupted_store_is_reported() {
    let ch = chain(30, |_| 6);
    let snapshot = ch.cell(30);
    // A store that begins at level 10 (as a node's begins at the rollup's origination; the
    // search takes unknown cells to be older than the level): levels 10 to 30 are proved.
    let from_10 = |h: &InboxHash| {
        Ok::<_, Infallible>(ch.history.get(h).filter(|c| c.level >= lvl(10)).cloned())
    };
    for level in 10..=30 {
        for counter in [0, 3, 6] {
            let got = produce_inbox_proof(snapshot, from_10, ch.payloads_fn(), lvl(level), counter)
                .unwrap();
            assert_eq!(got, ch.produce(30, level, counter as usize).unwrap());
        }
    }
    match produce_inbox_proof(snapshot, from_10, ch.payloads_fn(), lvl(9), 0) {
        Err(InboxProofProduceError::MissingHistoryCell(h)) => assert_eq!(h, ch.cell(9).hash()),
        other => panic!("{other:?}"),
    }
    // The snapshot's predecessor is missing.
    let hole = |h: &InboxHash| {
        Ok::<_, Infallible>(ch.history.get(h).filter(|c| c.level != lvl(29)).cloned())
    };
    match produce_inbox_proof(snapshot, hole, ch.payloads_fn(), lvl(12), 0) {
        Err(InboxProofProduceError::MissingHistoryCell(h)) => assert_eq!(h, ch.cell(29).hash()),
        other => panic!("{other:?}"),
    }
    // A cell stored under another cell's hash.
    let swapped = |h: &InboxHash| {
        Ok::<_, Infallible>(ch.history.get(h).map(|c| {
            if c.level == lvl(29) {
                ch.cell(28).clone()
            } else {
                c.clone()
            }
        }))
    };
    match produce_inbox_proof(snapshot, swapped, ch.payloads_fn(), lvl(12), 0) {
        Err(InboxProofProduceError::CorruptHistoryCell { expected, got }) => {
            assert_eq!((expected, got), (ch.cell(29).hash(), ch.cell(28).hash()));
        }
        other => panic!("{other:?}"),
    }
    // Messages missing, changed, or none (as the node stores for the origination level).
    let witness = ch.cell(12).witness;
    let none = |_: &MerkelizedPayloadHashesHash| Ok::<_, Infallible>(None);
    match produce_inbox_proof(snapshot, ch.history_fn(), none, lvl(12), 0) {
        Err(InboxProofProduceError::MissingMessages { level, witness: w }) => {
            assert_eq!((level, w), (lvl(12), witness));
        }
        other => panic!("{other:?}"),
    }
    for stored in [vec![], vec![InboxMessage::SOL.to_bin()]] {
        let wrong = |_: &MerkelizedPayloadHashesHash| Ok::<_, Infallible>(Some(stored.clone()));
        match produce_inbox_proof(snapshot, ch.history_fn(), wrong, lvl(12), 0) {
            Err(InboxProofProduceError::MessagesMismatch { level, .. }) => {
                assert_eq!(level, lvl(12));
            }
            other => panic!("{other:?}"),
        }
    }
    // Below the history's first level.
    let before = chain(5, |_| 4);
    match produce_inbox_proof(
        before.cell(5),
        before.history_fn(),
        before.payloads_fn(),
        lvl(0),
        0,
    ) {
        Err(InboxProofProduceError::LevelNotInHistory(l)) => assert_eq!(l, lvl(0)),
        other => panic!("{other:?}"),
    }
    // The store's own errors come through.
    let failing = |_: &InboxHash| Err::<Option<InboxHistoryCell>, _>("disk I/O error");
    let payloads = |_: &MerkelizedPayloadHashesHash| Ok(None);
    match produce_inbox_proof(snapshot, failing, payloads, lvl(12), 0) {
        Err(InboxProofProduceError::Store(e)) => assert_eq!(e, "disk I/O error"),
        other => panic!("{other:?}"),
    }
}

/// The input proof of a final move whose PVM asks for the message after `(level, n)`.
#[test]
fn final_move_input_proofs() {
    let ch = chain(30, |_| 5);
    let snapshot = ch.cell(30);
    let input_proof = |level: i32, counter: u64, origination: i32, commit: i32| {
        produce_inbox_input_proof(
            snapshot,
            ch.history_fn(),
            ch.payloads_fn(),
            lvl(level),
            counter,
            lvl(origination),
            lvl(commit),
        )
        .unwrap()
    };
    let (proof, input) = input_proof(12, 2, 3, 20);
    let InputProof::InboxProof {
        level,
        message_counter,
        serialized_proof,
    } = &proof
    else {
        panic!("{proof:?}")
    };
    assert_eq!((*level, *message_counter), (lvl(12), 2));
    let decoded = InboxProof::decode(serialized_proof).unwrap();
    let read = verify_inbox_proof(snapshot, lvl(12), 3, &decoded).unwrap();
    let payload = ch.msgs(12)[3].to_bin();
    assert_eq!(read, Some((lvl(12), 3, payload.clone())));
    assert_eq!(
        input,
        Some(StepInput::Message {
            level: lvl(12),
            counter: 3,
            payload
        })
    );
    // After the last message of the commitment's level: the next level's `Start_of_level`
    // is read but cut (`cut_at_level`); one level earlier it is given.
    assert_eq!(input_proof(20, 4, 3, 20).1, None);
    assert_eq!(
        input_proof(20, 4, 3, 21).1,
        Some(StepInput::Message {
            level: lvl(21),
            counter: 0,
            payload: InboxMessage::SOL.to_bin()
        })
    );
    // At or below the origination level: cut.
    assert_eq!(input_proof(12, 2, 12, 20).1, None);
    // At the snapshot's last message: nothing to read.
    assert_eq!(input_proof(30, 4, 3, 30).1, None);
}
