//! `GET /local/outbox/pending{,/executable,/unexecutable}` over a real store
//! (docs/reference/octez-rollup-node.md §4.3, §6.3): LCC at level 30, window of 10 levels,
//! head at 40; pending messages at levels 15 (lost), 25 (one of two executed), 30
//! (executable) and 35 (not cemented). The PVM side answers the outbox summaries of its
//! level.

use std::collections::HashMap;
use std::sync::Arc;

use node_config::{Config, Mode};
use node_context::{NodeStatus, RollupConstants};
use node_rpc::{BlockId, NodeView, Published, RpcError};
use node_store::{Commitment, L2Block, OutboxLevel, Store};
use pvm_store::DurableState;
use serde_json::{Value, json};
use tezos_types::{BlockHash, CommitmentHash, InboxHash, Level, MerkelizedPayloadHashesHash, Tick};

use super::{ROLLUP, call, serve_view};

const ECHO: &str = "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL";

struct OutboxView {
    store: parking_lot::Mutex<Store>,
    head: Level,
}

fn lv(v: u8) -> Level {
    Level::from(v)
}

fn block(level: Level) -> L2Block {
    L2Block {
        block_hash: BlockHash::new([u8::try_from(level.get()).unwrap(); 32]),
        level,
        predecessor: BlockHash::new([0; 32]),
        commitment_hash: None,
        previous_commitment_hash: CommitmentHash::new([0; 32]),
        context: None,
        inbox_witness: MerkelizedPayloadHashesHash::new([0; 32]),
        inbox_hash: InboxHash::new([0; 32]),
        initial_tick: Tick::ZERO,
        num_ticks: Tick::ZERO,
        state_hash: None,
        pvm_status: None,
    }
}

impl NodeView for OutboxView {
    fn config(&self) -> &Config {
        static C: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
        C.get_or_init(|| Config::new(ROLLUP.parse().unwrap(), Mode::Maintenance))
    }
    fn status(&self) -> NodeStatus {
        NodeStatus {
            constants: Some(RollupConstants {
                commitment_period: 5,
                challenge_window: 10,
                minimal_block_delay: 1,
                max_active_outbox_levels: 10,
            }),
            ..NodeStatus::default()
        }
    }
    fn block(&self, id: &BlockId) -> Result<Option<L2Block>, RpcError> {
        Ok(match id {
            BlockId::Head => Some(block(self.head)),
            BlockId::Level(l) if *l <= self.head => Some(block(*l)),
            _ => None,
        })
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
    fn lcc(&self) -> Result<Option<(CommitmentHash, Level)>, RpcError> {
        Ok(self.store.lock().lcc()?)
    }
    fn pending_outbox_messages(
        &self,
        min_level: Level,
        max_level: Level,
    ) -> Result<Vec<(Level, Vec<u32>)>, RpcError> {
        Ok(self
            .store
            .lock()
            .pending_outbox_messages(min_level, max_level)?)
    }
    /// The outbox of level `l` read at `block`: one echo transaction per message, its
    /// parameter naming the level it was read at (to check which state is read).
    fn pvm_rpc(
        &self,
        block: &L2Block,
        path: &str,
        _query: &HashMap<String, String>,
    ) -> Option<Result<Value, RpcError>> {
        let level = path.strip_prefix("outbox_summary/")?;
        let n = match level {
            "15" | "30" | "35" => 1,
            "25" => 2,
            _ => 0,
        };
        Some(Ok(Value::Array(
            (0..n)
                .map(|i| {
                    json!({"message_index": i, "transactions": [
                        {"destination": ECHO, "parameters": {"int": block.level.to_string()}}]})
                })
                .collect(),
        )))
    }
}

fn view() -> OutboxView {
    let mut store = Store::open_in_memory().unwrap();
    store
        .transaction(|w| {
            w.set_lcc(&CommitmentHash::new([3; 32]), lv(30))?;
            for (l, m) in [
                (15, vec![0]),
                (25, vec![0, 1]),
                (30, vec![0]),
                (35, vec![0]),
            ] {
                w.set_outbox_messages(&OutboxLevel {
                    outbox_level: lv(l),
                    messages: m,
                    executed: vec![],
                })?;
            }
            w.set_outbox_message_executed(lv(25), 0)?;
            Ok(())
        })
        .unwrap();
    OutboxView {
        store: parking_lot::Mutex::new(store),
        head: lv(40),
    }
}

fn message(read_at: i32) -> Value {
    json!({"transactions": [{"destination": ECHO, "parameters": {"int": read_at.to_string()}}]})
}

#[test]
fn pending_outbox_messages_with_their_status() {
    let port = serve_view(view());
    let get = |path: &str| {
        let (status, v) = call(port, "GET", path, "");
        assert_eq!(status, 200, "{path}: {v}");
        v
    };
    // Executable: (30 - 10, 30]; the executed message of level 25 is left out; messages read
    // at the LCC state.
    assert_eq!(
        get("/local/outbox/pending/executable"),
        json!([
            {"outbox_level": 25, "messages": [{"message_index": 1, "message": message(30)}]},
            {"outbox_level": 30, "messages": [{"message_index": 0, "message": message(30)}]},
        ])
    );
    assert_eq!(
        get("/local/outbox/pending/executable?outbox_level=30"),
        json!([{"outbox_level": 30, "messages": [{"message_index": 0, "message": message(30)}]}])
    );
    assert_eq!(
        get("/local/outbox/pending/executable?outbox_level=35"),
        json!([])
    );
    // Unexecutable: (LCC, head], read at their own level.
    assert_eq!(
        get("/local/outbox/pending/unexecutable"),
        json!([{"outbox_level": 35, "messages": [{"message_index": 0, "message": message(35)}]}])
    );
    // Everything pending, with its status.
    let all = get("/local/outbox/pending");
    let statuses: Vec<(i64, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["outbox_level"].as_i64().unwrap(),
                l["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (15, "lost"),
            (25, "executable"),
            (30, "executable"),
            (35, "pending")
        ]
    );
    assert_eq!(get("/local/outbox/pending?outbox_level=41"), json!([]));
    // A bad level is a 400 naming the argument.
    let (status, e) = call(port, "GET", "/local/outbox/pending?outbox_level=x", "");
    assert_eq!(status, 400, "{e}");
}
