//! The DAL end to end (issue 16; docs/reference/dal.md): a sandbox with the DAL on, the
//! `dal-reader` SDK kernel (it imports the slot an external signal names, as Etherlink imports
//! blueprints), and the node with `--dal-node` on the sandbox's DAL node RPC. Published and
//! attested slots reach the inbox (`Dal_attested_slots`, checked by the node against the L1's
//! inbox) and the kernel reads their pages, in the follower, in the simulation RPC, in
//! `replay block` and in the replay of a compact snapshot's import; an unattested slot reads as
//! empty; without a DAL node, the node (or the replay) stops at the level with an error saying
//! what is missing.

use std::time::Duration;

use serde_json::json;
use test_support::{Sandbox, bootstrap_key};
use tezos_types::operation::{DalCommitmentProof, DalSlotHeader, OperationContent};

use super::init_config;

const BOUND: Duration = Duration::from_secs(180);
const SLOT_SIZE: usize = 64;
const PAGE_SIZE: usize = 16;
const LAG: i64 = 2;

fn dal_reader_kernel() -> Vec<u8> {
    let path = test_support::kernels_dir().join("wasm32-unknown-unknown/release/dal-reader.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the test kernels first: scripts/build-kernels.sh",
            path.display()
        )
    })
}

/// A sandbox with the DAL on: 4 slots, lag 2, 64-byte slots of 16-byte pages, slot 1 never
/// attested.
fn dal_sandbox(dir: &std::path::Path) -> Sandbox {
    let constants = dir.join("constants.json");
    std::fs::write(
        &constants,
        json!({
            "dal_parametric": {"feature_enable": true, "number_of_slots": 4,
                "attestation_lag": LAG, "attestation_lags": [LAG],
                "slot_size": SLOT_SIZE, "page_size": PAGE_SIZE, "number_of_shards": 64},
            "sandbox_dal_unattested_slots": [1]
        })
        .to_string(),
    )
    .unwrap();
    Sandbox::builder(&dir.join("sandbox"))
        .args(["--constants", constants.to_str().unwrap()])
        .start()
        .unwrap()
}

/// Posts `data` to the sandbox's DAL node and publishes its commitment for `slot` from
/// bootstrap `who`.
pub(crate) fn publish(sb: &Sandbox, who: usize, slot: u8, data: &str) {
    let (s, v) = sb.post("/slots", &json!(data));
    assert_eq!(s, 200, "{v}");
    let header = DalSlotHeader {
        slot_index: slot,
        commitment: v["commitment"].as_str().unwrap().parse().unwrap(),
        commitment_proof: DalCommitmentProof::from_hex(v["commitment_proof"].as_str().unwrap())
            .unwrap(),
    };
    sb.inject(
        &bootstrap_key(who),
        vec![OperationContent::DalPublishCommitment {
            slot_header: header,
        }],
    );
}

fn signal(level: i64, slot: u8) -> Vec<u8> {
    let level = i32::try_from(level).unwrap();
    [b"DAL".as_slice(), &level.to_be_bytes(), &[slot]].concat()
}

#[test]
fn a_kernel_imports_attested_dal_slots_through_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let sb = dal_sandbox(dir.path());
    let addr = sb.originate_wasm(&dal_reader_kernel());
    let node_dir = dir.path().join("node");
    init_config(&node_dir, &addr);
    let mut node = super::node(&node_dir, sb.endpoint())
        .args(["--dal-node", sb.endpoint()])
        .log_file(dir.path().join("node.log"))
        .start()
        .unwrap();
    sb.bake();
    // Slot 0 (attested) and slot 1 (never attested), published at the same level.
    publish(&sb, 2, 0, "a blueprint on the DAL");
    publish(&sb, 3, 1, "not attested");
    sb.bake();
    let published = sb.level();
    for _ in 0..LAG {
        sb.bake();
    }
    // The attestation level's inbox holds the DAL message: the node checks its inbox against
    // the L1's (a difference stops it), so following the level is the check.
    node.wait_synced(&sb, BOUND).unwrap();
    sb.send_messages(&[&signal(published, 0), &signal(published, 1)]);
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();
    let at = |k: &str| node.durable("head", k);
    assert_eq!(
        at(&format!("/dal/{published}/0/payload")),
        json!(hex::encode("a blueprint on the DAL"))
    );
    assert_eq!(
        at(&format!("/dal/{published}/0/pages")),
        json!(hex::encode(4u32.to_le_bytes()))
    );
    assert_eq!(
        at(&format!("/dal/{published}/1/pages")),
        json!(hex::encode(0u32.to_le_bytes()))
    );
    let params: Vec<u8> = [4u64, 2, 64, 16]
        .iter()
        .flat_map(|n| n.to_be_bytes())
        .collect();
    assert_eq!(at("/dal/parameters"), json!(hex::encode(params)));
    // The simulation RPC answers DAL reveals as the follower does (Etherlink's EVM node simulates
    // with it): the signal simulated on the head imports the slot again.
    let external = [&[1u8][..], &signal(published, 0)].concat();
    let (status, sim) = node.post(
        "/global/block/head/simulate",
        &json!({
            "messages": [hex::encode(external)],
            "insight_requests": [{"kind": "durable_storage",
                                  "key": ["dal", published.to_string(), "0", "payload"]}]
        }),
    );
    assert_eq!(status, 200, "{sim}");
    assert_eq!(
        sim["insights"],
        json!([hex::encode("a blueprint on the DAL")]),
        "{sim}"
    );
    // The signal's level (`send_messages` bakes it, the head is the level after).
    let signal_level = node.get("/global/block/head/level").as_i64().unwrap() - 1;
    let signal_hash = node.get(&format!("/global/block/{signal_level}/hash"));
    let signal_state = node.get(&format!("/global/block/{signal_level}/state_hash"));
    node.terminate(BOUND).unwrap();

    // `replay block` of the signal's level, the node stopped: with the DAL node the kernel reads
    // the same page and reaches the state the node stored; without it the replay stops and
    // says to pass `--dal-node` (never an empty page).
    let (signal_hash, signal_state) = (
        signal_hash.as_str().unwrap(),
        signal_state.as_str().unwrap(),
    );
    let node_s = node_dir.to_str().unwrap();
    let replay = |extra: &[&str]| {
        let mut args = vec!["-E", sb.endpoint(), "replay", "block", signal_hash];
        args.extend(extra);
        args.extend(["--data-dir", node_s]);
        super::run(&args)
    };
    let o = replay(&["--dal-node", sb.endpoint()]);
    let (out, err) = super::text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains(&format!(
            "Block {signal_hash} at level {signal_level} replayed"
        )) && out.contains(&format!("replayed: state {signal_state},"))
            && out.contains("as stored."),
        "{out}"
    );
    let o = replay(&[]);
    let (out, err) = super::text(&o);
    assert!(!o.status.success(), "{out}{err}");
    assert!(
        err.contains("No DAL node provided")
            && err.contains(&format!("slot 0 published at level {published}"))
            && err.contains("--dal-node"),
        "{err}"
    );
    assert!(!out.contains("replayed"), "{out}");

    // A compact snapshot's import replays the signal's level: the DAL pages come from
    // `--dal-node`; without it the replay stops and nothing is imported.
    let snap = dir.path().join("dal.snap");
    let snap_s = snap.to_str().unwrap();
    let o = super::run(&[
        "snapshot",
        "export",
        snap_s,
        "--data-dir",
        node_s,
        "--level",
        "head",
        "--compact",
        "--no-check",
    ]);
    assert!(o.status.success(), "{}", super::text(&o).1);
    let l1 = sb.endpoint();
    let import = |into: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["-E", l1, "snapshot", "import", snap_s, "--no-check"];
        args.extend(extra);
        args.extend(["--data-dir", into.to_str().unwrap()]);
        super::run(&args)
    };
    let without = dir.path().join("without");
    let o = import(&without, &[]);
    let err = super::text(&o).1;
    assert!(
        !o.status.success() && err.contains("No DAL node provided"),
        "{err}"
    );
    assert!(!without.join("store.sqlite").exists());
    let with = dir.path().join("with");
    let o = import(&with, &["--dal-node", l1]);
    assert!(o.status.success(), "{}", super::text(&o).1);
    {
        use pvm_store::DurableState;
        let store = node_store::Store::open(&with.join("store.sqlite")).unwrap();
        let ctx = pvm_store::Context::open(&with.join("context")).unwrap();
        let head = store.head().unwrap().unwrap();
        let key = format!("/dal/{published}/0/payload");
        assert_eq!(
            ctx.value(&head, &key).unwrap().as_deref(),
            Some(&b"a blueprint on the DAL"[..])
        );
    }

    // The same rollup without a DAL node: the attested page cannot be read, and the node
    // says so instead of answering it empty.
    let bare = dir.path().join("bare");
    init_config(&bare, &addr);
    let node = super::node(&bare, sb.endpoint())
        .log_file(dir.path().join("bare.log"))
        .start()
        .unwrap();
    test_support::wait_until("the DAL error", BOUND, || {
        node.output().contains("No DAL node provided")
    })
    .unwrap();
    assert!(node.output().contains("--dal-node"), "{}", node.output());
}

/// The batcher's DAL path (Octez `dal_injection_queue.ml`; docs/reference/octez-rollup-node.md
/// §4.3): a node in batcher mode with `--dal-node` takes messages on
/// `POST /local/dal/batcher/injection` once slot indices are set with
/// `POST /local/dal/slot/indices`, keeps them across a crash (SIGKILL), packs them into a slot
/// at the next head, posts it to the DAL node and publishes its commitment on L1 with its
/// batching key; the slot is attested and the kernel imports it.
#[test]
fn the_batcher_publishes_messages_on_the_dal() {
    let dir = tempfile::tempdir().unwrap();
    let sb = dal_sandbox(dir.path());
    let addr = sb.originate_wasm(&dal_reader_kernel());
    let wallet = dir.path().join("wallet");
    std::fs::create_dir_all(&wallet).unwrap();
    let key = bootstrap_key(4);
    let pkh = key.public_key_hash().to_string();
    signer::wallet::Wallet::new(&wallet)
        .add_key("batcher", &key, false)
        .unwrap();
    let node_dir = dir.path().join("node");
    std::fs::create_dir_all(&node_dir).unwrap();
    let o = super::bin()
        .arg("-d")
        .arg(&wallet)
        .args([
            "init",
            "batcher",
            "config",
            "for",
            &addr,
            "with",
            "operators",
            "batcher",
        ])
        .arg("--data-dir")
        .arg(&node_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", super::text(&o));
    let mut node = super::node(&node_dir, sb.endpoint())
        .args(["--dal-node", sb.endpoint()])
        .env("TEZOS_CLIENT_DIR", &wallet.display().to_string())
        .log_file(dir.path().join("node.log"))
        .start()
        .unwrap();
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();

    // No slot index yet: refused with what to do.
    let (s, e) = node.post("/local/dal/batcher/injection", &json!(["early"]));
    assert_eq!(s, 500, "{e}");
    assert!(
        e.to_string().contains("POST /local/dal/slot/indices"),
        "{e}"
    );
    let (s, e) = node.post("/local/dal/slot/indices", &json!({"indices": [4]}));
    assert_eq!(s, 500, "{e}");
    assert!(e.to_string().contains("out of range"), "{e}");
    let (s, v) = node.post("/local/dal/slot/indices", &json!({"indices": [2]}));
    assert_eq!((s, v), (200, json!({})));
    let (s, e) = node.post(
        "/local/dal/batcher/injection",
        &json!(["x".repeat(SLOT_SIZE + 1)]),
    );
    assert_eq!(s, 500, "{e}");
    assert_eq!(e[0]["id"], "sc_rollup.node.dal_message_too_big", "{e}");
    let (s, v) = node.post(
        "/local/dal/batcher/injection",
        &json!(["a blueprint ", "through the batcher"]),
    );
    assert_eq!((s, v), (200, json!({})));

    // A crash before the next head: the queue and the slot indices are on disk.
    node.kill();
    node.restart().unwrap();

    // The next head posts the slot and queues its publication; the one after includes it.
    let start = std::time::Instant::now();
    let published = loop {
        assert!(
            start.elapsed() < BOUND,
            "the DAL publication was not included; the node's output:\n{}",
            node.output()
        );
        node.check_running().unwrap();
        sb.bake();
        std::thread::sleep(Duration::from_millis(300));
        let st = node.get("/local/dal/injected/operations/statuses");
        let Some(first) = st.as_array().and_then(|a| a.first()) else {
            continue;
        };
        assert_eq!(st.as_array().unwrap().len(), 1, "one slot: {st}");
        let status = &first["status"];
        assert_eq!(
            status["operation"]["kind"], "publish_dal_commitment",
            "{st}"
        );
        assert_eq!(status["operation"]["slot_index"], 2, "{st}");
        if matches!(status["status"].as_str(), Some("included" | "committed")) {
            break status["layer1"]["level"].as_i64().unwrap();
        }
    };
    for _ in 0..LAG {
        sb.bake();
    }
    // The L1 attested the slot published by the batching key.
    let cells = sb.get(&format!(
        "/chains/main/blocks/{}/context/dal/skip_list_cells_of_level",
        published + LAG
    ));
    let cell = cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c[1]["skip_list"]["content"])
        .find(|c| c["kind"] == "published")
        .unwrap_or_else(|| panic!("no published cell: {cells}"))
        .clone();
    assert_eq!(cell["publisher"], pkh.as_str(), "{cell}");
    assert_eq!(cell["index"], 2, "{cell}");
    assert_eq!(cell["is_proto_attested"], true, "{cell}");
    // The kernel imports the slot its signal names: the two messages, concatenated.
    node.wait_synced(&sb, BOUND).unwrap();
    sb.send_messages(&[&signal(published, 2)]);
    sb.bake();
    node.wait_synced(&sb, BOUND).unwrap();
    assert_eq!(
        node.durable("head", &format!("/dal/{published}/2/payload")),
        json!(hex::encode("a blueprint through the batcher"))
    );
    // Forgetting the publication empties the statuses.
    let id = node.get("/local/dal/injected/operations/statuses")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = node.post(&format!("/local/dal/injection/{id}/forget"), &json!(null));
    assert_eq!((s, v), (200, json!({})));
    assert_eq!(
        node.get("/local/dal/injected/operations/statuses"),
        json!([])
    );
    node.terminate(BOUND).unwrap();
}
