//! End to end: a deposit through the sandbox's bridge contract becomes an internal transfer
//! in the rollup inbox (l1-and-signer.md §4), which the node feeds to the kernel; the kernel's
//! copy of the message is read back through the durable RPC and decoded.

use std::time::Duration;

use serde_json::Value;
use test_support::{Sandbox, bootstrap_key};
use tezos_types::inbox::Transfer;
use tezos_types::operation::{OperationContent, Parameters};
use tezos_types::{
    BinDecode, BinMicheline, Contract, InboxMessage, InternalMessage, Micheline, Mutez,
    PublicKeyHash, SmartRollupAddress,
};

use super::{init_config, node};

/// Bound of the waits for the node (a guard against hangs).
const BOUND: Duration = Duration::from_secs(180);

#[test]
fn bridge_deposit_reaches_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let rollup: SmartRollupAddress = addr.parse().unwrap();
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = node(&node_dir, sb.endpoint()).start().unwrap();
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(
        node.durable("head", "/deposits"),
        Value::String(hex::encode(0u32.to_le_bytes()))
    );
    assert_eq!(node.durable("head", "/deposit"), Value::Null);

    let bridge = sb.get("/sandbox/info")["bridge"]
        .as_str()
        .expect("the sandbox reports its bridge contract")
        .to_string();
    let receiver = vec![0xab; 20];
    let value = Micheline::pair(Micheline::string(addr), Micheline::bytes(receiver.clone()));
    let depositor = bootstrap_key(2);
    sb.inject(
        &depositor,
        vec![OperationContent::Transaction {
            amount: Mutez(3_000_000),
            destination: Contract::Originated(bridge.parse().unwrap()),
            parameters: Some(Parameters {
                entrypoint: "deposit".into(),
                value: BinMicheline::from_micheline(&value),
            }),
        }],
    );
    sb.bake();
    let deposit_level = sb.level();
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();

    // The node's inbox of that level holds the transfer, as L1's does.
    let inbox = node.get(&format!("/global/block/{deposit_level}/inbox"));
    assert_eq!(
        inbox,
        sb.get(&format!(
            "/chains/main/blocks/{deposit_level}/context/smart_rollups/all/inbox"
        ))
    );
    // The kernel saw exactly one deposit, and its bytes decode to the bridge's transfer.
    assert_eq!(
        node.durable("head", "/deposits"),
        Value::String(hex::encode(1u32.to_le_bytes()))
    );
    let stored = node.durable("head", "/deposit");
    let bytes = hex::decode(stored.as_str().expect("a deposit was stored")).unwrap();
    let msg = InboxMessage::from_bin(&bytes).unwrap();
    let InboxMessage::Internal(InternalMessage::Transfer(Transfer {
        payload,
        sender,
        source,
        destination,
    })) = msg
    else {
        panic!("not a transfer: {msg:?}");
    };
    assert_eq!(destination, rollup);
    assert_eq!(
        Contract::Originated(sender),
        bridge.parse::<Contract>().unwrap()
    );
    let depositor_pkh: PublicKeyHash = depositor.public_key().hash();
    assert_eq!(source, depositor_pkh);
    // The bridge forwards `Left (Left (Pair receiver ticket))`: the receiver is in the payload.
    let payload = payload.as_bytes();
    assert!(
        payload
            .windows(receiver.len())
            .any(|w| w == receiver.as_slice()),
        "receiver bytes missing from the payload {}",
        hex::encode(payload)
    );
}
