//! Final moves reading a DAL page (`Sc_rollup_proof_repr.valid` with `Dal_helpers.verify`):
//! proofs produced from a skip list shaped as the protocol fills it, judged against the game's
//! DAL snapshot, with a test page verifier standing for the KZG check.

use std::sync::Arc;

use refutation_game::dal_proof::{
    self, AttestationLag, DalCell, DalCellContent, LagCheck, PageValidity,
};
use refutation_game::{
    DalParameters, DalProofContext, DalSnapshot, GameError, GameResult, GameState, MoveOutcome,
    PageVerifier, PlayContext,
};
use tezos_types::operation::{DalPageId, InputProof, RefutationStep, RevealProof};
use tezos_types::{BinEncode, Contract, DalCommitment, Tick};

use crate::{lvl, rollup};

/// The page of slot 1 published at level 7 (one page of `page_size` bytes).
pub(crate) const PAGE: [u8; 3967] = [7; 3967];

/// A test double of the KZG check: the proof of a page is the first 48 bytes of Blake2b-512
/// of the commitment, the page index and the page, and a page has `page_size` bytes.
struct HashVerifier;

fn page_proof(c: &DalCommitment, index: u16, page: &[u8]) -> [u8; 48] {
    let h = tezos_types::hash::blake2b::<64>(&[&c.0, &index.to_be_bytes(), page]);
    h[..48].try_into().unwrap()
}

impl PageVerifier for HashVerifier {
    fn verify_page(
        &self,
        params: &DalParameters,
        commitment: &DalCommitment,
        page_index: u16,
        page: &[u8],
        proof: &[u8; 48],
    ) -> bool {
        i64::try_from(page.len()) == Ok(params.page_size)
            && page_proof(commitment, page_index, page) == *proof
    }
}

fn commitment(level: i32) -> DalCommitment {
    DalCommitment([u8::try_from(level).unwrap(); 48])
}

/// Levels 3 to 24 with 2 slots and lag 8: slot 1 of odd levels is published (attested when
/// the level is 3 mod 4) and gets its cell 8 levels later, every other slot id an
/// unpublished cell at its level.
fn skip_list() -> Vec<DalCell> {
    let mut contents = Vec::new();
    for l in 3..=24 {
        let p = l - 8;
        if p >= 3 && p % 2 == 1 {
            contents.push(DalCellContent::Published {
                published_level: lvl(p),
                index: 1,
                commitment: commitment(p),
                publisher: Contract::from_b58check("tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx").unwrap(),
                is_proto_attested: p % 4 == 3,
                attested_shards: 10,
                total_shards: 10,
                attestation_lag: AttestationLag::Dynamic(8),
            });
        }
        for i in 0..2 {
            if i == 0 || l % 2 == 0 {
                contents.push(DalCellContent::Unpublished {
                    published_level: lvl(l),
                    index: i,
                    attestation_lag: AttestationLag::Dynamic(0),
                });
            }
        }
    }
    let mut cells = vec![DalCell {
        index: 0,
        content: contents.remove(0),
        back_pointers: vec![],
    }];
    for c in contents {
        let next = cells.last().unwrap().next(c).unwrap();
        cells.push(next);
    }
    cells
}

fn context(verifier: bool) -> DalProofContext {
    DalProofContext {
        activation_level: Some(lvl(1)),
        attested_slots_validity_lag: 100,
        attestation_lags: vec![8],
        page_verifier: verifier.then(|| Arc::new(HashVerifier) as Arc<_>),
    }
}

fn page_id(slot_index: u8) -> DalPageId {
    DalPageId {
        published_level: lvl(7),
        slot_index,
        page_index: 0,
    }
}

/// The proof of page 0 of `slot` published at 7, produced from `snapshot` as the node does
/// (import level 20, the rollup's parameters).
fn produce(cells: &[DalCell], snapshot: &DalCell, slot: u8) -> Vec<u8> {
    let r = rollup();
    let p = r.dal_parameters;
    let validity = PageValidity {
        number_of_slots: 32,
        pages_per_slot: p.slot_size / p.page_size,
        activation_level: Some(lvl(1)),
        origination_level: r.origination_level,
        import_inbox_level: lvl(20),
        validity_lag: Some(100),
    };
    let info = (slot == 1).then(|| (PAGE.to_vec(), page_proof(&commitment(7), 0, &PAGE)));
    let (proof, _) = dal_proof::produce(
        &page_id(slot),
        snapshot,
        &validity,
        LagCheck::interval(&[8]),
        info,
        |index, hash| {
            Ok::<_, ()>(
                usize::try_from(index)
                    .ok()
                    .and_then(|i| cells.get(i))
                    .filter(|c| c.hash() == *hash)
                    .cloned(),
            )
        },
    )
    .unwrap();
    proof.encode()
}

fn step(request: u8, slot: u8, dal_proof: Vec<u8>) -> RefutationStep {
    RefutationStep::Proof {
        pvm_step: vec![9, 10, request],
        input_proof: Some(InputProof::RevealProof {
            reveal_proof: RevealProof::DalPageProof {
                dal_page_id: page_id(slot),
                dal_proof,
            },
        }),
    }
}

fn alice_loses(out: &MoveOutcome, alice: tezos_types::PublicKeyHash) -> bool {
    matches!(out, MoveOutcome::Ended(GameResult::Loser { loser, .. }) if *loser == alice)
}

fn final_move_goes_on(out: &MoveOutcome) -> bool {
    matches!(out, MoveOutcome::Ongoing(g) if matches!(g.game_state, GameState::FinalMove { .. }))
}

/// An unpublished slot's page (empty) and an attested slot's page are proved from the game's
/// snapshot: bob's proof refutes alice's stop state. Without a page verifier only the
/// attested page is refused; tampered proofs and another snapshot make the proof invalid.
#[test]
fn dal_page_final_moves() {
    let cells = skip_list();
    let snapshot = cells.last().unwrap().clone();
    let (mut game, index) = crate::game::started();
    game.dal_snapshot = DalSnapshot {
        json: snapshot.to_json(),
        bin: snapshot.to_bin(),
    };
    let play = |g: &refutation_game::Game, s: &RefutationStep, dal: Option<&DalProofContext>| {
        let ctx = PlayContext {
            dal,
            ..crate::game::ctx()
        };
        g.play(&index, Tick::new(64), s, &ctx)
    };
    let unpublished = step(6, 0, produce(&cells, &snapshot, 0));
    let attested = step(7, 1, produce(&cells, &snapshot, 1));
    for s in [&unpublished, &attested] {
        let out = play(&game, s, Some(&context(true))).unwrap();
        assert!(alice_loses(&out, index.alice), "{out:?}");
        // No DAL context: refused.
        let e = play(&game, s, None).unwrap_err();
        assert!(matches!(e, GameError::Unsupported(_)), "{e:?}");
    }
    // Without a page verifier, the unpublished slot is judged, the attested one refused.
    let out = play(&game, &unpublished, Some(&context(false))).unwrap();
    assert!(alice_loses(&out, index.alice), "{out:?}");
    let e = play(&game, &attested, Some(&context(false))).unwrap_err();
    assert!(matches!(e, GameError::Unsupported(_)), "{e:?}");
    // The JSON-only snapshot (a game read from the L1's RPC) works the same.
    let mut from_json = game.clone();
    from_json.dal_snapshot.bin.clear();
    let out = play(&from_json, &attested, Some(&context(true))).unwrap();
    assert!(alice_loses(&out, index.alice), "{out:?}");
    // A tampered page: the proof is invalid, the final move goes on.
    let mut bytes = produce(&cells, &snapshot, 1);
    let at = bytes.windows(8).rposition(|w| w == [7; 8]).unwrap();
    bytes[at] = 8;
    let out = play(&game, &step(7, 1, bytes), Some(&context(true))).unwrap();
    assert!(final_move_goes_on(&out), "{out:?}");
    // The other slot's proof for this request, a proof of the request's page id but another
    // slot's content, garbage: invalid.
    for s in [
        step(7, 0, produce(&cells, &snapshot, 0)),
        step(7, 1, produce(&cells, &snapshot, 0)),
        step(7, 1, vec![1, 2, 3]),
    ] {
        let out = play(&game, &s, Some(&context(true))).unwrap();
        assert!(final_move_goes_on(&out), "{out:?}");
    }
    // Proofs from a later snapshot than the game's: invalid.
    let mut earlier = game;
    let previous = &cells[cells.len() - 2];
    earlier.dal_snapshot = DalSnapshot {
        json: previous.to_json(),
        bin: previous.to_bin(),
    };
    let out = play(&earlier, &attested, Some(&context(true))).unwrap();
    assert!(final_move_goes_on(&out), "{out:?}");
}
