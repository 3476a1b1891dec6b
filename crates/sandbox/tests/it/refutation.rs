//! Refutation games over HTTP: stakers in conflict, a game started, dissections (a cheating one
//! refused with the protocol's error), a timeout slashing the right staker, and final moves
//! with a real one-tick proof of `pvm-tick` (`docs/reference/l1-and-signer.md` §2.7–§2.8).

use serde_json::{Value, json};
use tezos_types::micheline::BinMicheline;
use tezos_types::operation::{DissectionChunk, InputProof, Refutation, RefutationStep, Stakers};
use tezos_types::{
    BinEncode, CommitmentHash, InboxMessage, Level, Micheline, PublicKeyHash, SmartRollupAddress,
    StateHash, Tick,
};

use super::Node;
use sandbox::accounts::bootstrap_accounts;
use sandbox::ops::{Commitment, OperationContent, PvmKind};

/// The smallest WASM module: a valid boot sector.
const KERNEL: &[u8] = b"\x00asm\x01\x00\x00\x00";

/// Test constants: commitment period 5, timeout period 10 (`Constants::test`).
const PERIOD: i32 = 5;
const TIMEOUT: i32 = 10;

fn results(block: &Value) -> Vec<Value> {
    block["operations"][3]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|op| op["contents"].as_array().unwrap().clone())
        .map(|c| c["metadata"]["operation_result"].clone())
        .collect()
}

/// Injects `content` from bootstrap `who`, bakes, and returns its operation result.
fn run(n: &Node, who: usize, content: OperationContent) -> Value {
    let (s, v) = n.inject(who, vec![content]);
    assert_eq!(s, 200, "{v}");
    n.bake();
    results(&n.get("/chains/main/blocks/head?metadata=always"))
        .pop()
        .unwrap()
}

fn bake_to(n: &Node, level: i64) {
    while n.level() < level {
        n.bake();
    }
}

fn originate(n: &Node) -> (SmartRollupAddress, CommitmentHash) {
    let r = run(
        n,
        1,
        OperationContent::SmartRollupOriginate {
            pvm_kind: PvmKind::Wasm,
            kernel: KERNEL.to_vec(),
            parameters_ty: BinMicheline::from_micheline(&Micheline::parse_text("bytes").unwrap()),
            whitelist: None,
        },
    );
    assert_eq!(r["status"], "applied", "{r}");
    (
        r["address"].as_str().unwrap().parse().unwrap(),
        r["genesis_commitment_hash"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    )
}

fn publish(n: &Node, who: usize, rollup: SmartRollupAddress, c: Commitment) {
    let r = run(
        n,
        who,
        OperationContent::SmartRollupPublish {
            rollup,
            commitment: c,
        },
    );
    assert_eq!(r["status"], "applied", "{r}");
}

fn refute(
    rollup: SmartRollupAddress,
    opponent: PublicKeyHash,
    refutation: Refutation,
) -> OperationContent {
    OperationContent::SmartRollupRefute {
        rollup,
        opponent,
        refutation,
    }
}

fn start(mine: &Commitment, theirs: &Commitment) -> Refutation {
    Refutation::Start {
        player_commitment_hash: mine.hash(),
        opponent_commitment_hash: theirs.hash(),
    }
}

fn chunk(state: Option<StateHash>, tick: u64) -> DissectionChunk {
    DissectionChunk {
        state,
        tick: Tick::from(tick),
    }
}

fn error_id(r: &Value) -> String {
    assert_eq!(r["status"], "failed", "{r}");
    r["errors"][0]["id"].as_str().unwrap().to_string()
}

#[test]
fn dissections_cheating_and_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Node::start(dir.path());
    let b = bootstrap_accounts();
    let (rollup, genesis) = originate(&n); // level 2
    let p = format!("/chains/main/blocks/head/context/smart_rollups/smart_rollup/{rollup}");
    let genesis_state: StateHash = n.get(&format!("{p}/commitment/{genesis}"))["compressed_state"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let level = 2 + PERIOD;
    let honest = Commitment {
        compressed_state: StateHash([1; 32]),
        inbox_level: Level::new(level).unwrap(),
        predecessor: genesis,
        number_of_ticks: 1000,
    };
    let cheat = Commitment {
        compressed_state: StateHash([2; 32]),
        ..honest
    };
    bake_to(&n, i64::from(level));
    // bootstrap2 (honest) and bootstrap3 (cheat) publish conflicting commitments.
    let (refuter, defender) = (b[2].pkh, b[3].pkh);
    publish(&n, 2, rollup, honest);
    publish(&n, 3, rollup, cheat);
    let conflicts = n.get(&format!("{p}/staker/{refuter}/conflicts"));
    assert_eq!(
        conflicts,
        json!([{"other": defender.to_b58check(),
                "their_commitment": serde_json::to_value(cheat).unwrap(),
                "our_commitment": serde_json::to_value(honest).unwrap(),
                "parent_commitment": genesis.to_b58check()}])
    );
    assert_eq!(
        n.get(&format!("{p}/staker/{}/conflicts", b[4].pkh)),
        json!([])
    );
    // Too early: a game starts one commitment period after the conflict's inbox level.
    let r = run(&n, 2, refute(rollup, defender, start(&honest, &cheat)));
    assert_eq!(
        error_id(&r),
        "proto.025-PsUshuai.validate.operation.sc_rollup_refutation_game_start_too_early"
    );
    assert_eq!(r["errors"][0]["earliest_start_level"], level + PERIOD);
    // Not the commitment the refuter staked on.
    bake_to(&n, i64::from(level + PERIOD - 1));
    let r = run(&n, 2, refute(rollup, defender, start(&cheat, &cheat)));
    assert_eq!(
        error_id(&r),
        "proto.025-PsUshuai.smart_rollup_wrong_staker_for_conflict_commitment"
    );
    // The game starts.
    let r = run(&n, 2, refute(rollup, defender, start(&honest, &cheat)));
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["game_status"], "ongoing");
    let start_level = n.level();
    let games = n.get(&format!("{p}/staker/{defender}/games"));
    assert_eq!(games.as_array().unwrap().len(), 1, "{games}");
    let game = &games[0]["game"];
    let refuter_is_alice = games[0]["alice"] == json!(refuter.to_b58check());
    assert_eq!(game["turn"], if refuter_is_alice { "alice" } else { "bob" });
    assert_eq!(game["start_level"], start_level);
    assert_eq!(game["inbox_level"], level);
    // The snapshots: the inbox history as of the previous block, the (genesis) DAL cell.
    let inbox = n.get(&format!(
        "/chains/main/blocks/{}/context/smart_rollups/all/inbox",
        start_level - 1
    ));
    assert_eq!(game["inbox_snapshot"], inbox["old_levels_messages"]);
    assert_eq!(game["dal_snapshot"]["kind"], "dal_skip_list");
    assert_eq!(game["dal_snapshot"]["skip_list"]["index"], "0");
    assert_eq!(
        game["game_state"]["dissection"],
        json!([{"state": genesis_state.to_b58check(), "tick": "0"},
               {"state": cheat.compressed_state.to_b58check(), "tick": "1000"},
               {"tick": "1001"}])
    );
    assert_eq!(n.get(&format!("{p}/staker/{refuter}/games")), games);
    let timeout_path = format!("{p}/staker1/{refuter}/staker2/{defender}");
    assert_eq!(
        n.get(&format!("{timeout_path}/timeout")),
        json!({"alice": TIMEOUT, "bob": TIMEOUT, "last_turn_level": start_level})
    );
    // The refuter dissects [0, 1000] in 32 sections ending on its own state.
    let states: Vec<DissectionChunk> = (0..=32u64)
        .map(|i| {
            let state = match i {
                0 => genesis_state,
                32 => honest.compressed_state,
                _ => StateHash([u8::try_from(100 + i).unwrap(); 32]),
            };
            chunk(Some(state), i * 1000 / 32)
        })
        .collect();
    let r = run(
        &n,
        2,
        refute(
            rollup,
            defender,
            Refutation::Move {
                choice: Tick::new(0),
                step: RefutationStep::Dissection(states.clone()),
            },
        ),
    );
    assert_eq!(r["status"], "applied", "{r}");
    // The game survives a restart (the journal replays the moves).
    let games = n.get(&format!("{p}/staker/{defender}/games"));
    n.restart();
    assert_eq!(n.get(&format!("{p}/staker/{defender}/games")), games);
    // Not its turn any more.
    let r = run(
        &n,
        2,
        refute(
            rollup,
            defender,
            Refutation::Move {
                choice: Tick::new(0),
                step: RefutationStep::Dissection(states.clone()),
            },
        ),
    );
    assert_eq!(error_id(&r), "proto.025-PsUshuai.smart_rollup_wrong_turn");
    // The defender cheats: its dissection of [31, 62] does not start from the agreed state.
    let bad: Vec<DissectionChunk> = (0..=31u64)
        .map(|i| {
            chunk(
                Some(StateHash([u8::try_from(200 + i).unwrap(); 32])),
                31 + i,
            )
        })
        .collect();
    let r = run(
        &n,
        3,
        refute(
            rollup,
            refuter,
            Refutation::Move {
                choice: Tick::new(31),
                step: RefutationStep::Dissection(bad),
            },
        ),
    );
    assert_eq!(
        error_id(&r),
        "proto.025-PsUshuai.smart_rollup_dissection_start_hash_mismatch"
    );
    assert!(
        r["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .starts_with("The start hash should be equal to")
    );
    // A choice that is no section start.
    let r = run(
        &n,
        3,
        refute(
            rollup,
            refuter,
            Refutation::Move {
                choice: Tick::new(30),
                step: RefutationStep::Dissection(vec![]),
            },
        ),
    );
    assert_eq!(
        error_id(&r),
        "proto.025-PsUshuai.Dissection_choice_not_found"
    );
    // The game is unchanged: still the defender's turn on the refuter's dissection.
    let game = n.get(&format!("{p}/staker/{defender}/games"))[0]["game"].clone();
    assert_eq!(game["game_state"]["dissection"][1]["tick"], "31");
    assert_eq!(game["turn"], if refuter_is_alice { "bob" } else { "alice" });
    // The defender does not play: its clock runs from the refuter's move.
    let moved_at = start_level + 1;
    let t = n.get(&format!("{timeout_path}/timeout"));
    assert_eq!(t["last_turn_level"], moved_at);
    let deadline = moved_at + i64::from(TIMEOUT);
    bake_to(&n, deadline - 2);
    // The disputed commitments cannot be cemented while both stakers stand.
    let r = run(&n, 2, OperationContent::SmartRollupCement { rollup });
    assert_eq!(error_id(&r), "proto.025-PsUshuai.smart_rollup_disputed");
    // Timing out too early.
    let stakers = Stakers::ordered(refuter, defender);
    let r = run(
        &n,
        4,
        OperationContent::SmartRollupTimeout { rollup, stakers },
    );
    assert_eq!(
        error_id(&r),
        "proto.025-PsUshuai.smart_rollup_timeout_level_not_reached"
    );
    assert_eq!(r["errors"][0]["level_timeout"], 0);
    assert_eq!(
        n.get(&format!("{timeout_path}/timeout_reached")),
        Value::Null
    );
    bake_to(&n, deadline + 1);
    assert_eq!(
        n.get(&format!("{timeout_path}/timeout_reached")),
        json!({"kind": "loser", "reason": "timeout", "player": defender.to_b58check()})
    );
    let before = (n.balance(&refuter), n.balance(&defender));
    let r = run(
        &n,
        4,
        OperationContent::SmartRollupTimeout { rollup, stakers },
    );
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(
        r["game_status"],
        json!({"result": {"kind": "loser", "reason": "timeout", "player": defender.to_b58check()}})
    );
    let stake: u64 = 10_000_000_000;
    assert_eq!(
        r["balance_updates"],
        json!([
            {"kind": "freezer", "category": "bonds", "contract": defender.to_b58check(),
             "bond_id": {"smart_rollup": rollup.to_b58check()},
             "change": format!("-{stake}"), "origin": "block"},
            {"kind": "burned", "category": "smart_rollup_refutation_punishments",
             "change": stake.to_string(), "origin": "block"},
            {"kind": "minted", "category": "smart_rollup_refutation_rewards",
             "change": format!("-{}", stake / 2), "origin": "block"},
            {"kind": "contract", "contract": refuter.to_b58check(),
             "change": (stake / 2).to_string(), "origin": "block"}
        ])
    );
    assert_eq!(n.balance(&refuter), before.0 + stake / 2);
    assert_eq!(
        n.balance(&defender),
        before.1,
        "the bond was frozen already"
    );
    let stakers_now = n.get(&format!("{p}/stakers"));
    assert_eq!(stakers_now, json!([refuter.to_b58check()]));
    assert_eq!(n.get(&format!("{p}/staker/{refuter}/games")), json!([]));
    assert_eq!(n.get(&format!("{timeout_path}/timeout")), Value::Null);
    assert_eq!(n.get(&format!("{p}/staker/{refuter}/conflicts")), json!([]));
    // The honest commitment is cemented.
    let r = run(&n, 2, OperationContent::SmartRollupCement { rollup });
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["commitment_hash"], json!(honest.hash().to_b58check()));
    // The game is over: no more moves.
    let r = run(
        &n,
        2,
        refute(
            rollup,
            defender,
            Refutation::Move {
                choice: Tick::new(0),
                step: RefutationStep::Dissection(states),
            },
        ),
    );
    assert_eq!(error_id(&r), "proto.025-PsUshuai.smart_rollup_no_game");
}

/// The genesis PVM state of [`KERNEL`] and the real one-tick proof of its first tick (the
/// input tick reading `Start_of_level` of the level after origination, `first_input`).
fn first_tick(origination_level: u32) -> (Vec<u8>, StateHash) {
    let st = wasm_pvm::PvmState::genesis(
        wasm_pvm::PvmVersion::V6,
        KERNEL,
        &wasm_pvm::GenesisParams::default(),
    )
    .unwrap();
    let tree = st.to_tree().unwrap();
    let input = pvm_tick::Input::Message {
        level: origination_level + 1,
        counter: 0,
        payload: InboxMessage::SOL.to_bin(),
    };
    let (proof, after) = pvm_tick::produce_proof(&tree, Some(&input)).unwrap();
    (proof, StateHash(after.hash().unwrap().0))
}

#[test]
fn final_moves_with_real_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let b = bootstrap_accounts();
    let (rollup, genesis) = originate(&n); // level 2
    let p = format!("/chains/main/blocks/head/context/smart_rollups/smart_rollup/{rollup}");
    let (proof, after) = first_tick(2);
    let level = 2 + PERIOD;
    let honest = Commitment {
        compressed_state: after,
        inbox_level: Level::new(level).unwrap(),
        predecessor: genesis,
        number_of_ticks: 1,
    };
    let wrong = Commitment {
        compressed_state: StateHash([9; 32]),
        ..honest
    };
    bake_to(&n, i64::from(level));
    let (good, bad1, bad2) = (b[2].pkh, b[3].pkh, b[4].pkh);
    publish(&n, 2, rollup, honest);
    publish(&n, 3, rollup, wrong);
    publish(&n, 4, rollup, wrong);
    bake_to(&n, i64::from(level + PERIOD - 1));
    for opponent in [bad1, bad2] {
        let r = run(&n, 2, refute(rollup, opponent, start(&honest, &wrong)));
        assert_eq!(r["status"], "applied", "{r}");
    }
    let first_input = |pvm_step: Vec<u8>| RefutationStep::Proof {
        pvm_step,
        input_proof: Some(InputProof::FirstInput),
    };
    // The real proof of tick 0 -> 1 refutes `wrong`: its staker loses at once.
    let before = n.balance(&good);
    let r = run(
        &n,
        2,
        refute(
            rollup,
            bad1,
            Refutation::Move {
                choice: Tick::new(0),
                step: first_input(proof.clone()),
            },
        ),
    );
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(
        r["game_status"],
        json!({"result": {"kind": "loser", "reason": "conflict_resolved", "player": bad1.to_b58check()}})
    );
    assert_eq!(
        r["balance_updates"][3],
        json!({"kind": "contract", "contract": good.to_b58check(), "change": "5000000000",
               "origin": "block"})
    );
    assert!(n.balance(&good) > before, "rewarded (minus the fee)");
    // A proof the verifier refuses (truncated) does not win: the final move starts and
    // the opponent must now prove the section.
    let broken = proof[..proof.len() / 2].to_vec();
    let r = run(
        &n,
        2,
        refute(
            rollup,
            bad2,
            Refutation::Move {
                choice: Tick::new(0),
                step: first_input(broken),
            },
        ),
    );
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["game_status"], "ongoing");
    assert_eq!(r["balance_updates"], json!([]));
    let games = n.get(&format!("{p}/staker/{bad2}/games"));
    let game = &games[0]["game"];
    assert_eq!(game["game_state"]["kind"], "Final_move", "{game}");
    assert_eq!(game["game_state"]["agreed_start_chunk"]["tick"], "0");
    // The opponent cannot prove its wrong state with the real proof: a draw, both slashed.
    let r = run(
        &n,
        4,
        refute(
            rollup,
            good,
            Refutation::Move {
                choice: Tick::new(0),
                step: first_input(proof),
            },
        ),
    );
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["game_status"], json!({"result": {"kind": "draw"}}));
    let updates = r["balance_updates"].as_array().unwrap();
    assert_eq!(updates.len(), 4, "two bonds burned: {updates:?}");
    assert_eq!(n.get(&format!("{p}/stakers")), json!([]));
}
