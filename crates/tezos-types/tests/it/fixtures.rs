//! Cross-module fixtures from l1-and-signer.md (§2, §3, §7).

use tezos_types::encoding::BinDecode;
use tezos_types::inbox::{InternalMessage, Transfer};
use tezos_types::{BinEncode, InboxMessage, Micheline};

/// A transfer built from the JSON Micheline of an L1 receipt
/// (`"parameters":{"entrypoint":"default","value":…}`), encoded then decoded.
#[test]
fn transfer_from_receipt_json() {
    let value: Micheline =
        serde_json::from_str(r#"{"prim":"Pair","args":[{"bytes":"0102"},{"int":"42"}]}"#).unwrap();
    let msg = InboxMessage::Internal(InternalMessage::Transfer(Transfer {
        payload: (&value).into(),
        sender: "KT1BEqzn5Wx8uJrZNvuS9DVHmLvG9td3fDLi".parse().unwrap(),
        source: "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap(),
        destination: "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap(),
    }));
    let bytes = msg.to_bin();
    assert_eq!(&bytes[..2], &[0, 0]);
    let back = InboxMessage::from_bin(&bytes).unwrap();
    let InboxMessage::Internal(InternalMessage::Transfer(t)) = &back else {
        panic!("not a transfer: {back:?}");
    };
    assert_eq!(t.payload.decode().unwrap(), value);
    assert_eq!(
        t.payload.decode().unwrap().to_string(),
        "Pair 0x0102 42",
        "text form"
    );
    // Fixed overhead: 2 tags + 20 + 21 + 20 = 63 bytes (wasm-pvm.md §4.1).
    assert_eq!(bytes.len(), 63 + t.payload.as_bytes().len());
}

/// A manager operation as found in a block with metadata (l1-and-signer.md §1.3.1): the
/// receipt is ignored, the content parses, and the forged bytes are those of §2.4.
#[test]
fn block_operation_with_receipt() {
    use tezos_types::operation::SignedOperation;
    let json = r#"{"protocol":"PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY","chain_id":"NetXdQprcVkpaWU",
      "hash":"opJo4KX3M63eEvm6QGdZNA2t26LYHsd3kDTFjfKtUUibMKc4Lev",
      "branch":"BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2",
      "contents":[{"kind":"smart_rollup_add_messages","source":"tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx","fee":"401","counter":"1",
                   "gas_limit":"1100","storage_limit":"0","message":["48656c6c6f","00ff"],
                   "metadata":{"balance_updates":[],"operation_result":{"status":"applied","consumed_milligas":"1002436"}}}],
      "signature":"edsigtkVb5NTpu9qZXb82AG4UE1p8FzYN3M5Yzfa2KGy9sDmpfTs6D2eHaoPnh2VVWLxTErsZtiNdqpMF44EGUEVCxsive3uszA"}"#;
    let op: SignedOperation = serde_json::from_str(json).unwrap();
    assert_eq!(
        op.hash().to_string(),
        "opJo4KX3M63eEvm6QGdZNA2t26LYHsd3kDTFjfKtUUibMKc4Lev"
    );
    let pk: tezos_types::PublicKey = "edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav"
        .parse()
        .unwrap();
    assert!(op.verify(&pk));
    let bytes = op.to_bin();
    assert_eq!(SignedOperation::from_bin(&bytes).unwrap().hash(), op.hash());
}
