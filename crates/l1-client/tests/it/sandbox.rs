//! End-to-end test against the real `smart-rollup-sandbox` binary, started as a process on a
//! free port (`test_support::Sandbox`). Fails when the binary has not been built
//! (`scripts/test.sh` builds every binary first); set `SMART_ROLLUP_SANDBOX` to its path, or
//! build it with `cargo build -p sandbox --bin smart-rollup-sandbox`.

use inbox::{ChainBlock, UpdateKind, plan_update, rollup_inbox_of_level};
use l1_client::{HeadMonitor, L1Client, L1Config};
use std::collections::BTreeMap;
use std::time::Duration;
use test_support::Sandbox;
use tezos_types::operation::{ManagerOperation, OperationContent, UnsignedOperation};
use tezos_types::{BinEncode, InboxMessage, Mutez, SecretKey};

const GUARD: Duration = Duration::from_secs(60);

#[tokio::test]
async fn follows_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("sandbox");
    // Manual baking, the sandbox's default constants; `start` blocks until it answers RPCs.
    let sb = tokio::task::spawn_blocking(move || {
        Sandbox::builder(&data_dir).test_constants(false).start()
    })
    .await
    .unwrap()
    .unwrap();
    let client = L1Client::new(L1Config {
        reconnection_delay: Duration::from_millis(50),
        rpc_max_delay: Duration::from_millis(200),
        stream_max_delay: Duration::from_millis(200),
        rpc_max_attempts: 200,
        ..L1Config::new(sb.endpoint().to_owned())
    })
    .unwrap();
    let chain_id = client.chain_id().await.unwrap();
    let constants = client.constants("main", "head").await.unwrap();
    assert!(constants.smart_rollup_commitment_period_in_blocks > 0);

    let mut monitor = HeadMonitor::start(client.clone(), &chain_id.to_b58check());
    let first = tokio::time::timeout(GUARD, monitor.next())
        .await
        .unwrap()
        .unwrap();

    // Inject an external message from bootstrap1, then bake.
    let sk: SecretKey = test_support::bootstrap_key(1);
    let source = sk.public_key_hash();
    let counter: String = client
        .get_json(&format!(
            "/chains/main/blocks/head/context/contracts/{source}/counter"
        ))
        .await
        .unwrap();
    let counter = counter.parse::<u64>().unwrap();
    let manager = |content, counter| ManagerOperation {
        content,
        source,
        fee: Mutez(1000),
        counter,
        gas_limit: 2000,
        storage_limit: 0,
    };
    // Bootstrap accounts start unrevealed: batch a reveal first.
    let op = UnsignedOperation {
        branch: first.hash,
        contents: vec![
            manager(
                OperationContent::Reveal {
                    public_key: sk.public_key(),
                    proof: None,
                },
                counter + 1,
            ),
            manager(
                OperationContent::SmartRollupAddMessages {
                    message: vec![b"hello".to_vec()],
                },
                counter + 2,
            ),
        ],
    }
    .sign(&sk);
    let http = http_client::async_client_builder()
        .unwrap()
        .build()
        .unwrap();
    let base = client.url("");
    let r = http
        .post(format!("{base}/injection/operation?chain=main"))
        .header("content-type", "application/json")
        .body(format!("\"{}\"", hex::encode(op.to_bin())))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let r = http
        .post(format!("{base}/sandbox/bake"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let head = tokio::time::timeout(GUARD, async {
        loop {
            let h = monitor.next().await.unwrap();
            if h.shell.level > first.shell.level {
                return h;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(Some(head.shell.level), first.shell.level.succ());
    assert_eq!(head.shell.predecessor, first.hash);

    let block = client
        .block("main", &head.hash.to_b58check())
        .await
        .unwrap();
    let pred = client
        .block_header("main", &head.shell.predecessor.to_b58check())
        .await
        .unwrap();
    let activation = client
        .protocols("main")
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.protocol == block.protocol)
        .unwrap()
        .activation_block
        .level;
    let activation = tezos_types::Level::new(activation).unwrap();
    let migration = inbox::migration_message(block.level(), &block.protocol, activation).unwrap();
    let msgs = rollup_inbox_of_level(&block, &pred, migration).unwrap();
    assert_eq!(msgs.first(), Some(&InboxMessage::SOL));
    assert_eq!(msgs.last(), Some(&InboxMessage::EOL));
    assert!(
        msgs.contains(&InboxMessage::External(b"hello".to_vec())),
        "{msgs:?}"
    );

    // Our inbox of the new level, applied to L1's inbox before it, gives L1's inbox after it.
    let before = client
        .global_inbox("main", &first.hash.to_b58check())
        .await
        .unwrap();
    let after = client
        .global_inbox("main", &head.hash.to_b58check())
        .await
        .unwrap();
    let (ours, _witness) = inbox::next_inbox(&before, &msgs).unwrap();
    assert_eq!(ours, after);

    let processed = BTreeMap::from([(first.shell.level, first.hash)]);
    let ancestry = client
        .ancestry("main", &head.hash, head.shell.level, 3)
        .await
        .unwrap();
    let first_level = tezos_types::Level::new(1).unwrap();
    let update = plan_update(&processed, first_level, &ChainBlock::from(&head), |h| {
        ancestry.iter().find(|b| b.hash == *h).copied()
    })
    .unwrap();
    assert_eq!(update.kind, UpdateKind::Extend);
    assert_eq!(update.to_process.len(), 1);
    assert!(monitor.status().is_connected());
}
