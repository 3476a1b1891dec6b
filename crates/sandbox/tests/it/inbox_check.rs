//! The rollup node's view: rebuild each level's inbox from the block receipts (crate `inbox`,
//! as the node does) and compare with the sandbox's `…/smart_rollups/all/inbox` (the node's
//! `same_as_layer_1` check before publishing).

use serde_json::Value;
use tezos_types::micheline::BinMicheline;
use tezos_types::{Contract, Micheline, Mutez};

use super::Node;
use sandbox::ops::{OperationContent, Parameters, PvmKind};

pub(super) fn header(n: &Node, level: i64) -> inbox::BlockHeader {
    let shell: inbox::ShellHeader =
        serde_json::from_value(n.get(&format!("/chains/main/blocks/{level}/header/shell")))
            .unwrap();
    let hash = n.get(&format!("/chains/main/blocks/{level}/hash"));
    inbox::BlockHeader {
        hash: hash.as_str().unwrap().parse().unwrap(),
        shell,
    }
}

pub(super) fn l1_inbox(n: &Node, level: i64) -> tezos_types::inbox::Inbox {
    serde_json::from_value(n.get(&format!(
        "/chains/main/blocks/{level}/context/smart_rollups/all/inbox"
    )))
    .unwrap()
}

#[test]
fn node_side_inbox_reconstruction_matches_l1() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    // Level 2: origination (first block of the protocol: migration message).
    let (s, v) = n.inject(
        1,
        vec![OperationContent::SmartRollupOriginate {
            pvm_kind: PvmKind::Wasm,
            kernel: b"\0asm\x01\0\0\0".to_vec(),
            parameters_ty: BinMicheline::from_micheline(&Micheline::parse_text("bytes").unwrap()),
            whitelist: None,
        }],
    );
    assert_eq!(s, 200, "{v}");
    n.bake();
    let block: Value = n.get("/chains/main/blocks/head");
    let addr = block["operations"][3][0]["contents"][1]["metadata"]["operation_result"]["address"]
        .as_str()
        .unwrap()
        .to_string();
    // Level 3: external messages from two sources and a bridge deposit.
    let bridge: Contract = n.get("/sandbox/info")["bridge"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        n.inject(
            2,
            vec![OperationContent::SmartRollupAddMessages {
                message: vec![b"one".to_vec(), b"two".to_vec()],
            }],
        )
        .0,
        200
    );
    let value = Micheline::pair(Micheline::string(addr), Micheline::bytes(vec![1; 20]));
    let (s, v) = n.inject(
        3,
        vec![OperationContent::Transaction {
            amount: Mutez(1_000_000),
            destination: bridge,
            parameters: Some(Parameters {
                entrypoint: "deposit".into(),
                value: BinMicheline::from_micheline(&value),
            }),
        }],
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        n.inject(
            4,
            vec![OperationContent::SmartRollupAddMessages {
                message: vec![b"three".to_vec()],
            }],
        )
        .0,
        200
    );
    n.bake();
    // Level 4: empty.
    n.bake();
    let mut prev = l1_inbox(&n, 1);
    let mut saw_transfer = false;
    for level in 2..=4 {
        let b = inbox::Block::from_json(&n.get(&format!("/chains/main/blocks/{level}"))).unwrap();
        let migration = (level == 2).then_some("u025_025");
        let msgs = inbox::rollup_inbox_of_level(&b, &header(&n, level - 1), migration).unwrap();
        saw_transfer |= msgs.iter().any(|m| {
            matches!(
                m,
                tezos_types::InboxMessage::Internal(tezos_types::InternalMessage::Transfer(_))
            )
        });
        if level == 3 {
            // SOL, IPL, 2 externals, transfer, 1 external, EOL.
            assert_eq!(msgs.len(), 7, "{msgs:?}");
        }
        let (next, _) = inbox::next_inbox(&prev, &msgs).unwrap();
        assert_eq!(next, l1_inbox(&n, level), "inbox mismatch at level {level}");
        prev = next;
    }
    assert!(saw_transfer);
}
