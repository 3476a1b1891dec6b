//! Client helper RPCs (forge, parse, run/simulate, preapply), the mempool and the block timer.

use std::time::Duration;

use serde_json::json;
use tezos_types::{Contract, Mutez};

use super::Node;
use sandbox::accounts::bootstrap_accounts;
use sandbox::ops::OperationContent;

#[test]
fn forge_simulate_preapply_and_mempool() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let b = bootstrap_accounts();
    let op = n.sign(
        1,
        vec![OperationContent::Transaction {
            amount: Mutez(42),
            destination: Contract::Implicit(b[2].pkh),
            parameters: None,
        }],
    );
    let mut unsigned = op.to_json();
    unsigned.as_object_mut().unwrap().remove("signature");
    // Forge = our local forging.
    let (s, forged) = n.post(
        "/chains/main/blocks/head/helpers/forge/operations",
        &unsigned,
    );
    assert_eq!(s, 200, "{forged}");
    assert_eq!(forged, json!(hex::encode(op.unsigned_bytes())));
    // Parse back.
    let signed = hex::encode(op.signed_bytes());
    let (s, parsed) = n.post(
        "/chains/main/blocks/head/helpers/parse/operations",
        &json!({"operations": [{"data": signed[64..], "branch": op.branch.to_b58check()}]}),
    );
    assert_eq!(s, 200, "{parsed}");
    assert_eq!(parsed[0]["contents"], op.to_json()["contents"]);
    // Simulation of the unsigned operation (rollup-node injector flow).
    for rpc in ["simulate_operation", "run_operation"] {
        let (s, sim) = n.post(
            &format!("/chains/main/blocks/head/helpers/scripts/{rpc}"),
            &json!({"operation": unsigned, "chain_id": "NetXdQprcVkpaWU", "latency": 3}),
        );
        assert_eq!(s, 200, "{sim}");
        let r = &sim["contents"][1]["metadata"]["operation_result"];
        assert_eq!(r["status"], "applied");
        assert!(
            r["consumed_milligas"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0
        );
    }
    // Preapply checks the signature.
    let (s, pre) = n.post(
        "/chains/main/blocks/head/helpers/preapply/operations",
        &json!([op.to_json()]),
    );
    assert_eq!(s, 200, "{pre}");
    assert_eq!(
        pre[0]["contents"][1]["metadata"]["operation_result"]["status"],
        "applied"
    );
    let mut forged_sig = op.to_json();
    forged_sig["signature"] = json!(
        b[3].secret_key
            .sign_operation(&op.unsigned_bytes())
            .to_b58check()
    );
    let (s, e) = n.post(
        "/chains/main/blocks/head/helpers/preapply/operations",
        &json!([forged_sig]),
    );
    assert_eq!(s, 500);
    assert_eq!(e[0]["id"], "proto.025-PsUshuai.operation.invalid_signature");
    // Nothing was applied by the helpers; injection puts it in the mempool.
    assert_eq!(n.counter(&b[1].pkh), 0);
    let (s, h) = n.inject_op(&op);
    assert_eq!(s, 200, "{h}");
    let pending = n.get("/chains/main/mempool/pending_operations");
    assert_eq!(pending["validated"][0]["hash"], h);
    n.bake();
    assert!(
        n.get("/chains/main/mempool/pending_operations")["validated"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(n.counter(&b[1].pkh), 2);
}

#[test]
fn blocks_are_produced_on_the_timer() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start_with(dir.path(), &["--block-time", "0.2"]);
    test_support::wait_until(
        "the timer to produce blocks up to level 4",
        Duration::from_secs(60),
        || n.level() >= 4,
    )
    .unwrap();
}
