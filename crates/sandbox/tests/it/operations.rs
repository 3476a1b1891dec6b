//! Manager operations over HTTP: transfers, refusals, rollup messages, origination,
//! publish/cement/recover bond and the bridge deposit.

use serde_json::{Value, json};
use tezos_types::micheline::BinMicheline;
use tezos_types::{Micheline, PublicKeyHash, SmartRollupAddress, StateHash};

use super::Node;
use sandbox::accounts::{BOOTSTRAP_BALANCE, bootstrap_accounts};
use sandbox::ops::{Commitment, OperationContent, Parameters, PvmKind};
use tezos_types::{Contract, Mutez};

fn transfer(to: PublicKeyHash, amount: u64) -> OperationContent {
    OperationContent::Transaction {
        amount: Mutez(amount),
        destination: Contract::Implicit(to),
        parameters: None,
    }
}

fn manager_results(block: &Value) -> Vec<Value> {
    block["operations"][3]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|op| op["contents"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn signed_transfer_changes_balances() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let b = bootstrap_accounts();
    let (s, hash) = n.inject(1, vec![transfer(b[2].pkh, 12_345_678)]);
    assert_eq!(s, 200, "{hash}");
    assert!(hash.as_str().unwrap().starts_with('o'));
    // Nothing changes before the block.
    assert_eq!(n.balance(&b[1].pkh), BOOTSTRAP_BALANCE);
    n.bake();
    assert_eq!(
        n.balance(&b[1].pkh),
        BOOTSTRAP_BALANCE - 12_345_678 - 2 * 1000
    );
    assert_eq!(n.balance(&b[2].pkh), BOOTSTRAP_BALANCE + 12_345_678);
    assert_eq!(n.counter(&b[1].pkh), 2);
    let key = n.get(&format!(
        "/chains/main/blocks/head/context/contracts/{}/manager_key",
        b[1].pkh
    ));
    assert_eq!(key, json!(b[1].secret_key.public_key().to_b58check()));
    let block = n.get("/chains/main/blocks/head?metadata=always");
    let op = &block["operations"][3][0];
    assert_eq!(op["hash"], hash);
    let contents = manager_results(&block);
    assert_eq!(contents[0]["kind"], "reveal");
    assert_eq!(contents[1]["kind"], "transaction");
    let res = &contents[1]["metadata"]["operation_result"];
    assert_eq!(res["status"], "applied");
    assert_eq!(res["balance_updates"][0]["change"], "-12345678");
    assert_eq!(
        contents[1]["metadata"]["balance_updates"][0]["change"],
        "-1000"
    );
    // Operation hashes of pass 3.
    assert_eq!(
        n.get("/chains/main/blocks/head/operation_hashes/3"),
        json!([hash])
    );
}

#[test]
fn bad_operations_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let b = bootstrap_accounts();
    // Bad signature: signed by another key.
    let mut op = n.sign(1, vec![transfer(b[2].pkh, 5)]);
    op.signature = Some(b[3].secret_key.sign_operation(&op.unsigned_bytes()));
    let (s, e) = n.inject_op(&op);
    assert_eq!(s, 500);
    assert_eq!(e[0]["kind"], "permanent");
    assert_eq!(e[0]["id"], "proto.025-PsUshuai.operation.invalid_signature");
    // Wrong counter.
    let mut op = n.sign(1, vec![transfer(b[2].pkh, 5)]);
    for c in &mut op.contents {
        c.counter += 5;
    }
    op.signature = Some(b[1].secret_key.sign_operation(&op.unsigned_bytes()));
    let (s, e) = n.inject_op(&op);
    assert_eq!(s, 500);
    assert_eq!(
        e[0]["id"],
        "proto.025-PsUshuai.contract.counter_in_the_future"
    );
    // Fees above the balance.
    let mut op = n.sign(1, vec![transfer(b[2].pkh, 5)]);
    op.contents[1].fee = Mutez(BOOTSTRAP_BALANCE + 1);
    op.signature = Some(b[1].secret_key.sign_operation(&op.unsigned_bytes()));
    let (s, e) = n.inject_op(&op);
    assert_eq!(s, 500);
    assert_eq!(e[0]["id"], "proto.025-PsUshuai.contract.balance_too_low");
    // Unrevealed key (no reveal in the batch).
    let mut op = n.sign(1, vec![transfer(b[2].pkh, 5)]);
    op.contents.remove(0);
    op.contents[0].counter = 1;
    op.signature = Some(b[1].secret_key.sign_operation(&op.unsigned_bytes()));
    let (s, e) = n.inject_op(&op);
    assert_eq!(s, 500);
    assert_eq!(e[0]["id"], "proto.025-PsUshuai.contract.unrevealed_key");
    // Malformed bytes.
    let (s, e) = n.post("/injection/operation", &json!("00ff"));
    assert_eq!(s, 400);
    assert_eq!(e[0]["kind"], "permanent");
    // Nothing happened.
    n.bake();
    assert!(
        n.get("/chains/main/blocks/head/operation_hashes/3")
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(n.balance(&b[1].pkh), BOOTSTRAP_BALANCE);
    assert_eq!(n.counter(&b[1].pkh), 0);
    // An amount above the balance is included as failed (fees taken), as on Tezos.
    let (s, v) = n.inject(1, vec![transfer(b[2].pkh, BOOTSTRAP_BALANCE)]);
    assert_eq!(s, 200, "{v}");
    n.bake();
    let block = n.get("/chains/main/blocks/head");
    let c = manager_results(&block);
    assert_eq!(c[0]["metadata"]["operation_result"]["status"], "applied");
    assert_eq!(c[1]["metadata"]["operation_result"]["status"], "failed");
    assert_eq!(n.balance(&b[1].pkh), BOOTSTRAP_BALANCE - 2000);
}

#[test]
fn add_messages_reach_receipts_and_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let inbox_before = n.get("/chains/main/blocks/head/context/smart_rollups/all/inbox");
    assert_eq!(inbox_before["level"], 1);
    let (s, v) = n.inject(
        1,
        vec![OperationContent::SmartRollupAddMessages {
            message: vec![b"hello".to_vec(), vec![0, 255]],
        }],
    );
    assert_eq!(s, 200, "{v}");
    n.bake();
    let block = n.get("/chains/main/blocks/head?metadata=always");
    let c = manager_results(&block);
    assert_eq!(c[1]["kind"], "smart_rollup_add_messages");
    assert_eq!(c[1]["message"], json!(["68656c6c6f", "00ff"]));
    assert_eq!(c[1]["metadata"]["operation_result"]["status"], "applied");
    let inbox = n.get("/chains/main/blocks/head/context/smart_rollups/all/inbox");
    assert_eq!(inbox["level"], 2);
    assert_eq!(inbox["old_levels_messages"]["index"], "1");
    assert_eq!(inbox["old_levels_messages"]["content"]["level"], 2);
    // The level witness is the one of SOL, IPL(pred), migration, the two externals, EOL.
    use tezos_types::inbox::{InfoPerLevel, level_witness};
    use tezos_types::{BlockHash, InboxMessage, InternalMessage};
    let pred = n.get("/chains/main/blocks/1/header");
    let pred_hash: BlockHash = pred["hash"].as_str().unwrap().parse().unwrap();
    let l2 = n.get("/chains/main/blocks/2/header");
    assert_eq!(l2["predecessor"], pred["hash"]);
    let pred_ts = n.get("/chains/main/blocks/1/header/shell")["timestamp"].clone();
    let ts = parse_rfc3339(pred_ts.as_str().unwrap());
    let msgs = [
        InboxMessage::SOL,
        InboxMessage::Internal(InternalMessage::InfoPerLevel(InfoPerLevel {
            predecessor_timestamp: ts,
            predecessor: pred_hash,
        })),
        InboxMessage::Internal(InternalMessage::ProtocolMigration("u025_025".into())),
        InboxMessage::External(b"hello".to_vec()),
        InboxMessage::External(vec![0, 255]),
        InboxMessage::EOL,
    ];
    assert_eq!(
        inbox["old_levels_messages"]["content"]["hash"],
        json!(level_witness(&msgs).unwrap().to_b58check())
    );
    // Empty batches are refused.
    let (s, e) = n.inject(
        1,
        vec![OperationContent::SmartRollupAddMessages { message: vec![] }],
    );
    assert_eq!(s, 500);
    assert!(e[0]["id"].as_str().unwrap().contains("add_zero_messages"));
}

/// `smart_rollup_message_size_limit` (4096) bounds the serialized inbox message, `01` tag
/// included, limit included: payloads of 4094 and 4095 bytes (serialized 4095 and 4096) are
/// applied, a payload of 4096 bytes (serialized 4097) fails with Octez's
/// `smart_rollup_inbox_message_encoding`, in the simulation as in the block.
#[test]
fn message_size_limit_at_limit_minus_one_limit_and_limit_plus_one() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let limit =
        n.get("/chains/main/blocks/head/context/constants")["smart_rollup_message_size_limit"]
            .as_u64()
            .unwrap() as usize;
    assert_eq!(limit, 4096);
    let add = |len: usize| OperationContent::SmartRollupAddMessages {
        message: vec![vec![0x5a; len]],
    };
    // Serialized sizes limit − 1, limit, limit + 1, from three accounts (one block).
    let cases = [
        (1, limit - 2, "applied"),
        (2, limit - 1, "applied"),
        (3, limit, "failed"),
    ];
    for (who, payload, status) in cases {
        let op = n.sign(who, vec![add(payload)]);
        let mut unsigned = op.to_json();
        unsigned.as_object_mut().unwrap().remove("signature");
        let (s, sim) = n.post(
            "/chains/main/blocks/head/helpers/scripts/run_operation",
            &json!({"operation": unsigned, "chain_id": "NetXdQprcVkpaWU"}),
        );
        assert_eq!(s, 200, "{sim}");
        let simulated = sim["contents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "smart_rollup_add_messages")
            .unwrap();
        assert_eq!(
            simulated["metadata"]["operation_result"]["status"], status,
            "{payload} bytes: {sim}"
        );
        let (s, h) = n.inject_op(&op);
        assert_eq!(s, 200, "{payload} bytes: {h}");
    }
    n.bake();
    let results = manager_results(&n.get("/chains/main/blocks/head"));
    let adds: Vec<&Value> = results
        .iter()
        .filter(|c| c["kind"] == "smart_rollup_add_messages")
        .collect();
    assert_eq!(adds.len(), 3);
    for (c, (_, payload, status)) in adds.iter().zip(cases) {
        assert_eq!(c["message"][0].as_str().unwrap().len(), 2 * payload);
        let r = &c["metadata"]["operation_result"];
        assert_eq!(r["status"], status, "{payload} bytes: {r}");
        if status == "failed" {
            assert_eq!(
                r["errors"][0]["id"],
                "proto.025-PsUshuai.smart_rollup_inbox_message_encoding"
            );
        }
    }
}

/// Injecting an operation Octez already knows (pending, or included in a live block) answers
/// 200 with its hash again and changes nothing (prevalidator `on_inject`: `already_handled`).
#[test]
fn reinjecting_a_known_operation_answers_its_hash_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let b = bootstrap_accounts();
    let op = n.sign(1, vec![transfer(b[2].pkh, 1_000)]);
    let (s, h1) = n.inject_op(&op);
    assert_eq!(s, 200, "{h1}");
    let (s, h2) = n.inject_op(&op);
    assert_eq!((s, &h2), (200, &h1));
    let pending = n.get("/chains/main/mempool/pending_operations");
    assert_eq!(pending["validated"].as_array().unwrap().len(), 1);
    n.bake();
    assert_eq!(n.counter(&b[1].pkh), 2);
    // Included: known too; not re-validated (that would be `counter_in_the_past`).
    let (s, h3) = n.inject_op(&op);
    assert_eq!((s, &h3), (200, &h1));
    assert!(
        n.get("/chains/main/mempool/pending_operations")["validated"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    n.bake();
    assert!(
        n.get("/chains/main/blocks/head/operation_hashes/3")
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(n.balance(&b[2].pkh), BOOTSTRAP_BALANCE + 1_000);
}

fn parse_rfc3339(s: &str) -> i64 {
    // "YYYY-MM-DDTHH:MM:SSZ" → seconds (days from civil).
    let y: i64 = s[0..4].parse().unwrap();
    let m: i64 = s[5..7].parse().unwrap();
    let d: i64 = s[8..10].parse().unwrap();
    let (hh, mm, ss): (i64, i64, i64) = (
        s[11..13].parse().unwrap(),
        s[14..16].parse().unwrap(),
        s[17..19].parse().unwrap(),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

const KERNEL: &[u8] = b"\x00asm\x01\x00\x00\x00";

fn originate(n: &Node) -> (SmartRollupAddress, Value) {
    let ty = Micheline::parse_text("bytes").unwrap();
    let (s, v) = n.inject(
        1,
        vec![OperationContent::SmartRollupOriginate {
            pvm_kind: PvmKind::Wasm,
            kernel: KERNEL.to_vec(),
            parameters_ty: BinMicheline::from_micheline(&ty),
            whitelist: None,
        }],
    );
    assert_eq!(s, 200, "{v}");
    n.bake();
    let block = n.get("/chains/main/blocks/head");
    let c = manager_results(&block);
    let res = c[1]["metadata"]["operation_result"].clone();
    assert_eq!(res["status"], "applied", "{res}");
    (res["address"].as_str().unwrap().parse().unwrap(), res)
}

#[test]
fn origination_gives_genesis_info() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let (addr, res) = originate(&n);
    let p = format!("/chains/main/blocks/head/context/smart_rollups/smart_rollup/{addr}");
    let gi = n.get(&format!("{p}/genesis_info"));
    assert_eq!(gi["level"], 2);
    assert_eq!(gi["commitment_hash"], res["genesis_commitment_hash"]);
    assert_eq!(n.get(&format!("{p}/kind")), json!("wasm_2_0_0"));
    let lcc = n.get(&format!("{p}/last_cemented_commitment_hash_with_level"));
    assert_eq!(lcc, json!({"hash": gi["commitment_hash"], "level": 2}));
    let c = n.get(&format!(
        "{p}/commitment/{}",
        gi["commitment_hash"].as_str().unwrap()
    ));
    assert_eq!(c["inbox_level"], 2);
    assert_eq!(c["number_of_ticks"], "0");
    assert_eq!(
        c["predecessor"],
        "src12UJzB8mg7yU6nWPzicH7ofJbFjyJEbHvwtZdfRXi8DQHNp1LY8"
    );
    // The genesis state is the PVM's state hash after installing the boot sector.
    assert_eq!(
        c["compressed_state"],
        json!(
            sandbox::state::genesis_state_hash(PvmKind::Wasm, KERNEL)
                .unwrap()
                .to_b58check()
        )
    );
    assert_eq!(
        n.get("/chains/main/blocks/head/context/smart_rollups/all"),
        json!([addr.to_b58check()])
    );
    // Non-stakers get the documented error.
    let (s, e) = n.get_status(&format!(
        "{p}/staker/{}/staked_on_commitment",
        bootstrap_accounts()[2].pkh
    ));
    assert_eq!(s, 500);
    assert_eq!(e[0]["id"], "proto.025-PsUshuai.smart_rollup_not_staked");
}

#[test]
fn publish_cement_and_recover_bond() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let b = bootstrap_accounts();
    let (addr, res) = originate(&n); // level 2, period 5, window 10
    let genesis: tezos_types::CommitmentHash = res["genesis_commitment_hash"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let p = format!("/chains/main/blocks/head/context/smart_rollups/smart_rollup/{addr}");
    let commitment = Commitment {
        compressed_state: StateHash([7; 32]),
        inbox_level: tezos_types::Level::new(7).unwrap(),
        predecessor: genesis,
        number_of_ticks: 1000,
    };
    // Too early: inbox level 7 is not in the past yet (head 2, block 3).
    let (s, v) = n.inject(
        2,
        vec![OperationContent::SmartRollupPublish {
            rollup: addr,
            commitment,
        }],
    );
    assert_eq!(s, 200, "{v}");
    n.bake();
    let c = manager_results(&n.get("/chains/main/blocks/head"));
    let r = &c[1]["metadata"]["operation_result"];
    assert_eq!(r["status"], "failed");
    assert_eq!(
        r["errors"][0]["id"],
        "proto.025-PsUshuai.smart_rollup_commitment_from_future"
    );
    while n.get("/chains/main/blocks/head/header")["level"]
        .as_i64()
        .unwrap()
        < 7
    {
        n.bake();
    }
    let before = n.balance(&b[2].pkh);
    let (s, v) = n.inject(
        2,
        vec![OperationContent::SmartRollupPublish {
            rollup: addr,
            commitment,
        }],
    );
    assert_eq!(s, 200, "{v}");
    n.bake();
    let c = manager_results(&n.get("/chains/main/blocks/head"));
    let r = &c[0]["metadata"]["operation_result"];
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["staked_hash"], json!(commitment.hash().to_b58check()));
    assert_eq!(r["published_at_level"], 8);
    assert_eq!(r["balance_updates"][1]["kind"], "freezer");
    assert_eq!(r["balance_updates"][1]["change"], "10000000000");
    assert_eq!(n.balance(&b[2].pkh), before - 10_000_000_000 - 1000);
    let staked = n.get(&format!("{p}/staker/{}/staked_on_commitment", b[2].pkh));
    assert_eq!(staked["hash"], json!(commitment.hash().to_b58check()));
    assert_eq!(staked["inbox_level"], 7);
    // Cementing before the challenge window (published at 8, window 10) fails.
    let (s, v) = n.inject(
        3,
        vec![OperationContent::SmartRollupCement { rollup: addr }],
    );
    assert_eq!(s, 200, "{v}");
    n.bake();
    let c = manager_results(&n.get("/chains/main/blocks/head"));
    assert_eq!(c[1]["metadata"]["operation_result"]["status"], "failed");
    while n.get("/chains/main/blocks/head/header")["level"]
        .as_i64()
        .unwrap()
        < 17
    {
        n.bake();
    }
    let (s, v) = n.inject(
        3,
        vec![OperationContent::SmartRollupCement { rollup: addr }],
    );
    assert_eq!(s, 200, "{v}");
    n.bake();
    let c = manager_results(&n.get("/chains/main/blocks/head"));
    let r = &c[0]["metadata"]["operation_result"];
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["commitment_hash"], json!(commitment.hash().to_b58check()));
    assert_eq!(r["inbox_level"], 7);
    let lcc = n.get(&format!("{p}/last_cemented_commitment_hash_with_level"));
    assert_eq!(lcc["level"], 7);
    // Cemented: staked_on_commitment is now null, and the bond can be recovered by anyone.
    assert!(
        n.get(&format!("{p}/staker/{}/staked_on_commitment", b[2].pkh))
            .is_null()
    );
    let before = n.balance(&b[2].pkh);
    let (s, v) = n.inject(
        4,
        vec![OperationContent::SmartRollupRecoverBond {
            rollup: addr,
            staker: b[2].pkh,
        }],
    );
    assert_eq!(s, 200, "{v}");
    n.bake();
    let c = manager_results(&n.get("/chains/main/blocks/head"));
    assert_eq!(c[1]["metadata"]["operation_result"]["status"], "applied");
    assert_eq!(n.balance(&b[2].pkh), before + 10_000_000_000);
}

#[test]
fn bridge_deposit_becomes_an_internal_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let b = bootstrap_accounts();
    let (addr, _) = originate(&n);
    let bridge = n.get("/sandbox/info")["bridge"]
        .as_str()
        .unwrap()
        .to_string();
    let receiver = vec![0xab; 20];
    let value = Micheline::pair(
        Micheline::string(addr.to_b58check()),
        Micheline::bytes(receiver.clone()),
    );
    let (s, v) = n.inject(
        1,
        vec![OperationContent::Transaction {
            amount: Mutez(3_000_000),
            destination: Contract::Originated(bridge.parse().unwrap()),
            parameters: Some(Parameters {
                entrypoint: "deposit".into(),
                value: BinMicheline::from_micheline(&value),
            }),
        }],
    );
    assert_eq!(s, 200, "{v}");
    n.bake();
    let c = manager_results(&n.get("/chains/main/blocks/head"));
    let meta = &c[0]["metadata"];
    assert_eq!(meta["operation_result"]["status"], "applied", "{meta}");
    let internal = &meta["internal_operation_results"][0];
    assert_eq!(internal["kind"], "transaction");
    assert_eq!(internal["source"], json!(bridge));
    assert_eq!(internal["destination"], json!(addr.to_b58check()));
    // Left (Left (Pair receiver ticket)).
    let v = &internal["parameters"]["value"];
    assert_eq!(v["prim"], "Left");
    assert_eq!(v["args"][0]["prim"], "Left");
    assert_eq!(
        v["args"][0]["args"][0]["args"][0]["bytes"],
        hex::encode(&receiver)
    );
    assert_eq!(
        v["args"][0]["args"][0]["args"][1]["args"][1]["args"][1]["int"],
        "3000000"
    );
    assert_eq!(
        n.get(&format!(
            "/chains/main/blocks/head/context/contracts/{bridge}/balance"
        )),
        json!("3000000")
    );
    // The inbox level moved (the transfer is one of its messages).
    assert_eq!(
        n.get("/chains/main/blocks/head/context/smart_rollups/all/inbox")["level"],
        n.get("/chains/main/blocks/head/header")["level"]
    );
    let _ = b;
}
