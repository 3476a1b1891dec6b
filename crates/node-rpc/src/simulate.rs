//! `POST /global/block/<block_id>/simulate` (docs/reference/octez-rollup-node.md §4.2; Octez
//! `src/lib_smart_rollup_node/simulation.ml`, the protocol plugin's `RPC_directory.ml`
//! `simulate_messages`, `sc_rollup_services.ml` `simulate_input` / `eval_result`).
//!
//! The simulated level is the block's level + 1; its inbox is `Start_of_level`,
//! `Info_per_level` (predecessor: the block, with its L1 timestamp), the request's messages
//! (already serialized inbox messages, e.g. `01…` for an external one) and `End_of_level`. The
//! PVM runs on a fresh checkout of the block's state, which is never committed. `reveal_pages`
//! answer raw-data reveals of their hash before the node's pre-images. The run is bounded as
//! Octez's (free fuel): by the PVM's own limit of ticks per level (reboots × ticks per
//! window).
//!
//! Answer: `{"state_hash","status","output":[outbox messages of the level],"inbox_level",
//! "num_ticks":"<z>","insights":[hex|null]}`; `insights` is always sent (Etherlink's EVM node
//! requires it).

use std::collections::HashMap;
use std::path::PathBuf;

use node_store::L2Block;
use serde_json::{Value, json};
use tezos_types::inbox::InfoPerLevel;
use tezos_types::{BinEncode, BlockHash, InboxMessage, InternalMessage, Level, StateHash};
use wasm_pvm::{DebugSink, KernelEngine, PvmState, RevealError, RevealHandler};

use crate::RpcError;

/// One insight request (`insight_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsightRequest {
    /// Raw value at a path of the PVM state tree (`pvm_state`).
    PvmState(Vec<String>),
    /// Value at a durable storage key, `/k1/k2…` (`durable_storage`).
    DurableStorage(Vec<String>),
}

/// The request body (`simulate_input`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimulateInput {
    /// Serialized inbox messages.
    pub messages: Vec<Vec<u8>>,
    /// Pages for raw-data reveals.
    pub reveal_pages: Option<Vec<Vec<u8>>>,
    /// Values to read after the run.
    pub insight_requests: Vec<InsightRequest>,
    /// File name for the kernel's debug output, under `<data-dir>/simulation_kernel_logs/`.
    pub log_kernel_debug_file: Option<String>,
}

fn bad(msg: impl Into<String>) -> RpcError {
    RpcError::BadBody(msg.into())
}

fn hex_list(v: &Value, field: &str) -> Result<Vec<Vec<u8>>, RpcError> {
    let items = v
        .as_array()
        .ok_or_else(|| bad(format!("{field}: expected an array of hex strings")))?;
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_str()
                .and_then(|s| hex::decode(s).ok())
                .ok_or_else(|| bad(format!("{field}[{i}]: expected a hex string, got {x}")))
        })
        .collect()
}

fn string_list(v: &Value, field: &str) -> Result<Vec<String>, RpcError> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| bad(format!("{field}: expected an array of strings")))
}

/// Parses the JSON body (fields as `simulate_input`; unknown fields are refused, as
/// Data_encoding does).
pub fn parse_input(body: &[u8]) -> Result<SimulateInput, RpcError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let o = v
        .as_object()
        .ok_or_else(|| bad("expected an object {\"messages\": [hex], …}"))?;
    let mut input = SimulateInput::default();
    let mut has_messages = false;
    for (k, x) in o {
        match k.as_str() {
            "messages" => {
                input.messages = hex_list(x, "messages")?;
                has_messages = true;
            }
            "reveal_pages" => input.reveal_pages = Some(hex_list(x, "reveal_pages")?),
            "insight_requests" => {
                let a = x
                    .as_array()
                    .ok_or_else(|| bad("insight_requests: expected an array"))?;
                for (i, r) in a.iter().enumerate() {
                    let key = string_list(&r["key"], &format!("insight_requests[{i}].key"))?;
                    input.insight_requests.push(match r["kind"].as_str() {
                        Some("pvm_state") => InsightRequest::PvmState(key),
                        Some("durable_storage") => InsightRequest::DurableStorage(key),
                        _ => {
                            return Err(bad(format!(
                                "insight_requests[{i}].kind: expected \"pvm_state\" or \
                                 \"durable_storage\""
                            )));
                        }
                    });
                }
            }
            "log_kernel_debug_file" => {
                input.log_kernel_debug_file = Some(
                    x.as_str()
                        .ok_or_else(|| bad("log_kernel_debug_file: expected a string"))?
                        .to_owned(),
                );
            }
            other => return Err(bad(format!("unexpected field {other:?}"))),
        }
    }
    if !has_messages {
        return Err(bad("missing field \"messages\""));
    }
    Ok(input)
}

/// Raw-data reveal pages by request bytes (`0x00 ‖ 0x00 ‖ blake2b-256(page)`, the encoded
/// `Reveal_raw_data` request of the page's hash).
#[derive(Debug, Clone, Default)]
pub struct RevealPages(HashMap<Vec<u8>, Vec<u8>>);

impl RevealPages {
    /// The pages of a request.
    pub fn new(pages: &[Vec<u8>]) -> Self {
        Self(
            pages
                .iter()
                .map(|p| {
                    let mut req = vec![0u8, 0u8];
                    req.extend_from_slice(&tezos_types::hash::blake2b::<32>(&[p.as_slice()]));
                    (req, p.clone())
                })
                .collect(),
        )
    }

    /// The page answering `request`, if any.
    pub fn get(&self, request: &[u8]) -> Option<&[u8]> {
        self.0.get(request).map(Vec::as_slice)
    }
}

/// What a simulation needs from the node.
pub trait Simulator: Send + Sync {
    /// A fresh copy of the PVM state after `block` (never committed by the simulation).
    fn state_of(&self, block: &L2Block) -> Result<PvmState, RpcError>;
    /// Timestamp (seconds since the epoch) of L1 block `hash`.
    fn l1_timestamp(&self, hash: &BlockHash) -> Result<i64, RpcError>;
    /// Runs one inbox level on `state` (as the follower does), `pages` answering reveals
    /// first; kernel debug output goes to `log_file` when given. Returns the ticks executed.
    fn run_level(
        &self,
        state: &mut PvmState,
        level: u32,
        messages: &[Vec<u8>],
        pages: &RevealPages,
        log_file: Option<&str>,
    ) -> Result<u128, RpcError>;
}

fn failed(msg: String) -> RpcError {
    RpcError::Failed("smart_rollup_node.simulation", msg)
}

/// The serialized inbox of the simulated level after `block` (`simulation.ml`
/// `simulate_messages`, `end_simulation`).
pub fn simulated_inbox(block: &L2Block, timestamp: i64, messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let ipl = InboxMessage::Internal(InternalMessage::InfoPerLevel(InfoPerLevel {
        predecessor_timestamp: timestamp,
        predecessor: block.block_hash,
    }));
    let mut out = Vec::with_capacity(messages.len().saturating_add(3));
    out.push(InboxMessage::SOL.to_bin());
    out.push(ipl.to_bin());
    out.extend(messages.iter().cloned());
    out.push(InboxMessage::EOL.to_bin());
    out
}

/// Runs the simulation of `input` after `block` and builds the answer (`eval_result`).
pub fn run(sim: &dyn Simulator, block: &L2Block, input: &SimulateInput) -> Result<Value, RpcError> {
    let level = block
        .level
        .succ()
        .map(Level::to_u32)
        .ok_or_else(|| failed(format!("no level after {}", block.level)))?;
    let timestamp = sim.l1_timestamp(&block.block_hash)?;
    let inbox = simulated_inbox(block, timestamp, &input.messages);
    let mut state = sim.state_of(block)?;
    let pages = RevealPages::new(input.reveal_pages.as_deref().unwrap_or_default());
    let num_ticks = sim.run_level(
        &mut state,
        level,
        &inbox,
        &pages,
        input.log_kernel_debug_file.as_deref(),
    )?;
    let tree_err = |e: durable_tree::TreeError| failed(format!("simulated state: {e}"));
    let mut insights = Vec::with_capacity(input.insight_requests.len());
    let mut tree = None;
    for r in &input.insight_requests {
        let v = match r {
            InsightRequest::PvmState(path) => {
                if tree.is_none() {
                    tree = Some(state.to_tree().map_err(tree_err)?);
                }
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                tree.as_ref()
                    .map(|t| t.get_contents(&path))
                    .transpose()
                    .map_err(tree_err)?
                    .flatten()
            }
            InsightRequest::DurableStorage(keys) => {
                let k = format!("/{}", keys.join("/"));
                let key = durable_tree::durable::Key::from_str_checked(&k).map_err(|e| {
                    bad(format!(
                        "insight_requests: {k:?} is not a durable storage key: {e:?}"
                    ))
                })?;
                state.durable().read_all(&key).map_err(tree_err)?
            }
        };
        insights.push(v.map_or(Value::Null, |v| json!(hex::encode(v))));
    }
    let output: Vec<Value> = state
        .outbox(level)
        .map(<[Vec<u8>]>::to_vec)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({"outbox_level": level, "message_index": i.to_string(),
                   "message": crate::outbox_message_json(m)})
        })
        .collect();
    let state_hash = StateHash(state.hash().map_err(tree_err)?.0);
    let pvm_status = match state.status() {
        wasm_pvm::Status::InputRequired => node_store::PvmStatus::WaitingForInputMessage,
        wasm_pvm::Status::Computing => node_store::PvmStatus::Computing,
    };
    let status = pvm_status.as_str();
    Ok(json!({
        "state_hash": state_hash.to_b58check(),
        "status": status,
        "output": output,
        "inbox_level": level,
        "num_ticks": num_ticks.to_string(),
        "insights": insights,
    }))
}

/// Reveals: the request's pages first, then the node's channel.
struct PagesFirst<'a> {
    pages: &'a RevealPages,
    inner: &'a mut dyn RevealHandler,
}

impl RevealHandler for PagesFirst<'_> {
    fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, RevealError> {
        match self.pages.get(request) {
            Some(p) => Ok(p.to_vec()),
            None => self.inner.reveal(request),
        }
    }

    fn set_inbox_level(&mut self, level: u32) {
        self.inner.set_inbox_level(level);
    }
}

/// Kernel debug output appended to a file.
struct FileSink(std::io::BufWriter<std::fs::File>);

impl DebugSink for FileSink {
    fn debug(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let _ = self.0.write_all(bytes);
    }
}

/// Reads the timestamp (seconds since the epoch) of an L1 block; `Err` says why it cannot.
pub type L1Timestamp = Box<dyn Fn(&BlockHash) -> Result<i64, String> + Send + Sync>;

/// The node's [`Simulator`]: committed states, the PVM engine and reveal channel (one
/// simulation at a time), and the L1 timestamps.
pub struct PvmSimulator {
    context: pvm_store::Context,
    engine: parking_lot::Mutex<Box<dyn KernelEngine + Send>>,
    reveal: parking_lot::Mutex<Box<dyn RevealHandler>>,
    l1_timestamp: L1Timestamp,
    kernel_logs: Option<PathBuf>,
}

impl PvmSimulator {
    /// A simulator. `l1_timestamp` fetches the timestamp of an L1 block; `kernel_logs` is
    /// `<data-dir>/simulation_kernel_logs` when the node logs kernel debug output
    /// (`log-kernel-debug`), else `None` (requests' `log_kernel_debug_file` are then ignored,
    /// as in Octez).
    pub fn new(
        context: pvm_store::Context,
        engine: Box<dyn KernelEngine + Send>,
        reveal: Box<dyn RevealHandler>,
        l1_timestamp: L1Timestamp,
        kernel_logs: Option<PathBuf>,
    ) -> Self {
        Self {
            context,
            engine: parking_lot::Mutex::new(engine),
            reveal: parking_lot::Mutex::new(reveal),
            l1_timestamp,
            kernel_logs,
        }
    }

    fn log_sink(&self, file: Option<&str>) -> Result<Option<FileSink>, RpcError> {
        let (Some(dir), Some(file)) = (&self.kernel_logs, file) else {
            return Ok(None);
        };
        if file.is_empty() || file.contains('/') || file == ".." || file == "." {
            return Err(bad(format!(
                "log_kernel_debug_file {file:?}: give a file name (no directory), it is \
                 created in {}",
                dir.display()
            )));
        }
        let open = || {
            std::fs::create_dir_all(dir)?;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(file))
        };
        let f = open().map_err(|e| {
            failed(format!(
                "cannot open kernel log {}: {e}",
                dir.join(file).display()
            ))
        })?;
        Ok(Some(FileSink(std::io::BufWriter::new(f))))
    }
}

impl Simulator for PvmSimulator {
    fn state_of(&self, block: &L2Block) -> Result<PvmState, RpcError> {
        self.context
            .state_of(block)
            .map_err(|e| failed(format!("state of block {}: {e}", block.block_hash)))
    }

    fn l1_timestamp(&self, hash: &BlockHash) -> Result<i64, RpcError> {
        (self.l1_timestamp)(hash)
            .map_err(|e| failed(format!("cannot read the L1 header of block {hash}: {e}")))
    }

    fn run_level(
        &self,
        state: &mut PvmState,
        level: u32,
        messages: &[Vec<u8>],
        pages: &RevealPages,
        log_file: Option<&str>,
    ) -> Result<u128, RpcError> {
        let mut sink = self.log_sink(log_file)?;
        let mut engine = self.engine.lock();
        let mut reveal = self.reveal.lock();
        let mut reveal = PagesFirst {
            pages,
            inner: &mut **reveal,
        };
        let ticks = state
            .process_level(
                level,
                messages,
                &mut **engine,
                &mut reveal,
                sink.as_mut().map(|s| s as &mut dyn DebugSink),
            )
            .map_err(|e| failed(format!("PVM evaluation failed: {e}")))?;
        if let Some(mut s) = sink {
            use std::io::Write;
            let _ = s.0.flush();
        }
        Ok(ticks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_parsing() {
        let i = parse_input(
            br#"{"messages": ["0100", ""], "reveal_pages": ["ff"],
                 "insight_requests": [{"kind": "pvm_state", "key": ["wasm", "input"]},
                                      {"kind": "durable_storage", "key": ["a"]}],
                 "log_kernel_debug_file": "sim.log"}"#,
        )
        .unwrap();
        assert_eq!(i.messages, vec![vec![1, 0], vec![]]);
        assert_eq!(i.reveal_pages, Some(vec![vec![0xff]]));
        assert_eq!(
            i.insight_requests,
            vec![
                InsightRequest::PvmState(vec!["wasm".into(), "input".into()]),
                InsightRequest::DurableStorage(vec!["a".into()]),
            ]
        );
        assert_eq!(i.log_kernel_debug_file.as_deref(), Some("sim.log"));
        for bad in [
            &br#"{}"#[..],
            br#"{"messages": ["0g"]}"#,
            br#"{"messages": [], "other": 1}"#,
            br#"{"messages": [], "insight_requests": [{"kind": "x", "key": []}]}"#,
            br#"["00"]"#,
        ] {
            assert!(
                matches!(parse_input(bad), Err(RpcError::BadBody(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn reveal_pages_answer_raw_data_requests_of_their_hash() {
        let pages = RevealPages::new(&[b"page".to_vec()]);
        let mut req = vec![0, 0];
        req.extend_from_slice(&tezos_types::hash::blake2b::<32>(&[b"page"]));
        assert_eq!(pages.get(&req), Some(&b"page"[..]));
        req[1] = 1;
        assert_eq!(pages.get(&req), None);
    }
}
