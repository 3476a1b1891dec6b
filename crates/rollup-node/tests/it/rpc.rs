//! RPC server in-process over a populated store and a fake durable storage.

use std::sync::{Arc, Mutex};

use node_config::{Config, Mode};
use node_context::{NodeStatus, RollupConstants};
use node_rpc::StoreView;
use node_store::{Commitment, L2Block, ReadPool, Store};
use pvm_store::{DurableError, DurableState};
use serde_json::{Value, json};
use tezos_types::{
    BlockHash, CommitmentHash, InboxHash, Level, MerkelizedPayloadHashesHash, StateHash, Tick,
};

use super::{ADDR, spawn_router};

struct FakeDurable;

impl DurableState for FakeDurable {
    fn value(&self, _b: &L2Block, key: &str) -> Result<Option<Vec<u8>>, DurableError> {
        Ok(match key {
            "/readonly/wasm_version" => Some(b"2.0.0-r6".to_vec()),
            "/numbers/a" => Some(vec![1]),
            "/numbers/b" => Some(vec![2]),
            _ => None,
        })
    }
    fn length(&self, b: &L2Block, key: &str) -> Result<Option<u64>, DurableError> {
        Ok(self.value(b, key)?.map(|v| v.len() as u64))
    }
    fn subkeys(&self, _b: &L2Block, key: &str) -> Result<Vec<String>, DurableError> {
        Ok(if key == "/numbers" {
            vec!["a".into(), "b".into()]
        } else {
            vec![]
        })
    }
}

fn block(level: u8) -> L2Block {
    L2Block {
        block_hash: BlockHash::new([level; 32]),
        level: level.into(),
        predecessor: BlockHash::new([level - 1; 32]),
        commitment_hash: (level == 3).then_some(CommitmentHash::new([9; 32])),
        previous_commitment_hash: CommitmentHash::ZERO,
        context: None,
        inbox_witness: MerkelizedPayloadHashesHash::new([level; 32]),
        inbox_hash: InboxHash::new([level; 32]),
        initial_tick: Tick::new(1000 * u128::from(level)),
        num_ticks: Tick::new(450_000_000_000_000),
        state_hash: Some(StateHash::new([level; 32])),
        pvm_status: Some("Waiting for input message".into()),
    }
}

/// Serves the router on a loopback port from a background runtime; returns the port.
fn serve() -> u16 {
    serve_with(Config::new(ADDR.parse().unwrap(), Mode::Observer), None)
}

fn serve_with(config: Config, lcc_level: Option<i32>) -> u16 {
    serve_full(config, lcc_level, Some(CONSTANTS))
}

/// Commitments every 3 levels, challenge window 10, 6 s blocks.
const CONSTANTS: RollupConstants = RollupConstants {
    commitment_period: 3,
    challenge_window: 10,
    minimal_block_delay: 6,
    max_active_outbox_levels: 20,
};

/// Blocks 1–3 (all after the genesis commitment `ZERO` at level 0; block 3 carries
/// commitment `[9; 32]`, published at 5 then 6), head 3, finalized 1, LCC at `lcc_level`.
fn serve_full(config: Config, lcc_level: Option<i32>, constants: Option<RollupConstants>) -> u16 {
    let mut store = Store::open_in_memory().unwrap();
    let commitment = Commitment {
        compressed_state: StateHash::new([3; 32]),
        inbox_level: tezos_types::Level::new(3).unwrap(),
        predecessor: CommitmentHash::ZERO,
        number_of_ticks: 77,
    };
    let genesis = Commitment {
        compressed_state: StateHash::new([0; 32]),
        inbox_level: tezos_types::Level::ZERO,
        predecessor: CommitmentHash::ZERO,
        number_of_ticks: 0,
    };
    store
        .transaction(|w| {
            for l in 1..=3u8 {
                let b = block(l);
                w.insert_block(&b)?;
                w.set_level(l.into(), &b.block_hash)?;
                w.set_head(&b.block_hash, l.into())?;
            }
            w.set_finalized(&block(1).block_hash, Level::from(1u8))?;
            w.insert_commitment(&CommitmentHash::ZERO, &genesis)?;
            if let Some(l) = lcc_level {
                w.set_lcc(&CommitmentHash::new([9; 32]), Level::new(l).unwrap())?;
            }
            w.insert_commitment(&CommitmentHash::new([9; 32]), &commitment)?;
            w.set_commitment_published_at(
                &CommitmentHash::new([9; 32]),
                Level::from(5u8),
                Some(Level::from(6u8)),
            )
        })
        .unwrap();
    let status = NodeStatus {
        constants,
        ..NodeStatus::default()
    };
    let view = Arc::new(StoreView {
        config,
        store: Arc::new(ReadPool::single(store)),
        status: Arc::new(parking_lot::Mutex::new(status)),
        durable: Some(Arc::new(FakeDurable)),
        context: None,
        services: Default::default(),
    });
    spawn_router(view)
}

fn get(port: u16, path: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .unwrap();
    let st = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("GET {path}: not JSON: {text}")),
    )
}

/// Asserts an Octez error answer: `status` and a JSON error trace (an array of
/// `{kind, id, …}`) whose first `id` is `id`; returns the trace.
fn assert_error(port: u16, path: &str, status: u16, id: &str) -> Value {
    let (st, body) = get(port, path);
    assert_eq!(st, status, "GET {path}: {body}");
    assert_trace(&body, id);
    body
}

/// Asserts `body` is an Octez error trace whose first error has id `id`.
fn assert_trace(body: &Value, id: &str) {
    let trace = body
        .as_array()
        .unwrap_or_else(|| panic!("not a trace: {body}"));
    assert!(!trace.is_empty(), "{body}");
    for e in trace {
        assert!(e["kind"].is_string() && e["id"].is_string(), "{body}");
    }
    assert_eq!(trace[0]["id"], json!(id), "{body}");
}

#[test]
fn block_and_commitment_rpcs() {
    let port = serve();
    let h3 = BlockHash::new([3; 32]).to_b58check();
    let h2 = BlockHash::new([2; 32]).to_b58check();
    assert_eq!(get(port, "/global/tezos_head"), (200, json!(h3)));
    assert_eq!(get(port, "/global/tezos_level"), (200, json!(3)));
    assert_eq!(get(port, "/global/block/head/hash"), (200, json!(h3)));
    assert_eq!(get(port, "/global/block/finalized/level"), (200, json!(1)));
    assert_eq!(get(port, "/global/block/2/hash"), (200, json!(h2)));
    assert_eq!(
        get(port, &format!("/global/block/{h2}/level")),
        (200, json!(2))
    );
    assert_eq!(
        get(port, "/global/block/head/ticks"),
        (200, json!("450000000000000"))
    );
    assert_eq!(
        get(port, "/global/block/head/total_ticks"),
        (200, json!("450000000003000"))
    );
    assert_eq!(
        get(port, "/global/block/head/state_hash"),
        (200, json!(StateHash::new([3; 32]).to_b58check()))
    );
    assert_eq!(
        get(port, "/global/block/head/status"),
        (200, json!("Waiting for input message"))
    );
    let (st, b) = get(port, "/global/block/head");
    assert_eq!(st, 200);
    assert_eq!(b["num_ticks"], "450000000000000");
    assert_eq!(
        b["commitment_hash"],
        CommitmentHash::new([9; 32]).to_b58check()
    );
    assert!(b.get("context").is_none());
    assert_eq!(get(port, "/global/block/99/hash").0, 404);

    let c = json!({"compressed_state": StateHash::new([3; 32]).to_b58check(), "inbox_level": 3,
                   "predecessor": CommitmentHash::ZERO.to_b58check(), "number_of_ticks": "77"});
    let hash = CommitmentHash::new([9; 32]).to_b58check();
    assert_eq!(
        get(port, "/global/last_stored_commitment"),
        (200, json!({"commitment": c, "hash": hash}))
    );
    assert_eq!(
        get(port, &format!("/local/commitments/{hash}")),
        (
            200,
            json!({"commitment": c, "hash": hash, "first_published_at_level": 5,
                     "published_at_level": 6})
        )
    );
    assert_eq!(
        get(
            port,
            &format!("/local/commitments/{}", CommitmentHash::new([1; 32]))
        ),
        (200, Value::Null)
    );
    assert_eq!(get(port, "/local/commitments/xyz").0, 400);
}

#[test]
fn durable_storage_rpcs() {
    let port = serve();
    let p = "/global/block/head/durable/wasm_2_0_0";
    assert_eq!(
        get(port, &format!("{p}/value?key=/readonly/wasm_version")),
        (200, json!("322e302e302d7236"))
    );
    assert_eq!(
        get(port, &format!("{p}/value?key=/kernel/boot.wasm2")),
        (200, Value::Null)
    );
    assert_eq!(
        get(port, &format!("{p}/length?key=/readonly/wasm_version")),
        (200, json!("8"))
    );
    assert_eq!(
        get(port, &format!("{p}/subkeys?key=/numbers")),
        (200, json!(["a", "b"]))
    );
    assert_eq!(
        get(port, &format!("{p}/values?key=/numbers")),
        (
            200,
            json!([{"key": "a", "value": "01"}, {"key": "b", "value": "02"}])
        )
    );
    assert_eq!(
        get(port, "/global/block/head/durable/arith/value?key=/x").0,
        404
    );
}

#[test]
fn committed_status_follows_the_commitment_of_the_block() {
    // No LCC: block 2's commitment (level 3) is published at 5 (first) and 6.
    let port = serve_with(Config::new(ADDR.parse().unwrap(), Mode::Observer), None);
    let c9 = CommitmentHash::new([9; 32]).to_b58check();
    let (st, v) = get(port, "/global/block/2/committed_status");
    assert_eq!(st, 200, "{v}");
    let c = &v["committed"];
    assert_eq!(c["commitment_hash"], json!(c9), "{v}");
    assert_eq!(c["commitment_level"], json!(3));
    assert_eq!(c["first_published_level"], json!(5));
    assert_eq!(c["published_level"], json!(6));
    let t = c["estimated_cementation_time"].as_str().unwrap();
    assert!(
        tezos_types::Timestamp::parse(t).is_some(),
        "RFC 3339 time: {t}"
    );
    // LCC at level 3: blocks up to 3 are cemented.
    let port = serve_with(Config::new(ADDR.parse().unwrap(), Mode::Observer), Some(3));
    assert_eq!(
        get(port, "/global/block/1/committed_status"),
        (
            200,
            json!({"cemented": {"commitment_hash": c9, "commitment_level": 3,
                                "first_published_level": 5, "published_level": 6,
                                "blocks_since_cemented": 2}})
        )
    );
    assert_eq!(
        get(port, "/global/block/head/committed_status").1["cemented"]["blocks_since_cemented"],
        json!(0)
    );
}

#[test]
fn committed_status_estimates() {
    use node_rpc::committed_status_json;
    let l = |v: u8| Level::from(v);
    let now = 1_700_000_000;
    let t = |secs: i64| json!(tezos_types::Timestamp(secs).to_rfc3339().unwrap());
    // Head 4, next commitment at 6 not computed: published ≈ at 6 + 2, cemented ≈ at 6 + 10.
    assert_eq!(
        committed_status_json(l(4), l(4), (None, l(6)), None, Some(l(3)), &CONSTANTS, now).unwrap(),
        json!({"uncommitted": {"commitment_level": 6,
                               "estimated_commitment_time": t(now + 4 * 6),
                               "estimated_cementation_time": t(now + 12 * 6)}})
    );
    // Computed but not published yet: still uncommitted.
    let h = CommitmentHash::new([1; 32]);
    assert!(
        committed_status_json(l(6), l(7), (Some(h), l(6)), None, None, &CONSTANTS, now).unwrap()
            ["uncommitted"]
            .is_object()
    );
    // Published at 8: cementation ≈ at 18, head 7.
    assert_eq!(
        committed_status_json(
            l(6),
            l(7),
            (Some(h), l(6)),
            Some((l(8), None)),
            None,
            &CONSTANTS,
            now
        )
        .unwrap(),
        json!({"committed": {"commitment_hash": h.to_b58check(), "commitment_level": 6,
                             "first_published_level": 8, "published_level": null,
                             "estimated_cementation_time": t(now + 11 * 6)}})
    );
    // Overflowing levels are an error, not a panic.
    assert!(
        committed_status_json(l(1), l(1), (None, Level::MAX), None, None, &CONSTANTS, now).is_err()
    );
}

#[test]
fn committed_status_without_constants_is_an_error() {
    // Constants not read from L1 yet: an error saying to retry, not a guess.
    let port = serve_full(
        Config::new(ADDR.parse().unwrap(), Mode::Observer),
        None,
        None,
    );
    assert_error(
        port,
        "/global/block/head/committed_status",
        500,
        "smart_rollup_node.constants_unknown",
    );
    assert_eq!(get(port, "/global/block/head/level"), (200, json!(3)));
}

#[test]
fn unknown_paths_and_bad_arguments_answer_octez_errors() {
    let port = serve();
    for path in [
        "/nope",
        "/global/nope",
        "/global/block/head/nope",
        "/global/block/head/durable/arith/value?key=/x",
        "/global/block/head/durable/wasm_2_0_0/nope?key=/x",
        "/local/nope",
    ] {
        let t = assert_error(port, path, 404, "RPC_context.Not_found");
        assert_eq!(t[0]["method"], json!("GET"), "{t}");
        assert_eq!(t[0]["uri"], json!(path), "{t}");
    }
    for path in [
        "/global/block/nope/hash",
        "/global/block/-1/level",
        "/global/block/99999999999/level",
        "/global/block/BLnotahash/hash",
        "/global/block/head/durable/wasm_2_0_0/value?key=no-slash",
        "/global/block/head/durable/wasm_2_0_0/value?key=/a//b",
        "/global/block/head/durable/wasm_2_0_0/subkeys?key=/a/",
        "/global/block/head/outbox/abc/messages",
        "/global/block/head/outbox/-3/messages",
        "/global/block/head/outbox",
        "/local/commitments/notahash",
        "/global/block/head?outbox=maybe",
        "/global/block/head/outbox?outbox_level=x",
        "/global/block/head/outbox?outbox_level=1&outbox_level=2",
        "/global/block/head/durable/wasm_2_0_0/value?key=%zz",
        "/global/block/%ff/hash",
    ] {
        let t = assert_error(port, path, 400, "rpc_client.request_failed");
        assert_eq!(t[0]["error"]["kind"], json!("bad_request"), "{t}");
        assert!(t[0]["error"]["message"].is_string(), "{t}");
    }
    assert_eq!(
        assert_error(
            port,
            "/global/block/nope/hash",
            400,
            "rpc_client.request_failed"
        )[0]["error"]["message"],
        json!(
            "Failed to parsed an argument in path. After \"global/block/nope\", the value \
             \"nope\" is not acceptable for type \"block_id\""
        )
    );
    // Unknown (well-formed) block: the client's mistake, 404 with Octez's trace.
    let h = BlockHash::new([42; 32]).to_b58check();
    for (path, msg) in [
        (
            "/global/block/99/hash".to_string(),
            "Could not retrieve L2 block for level 99".to_string(),
        ),
        (
            format!("/global/block/{h}"),
            format!("Could not retrieve L2 block for {h}"),
        ),
        (
            format!("/global/block/{h}/durable/wasm_2_0_0/value?key=/a"),
            format!("Could not retrieve L2 block for {h}"),
        ),
    ] {
        assert_eq!(
            assert_error(port, &path, 404, "failure"),
            json!([{"kind": "temporary", "id": "failure", "msg": msg}])
        );
    }
    // The server still answers.
    assert_eq!(get(port, "/global/tezos_level"), (200, json!(3)));
}

#[test]
fn non_loopback_address_applies_the_secure_acl() {
    let mut config = Config::new(ADDR.parse().unwrap(), Mode::Observer);
    config.rpc_addr = "0.0.0.0".into();
    // The router decides from the configured address; the test reaches it on loopback.
    let port = serve_with(config.clone(), None);
    let d = "/global/block/head/durable/wasm_2_0_0";
    for path in [
        "/config",
        "/admin/injector/queues/total",
        "/local/batcher/queue",
        "/stats/memory",
        &format!("{d}/subkeys?key=/numbers"),
        &format!("{d}/values?key=/numbers"),
    ] {
        assert_error(port, path, 401, "rpc_client.request_failed");
    }
    assert_eq!(get(port, "/health").0, 200);
    assert_eq!(get(port, "/global/tezos_level"), (200, json!(3)));
    assert_eq!(
        get(port, &format!("{d}/value?key=/numbers/a")),
        (200, json!("01"))
    );
    // A configured policy for the address replaces the default one (`--acl-override
    // allow-all` writes an empty blacklist).
    config.rpc_port = 8932;
    config.acl = vec![json!({"address": "0.0.0.0:8932", "blacklist": []})];
    let port = serve_with(config.clone(), None);
    assert_eq!(get(port, "/config").0, 200);
    assert_eq!(get(port, &format!("{d}/subkeys?key=/numbers")).0, 200);
    // A whitelist allows only what it lists.
    config.acl = vec![json!({"address": "0.0.0.0:8932", "whitelist": ["GET /health"]})];
    let port = serve_with(config, None);
    assert_eq!(get(port, "/health").0, 200);
    assert_error(
        port,
        "/global/tezos_level",
        401,
        "rpc_client.request_failed",
    );
    // Loopback without policy: everything allowed.
    let port = serve();
    assert_eq!(get(port, "/config").0, 200);
}

// ---------------------------------------------------------------------------------------
// End to end: the node process following a sandbox L1
// ---------------------------------------------------------------------------------------

/// Bound of the waits (debug builds compile the kernel slowly).
const E2E_BOUND: std::time::Duration = std::time::Duration::from_secs(240);

/// `GET url` → `(status, body text)`, `None` when nothing answers.
pub(crate) fn get_text(url: &str) -> Option<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let mut r = agent.get(url).call().ok()?;
    let st = r.status().as_u16();
    Some((st, r.body_mut().read_to_string().ok()?))
}

/// The value of metric `name` (without labels) in a Prometheus text answer.
pub(crate) fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

#[test]
fn node_process_serves_metrics_streams_and_acl_while_following_l1() {
    use std::io::BufRead;
    use test_support::{Sandbox, free_port, wait_until};
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let addr = sb.originate_wasm(&wat::parse_str(test_support::kernels::IDLE_WAT).unwrap());
    let node_dir = dir.path().join("node");
    super::init_config(&node_dir, &addr);
    let mport = free_port().unwrap();
    // Listening on all interfaces: Octez's secure ACL applies (reached here on loopback).
    let mut node = super::node(&node_dir, sb.endpoint())
        .args(["--rpc-addr", "0.0.0.0"])
        .args(["--metrics-addr", &format!("127.0.0.1:{mport}")])
        .start()
        .unwrap();
    let port = node.port();
    let log = || node.output();
    let rpc = |path: &str| get_text(&format!("http://127.0.0.1:{port}{path}"));
    let json_of = |path: &str| -> Value {
        let (st, t) = rpc(path).unwrap_or_else(|| panic!("GET {path}: no answer"));
        assert_eq!(st, 200, "GET {path}: {t}");
        serde_json::from_str(&t).unwrap()
    };
    let synced = |rpc: &dyn Fn(&str) -> Option<(u16, String)>| {
        let head = sb.get("/chains/main/blocks/head/hash");
        rpc("/global/tezos_head")
            .and_then(|(_, t)| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|t| t == head)
    };
    wait_until("the node to reach the L1 head", E2E_BOUND, || synced(&rpc))
        .unwrap_or_else(|e| panic!("{e}\nnode log:\n{}", log()));
    let start_level = json_of("/global/tezos_level").as_i64().unwrap();

    // A monitor stream opened now: the current head first, then each new one.
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let stream_url = format!("http://127.0.0.1:{port}/global/monitor_blocks");
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let Ok(mut r) = agent.get(&stream_url).call() else {
            return;
        };
        let reader = std::io::BufReader::new(r.body_mut().as_reader());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    let recv = || {
        rx.recv_timeout(E2E_BOUND)
            .expect("a block from monitor_blocks")
    };
    assert_eq!(recv()["level"], json!(start_level));

    sb.send_messages(&[b"one", b"two", b"three"]);
    sb.bake();
    wait_until("the node to reach the L1 head", E2E_BOUND, || synced(&rpc))
        .unwrap_or_else(|e| panic!("{e}\nnode log:\n{}", log()));
    let head = json_of("/global/block/head");
    let head_level = head["level"].as_i64().unwrap();
    assert_eq!(head_level, start_level + 2);
    // Every processed level is streamed, in order, in the `/global/block/<id>` header shape.
    let b1 = recv();
    let b2 = recv();
    assert_eq!(b1["level"], json!(start_level + 1), "{b1}");
    assert_eq!(b2["block_hash"], head["block_hash"], "{b2}");
    assert_eq!(b2["context"], head["context"]);
    assert!(b2["context"].as_str().unwrap().starts_with("SRCo"), "{b2}");

    // Metrics of the processed blocks (the messages were in the head's predecessor).
    let (st, text) = get_text(&format!("http://127.0.0.1:{mport}/metrics")).unwrap();
    assert_eq!(st, 200);
    #[expect(clippy::cast_precision_loss, reason = "small levels")]
    let head_f = head_level as f64;
    assert_eq!(
        metric(&text, "octez_sc_rollup_node_inbox_level"),
        Some(head_f),
        "{text}"
    );
    assert_eq!(
        metric(&text, "octez_sc_rollup_node_l1_connected"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "octez_sc_rollup_node_l1_head_level"),
        Some(head_f)
    );
    // SOL, IPL, EOL in the head's inbox, no external message.
    assert_eq!(
        metric(&text, "octez_sc_rollup_node_inbox_internal_messages_number"),
        Some(3.0)
    );
    assert_eq!(
        metric(&text, "octez_sc_rollup_node_inbox_external_messages_number"),
        Some(0.0)
    );
    assert!(metric(&text, "octez_sc_rollup_node_inbox_process_time").is_some_and(|t| t > 0.0));
    assert!(metric(&text, "octez_sc_rollup_node_commitment_period").is_some_and(|p| p > 0.0));
    assert!(
        text.contains("octez_sc_rollup_node_rollup_node_info{"),
        "{text}"
    );
    assert_eq!(
        get_text(&format!("http://127.0.0.1:{mport}/nope")).map(|r| r.0),
        Some(400)
    );
    // The previous block carried the 3 external messages.
    let prev = json_of(&format!("/global/block/{}/num_messages", head_level - 1));
    assert_eq!(prev, json!("6"));

    // The node's commitment is not published (observer): uncommitted.
    let cs = json_of("/global/block/head/committed_status");
    assert!(
        cs["uncommitted"]["commitment_level"].as_i64().unwrap() >= head_level,
        "{cs}"
    );

    // Secure ACL: allowed reads pass, `/config` and the durable listing do not.
    let value = json_of("/global/block/head/durable/wasm_2_0_0/value?key=/readonly/wasm_version");
    assert!(value.is_string(), "{value}");
    for path in [
        "/config",
        "/global/block/head/durable/wasm_2_0_0/subkeys?key=/readonly",
    ] {
        let (st, body) = rpc(path).unwrap();
        assert_eq!(st, 401, "GET {path}: {body}");
        assert!(body.contains("rpc_client.request_failed"), "{body}");
    }

    // SIGTERM with the monitor stream still open: the node stops (the stream ends).
    let exited = node.terminate(E2E_BOUND).unwrap();
    assert!(exited.success(), "{exited:?}");
    // The stream ended with the server.
    loop {
        match rx.recv_timeout(E2E_BOUND) {
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("monitor stream still open after shutdown: {e}"),
        }
    }
}

#[test]
fn synchronized_streams_progress_until_synchronized() {
    use std::io::BufRead;
    let mut store = Store::open_in_memory().unwrap();
    store
        .transaction(|w| {
            let b = block(3);
            w.insert_block(&b)?;
            w.set_level(Level::from(3u8), &b.block_hash)?;
            w.set_head(&b.block_hash, Level::from(3u8))
        })
        .unwrap();
    let l1_head = |level| node_context::L1Head {
        hash: BlockHash::new([7; 32]),
        level,
        timestamp: "2026-01-01T00:00:00Z".into(),
        age_secs: 0,
    };
    let status = Arc::new(parking_lot::Mutex::new(NodeStatus {
        l1_head: Some(l1_head(6)),
        ..NodeStatus::default()
    }));
    let port = spawn_router(Arc::new(StoreView {
        config: Config::new(ADDR.parse().unwrap(), Mode::Observer),
        store: Arc::new(ReadPool::single(store)),
        status: Arc::clone(&status),
        durable: None,
        context: None,
        services: Default::default(),
    }));
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let mut r = agent
        .get(&format!("http://127.0.0.1:{port}/local/synchronized"))
        .call()
        .unwrap();
    let mut lines = std::io::BufReader::new(r.body_mut().as_reader()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        first,
        json!({"synchronizing": {"processed_level": 3, "l1_head_level": 6,
                                 "percentage_done": 50.0}})
    );
    // The L1 head is now the L2 head: the stream says so and ends.
    status.lock().l1_head = Some(l1_head(3));
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest, vec!["\"synchronized\"".to_string()]);
}

// ---------------------------------------------------------------------------------------
// Every route of the table: JSON answers, wrong methods, unknown paths
// ---------------------------------------------------------------------------------------

/// `method path` with `body` → `(status, Allow header, body text)`.
fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json");
    let mut r = if matches!(method, "POST" | "PUT" | "PATCH") {
        agent.run(req.body(body.to_string()).unwrap())
    } else {
        agent.run(req.body(()).unwrap())
    }
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let allow = r
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (r.status().as_u16(), allow, text)
}

/// A concrete path of `template` in the fixture of [`serve`], with the query it needs.
fn concrete(template: &str) -> String {
    let mut p = template
        .replace("{block_id}", "head")
        .replace("{level}", "3")
        .replace(
            "{commitment_hash}",
            &CommitmentHash::new([9; 32]).to_b58check(),
        )
        .replace(
            "{injector_operation_hash}",
            &tezos_types::InjectorOperationId::new([9; 32]).to_b58check(),
        )
        .replace(
            "{l2_message_id}",
            &tezos_types::L2MessageId::new([9; 32]).to_b58check(),
        );
    if p.ends_with("/outbox") {
        p.push_str("?outbox_level=3");
    }
    if p.contains("/durable/") {
        p.push_str("?key=/numbers");
    }
    p
}

#[test]
fn every_route_answers_json_and_other_methods_405() {
    let port = serve();
    let routes = node_rpc::ROUTES;
    assert!(routes.len() > 30, "{routes:?}");
    for r in routes {
        let path = concrete(r.path);
        let method = r.method.as_str();
        // The route itself: routed, and a JSON answer (first line for the streams).
        if !path.contains("monitor") && !path.contains("synchronized") {
            let (st, _, text) = request(port, method, &path, "");
            assert!(
                st != 404 && st != 405,
                "{method} {path} is not routed: {st} {text}"
            );
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
            if st != 200 {
                assert_trace(&v, v[0]["id"].as_str().unwrap_or("?"));
            }
        }
        // Every other method, with an empty body, invalid JSON or a JSON value: 405 with
        // `Allow` and the client's `method_not_allowed` trace.
        // The methods served at this path (GET and DELETE share some admin paths).
        let served: Vec<&str> = routes
            .iter()
            .filter(|o| o.path == r.path)
            .map(|o| o.method.as_str())
            .collect();
        for other in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if served.contains(&other) {
                continue;
            }
            for body in ["", "{not json", "{\"messages\": []}"] {
                let (st, allow, text) = request(port, other, &path, body);
                assert_eq!(st, 405, "{other} {path}: {text}");
                assert_eq!(allow, Some(served.join(", ")), "{other} {path}");
                let v: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{other} {path}: not JSON: {text:?}"));
                assert_trace(&v, "rpc_client.request_failed");
                assert_eq!(
                    v[0]["error"],
                    json!({"kind": "method_not_allowed", "allowed": served}),
                    "{other} {path}"
                );
                assert_eq!(v[0]["meth"], json!(other));
            }
        }
    }
}

#[test]
fn unknown_paths_404_and_octez_rpcs_not_served_501() {
    let port = serve();
    // A node without a batcher (observer) answers Octez's `no_batcher`.
    let (st, _, text) = request(port, "POST", "/local/batcher/injection", "[]");
    assert_eq!(st, 500, "{text}");
    assert_trace(
        &serde_json::from_str(&text).unwrap(),
        "sc_rollup.node.no_batcher",
    );
    for (method, path) in [
        ("GET", "/"),
        ("POST", "/nope"),
        ("GET", "/health/extra"),
        ("DELETE", "/global/block/head/durable/wasm_2_0_0"),
        ("GET", "/global/block/head/hash/more"),
    ] {
        let (st, _, text) = request(port, method, path, "{");
        assert_eq!(st, 404, "{method} {path}: {text}");
        assert_trace(
            &serde_json::from_str(&text).unwrap(),
            "RPC_context.Not_found",
        );
    }
    // RPCs of Octez's node this one does not serve yet: 501, saying so.
    for (method, path) in [
        ("POST", "/global/block/head/simulate"),
        ("GET", "/stats/ocaml_gc"),
    ] {
        for body in ["", "[", "{\"messages\": [\"00\"]}"] {
            let (st, _, text) = request(port, method, path, body);
            assert_eq!(st, 501, "{method} {path}: {text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_trace(&v, "smart_rollup_node.not_supported");
            assert!(
                v[0]["msg"].as_str().unwrap().contains("not supported yet"),
                "{v}"
            );
        }
    }
}

#[test]
fn blocks_deleted_by_the_gc_answer_410() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .transaction(|w| {
            for l in 2..=3u8 {
                let b = block(l);
                w.insert_block(&b)?;
                w.set_level(l.into(), &b.block_hash)?;
                w.set_head(&b.block_hash, l.into())?;
            }
            w.set_level_state(node_store::LevelKey::LastGcTarget, Level::from(2u8))
        })
        .unwrap();
    let port = spawn_router(Arc::new(StoreView {
        config: Config::new(ADDR.parse().unwrap(), Mode::Observer),
        store: Arc::new(ReadPool::single(store)),
        status: Arc::new(parking_lot::Mutex::new(NodeStatus::default())),
        durable: None,
        context: None,
        services: Default::default(),
    }));
    assert_eq!(
        assert_error(
            port,
            "/global/block/1/hash",
            410,
            "sc_rollup.node.access_below_first_available_level"
        ),
        json!([{"kind": "permanent", "id": "sc_rollup.node.access_below_first_available_level",
                "first_available_level": 2, "accessed_level": 1}])
    );
    assert_eq!(get(port, "/global/block/2/level"), (200, json!(2)));
    assert_error(port, "/global/block/4/level", 404, "failure");
    // Without a WASM PVM the durable RPCs do not exist (as in Octez).
    assert_error(
        port,
        "/global/block/head/durable/wasm_2_0_0/value?key=/a",
        404,
        "RPC_context.Not_found",
    );
}

#[test]
fn health_reports_the_workers_that_run() {
    use node_context::{WorkerName, Workers};
    let workers = Workers::default();
    let status = NodeStatus {
        workers: workers.clone(),
        ..NodeStatus::default()
    };
    let port = spawn_router(Arc::new(StoreView {
        config: Config::new(ADDR.parse().unwrap(), Mode::Observer),
        store: Arc::new(ReadPool::single(Store::open_in_memory().unwrap())),
        status: Arc::new(parking_lot::Mutex::new(status)),
        durable: None,
        context: None,
        services: Default::default(),
    }));
    let active = || get(port, "/health").1["active_workers"].clone();
    // An observer runs none of Octez's workers.
    assert_eq!(active(), json!([]));
    // A running worker is listed while it runs, under its Octez name.
    let publisher = workers.start(WorkerName::Publisher);
    let injector = workers.start(WorkerName::Injector(vec![
        "publish".into(),
        "cement".into(),
    ]));
    assert_eq!(
        active(),
        json!([
            ["publisher", "running"],
            ["injector (publish, cement)", "running"]
        ])
    );
    // A worker thread that dies by a panic is reported crashed (and the node unhealthy).
    let w = workers;
    std::thread::spawn(move || {
        let _g = w.start(WorkerName::Batcher);
        panic!("batcher failure (expected by the test)");
    })
    .join()
    .unwrap_err();
    let (_, h) = get(port, "/health");
    assert_eq!(
        h["active_workers"][1],
        json!(["batcher", {"crashed": "panicked"}]),
        "{h}"
    );
    assert_eq!(h["healthy"], json!(false));
    // A worker that stopped is no longer listed.
    drop(injector);
    drop(publisher);
    assert_eq!(active(), json!([["batcher", {"crashed": "panicked"}]]));
}

// ---------------------------------------------------------------------------------------
// No blocking work on the async runtime (issue 17 item 2)
// ---------------------------------------------------------------------------------------

/// A durable storage whose reads wait until released: a read stuck behind the final switch of
/// a context GC sweep, or a slow read of a big tree.
struct StuckDurable {
    /// `(released, reads entered)`.
    state: Mutex<(bool, usize)>,
    changed: std::sync::Condvar,
}

impl StuckDurable {
    fn wait_for(&self, what: &str, done: impl Fn(&(bool, usize)) -> bool) {
        let bound = std::time::Duration::from_secs(20);
        let (guard, timeout) = self
            .changed
            .wait_timeout_while(self.state.lock().unwrap(), bound, |s| !done(s))
            .unwrap();
        drop(guard);
        assert!(!timeout.timed_out(), "{what} within {bound:?}");
    }
}

impl DurableState for StuckDurable {
    fn value(&self, _b: &L2Block, _key: &str) -> Result<Option<Vec<u8>>, DurableError> {
        // A slow store read: refused on the async worker (`DurableState`'s contract), so the
        // server reads again on a blocking thread, where it gets stuck.
        if durable_tree::refuse_store_read() {
            return Err(durable_tree::TreeError::NotInMemory.into());
        }
        {
            let mut s = self.state.lock().unwrap();
            s.1 += 1;
        }
        self.changed.notify_all();
        // Bounded, so that the test fails (instead of hanging) when reads hold the runtime.
        self.wait_for("the release of the stuck read", |s| s.0);
        Ok(Some(vec![7]))
    }
    fn length(&self, b: &L2Block, key: &str) -> Result<Option<u64>, DurableError> {
        Ok(self.value(b, key)?.map(|v| v.len() as u64))
    }
    fn subkeys(&self, _b: &L2Block, _key: &str) -> Result<Vec<String>, DurableError> {
        Ok(vec![])
    }
}

/// `/health` (and a store read) answer within 1 s while two durable reads are stuck (the
/// server runs on one async worker, [`spawn_router`]) and the follower holds the SQLite
/// write lock (an open batch), and `/health` does while slow reads hold every store
/// connection: handlers run on blocking threads, the RPC server reads through read-only WAL
/// connections, and `/health` reads the shared status only. Before, the first stuck read
/// held the only worker and `/health` waited for it.
#[test]
fn health_answers_while_durable_reads_are_stuck_and_the_writer_holds_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let mut writer = Store::open(&path).unwrap();
    let b = block(3);
    writer
        .transaction(|w| {
            w.insert_block(&b)?;
            w.set_level(Level::from(3u8), &b.block_hash)?;
            w.set_head(&b.block_hash, Level::from(3u8))
        })
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap();
    let mut status = NodeStatus {
        l1_connection: node_context::L1Connection::Connected,
        l1_head: Some(node_context::L1Head {
            hash: BlockHash::new([7; 32]),
            level: 3,
            // A fresh head: `/health` also checks its age.
            timestamp: tezos_types::Timestamp(now).to_rfc3339().unwrap(),
            age_secs: 0,
        }),
        ..NodeStatus::default()
    };
    status.processing.last_level = Some(3);
    let durable = Arc::new(StuckDurable {
        state: Mutex::new((false, 0)),
        changed: std::sync::Condvar::new(),
    });
    let readers = Arc::new(ReadPool::open(&path, 2).unwrap());
    let port = spawn_router(Arc::new(StoreView {
        config: Config::new(ADDR.parse().unwrap(), Mode::Observer),
        store: Arc::clone(&readers),
        status: Arc::new(parking_lot::Mutex::new(status)),
        durable: Some(durable.clone()),
        context: None,
        services: Default::default(),
    }));
    // The follower's writer holds the write lock (a batch of levels under way).
    writer.begin_batch().unwrap();
    writer
        .transaction(|w| w.set_finalized(&b.block_hash, Level::from(3u8)))
        .unwrap();
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                get(
                    port,
                    "/global/block/head/durable/wasm_2_0_0/value?key=/counter",
                )
            })
        })
        .collect();
    durable.wait_for("two durable reads to start", |s| s.1 == 2);

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .into();
    let timed_get = |path: &str, while_: &str| -> Value {
        let started = std::time::Instant::now();
        let mut r = agent
            .get(&format!("http://127.0.0.1:{port}{path}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {path} while {while_}: {e}"));
        let took = started.elapsed();
        let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert!(
            took < std::time::Duration::from_secs(1),
            "GET {path} took {took:?} while {while_}"
        );
        body
    };
    let health = timed_get("/health", "durable reads were stuck");
    assert_eq!(health["healthy"], json!(true), "{health}");
    assert_eq!(health["l1"]["blocks_late"], json!(0), "{health}");
    // WAL readers do not wait for the writer.
    let level = timed_get("/global/block/head/level", "the writer held its lock");
    assert_eq!(level, json!(3));

    // Slow store reads hold every read connection: `/health` does not need one.
    let (held_tx, held) = std::sync::mpsc::channel();
    let (free, freed) = std::sync::mpsc::channel::<()>();
    let pool = Arc::clone(&readers);
    let holder = std::thread::spawn(move || {
        pool.with(|_| {
            pool.with(|_| {
                held_tx.send(()).unwrap();
                let _ = freed.recv_timeout(std::time::Duration::from_secs(20));
                Ok(())
            })
        })
    });
    held.recv().unwrap();
    let health = timed_get("/health", "every store connection was in use");
    assert_eq!(health["healthy"], json!(true), "{health}");
    free.send(()).unwrap();
    holder.join().unwrap().unwrap();

    {
        durable.state.lock().unwrap().0 = true;
    }
    durable.changed.notify_all();
    for t in stuck {
        assert_eq!(t.join().unwrap(), (200, json!("07")));
    }
    writer.commit_batch().unwrap();
}
