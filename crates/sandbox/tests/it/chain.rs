//! Chain RPCs: chain id, heads stream, block addressing, constants.

use std::io::{BufRead, BufReader};

use serde_json::json;

use super::Node;

/// A client that reads streamed bodies line by line (the harness' client reads whole bodies).
fn streaming_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into()
}

#[test]
fn chain_id_protocols_and_constants() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    assert_eq!(n.get("/chains/main/chain_id"), json!("NetXdQprcVkpaWU"));
    // The chain can also be addressed by its id.
    assert_eq!(
        n.get("/chains/NetXdQprcVkpaWU/chain_id"),
        json!("NetXdQprcVkpaWU")
    );
    // Not a chain id: 400; another chain's id: 404 (tests/it/errors.rs).
    assert_eq!(n.get_status("/chains/NetXunknownchainid/chain_id").0, 400);
    let p = n.get("/chains/main/blocks/head/protocols");
    assert_eq!(
        p["next_protocol"],
        "PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY"
    );
    let ps = n.get("/chains/main/protocols");
    assert_eq!(ps[1]["activation_block"]["level"], 1);
    let c = n.get("/chains/main/blocks/head/context/constants");
    assert_eq!(c["smart_rollup_commitment_period_in_blocks"], 5);
    assert_eq!(c["smart_rollup_challenge_window_in_blocks"], 10);
    assert_eq!(c["smart_rollup_stake_amount"], "10000000000");
    // The DAL RPCs the rollup node calls on U025: no cells (the DAL is off), the parameters
    // in force at a level; a level that is not one is refused.
    let cells = n.get("/chains/main/blocks/head/context/dal/skip_list_cells_of_level");
    assert_eq!(cells, json!([]));
    let p = n.get("/chains/main/blocks/head/context/dal/past_parameters/2");
    assert_eq!(p, c["dal_parametric"]);
    assert_eq!(
        n.get_status("/chains/main/blocks/head/context/dal/past_parameters/x")
            .0,
        400
    );
}

#[test]
fn blocks_by_level_hash_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let b2 = n.bake();
    let b3 = n.bake();
    assert_eq!(b3["level"], 3);
    assert_eq!(b3["predecessor"], b2["hash"]);
    let head = n.get("/chains/main/blocks/head");
    assert_eq!(head["hash"], b3["hash"]);
    assert_eq!(head["header"]["level"], 3);
    assert_eq!(n.get("/chains/main/blocks/head~1/hash"), b2["hash"]);
    assert_eq!(n.get("/chains/main/blocks/2/hash"), b2["hash"]);
    let h2 = b2["hash"].as_str().unwrap();
    assert_eq!(
        n.get(&format!("/chains/main/blocks/{h2}/header"))["level"],
        2
    );
    assert_eq!(
        n.get(&format!("/chains/main/blocks/{h2}/header/shell"))["timestamp"],
        b2["timestamp"]
    );
    assert_eq!(
        n.get(&format!("/chains/main/blocks/{h2}~1/header"))["level"],
        1
    );
    assert_eq!(n.get_status("/chains/main/blocks/99/hash").0, 404);
    let list = n.get(&format!(
        "/chains/main/blocks?head={}&length=3",
        b3["hash"].as_str().unwrap()
    ));
    assert_eq!(list[0].as_array().unwrap().len(), 3);
    assert_eq!(list[0][0], b3["hash"]);
    assert_eq!(list[0][1], b2["hash"]);
    // The block hash is the Blake2b of the header encoding: a distinct round gives a
    // distinct hash even with equal contents (checked through the reorg).
    assert_ne!(b2["hash"], b3["hash"]);
}

#[test]
fn heads_are_streamed_first_element_immediately() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let b = n.bake();
    let mut r = streaming_agent()
        .get(&n.url("/monitor/heads/main"))
        .call()
        .unwrap();
    let mut lines = BufReader::new(r.body_mut().as_reader());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["hash"], b["hash"]);
    assert_eq!(first["level"], 2);
    let b2 = n.bake();
    let mut next = String::new();
    lines.read_line(&mut next).unwrap();
    let next: serde_json::Value = serde_json::from_str(&next).unwrap();
    assert_eq!(next["hash"], b2["hash"]);
    assert_eq!(next["predecessor"], b["hash"]);
    assert_eq!(next["fitness"][0], "02");
    // A reorg announces the new branch's head (same level, higher round).
    let (s, reorged) = n.post("/sandbox/reorg", &json!({"depth": 1}));
    assert_eq!(s, 200, "{reorged}");
    let mut third = String::new();
    lines.read_line(&mut third).unwrap();
    let third: serde_json::Value = serde_json::from_str(&third).unwrap();
    assert_eq!(third["hash"], reorged["hash"]);
    assert_eq!(third["level"], next["level"]);
    assert_ne!(third["hash"], next["hash"]);
    // The dropped head is still served by hash.
    let old = next["hash"].as_str().unwrap();
    assert_eq!(
        n.get(&format!("/chains/main/blocks/{old}/header"))["level"],
        3
    );
    let anc = n.get(&format!("/chains/main/blocks?head={old}&length=2"));
    assert_eq!(anc[0][1], b["hash"]);
}

#[test]
fn constants_from_file_and_flags_are_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("constants.json");
    std::fs::write(
        &file,
        r#"{"smart_rollup_challenge_window_in_blocks": 3, "smart_rollup_stake_amount": "42"}"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let n = Node::start_with(
        &data,
        &[
            "--block-time",
            "0",
            "--constants",
            file.to_str().unwrap(),
            "--commitment-period",
            "2",
        ],
    );
    let c = n.get("/chains/main/blocks/head/context/constants");
    assert_eq!(c["smart_rollup_challenge_window_in_blocks"], 3);
    assert_eq!(c["smart_rollup_stake_amount"], "42");
    assert_eq!(c["smart_rollup_commitment_period_in_blocks"], 2);
    n.kill();
    // The chain's constants are fixed at creation.
    let n = Node::start(&data);
    let c = n.get("/chains/main/blocks/head/context/constants");
    assert_eq!(c["smart_rollup_commitment_period_in_blocks"], 2);
}
