//! The injector against a real `smart-rollup-sandbox` process (manual baking): injection with
//! reveal, inclusion, a failing operation retried with its error, and the persisted queue
//! surviving a restart without double injection. Fails when the sandbox binary has not been
//! built (`cargo build -p sandbox --bins`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use injector::core::{Core, Rules, State, WorkerTags};
use injector::store::Store;
use injector::{Injector, InjectorEvent, Settings, WorkerSpec};
use l1_client::{L1Client, L1Config};
use l1_operation::{L1Operation, OperationKind};
use serde_json::Value;
use test_support::Sandbox;
use tezos_types::keys::Curve;
use tezos_types::{
    BlockHash, CommitmentHash, Contract, Mutez, OperationContent, OperationHash, SecretKey,
};

const ROLLUP: &str = "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf";

async fn start(dir: &Path) -> (Sandbox, L1Client) {
    let data_dir = dir.join("sandbox");
    let sb = tokio::task::spawn_blocking(move || Sandbox::builder(&data_dir).start())
        .await
        .unwrap()
        .unwrap();
    let l1 = L1Client::new(L1Config {
        reconnection_delay: Duration::from_millis(50),
        rpc_max_delay: Duration::from_millis(200),
        rpc_max_attempts: 20,
        ..L1Config::new(sb.endpoint().to_owned())
    })
    .unwrap();
    (sb, l1)
}

/// A fresh, unrevealed key funded with 100 tez by bootstrap1.
fn funded_key(sb: &Sandbox) -> SecretKey {
    let sk = SecretKey::generate(Curve::Ed25519).unwrap();
    sb.inject(
        &test_support::bootstrap_key(1),
        vec![OperationContent::Transaction {
            amount: Mutez(100_000_000),
            destination: Contract::Implicit(sk.public_key_hash()),
            parameters: None,
        }],
    );
    sb.bake();
    sk
}

fn settings() -> Settings {
    Settings {
        rules: Rules {
            attempts: 3,
            injection_ttl: 120,
            retention_period: 2048,
            max_batch_length: None,
        },
        fees: Default::default(),
    }
}

fn open(path: &Path, sk: &SecretKey, l1: &L1Client) -> Injector {
    let worker = WorkerSpec {
        signer: Arc::new(signer::LocalSigner(sk.clone())),
        kinds: OperationKind::ALL.to_vec(),
    };
    Injector::open(
        path,
        settings(),
        vec![worker],
        l1.clone(),
        ROLLUP.parse().unwrap(),
    )
    .unwrap()
}

async fn new_head(sb: &Sandbox, l1: &L1Client, inj: &Injector) {
    let _ = sb;
    let head = l1.block_header("main", "head").await.unwrap();
    inj.on_new_head(&head).await.unwrap();
}

/// `(source, kind, messages)` of every manager content of the head block.
fn head_contents(sb: &Sandbox) -> Vec<(String, String, Value)> {
    let b = sb.get("/chains/main/blocks/head?metadata=always");
    b["operations"][3]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|op| op["contents"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            (
                c["source"].as_str().unwrap_or_default().to_owned(),
                c["kind"].as_str().unwrap_or_default().to_owned(),
                c["message"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn injects_with_reveal_and_tracks_inclusion() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, l1) = start(dir.path()).await;
    let sk = funded_key(&sb);
    let pkh = sk.public_key_hash().to_b58check();
    let inj = open(&dir.path().join("injector/injector.sqlite"), &sk, &l1);
    let mut events = inj.subscribe();

    let m1 = inj
        .add(
            L1Operation::AddMessages {
                messages: vec![b"hello".to_vec()],
            },
            None,
        )
        .unwrap();
    let m2 = inj
        .add(
            L1Operation::AddMessages {
                messages: vec![b"world".to_vec()],
            },
            Some(0),
        )
        .unwrap();
    // Cementing a rollup that does not exist fails in simulation: it stays queued with its
    // error and does not block the messages.
    let bad = inj
        .add(
            L1Operation::Cement {
                rollup: ROLLUP.parse().unwrap(),
                commitment: CommitmentHash::ZERO,
            },
            None,
        )
        .unwrap();
    assert_eq!(inj.status_json(&m1)["status"], "pending_injection");
    assert_eq!(inj.total_json()["total"], 3);

    new_head(&sb, &l1, &inj).await;
    let s1 = inj.status_json(&m1);
    assert_eq!(s1["status"], "injected", "{s1}");
    let oph = s1["layer1"]["operation_hash"].as_str().unwrap().to_owned();
    // m2 has an explicit order: first in the batch, after the reveal.
    assert_eq!(inj.status_json(&m2)["layer1"]["operation_index"], 1);
    assert_eq!(s1["layer1"]["operation_index"], 2);
    let queues = inj.queues_json(Some(OperationKind::Cement));
    let q = &queues[0]["queue"][0];
    assert_eq!(q["kind"], "cement", "{queues}");
    assert_eq!(q["errors"]["count"], 1, "{queues}");
    assert!(
        inj.entry(&bad)
            .unwrap()
            .last_error
            .unwrap()
            .contains("simulation")
    );

    sb.bake();
    let contents = head_contents(&sb);
    let ours: Vec<_> = contents.iter().filter(|c| c.0 == pkh).collect();
    assert_eq!(
        ours.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(),
        vec![
            "reveal",
            "smart_rollup_add_messages",
            "smart_rollup_add_messages"
        ]
    );
    assert_eq!(ours[1].2, serde_json::json!([hex::encode("world")]));

    new_head(&sb, &l1, &inj).await;
    let s1 = inj.status_json(&m1);
    assert_eq!(s1["status"], "included", "{s1}");
    assert_eq!(s1["layer1"]["operation_hash"], oph);
    assert_eq!(s1["layer1"]["level"], sb.level());
    let mut included = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let InjectorEvent::Included { id, oph: h, .. } = e {
            assert_eq!(h.to_b58check(), oph);
            included.push(id);
        }
    }
    included.sort();
    let mut expected = vec![m1, m2];
    expected.sort();
    assert_eq!(included, expected);
    // Only the failing cement is left; it is retried at each head until `attempts` (3).
    assert_eq!(inj.total(), 1);
    sb.bake();
    new_head(&sb, &l1, &inj).await;
    assert!(
        inj.entry(&bad).is_none(),
        "discarded after 3 failed simulations"
    );
    assert_eq!(inj.status_json(&bad)["status"], "unknown");
    // Finalized two blocks later.
    sb.bake();
    new_head(&sb, &l1, &inj).await;
    assert_eq!(inj.status_json(&m1)["finalized"], true);
}

#[tokio::test]
async fn queue_survives_restart_and_is_injected_once() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, l1) = start(dir.path()).await;
    let sk = funded_key(&sb);
    let pkh = sk.public_key_hash();
    let path = dir.path().join("injector/injector.sqlite");
    let (a, b) = {
        let inj = open(&path, &sk, &l1);
        let a = inj
            .add(
                L1Operation::AddMessages {
                    messages: vec![b"a".to_vec()],
                },
                None,
            )
            .unwrap();
        let b = inj
            .add(
                L1Operation::AddMessages {
                    messages: vec![b"b".to_vec()],
                },
                None,
            )
            .unwrap();
        (a, b)
        // Dropped before any head: nothing injected.
    };
    // A crash after recording an injection that never reached the L1 node: `b` is marked
    // injected (unconfirmed) in the database.
    {
        let mut store = Store::open(&path).unwrap();
        let (entries, next) = store.load().unwrap();
        let rules = settings().rules;
        let workers = vec![WorkerTags {
            signer: pkh,
            kinds: OperationKind::ALL.to_vec(),
        }];
        let mut core = Core::new(rules, workers, entries, next);
        let level = tezos_types::Level::try_from(sb.level()).unwrap();
        let counter = sb.counter(&pkh);
        core.mark_injected(
            &[b],
            OperationHash::new([7; 32]),
            BlockHash::new([1; 32]),
            level,
            1,
            counter + 2,
        );
        let dirty = core.take_dirty();
        store
            .save(&dirty, |id| core.get(id), core.next_counter())
            .unwrap();
    }
    let inj = open(&path, &sk, &l1);
    assert_eq!(inj.total(), 2);
    assert!(matches!(
        inj.entry(&b).unwrap().state,
        State::Injected {
            confirmed: false,
            ..
        }
    ));
    // First head: `b` is not in the mempool and its counter was not used, so it is queued
    // again and injected with `a` (after the reveal).
    new_head(&sb, &l1, &inj).await;
    assert_eq!(inj.status_json(&a)["status"], "injected");
    assert_eq!(inj.status_json(&b)["status"], "injected");
    // Restart while they are in flight: they are not injected a second time.
    drop(inj);
    let inj = open(&path, &sk, &l1);
    new_head(&sb, &l1, &inj).await;
    sb.bake();
    let ours: Vec<_> = head_contents(&sb)
        .into_iter()
        .filter(|c| c.0 == pkh.to_b58check())
        .collect();
    assert_eq!(ours.len(), 3, "reveal, `a` and `b` once each: {ours:?}");
    assert_eq!(ours[2].2, serde_json::json!([hex::encode("b")]));
    new_head(&sb, &l1, &inj).await;
    assert_eq!(inj.status_json(&a)["status"], "included");
    assert_eq!(inj.status_json(&b)["status"], "included");
    // Nothing else is injected at later heads.
    sb.bake();
    new_head(&sb, &l1, &inj).await;
    sb.bake();
    assert!(head_contents(&sb).iter().all(|c| c.0 != pkh.to_b58check()));
    assert_eq!(inj.total(), 0);
}

#[tokio::test]
async fn reorged_operation_is_tracked_again_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, l1) = start(dir.path()).await;
    let sk = test_support::bootstrap_key(3);
    let pkh = sk.public_key_hash().to_b58check();
    let inj = open(&dir.path().join("injector.sqlite"), &sk, &l1);
    let m = inj
        .add(
            L1Operation::AddMessages {
                messages: vec![b"r".to_vec()],
            },
            None,
        )
        .unwrap();
    new_head(&sb, &l1, &inj).await;
    let oph = inj.status_json(&m)["layer1"]["operation_hash"].clone();
    sb.bake();
    new_head(&sb, &l1, &inj).await;
    let before = inj.status_json(&m);
    assert_eq!(before["status"], "included", "{before}");
    // The block carrying it is replaced by an empty one; the operation waits in the mempool.
    let (s, v) = sb.post("/sandbox/reorg", &serde_json::json!({"depth": 1}));
    assert_eq!(s, 200, "{v}");
    new_head(&sb, &l1, &inj).await;
    let after = inj.status_json(&m);
    assert_eq!(after["status"], "injected", "{after}");
    assert_eq!(
        after["layer1"]["operation_hash"], oph,
        "not injected a second time"
    );
    sb.bake();
    let ours: Vec<_> = head_contents(&sb)
        .into_iter()
        .filter(|c| c.0 == pkh && c.1 == "smart_rollup_add_messages")
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    new_head(&sb, &l1, &inj).await;
    let again = inj.status_json(&m);
    assert_eq!(again["status"], "included", "{again}");
    assert_ne!(
        again["layer1"]["block_hash"],
        before["layer1"]["block_hash"]
    );
    assert_eq!(
        again["layer1"]["level"],
        before["layer1"]["level"].as_i64().unwrap() + 1
    );
}

#[tokio::test]
async fn conflicting_publish_is_never_signed() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, l1) = start(dir.path()).await;
    let sk = test_support::bootstrap_key(4);
    let pkh = sk.public_key_hash().to_b58check();
    let path = dir.path().join("injector.sqlite");
    let rollup: tezos_types::SmartRollupAddress = ROLLUP.parse().unwrap();
    let commitment = |ticks| tezos_types::Commitment {
        compressed_state: tezos_types::StateHash::ZERO,
        inbox_level: tezos_types::Level::new(32).unwrap(),
        predecessor: CommitmentHash::ZERO,
        number_of_ticks: ticks,
    };
    // A previous run signed another commitment for level 32.
    let signed = commitment(1).hash();
    assert!(
        Store::open(&path)
            .unwrap()
            .protect(&[(rollup, tezos_types::Level::from(32u8), signed)])
            .unwrap()
            .is_empty()
    );
    let inj = open(&path, &sk, &l1);
    let mut events = inj.subscribe();
    let p = inj
        .add(
            L1Operation::Publish {
                rollup,
                commitment: commitment(2),
            },
            None,
        )
        .unwrap();
    new_head(&sb, &l1, &inj).await;
    assert_eq!(inj.status_json(&p)["status"], "unknown");
    let forgotten = events.try_recv().unwrap();
    let InjectorEvent::Forgotten { id, reason, .. } = forgotten else {
        panic!("{forgotten:?}")
    };
    assert_eq!(id, p);
    assert_eq!(
        reason,
        format!(
            "Refusing to sign commitment {} for inbox level 32: commitment {signed} was already signed for that level",
            commitment(2).hash()
        )
    );
    sb.bake();
    assert!(head_contents(&sb).iter().all(|c| c.0 != pkh));
    // The record is unchanged.
    drop(inj);
    assert_eq!(
        Store::open(&path)
            .unwrap()
            .signed_commitment(&rollup, tezos_types::Level::from(32u8))
            .unwrap(),
        Some(signed)
    );
}

#[tokio::test]
async fn remote_signer_down_keeps_operations_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, l1) = start(dir.path()).await;
    let pkh = test_support::bootstrap_key(5).public_key_hash();
    // A real remote signer client, pointed at a port nobody listens on.
    let port = test_support::free_port().unwrap();
    let remote = signer::RemoteSigner::new(
        signer::remote::Location::Tcp(format!("127.0.0.1:{port}")),
        pkh,
        vec![],
    );
    let worker = WorkerSpec {
        signer: Arc::new(remote),
        kinds: vec![OperationKind::AddMessages],
    };
    let inj = Injector::open(
        &dir.path().join("injector.sqlite"),
        settings(),
        vec![worker],
        l1.clone(),
        ROLLUP.parse().unwrap(),
    )
    .unwrap();
    let m = inj
        .add(
            L1Operation::AddMessages {
                messages: vec![b"s".to_vec()],
            },
            None,
        )
        .unwrap();
    for _ in 0..2 {
        new_head(&sb, &l1, &inj).await;
        sb.bake();
    }
    // Not the operation's fault: no error counted, still queued.
    let e = inj.entry(&m).unwrap();
    assert_eq!((e.state, e.errors), (State::Pending, 0));
    assert!(head_contents(&sb).iter().all(|c| c.0 != pkh.to_b58check()));
    assert!(
        inj.add(
            L1Operation::Recover {
                rollup: ROLLUP.parse().unwrap(),
                staker: pkh
            },
            None
        )
        .unwrap_err()
        .to_string()
        .contains("no operator key injects recover operations")
    );
}

/// Cementations skipped after a failed one in a simulated batch are bound to fail: they are
/// forgotten at once (the node hands them over again at its next head, as Octez's injector
/// does), not simulated again one by one, and the other operations of the batch are injected
/// in the same head. The cementation that failed keeps its error and is retried.
#[tokio::test]
async fn cementations_after_a_failed_one_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, l1) = start(dir.path()).await;
    let sk = funded_key(&sb);
    let inj = open(&dir.path().join("injector.sqlite"), &sk, &l1);
    let mut events = inj.subscribe();
    let cement = |n: u8| L1Operation::Cement {
        rollup: ROLLUP.parse().unwrap(),
        commitment: CommitmentHash([n; 32]),
    };
    let cements: Vec<_> = (1..=3).map(|n| inj.add(cement(n), None).unwrap()).collect();
    let m = inj
        .add(
            L1Operation::AddMessages {
                messages: vec![b"hello".to_vec()],
            },
            None,
        )
        .unwrap();
    new_head(&sb, &l1, &inj).await;
    let s = inj.status_json(&m);
    assert_eq!(s["status"], "injected", "{s}");
    let first = inj
        .entry(&cements[0])
        .expect("the failed cementation is kept");
    assert_eq!(first.errors, 1);
    let mut forgotten = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let InjectorEvent::Forgotten { id, reason, .. } = e {
            assert!(reason.contains("after a failed cementation"), "{reason}");
            forgotten.push(id);
        }
    }
    forgotten.sort();
    let mut expected = cements[1..].to_vec();
    expected.sort();
    assert_eq!(forgotten, expected);
    for id in &cements[1..] {
        assert_eq!(inj.status_json(id)["status"], "unknown");
    }
}
