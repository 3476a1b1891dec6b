//! RPC server in-process over a populated store and a fake durable storage.

use std::sync::{Arc, Mutex};

use rollup_node::config::{Config, Mode};
use rollup_node::rpc::{DurableState, NodeStatus, StoreView, router};
use rollup_node::store::{Commitment, L2Block, Store};
use serde_json::{Value, json};
use tezos_types::{BlockHash, CommitmentHash, InboxHash, MerkelizedPayloadHashesHash, StateHash};

use super::ADDR;

struct FakeDurable;

impl DurableState for FakeDurable {
    fn value(&self, _b: &L2Block, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(match key {
            "/readonly/wasm_version" => Some(b"2.0.0-r6".to_vec()),
            "/numbers/a" => Some(vec![1]),
            "/numbers/b" => Some(vec![2]),
            _ => None,
        })
    }
    fn length(&self, b: &L2Block, key: &str) -> Result<Option<u64>, String> {
        Ok(self.value(b, key)?.map(|v| v.len() as u64))
    }
    fn subkeys(&self, _b: &L2Block, key: &str) -> Result<Vec<String>, String> {
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
        initial_tick: 1000 * u128::from(level),
        num_ticks: 450_000_000_000_000,
        state_hash: Some(StateHash::new([level; 32])),
        pvm_status: Some("Waiting for input message".into()),
    }
}

/// Serves the router on a loopback port from a background runtime; returns the port.
fn serve() -> u16 {
    let mut store = Store::open_in_memory().unwrap();
    let commitment = Commitment {
        compressed_state: StateHash::new([3; 32]),
        inbox_level: 3,
        predecessor: CommitmentHash::ZERO,
        number_of_ticks: 77,
    };
    store
        .transaction(|w| {
            for l in 1..=3u8 {
                let b = block(l);
                w.insert_block(&b)?;
                w.set_level(l.into(), &b.block_hash)?;
                w.set_head(&b.block_hash, l.into())?;
            }
            w.set_finalized(&block(1).block_hash, 1)?;
            w.insert_commitment(&CommitmentHash::new([9; 32]), &commitment)?;
            w.set_commitment_published_at(&CommitmentHash::new([9; 32]), 5, Some(6))
        })
        .unwrap();
    let view = Arc::new(StoreView {
        config: Config::new(ADDR.parse().unwrap(), Mode::Observer),
        store: Arc::new(Mutex::new(store)),
        status: Arc::new(Mutex::new(NodeStatus::default())),
        durable: Some(Arc::new(FakeDurable)),
        context: None,
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap().port()).unwrap();
            axum::serve(l, router(view)).await.unwrap();
        });
    });
    rx.recv().unwrap()
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
    (
        st,
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
    )
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
    assert_eq!(get(port, "/global/block/99/hash").0, 500);

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
