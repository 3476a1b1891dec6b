//! node-rpc integration tests: the batcher and simulation RPCs served by the real router on a
//! loopback port, over a view holding a real [`batcher::Batcher`] and a real
//! [`node_rpc::simulate::PvmSimulator`] (the counter kernel run by wasmtime).

use std::collections::HashMap;
use std::sync::Arc;

use node_config::{Config, Mode};
use node_context::NodeStatus;
use node_rpc::simulate::{PvmSimulator, Simulator};
use node_rpc::{BlockId, NodeView, Published, RpcError};
use node_store::{Commitment, L2Block};
use pvm_store::DurableState;
use serde_json::{Value, json};
use tezos_types::{
    BlockHash, CommitmentHash, InboxHash, InjectorOperationId, MerkelizedPayloadHashesHash,
};

const ROLLUP: &str = "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf";

/// The node as the RPC server sees it: one block, an optional batcher and simulator, and
/// injector statuses by operation.
struct View {
    block: Option<L2Block>,
    batcher: Option<Arc<parking_lot::Mutex<batcher::Batcher>>>,
    simulator: Option<Arc<dyn Simulator>>,
    injector: HashMap<InjectorOperationId, Value>,
    dal: Option<Arc<parking_lot::Mutex<batcher::dal::DalQueue>>>,
}

impl NodeView for View {
    fn config(&self) -> &Config {
        static C: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
        C.get_or_init(|| Config::new(ROLLUP.parse().unwrap(), Mode::Operator))
    }
    fn status(&self) -> NodeStatus {
        NodeStatus::default()
    }
    fn block(&self, _id: &BlockId) -> Result<Option<L2Block>, RpcError> {
        Ok(self.block.clone())
    }
    fn commitment(
        &self,
        _hash: &CommitmentHash,
    ) -> Result<Option<(Commitment, Option<Published>)>, RpcError> {
        Ok(None)
    }
    fn durable(&self) -> Option<Arc<dyn DurableState>> {
        None
    }
    fn batcher(&self) -> Option<Arc<parking_lot::Mutex<batcher::Batcher>>> {
        self.batcher.clone()
    }
    fn dal_queue(&self) -> Option<Arc<parking_lot::Mutex<batcher::dal::DalQueue>>> {
        self.dal.clone()
    }
    fn injector_operation_status(
        &self,
        id: &InjectorOperationId,
    ) -> Result<Option<Value>, RpcError> {
        Ok(self.injector.get(id).cloned())
    }
    fn simulator(&self) -> Option<Arc<dyn Simulator>> {
        self.simulator.clone()
    }
}

/// A batch: messages and order.
type Taken = (Vec<Vec<u8>>, Option<i64>);

/// Records batches; operation ids are the batch's index.
#[derive(Clone, Default)]
struct Sink(Arc<parking_lot::Mutex<Vec<Taken>>>);

fn op_id(i: usize) -> InjectorOperationId {
    InjectorOperationId::new([u8::try_from(i).unwrap(); 32])
}

impl batcher::BatchSink for Sink {
    fn add_messages(
        &mut self,
        messages: Vec<Vec<u8>>,
        order: Option<i64>,
    ) -> Result<InjectorOperationId, batcher::SinkError> {
        let mut v = self.0.lock();
        v.push((messages, order));
        Ok(op_id(v.len()))
    }
    fn knows(&self, _id: &InjectorOperationId) -> bool {
        true
    }
}

mod outbox;

fn serve(view: View) -> u16 {
    serve_view(view)
}

/// Serves `view` on a loopback port; returns the port.
fn serve_view(view: impl NodeView) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap().port()).unwrap();
            axum::serve(l, node_rpc::router(Arc::new(view)))
                .await
                .unwrap();
        });
    });
    rx.recv().unwrap()
}

/// `method path` with `body`: `(status, JSON answer)`.
fn call(port: u16, method: &str, path: &str, body: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json");
    let mut r = agent
        .run(req.body(body.to_string()).unwrap())
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let text = r.body_mut().read_to_string().unwrap();
    let v =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
    (r.status().as_u16(), v)
}

fn no_view() -> View {
    View {
        block: None,
        batcher: None,
        simulator: None,
        injector: HashMap::new(),
        dal: None,
    }
}

#[test]
fn batcher_rpcs() {
    let sink = Sink::default();
    let limits = batcher::Limits {
        min_batch_elements: 3,
        ..batcher::Limits::from_config(&node_config::BatcherConfig::default()).unwrap()
    };
    let b = Arc::new(parking_lot::Mutex::new(batcher::Batcher::new(
        limits,
        Box::new(sink.clone()),
    )));
    let mut injector = HashMap::new();
    injector.insert(
        op_id(1),
        json!({"status": "pending_injection",
               "operation": {"kind": "add_messages", "message": ["312d31", "312d32", "312d33"]}}),
    );
    let port = serve(View {
        batcher: Some(b),
        injector,
        ..no_view()
    });
    // Ids as Octez computes them (tezt "RPC API should work and be stable").
    let (st, ids) = call(
        port,
        "POST",
        "/local/batcher/injection",
        r#"["312d31","312d32"]"#,
    );
    assert_eq!(st, 200, "{ids}");
    assert_eq!(
        ids,
        json!([
            "scmsg2rwuPwGBrYsQHFuusVq5DAZFfJ4iGcAJ6Ttvyobd6b1V1oSpUk",
            "scmsg3WtaZfwmQQzbHobfzcZw3JFy7eYAAJs9RZsGGrnzwEAnzPP5We"
        ])
    );
    let (_, q) = call(port, "GET", "/local/batcher/queue", "");
    assert_eq!(
        q,
        json!([
            {"id": ids[0], "message": {"content": "312d31", "counter": "0"}},
            {"id": ids[1], "message": {"content": "312d32", "counter": "1"}}
        ])
    );
    let id0 = ids[0].as_str().unwrap();
    assert_eq!(
        call(port, "GET", &format!("/local/batcher/queue/{id0}"), "").1,
        json!({"content": "312d31", "status": "pending_batch"})
    );
    // The third message makes a full batch, handed to the injector at once.
    let (st, ids3) = call(port, "POST", "/local/batcher/injection", r#"["312d33"]"#);
    assert_eq!(st, 200, "{ids3}");
    assert_eq!(sink.0.lock().len(), 1);
    assert_eq!(call(port, "GET", "/local/batcher/queue", "").1, json!([]));
    assert_eq!(
        call(port, "GET", &format!("/local/batcher/queue/{id0}"), "").1,
        json!({"content": "312d31", "status": "pending_injection",
               "operation": {"kind": "add_messages", "message": ["312d31", "312d32", "312d33"]}})
    );
    // Unknown id; malformed id (400).
    let unknown = batcher::message_id(None, b"nope").to_b58check();
    assert_eq!(
        call(port, "GET", &format!("/local/batcher/queue/{unknown}"), "").1,
        json!({"status": "unknown"})
    );
    assert_eq!(call(port, "GET", "/local/batcher/queue/scmsgXX", "").0, 400);
    // order and the admin clear.
    let (st, _) = call(
        port,
        "POST",
        "/local/batcher/injection?order=7&drop_duplicate=true",
        r#"["aa"]"#,
    );
    assert_eq!(st, 200);
    call(port, "POST", "/local/batcher/injection", r#"["bb"]"#);
    let (_, q) = call(port, "GET", "/local/batcher/queue", "");
    assert_eq!(q[0]["order"], "7");
    assert_eq!(q[0]["id"], batcher::message_id(None, &[0xaa]).to_b58check());
    assert_eq!(
        call(port, "DELETE", "/admin/batcher/queue?order_below=7", "").1,
        json!({})
    );
    let (_, q) = call(port, "GET", "/local/batcher/queue", "");
    assert_eq!(q.as_array().unwrap().len(), 1, "{q}");
    assert_eq!(q[0]["message"]["content"], "bb");
    call(port, "DELETE", "/admin/batcher/queue", "");
    assert_eq!(call(port, "GET", "/local/batcher/queue", "").1, json!([]));
    // Refusals: too large (Octez's text), not hex, bad order.
    let big = format!("[\"{}\"]", "00".repeat(4097));
    let (st, e) = call(port, "POST", "/local/batcher/injection", &big);
    assert_eq!(st, 500);
    assert_eq!(e[0]["msg"], "Message 0 is too large (max size is 4100)");
    assert_eq!(
        call(port, "POST", "/local/batcher/injection", r#"["zz"]"#).0,
        400
    );
    assert_eq!(
        call(port, "POST", "/local/batcher/injection?order=x", r#"[]"#).0,
        400
    );
}

/// The DAL injection queue's RPCs (Octez paths and JSON shapes, `rollup_node_services.ml`
/// `Local.dal_batcher_injection`, `dal_slot_indices`, `dal_injected_operations_statuses`,
/// `forget_dal_injection_id`) over a real queue.
#[test]
fn dal_queue_rpcs() {
    let q = Arc::new(parking_lot::Mutex::new(batcher::dal::DalQueue::in_memory()));
    let op = InjectorOperationId::new([3; 32]);
    let mut injector = HashMap::new();
    injector.insert(
        op,
        json!({"status": "pending_injection", "operation": {"kind": "x"}}),
    );
    let port = serve(View {
        dal: Some(q.clone()),
        injector,
        ..no_view()
    });
    // The DAL constants come from the L1 at the first head.
    let (st, e) = call(
        port,
        "POST",
        "/local/dal/slot/indices",
        r#"{"indices":[0]}"#,
    );
    assert_eq!(st, 500, "{e}");
    assert!(
        e[0]["msg"].as_str().unwrap().contains("DAL parameters"),
        "{e}"
    );
    q.lock().set_params(batcher::dal::DalParams {
        slot_size: 16,
        number_of_slots: 4,
        attestation_lag: 2,
    });
    let (st, e) = call(port, "POST", "/local/dal/batcher/injection", r#"["a"]"#);
    assert_eq!(st, 500, "{e}");
    assert!(
        e[0]["msg"]
            .as_str()
            .unwrap()
            .contains("POST /local/dal/slot/indices"),
        "{e}"
    );
    let (st, e) = call(
        port,
        "POST",
        "/local/dal/slot/indices",
        r#"{"indices":[9]}"#,
    );
    assert_eq!(st, 500, "{e}");
    assert!(
        e[0]["msg"].as_str().unwrap().contains("out of range"),
        "{e}"
    );
    assert_eq!(
        call(
            port,
            "POST",
            "/local/dal/slot/indices",
            r#"{"indices":[300]}"#
        )
        .0,
        400
    );
    assert_eq!(
        call(
            port,
            "POST",
            "/local/dal/slot/indices",
            r#"{"indices":[2,1,2]}"#
        ),
        (200, json!({}))
    );
    assert_eq!(q.lock().slot_indices(), &[1, 2]);
    // Messages are strings (`unistring`), not hex.
    assert_eq!(
        call(
            port,
            "POST",
            "/local/dal/batcher/injection",
            r#"["hello", {"invalid_utf8_string": [255, 0]}]"#
        ),
        (200, json!({}))
    );
    let slots = q.lock().plan_slots();
    assert_eq!(slots[0].content, b"hello\xff\x00");
    let (st, e) = call(
        port,
        "POST",
        "/local/dal/batcher/injection",
        r#"["01234567890123456"]"#,
    );
    assert_eq!(st, 500, "{e}");
    assert_eq!(e[0]["id"], "sc_rollup.node.dal_message_too_big", "{e}");
    assert_eq!(
        call(port, "POST", "/local/dal/batcher/injection", "[1]").0,
        400
    );
    // Statuses: the injector's status of each publication.
    q.lock().commit_slot(2, op).unwrap();
    q.lock()
        .commit_slot(0, InjectorOperationId::new([4; 32]))
        .unwrap();
    let (st, s) = call(port, "GET", "/local/dal/injected/operations/statuses", "");
    assert_eq!(st, 200);
    assert_eq!(
        s,
        json!([
            {"id": op.to_b58check(),
             "status": {"status": "pending_injection", "operation": {"kind": "x"}}},
            {"id": InjectorOperationId::new([4; 32]).to_b58check(),
             "status": {"status": "unknown"}}
        ])
    );
    let path = format!("/local/dal/injection/{}/forget", op.to_b58check());
    assert_eq!(call(port, "POST", &path, ""), (200, json!({})));
    let (_, s) = call(port, "GET", "/local/dal/injected/operations/statuses", "");
    assert_eq!(s.as_array().unwrap().len(), 1, "{s}");
}

#[test]
fn without_batcher_or_simulator() {
    let port = serve(no_view());
    for (method, path) in [
        ("POST", "/local/batcher/injection"),
        ("GET", "/local/batcher/queue"),
        ("DELETE", "/admin/batcher/queue"),
    ] {
        let (st, e) = call(port, method, path, "[]");
        assert_eq!(st, 500, "{method} {path}: {e}");
        assert_eq!(e[0]["id"], "sc_rollup.node.no_batcher", "{e}");
        assert_eq!(e[0]["msg"], "This rollup node does not have batcher.");
    }
    for (method, path) in [
        ("POST", "/local/dal/batcher/injection"),
        ("POST", "/local/dal/slot/indices"),
        ("GET", "/local/dal/injected/operations/statuses"),
    ] {
        let (st, e) = call(port, method, path, "[]");
        assert_eq!(st, 500, "{method} {path}: {e}");
        assert_eq!(e[0]["id"], "sc_rollup.node.no_dal_injector", "{e}");
    }
}

fn counter_kernel() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../kernels/target/wasm32-unknown-unknown/release/counter.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the kernels with scripts/build-kernels.sh",
            path.display()
        )
    })
}

struct NoReveal;

impl wasm_pvm::RevealHandler for NoReveal {
    fn reveal(&mut self, _request: &[u8]) -> Result<Vec<u8>, wasm_pvm::RevealError> {
        Err(wasm_pvm::RevealError("no pre-images in this test".into()))
    }
}

/// Simulation on the counter kernel: the answer is what running the same level on a copy
/// gives, insights read the simulated state, and the committed state is untouched.
#[test]
fn simulate_runs_the_next_level_on_a_copy() {
    use tezos_types::BinEncode;
    let ctx = pvm_store::Context::in_memory();
    let genesis = wasm_pvm::PvmState::genesis(
        wasm_pvm::PvmVersion::V6,
        &counter_kernel(),
        &wasm_pvm::GenesisParams::default(),
    )
    .unwrap();
    let hash = ctx.commit(&genesis).unwrap();
    let block = L2Block {
        block_hash: BlockHash::new([7; 32]),
        level: tezos_types::Level::from(5u8),
        predecessor: BlockHash::new([6; 32]),
        commitment_hash: None,
        previous_commitment_hash: CommitmentHash::new([0; 32]),
        context: Some(pvm_store::context_hash(&hash)),
        inbox_witness: MerkelizedPayloadHashesHash::new([0; 32]),
        inbox_hash: InboxHash::new([0; 32]),
        initial_tick: tezos_types::Tick::ZERO,
        num_ticks: tezos_types::Tick::ZERO,
        state_hash: None,
        pvm_status: None,
    };
    let sim = PvmSimulator::new(
        ctx.clone(),
        Box::new(pvm_wasmtime::WasmtimeEngine::new().unwrap()),
        Box::new(NoReveal),
        Box::new(|_| Ok(1_700_000_000)),
        None,
    );
    let port = serve(View {
        block: Some(block.clone()),
        simulator: Some(Arc::new(sim)),
        ..no_view()
    });
    let body = json!({
        "messages": [format!("01{}", hex::encode(b"hello"))],
        "insight_requests": [
            {"kind": "durable_storage", "key": ["last_message"]},
            {"kind": "durable_storage", "key": ["absent"]},
            {"kind": "pvm_state", "key": ["wasm", "input"]}
        ]
    });
    let (st, r) = call(
        port,
        "POST",
        "/global/block/head/simulate",
        &body.to_string(),
    );
    assert_eq!(st, 200, "{r}");
    // The same level run directly on a copy of the state.
    let mut expected = genesis;
    let inbox = node_rpc::simulate::simulated_inbox(
        &block,
        1_700_000_000,
        &[[&[1u8][..], b"hello"].concat()],
    );
    assert_eq!(inbox.len(), 4);
    assert_eq!(inbox[0], tezos_types::InboxMessage::SOL.to_bin());
    let ticks = expected
        .process_level(
            6,
            &inbox,
            &mut pvm_wasmtime::WasmtimeEngine::new().unwrap(),
            &mut NoReveal,
            None,
        )
        .unwrap();
    let expected_hash = tezos_types::StateHash(expected.hash().unwrap().0);
    assert_eq!(r["state_hash"], expected_hash.to_b58check(), "{r}");
    assert_eq!(r["num_ticks"], ticks.to_string());
    assert_eq!(r["inbox_level"], 6);
    assert_eq!(r["status"], "Waiting for input message");
    // The counter kernel answers each message with an outbox message.
    let outbox = expected.outbox(6).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        r["output"],
        json!([{"outbox_level": 6, "message_index": "0",
                "message": node_rpc::outbox_message_json(&outbox[0])}])
    );
    assert_eq!(
        r["output"][0]["message"]["transactions"][0]["parameters"]["bytes"],
        hex::encode(b"hello")
    );
    assert_eq!(
        r["insights"],
        json!([hex::encode(b"hello"), null, "0000000603"])
    );
    // Never committed: the block's state is the genesis one.
    assert_eq!(ctx.state_of(&block).unwrap().hash().unwrap(), hash);
    // A malformed body is a 400.
    let (st, e) = call(
        port,
        "POST",
        "/global/block/head/simulate",
        r#"{"messages": 3}"#,
    );
    assert_eq!(st, 400, "{e}");
    // Without a simulator: 501.
    let port = serve(View {
        block: Some(block),
        ..no_view()
    });
    let (st, _) = call(
        port,
        "POST",
        "/global/block/head/simulate",
        &body.to_string(),
    );
    assert_eq!(st, 501);
}
