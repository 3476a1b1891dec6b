//! Restart after SIGKILL and the reorg control RPC.

use serde_json::json;
use tezos_types::PublicKeyHash;

use super::Node;
use sandbox::accounts::bootstrap_accounts;
use sandbox::ops::OperationContent;
use tezos_types::{Contract, Mutez};

fn transfer(to: PublicKeyHash, amount: u64) -> OperationContent {
    OperationContent::Transaction {
        amount: Mutez(amount),
        destination: Contract::Implicit(to),
        parameters: None,
    }
}

#[test]
fn restart_after_kill_resumes_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let b = bootstrap_accounts();
    let mut n = Node::start(dir.path());
    let (s, v) = n.inject(1, vec![transfer(b[2].pkh, 1_000_000)]);
    assert_eq!(s, 200, "{v}");
    n.bake();
    n.bake();
    let head = n.get("/chains/main/blocks/head");
    let balance = n.balance(&b[2].pkh);
    // SIGKILL, then the same binary on the same port and data directory.
    n.restart();
    let again = n.get("/chains/main/blocks/head");
    assert_eq!(again["hash"], head["hash"]);
    assert_eq!(again["operations"], head["operations"]);
    assert_eq!(n.balance(&b[2].pkh), balance);
    // The chain continues from there.
    let next = n.bake();
    assert_eq!(next["predecessor"], head["hash"]);
}

#[test]
fn reorg_replaces_blocks_and_returns_operations_to_the_mempool() {
    let dir = tempfile::tempdir().unwrap();
    let b = bootstrap_accounts();
    let n = Node::start(dir.path());
    n.bake();
    let (s, v) = n.inject(1, vec![transfer(b[2].pkh, 7)]);
    assert_eq!(s, 200, "{v}");
    let with_op = n.bake();
    let old3 = n.get("/chains/main/blocks/3");
    assert_eq!(old3["operations"][3].as_array().unwrap().len(), 1);
    let (s, new_head) = n.post("/sandbox/reorg", &json!({"depth": 1}));
    assert_eq!(s, 200, "{new_head}");
    assert_eq!(new_head["level"], with_op["level"]);
    assert_ne!(new_head["hash"], with_op["hash"]);
    assert_eq!(new_head["fitness"][4], "00000001");
    let new3 = n.get("/chains/main/blocks/3");
    assert!(new3["operations"][3].as_array().unwrap().is_empty());
    assert_eq!(n.counter(&b[1].pkh), 0);
    // Dropped operation is back in the mempool: the next block includes it.
    let next = n.bake();
    assert_eq!(next["predecessor"], new_head["hash"]);
    assert_eq!(n.counter(&b[1].pkh), 2);
    // Too deep.
    let (s, e) = n.post("/sandbox/reorg", &json!({"depth": 100}));
    assert_eq!(s, 400, "{e}");
    assert_eq!(e[0]["id"], "sandbox.refused");
    // The reorg survives a restart.
    let head = n.get("/chains/main/blocks/head/hash");
    n.kill();
    let n = Node::start(dir.path());
    assert_eq!(n.get("/chains/main/blocks/head/hash"), head);
}

#[test]
fn bake_count_bakes_several_persisted_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Node::start(dir.path());
    let start = n.level();
    let (s, v) = n.post("/sandbox/bake", &json!({"count": 5}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(n.level(), start + 5);
    assert_eq!(v["level"], json!(start + 5), "{v}");
    let head = n.get("/chains/main/blocks/head/hash");
    assert_eq!(v["hash"], head);
    // Each block is chained to the previous one and survives a restart.
    n.restart();
    assert_eq!(n.get("/chains/main/blocks/head/hash"), head);
    for l in start + 1..=start + 5 {
        let b = n.get(&format!("/chains/main/blocks/{l}/header/shell"));
        let pred = n.get(&format!("/chains/main/blocks/{}/hash", l - 1));
        assert_eq!(b["predecessor"], pred, "level {l}");
    }
    for bad in [json!({"count": 0}), json!({"count": 100_001})] {
        let (s, v) = n.post("/sandbox/bake", &bad);
        assert_eq!(s, 400, "{bad}: {v}");
    }
    assert_eq!(n.level(), start + 5);
}
