//! Games: start, dissections, final moves, timeouts, conflicts.

use refutation_game::{
    DalSnapshot, DissectionRule, Game, GameError, GameResult, GameState, Index, MoveOutcome,
    PlayContext, Player, Reason, StakeView, Timeout, check_conflict_point, check_start_level,
    conflicting_stakers, timeout_result,
};
use serde_json::json;
use std::collections::BTreeMap;
use tezos_types::inbox::InboxHistoryCell;
use tezos_types::operation::{Commitment, DissectionChunk, InputProof, RefutationStep};
use tezos_types::{CommitmentHash, MerkelizedPayloadHashesHash, PublicKeyHash};

use crate::{FakeVerifier, c, h, lvl, rollup, stakers};
use tezos_types::{Level, Tick};

fn commitment(state: u8, level: i32, ticks: i64, pred: CommitmentHash) -> Commitment {
    Commitment {
        compressed_state: h(state),
        inbox_level: lvl(level),
        predecessor: pred,
        number_of_ticks: ticks,
    }
}

fn snapshot() -> InboxHistoryCell {
    InboxHistoryCell {
        witness: MerkelizedPayloadHashesHash([7; 32]),
        level: lvl(40),
        index: 3,
        back_pointers: vec![],
    }
}

/// A game where bob (the refuter) disputes alice's commitment of 64 ticks whose parent's
/// state is `1`; the honest state at tick `t > 0` is `100 + t`, alice claims `9` at tick 64.
pub(crate) fn started() -> (Game, Index) {
    let (b1, b2) = stakers();
    let index = Index::new(b1, b2);
    let parent = commitment(1, 10, 5, CommitmentHash::ZERO);
    let defender = commitment(9, 20, 64, parent.hash());
    let dal = DalSnapshot {
        json: json!({"kind": "dal_skip_list"}),
        bin: vec![0],
    };
    let game = Game::initial(
        snapshot(),
        dal,
        lvl(25),
        &parent,
        &defender,
        index.bob,
        index.alice,
        32,
    )
    .unwrap();
    (game, index)
}

pub(crate) fn ctx() -> PlayContext<'static, FakeVerifier> {
    PlayContext {
        rule: DissectionRule::Default,
        verifier: &FakeVerifier,
        rollup: rollup(),
        dal: None,
    }
}

/// Bob's honest dissection of `[0, 64]`: 32 sections of 2 ticks.
fn bob_dissection() -> RefutationStep {
    let honest = |t: u64| {
        c(
            Some(if t == 0 {
                1
            } else {
                u8::try_from(100 + t).unwrap()
            }),
            t,
        )
    };
    dissect((0..=32).map(|i| honest(2 * i)).collect())
}

fn dissect(d: Vec<DissectionChunk>) -> RefutationStep {
    RefutationStep::Dissection(d)
}

fn proof(bytes: &[u8], input: Option<InputProof>) -> RefutationStep {
    RefutationStep::Proof {
        pvm_step: bytes.to_vec(),
        input_proof: input,
    }
}

fn ongoing(o: MoveOutcome) -> Game {
    match o {
        MoveOutcome::Ongoing(g) => *g,
        MoveOutcome::Ended(r) => panic!("game ended: {r:?}"),
    }
}

#[test]
fn initial_state_and_json() {
    let (game, index) = started();
    assert_eq!(game.turn, Player::Bob, "the refuter moves first");
    assert_eq!(index.player(&stakers().0), Some(Player::Alice));
    let GameState::Dissecting {
        dissection,
        default_number_of_sections,
    } = &game.game_state
    else {
        panic!()
    };
    assert_eq!(*default_number_of_sections, 32);
    assert_eq!(
        dissection,
        &vec![c(Some(1), 0), c(Some(9), 64), c(None, 65)]
    );
    let j = game.to_json();
    assert_eq!(j["turn"], "bob");
    assert_eq!(j["start_level"], 25);
    assert_eq!(j["inbox_level"], 20);
    assert_eq!(j["inbox_snapshot"]["index"], "3");
    assert_eq!(j["inbox_snapshot"]["content"]["level"], 40);
    assert_eq!(j["game_state"]["kind"], "Dissecting");
    assert_eq!(j["game_state"]["dissection"][1]["tick"], "64");
    assert!(j["game_state"]["dissection"][2].get("state").is_none());
    // Binary: turn, snapshot (index n, hash, level, back pointers), dal, levels, state.
    let b = game.to_bin();
    assert_eq!(b[0], 1);
    assert_eq!(&b[1..3], &[3, 7]);
    assert_eq!(&b[34..38], &40i32.to_be_bytes());
    assert_eq!(&b[38..42], &[0, 0, 0, 0]);
    assert_eq!(b[42], 0, "the DAL snapshot bytes");
    assert_eq!(&b[43..51], &[0, 0, 0, 25, 0, 0, 0, 20]);
    assert_eq!(b[51], 0, "Dissecting");
    // The node reads the games RPC back: everything but the DAL snapshot's binary form.
    let back = Game::from_json(&j).unwrap();
    assert_eq!(back.dal_snapshot.json, game.dal_snapshot.json);
    assert_eq!(
        Game {
            dal_snapshot: game.dal_snapshot.clone(),
            ..back
        },
        game
    );
    assert!(Game::from_json(&serde_json::json!({"turn": "carol"})).is_none());
}

#[test]
fn full_game_to_a_winning_final_move() {
    let (game, index) = started();
    // Bob disputes [0, 64]: he says the state at 64 is 164, not 9.
    let g = ongoing(
        game.play(&index, Tick::new(0), &bob_dissection(), &ctx())
            .unwrap(),
    );
    assert_eq!(g.turn, Player::Alice);
    // Alice agrees up to 2 and disputes [2, 4] (claiming 9 at 4 as at 64).
    let g = ongoing(
        g.play(
            &index,
            Tick::new(2),
            &dissect(vec![c(Some(102), 2), c(Some(50), 3), c(Some(9), 4)]),
            &ctx(),
        )
        .unwrap(),
    );
    // Bob disputes [2, 3] with a proof: 102 → 103 ≠ 50. Alice loses.
    let out = g
        .play(&index, Tick::new(2), &proof(&[102, 103, 0], None), &ctx())
        .unwrap();
    assert_eq!(
        out,
        MoveOutcome::Ended(GameResult::Loser {
            reason: Reason::ConflictResolved,
            loser: index.alice
        })
    );
    assert_eq!(
        GameResult::Loser {
            reason: Reason::ConflictResolved,
            loser: index.alice
        }
        .status_json(),
        json!({"result": {"kind": "loser", "reason": "conflict_resolved",
                          "player": "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx"}})
    );
}

#[test]
fn invalid_moves() {
    let (game, index) = started();
    // A cheating dissection: it does not start from the agreed state.
    let e = game
        .play(
            &index,
            Tick::new(0),
            &{
                let RefutationStep::Dissection(mut d) = bob_dissection() else {
                    panic!()
                };
                d[0].state = Some(h(5));
                dissect(d)
            },
            &ctx(),
        )
        .unwrap_err();
    assert_eq!(e.id(), "smart_rollup_dissection_start_hash_mismatch");
    let e = game
        .play(&index, Tick::new(3), &dissect(vec![]), &ctx())
        .unwrap_err();
    assert_eq!(e, GameError::ChoiceNotFound(Tick::new(3)));
    // A proof on a section longer than one tick is not valid: the final move starts.
    let g = ongoing(
        game.play(&index, Tick::new(0), &proof(&[1, 101, 0], None), &ctx())
            .unwrap(),
    );
    assert!(matches!(g.game_state, GameState::FinalMove { .. }));
    // No dissection once the final move started.
    let e = g
        .play(&index, Tick::new(0), &dissect(vec![]), &ctx())
        .unwrap_err();
    assert_eq!(e, GameError::DissectingDuringFinalMove);
    assert_eq!(
        e.to_string(),
        "Tried to play a dissecting when the final move started"
    );
    // A proof the verifier cannot judge is refused, not judged.
    let e = game
        .play(&index, Tick::new(64), &proof(&[0xfe], None), &ctx())
        .unwrap_err();
    assert!(matches!(e, GameError::Unsupported(_)), "{e:?}");
    let e = game
        .play(
            &index,
            Tick::new(64),
            &proof(
                &[9, 10, 0],
                Some(InputProof::RevealProof {
                    reveal_proof: tezos_types::operation::RevealProof::DalPageProof {
                        dal_page_id: tezos_types::operation::DalPageId {
                            published_level: lvl(7),
                            slot_index: 0,
                            page_index: 0,
                        },
                        dal_proof: vec![],
                    },
                }),
            ),
            &ctx(),
        )
        .unwrap_err();
    assert!(matches!(e, GameError::Unsupported(_)), "{e:?}");
    // A malformed inbox proof is an invalid proof: the final move starts.
    let g = ongoing(
        game.play(
            &index,
            Tick::new(64),
            &proof(
                &[9, 10, 1],
                Some(InputProof::InboxProof {
                    level: lvl(5),
                    message_counter: 0,
                    serialized_proof: vec![],
                }),
            ),
            &ctx(),
        )
        .unwrap(),
    );
    assert!(matches!(g.game_state, GameState::FinalMove { .. }));
}

#[test]
fn final_moves() {
    let (game, index) = started();
    // Bob's one-tick proof on [64, 65] from alice's state 9 reaching 9 again refutes `None`.
    let out = game
        .play(&index, Tick::new(64), &proof(&[9, 10, 0], None), &ctx())
        .unwrap();
    assert!(
        matches!(out, MoveOutcome::Ended(GameResult::Loser { loser, .. }) if loser == index.alice)
    );
    // A refused proof starts the final move; `None` can never be validated (an input tick
    // without its input does not match the request), so alice cannot win it: a draw.
    let g = ongoing(
        game.play(&index, Tick::new(64), &proof(&[0xff], None), &ctx())
            .unwrap(),
    );
    assert_eq!(g.turn, Player::Alice);
    let GameState::FinalMove {
        agreed_start_chunk,
        refuted_stop_chunk,
    } = &g.game_state
    else {
        panic!()
    };
    assert_eq!(
        (agreed_start_chunk, refuted_stop_chunk),
        (&c(Some(9), 64), &c(None, 65))
    );
    let out = g
        .play(&index, Tick::new(64), &proof(&[9, 9, 1], None), &ctx())
        .unwrap();
    assert_eq!(out, MoveOutcome::Ended(GameResult::Draw));
    // On a section with states: bob's proof is refused, alice proves 102 -> 50 and wins...
    let d = bob_dissection();
    let g = ongoing(game.play(&index, Tick::new(0), &d, &ctx()).unwrap());
    let g = ongoing(
        g.play(
            &index,
            Tick::new(2),
            &dissect(vec![c(Some(102), 2), c(Some(50), 3), c(Some(9), 4)]),
            &ctx(),
        )
        .unwrap(),
    );
    let f = ongoing(
        g.play(&index, Tick::new(2), &proof(&[102, 50, 7], None), &ctx())
            .unwrap(),
    );
    assert_eq!(f.turn, Player::Alice);
    let out = f
        .play(&index, Tick::new(2), &proof(&[102, 50, 0], None), &ctx())
        .unwrap();
    assert!(
        matches!(out, MoveOutcome::Ended(GameResult::Loser { loser, .. }) if loser == index.bob)
    );
    // ... or fails too: a draw.
    let out = f
        .play(&index, Tick::new(2), &proof(&[102, 51, 0], None), &ctx())
        .unwrap();
    assert_eq!(out, MoveOutcome::Ended(GameResult::Draw));
    assert_eq!(
        GameResult::Draw.status_json(),
        json!({"result": {"kind": "draw"}})
    );
    // The first input: given by `first_input`, the state's stop is the proof's.
    let parent = commitment(1, 10, 5, CommitmentHash::ZERO);
    let defender = commitment(9, 20, 1, parent.hash());
    let g = Game::initial(
        snapshot(),
        started().0.dal_snapshot,
        lvl(25),
        &parent,
        &defender,
        index.bob,
        index.alice,
        32,
    )
    .unwrap();
    let out = g
        .play(
            &index,
            Tick::new(0),
            &proof(&[1, 2, 1], Some(InputProof::FirstInput)),
            &ctx(),
        )
        .unwrap();
    assert!(
        matches!(out, MoveOutcome::Ended(GameResult::Loser { loser, .. }) if loser == index.alice)
    );
    // The first input on a computation tick does not match the request: invalid.
    let g2 = ongoing(
        g.play(
            &index,
            Tick::new(0),
            &proof(&[1, 2, 0], Some(InputProof::FirstInput)),
            &ctx(),
        )
        .unwrap(),
    );
    assert!(matches!(g2.game_state, GameState::FinalMove { .. }));
}

#[test]
fn timeouts() {
    let (game, index) = started();
    let t = Timeout::initial(lvl(25), 10);
    assert_eq!(
        t.to_json(),
        json!({"alice": 10, "bob": 10, "last_turn_level": 25})
    );
    // Bob (to move) has until level 35 included.
    let e = timeout_result(&game, &t, &index, lvl(35)).unwrap_err();
    assert_eq!(e, GameError::TimeoutLevelNotReached(0, index.bob));
    assert_eq!(
        e.to_string(),
        "Attempt to timeout game too early. The player tz1gjaF81ZRR has 0 left blocks to play."
    );
    assert_eq!(
        timeout_result(&game, &t, &index, lvl(36)).unwrap(),
        GameResult::Loser {
            reason: Reason::Timeout,
            loser: index.bob
        }
    );
    // Bob plays at 30: his clock has 5 left; alice has 10 from 30.
    let t = t.update(Player::Bob, lvl(30)).unwrap();
    assert_eq!(
        t,
        Timeout {
            alice: 10,
            bob: 5,
            last_turn_level: lvl(30)
        }
    );
    let g = ongoing(
        game.play(&index, Tick::new(0), &bob_dissection(), &ctx())
            .unwrap(),
    );
    assert_eq!(
        timeout_result(&g, &t, &index, lvl(38)).unwrap_err(),
        GameError::TimeoutLevelNotReached(2, index.alice)
    );
    assert_eq!(
        timeout_result(&g, &t, &index, lvl(41)).unwrap(),
        GameResult::Loser {
            reason: Reason::Timeout,
            loser: index.alice
        }
    );
    // A timeout during the final move is a draw.
    let f = ongoing(
        game.play(&index, Tick::new(64), &proof(&[0xff], None), &ctx())
            .unwrap(),
    );
    assert_eq!(
        timeout_result(&f, &t, &index, lvl(41)).unwrap(),
        GameResult::Draw
    );
}

struct Stakes {
    commitments: BTreeMap<CommitmentHash, Commitment>,
    staked: BTreeMap<PublicKeyHash, Vec<CommitmentHash>>,
}

impl StakeView for Stakes {
    fn commitment(&self, hash: &CommitmentHash) -> Option<Commitment> {
        self.commitments.get(hash).copied()
    }
    fn is_staked_on(&self, staker: &PublicKeyHash, hash: &CommitmentHash) -> bool {
        self.staked.get(staker).is_some_and(|l| l.contains(hash))
    }
    fn staked_at_level(&self, staker: &PublicKeyHash, level: Level) -> Option<CommitmentHash> {
        self.staked
            .get(staker)?
            .iter()
            .find(|h| self.commitments[*h].inbox_level == level)
            .copied()
    }
}

#[test]
fn conflicts() {
    let (b1, b2) = stakers();
    let b3: PublicKeyHash = "tz1b7tUupMgCNw2cCLpKTkSD1NZzB5TkP2sv".parse().unwrap();
    let lcc = CommitmentHash([1; 32]);
    // Level 12: everyone agrees; level 14: b1 and b3 agree, b2 differs.
    let a = commitment(2, 12, 10, lcc);
    let b = commitment(3, 14, 10, a.hash());
    let b_bad = commitment(4, 14, 10, a.hash());
    let d = commitment(5, 16, 10, b.hash());
    let mut commitments = BTreeMap::new();
    for x in [a, b, b_bad, d] {
        commitments.insert(x.hash(), x);
    }
    let staked = BTreeMap::from([
        (b1, vec![a.hash(), b.hash(), d.hash()]),
        (b2, vec![a.hash(), b_bad.hash()]),
        (b3, vec![a.hash(), b.hash()]),
    ]);
    let v = Stakes {
        commitments,
        staked,
    };
    let all = [b1, b2, b3];
    let c1 = conflicting_stakers(&v, &b1, &all, lvl(10), lvl(30), 2);
    assert_eq!(c1.len(), 1);
    assert_eq!(c1[0].other, b2);
    assert_eq!(c1[0].our_commitment, b);
    assert_eq!(c1[0].their_commitment, b_bad);
    assert_eq!(c1[0].parent_commitment, a.hash());
    assert_eq!(c1[0].to_json()["their_commitment"]["inbox_level"], 14);
    // Not yet visible before level 15 (levels below the current one only).
    assert!(conflicting_stakers(&v, &b1, &all, lvl(10), lvl(14), 2).is_empty());
    // b2 conflicts with both others, listed last staker first.
    let c2 = conflicting_stakers(&v, &b2, &all, lvl(10), lvl(30), 2);
    assert_eq!(c2.iter().map(|c| c.other).collect::<Vec<_>>(), vec![b3, b1]);
    // Starting a game.
    assert_eq!(
        check_conflict_point(&v, &b2, &b_bad.hash(), &b1, &b.hash()).unwrap(),
        b
    );
    assert_eq!(
        check_conflict_point(&v, &b2, &b.hash(), &b1, &b.hash()).unwrap_err(),
        GameError::WrongStakerForConflictCommitment(b2, b.hash())
    );
    assert_eq!(
        check_conflict_point(&v, &b3, &b.hash(), &b1, &b.hash()).unwrap_err(),
        GameError::NoConflict
    );
    let e = check_conflict_point(&v, &b2, &b_bad.hash(), &b1, &d.hash()).unwrap_err();
    assert_eq!(e.id(), "smart_rollup_not_valid_commitments_conflict");
    assert_eq!(
        check_start_level(lvl(15), lvl(14), 2)
            .unwrap_err()
            .to_string(),
        "Cannot start refutation game at level 15. Earliest start level is 16 (= conflict inbox \
         level 14 + commitment period 2)."
    );
    check_start_level(lvl(16), lvl(14), 2).unwrap();
}

/// A reveal tick is proved with the revealed pre-image: the data must hash to the request.
#[test]
fn reveal_final_moves() {
    use tezos_types::operation::RevealProof;
    let reveal = |data: &[u8]| {
        Some(InputProof::RevealProof {
            reveal_proof: RevealProof::RawDataProof {
                raw_data: data.to_vec(),
            },
        })
    };
    let (game, index) = started();
    // The right pre-image: bob's proof refutes alice's `None` stop.
    let out = game
        .play(
            &index,
            Tick::new(64),
            &proof(&[9, 10, 2], reveal(b"preimage")),
            &ctx(),
        )
        .unwrap();
    assert!(
        matches!(out, MoveOutcome::Ended(GameResult::Loser { loser, .. }) if loser == index.alice)
    );
    // Other data, or no input proof: the proof is invalid and the final move goes on.
    for input in [reveal(b"forged"), None, reveal(&[0; 4097])] {
        let g = ongoing(
            game.play(&index, Tick::new(64), &proof(&[9, 10, 2], input), &ctx())
                .unwrap(),
        );
        assert!(matches!(g.game_state, GameState::FinalMove { .. }));
    }
    // A reveal proof of another kind is invalid: the final move goes on.
    for other in [RevealProof::MetadataProof, RevealProof::DalParametersProof] {
        let input = Some(InputProof::RevealProof {
            reveal_proof: other,
        });
        let g = ongoing(
            game.play(&index, Tick::new(64), &proof(&[9, 10, 2], input), &ctx())
                .unwrap(),
        );
        assert!(matches!(g.game_state, GameState::FinalMove { .. }));
    }
}

/// The metadata and DAL-parameters reveals are proved by their kind alone: the data the step
/// reads is the rollup's (`Sc_rollup_proof_repr.valid`), and the kind must be the request's.
#[test]
fn metadata_and_dal_parameters_final_moves() {
    use tezos_types::operation::RevealProof;
    let reveal = |reveal_proof| Some(InputProof::RevealProof { reveal_proof });
    let (game, index) = started();
    // A valid metadata proof (request 3) and DAL-parameters proof (request 4): bob's proof
    // refutes alice's `None` stop.
    for (request, kind) in [
        (3, RevealProof::MetadataProof),
        (4, RevealProof::DalParametersProof),
    ] {
        let out = game
            .play(
                &index,
                Tick::new(64),
                &proof(&[9, 10, request], reveal(kind)),
                &ctx(),
            )
            .unwrap();
        assert!(
            matches!(out, MoveOutcome::Ended(GameResult::Loser { loser, .. }) if loser == index.alice),
            "{out:?}"
        );
    }
    // The wrong kind for the request, or no input proof: invalid, the final move goes on.
    let wrong = [
        (3, reveal(RevealProof::DalParametersProof)),
        (
            3,
            reveal(RevealProof::RawDataProof {
                raw_data: rollup().metadata_bytes().to_vec(),
            }),
        ),
        (3, None),
        (4, reveal(RevealProof::MetadataProof)),
        (2, reveal(RevealProof::MetadataProof)),
        (0, reveal(RevealProof::MetadataProof)),
        (1, reveal(RevealProof::DalParametersProof)),
    ];
    for (request, input) in wrong {
        let g = ongoing(
            game.play(
                &index,
                Tick::new(64),
                &proof(&[9, 10, request], input.clone()),
                &ctx(),
            )
            .unwrap(),
        );
        assert!(
            matches!(g.game_state, GameState::FinalMove { .. }),
            "{request} {input:?}"
        );
    }
    // The data comes from the rollup the L1 knows: with another rollup's metadata, the step
    // does not reach the claimed stop state, and the move refutes nothing.
    let mut other = rollup();
    other.origination_level = lvl(3);
    let other_ctx = PlayContext {
        rollup: other,
        ..ctx()
    };
    let g = ongoing(
        game.play(
            &index,
            Tick::new(64),
            &proof(&[9, 10, 3], reveal(RevealProof::MetadataProof)),
            &other_ctx,
        )
        .unwrap(),
    );
    assert!(matches!(g.game_state, GameState::FinalMove { .. }));
    // A DAL page reveal is not judged without a DAL context (`play`): refused, not applied.
    let page = reveal(RevealProof::DalPageProof {
        dal_page_id: tezos_types::operation::DalPageId {
            published_level: lvl(7),
            slot_index: 0,
            page_index: 0,
        },
        dal_proof: vec![],
    });
    let e = game
        .play(&index, Tick::new(64), &proof(&[9, 10, 5], page), &ctx())
        .unwrap_err();
    assert!(matches!(e, GameError::Unsupported(_)), "{e:?}");
}
