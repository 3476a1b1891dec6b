//! Typed answers of L1 RPCs (l1-and-signer.md §1.3–§1.5).

use serde::{Deserialize, Serialize};
use tezos_types::encoding::json::{i64_string, u64_string};
use tezos_types::{BlockHash, CommitmentHash, Mutez, ProtocolHash, StateHash};

/// `GET …/blocks/<id>/protocols`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockProtocols {
    /// Protocol that applied the block.
    pub protocol: ProtocolHash,
    /// Protocol of the block's successors.
    pub next_protocol: ProtocolHash,
}

/// One element of `GET /chains/<c>/protocols`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolActivation {
    /// Protocol.
    pub protocol: ProtocolHash,
    /// Its protocol level.
    pub proto_level: u8,
    /// The migration block (last block of the previous protocol).
    pub activation_block: ActivationBlock,
}

/// Activation block of a protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationBlock {
    /// Hash.
    pub block_hash: BlockHash,
    /// Level.
    pub level: i32,
}

/// `P/genesis_info` of a rollup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisInfo {
    /// Origination level.
    pub level: i32,
    /// Genesis commitment.
    pub commitment_hash: CommitmentHash,
}

/// `P/last_cemented_commitment_hash_with_level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashWithLevel {
    /// Commitment hash.
    pub hash: CommitmentHash,
    /// Its inbox level.
    pub level: i32,
}

/// `P/staker/<pkh>/staked_on_commitment` when present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakedCommitment {
    /// Commitment hash.
    pub hash: CommitmentHash,
    /// PVM state hash.
    pub compressed_state: StateHash,
    /// Inbox level.
    pub inbox_level: i32,
    /// Predecessor commitment.
    pub predecessor: CommitmentHash,
    /// Ticks.
    #[serde(with = "i64_string")]
    pub number_of_ticks: i64,
}

/// DAL parameters in the constants (`dal_parametric`), the fields the rollup node reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DalParametric {
    /// Whether the DAL is enabled.
    pub feature_enable: bool,
    /// Number of slots.
    pub number_of_slots: u32,
    /// Attestation lag.
    pub attestation_lag: u32,
    /// Page size (bytes).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Slot size (bytes).
    #[serde(default)]
    pub slot_size: Option<u32>,
}

/// `GET …/context/constants`, the fields the rollup node uses (§1.4); the full JSON is kept in
/// [`Constants::raw`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constants {
    /// Minimal block delay (s).
    #[serde(with = "i64_string")]
    pub minimal_block_delay: i64,
    /// Delay increment per round (s).
    #[serde(with = "i64_string")]
    pub delay_increment_per_round: i64,
    /// Hard gas limit per operation.
    #[serde(with = "u64_string")]
    pub hard_gas_limit_per_operation: u64,
    /// Hard gas limit per block.
    #[serde(with = "u64_string")]
    pub hard_gas_limit_per_block: u64,
    /// Hard storage limit per operation.
    #[serde(with = "u64_string")]
    pub hard_storage_limit_per_operation: u64,
    /// Origination size.
    pub origination_size: u32,
    /// Cost per byte.
    pub cost_per_byte: Mutez,
    /// Challenge window (blocks).
    pub smart_rollup_challenge_window_in_blocks: u32,
    /// Commitment period (blocks).
    pub smart_rollup_commitment_period_in_blocks: u32,
    /// Stake amount.
    pub smart_rollup_stake_amount: Mutez,
    /// Max lookahead (blocks).
    pub smart_rollup_max_lookahead_in_blocks: i32,
    /// Max active outbox levels.
    pub smart_rollup_max_active_outbox_levels: i32,
    /// Max outbox messages per level.
    #[serde(default)]
    pub smart_rollup_max_outbox_messages_per_level: Option<u32>,
    /// Sections in a dissection.
    pub smart_rollup_number_of_sections_in_dissection: u8,
    /// Timeout period (blocks).
    pub smart_rollup_timeout_period_in_blocks: u32,
    /// Max cemented commitments kept.
    pub smart_rollup_max_number_of_cemented_commitments: u32,
    /// Reveal activation levels (kept raw).
    #[serde(default)]
    pub smart_rollup_reveal_activation_level: Option<serde_json::Value>,
    /// Private rollups enabled.
    #[serde(default)]
    pub smart_rollup_private_enable: Option<bool>,
    /// DAL parameters.
    #[serde(default)]
    pub dal_parametric: Option<DalParametric>,
    /// The whole answer.
    #[serde(skip)]
    pub raw: serde_json::Value,
}

/// Status of a manager operation result (`metadata.operation_result.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    /// Applied.
    Applied,
    /// Failed.
    Failed,
    /// Applied then undone because a later content failed.
    Backtracked,
    /// Not attempted because an earlier content failed.
    Skipped,
}

/// One simulated content: what the injector needs to set limits and detect failures.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedContent {
    /// Result status.
    pub status: ResultStatus,
    /// Gas consumed (milligas), internal operations included.
    pub consumed_milligas: u64,
    /// Storage paid (bytes), `paid_storage_size_diff` plus allocations.
    pub paid_storage_size_diff: u64,
    /// Errors of a failed result (raw Octez error objects).
    pub errors: Vec<serde_json::Value>,
}

/// Answer of `helpers/scripts/simulate_operation` (l1-and-signer.md §1.8).
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// One per content, in order.
    pub contents: Vec<SimulatedContent>,
}

fn num(v: &serde_json::Value) -> u64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

impl Simulation {
    /// Reads `{"contents":[{…,"metadata":{"operation_result":{…},
    /// "internal_operation_results":[…]}}]}`.
    ///
    /// # Errors
    /// A message naming the content without a readable result.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let list = v["contents"]
            .as_array()
            .ok_or_else(|| "no \"contents\" list in the simulation".to_owned())?;
        let mut contents = Vec::with_capacity(list.len());
        for (i, c) in list.iter().enumerate() {
            let r = &c["metadata"]["operation_result"];
            let status: ResultStatus = serde_json::from_value(r["status"].clone())
                .map_err(|e| format!("content {i}: operation_result.status: {e}"))?;
            let mut milligas = num(&r["consumed_milligas"]);
            let mut errors: Vec<serde_json::Value> =
                r["errors"].as_array().cloned().unwrap_or_default();
            for internal in c["metadata"]["internal_operation_results"]
                .as_array()
                .into_iter()
                .flatten()
            {
                milligas = milligas.saturating_add(num(&internal["result"]["consumed_milligas"]));
                errors.extend(
                    internal["result"]["errors"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            contents.push(SimulatedContent {
                status,
                consumed_milligas: milligas,
                paid_storage_size_diff: num(&r["paid_storage_size_diff"]),
                errors,
            });
        }
        Ok(Self { contents })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_sums_internal_gas_and_keeps_errors() {
        let v = serde_json::json!({"contents": [
            {"kind": "reveal", "metadata": {"operation_result":
                {"status": "applied", "consumed_milligas": "1000"}}},
            {"kind": "transaction", "metadata": {
                "operation_result": {"status": "failed", "consumed_milligas": "2500",
                    "paid_storage_size_diff": "7",
                    "errors": [{"kind": "temporary", "id": "proto.x"}]},
                "internal_operation_results": [
                    {"result": {"status": "backtracked", "consumed_milligas": "500"}}]}}
        ]});
        let s = Simulation::from_json(&v).unwrap();
        assert_eq!(s.contents[0].status, ResultStatus::Applied);
        assert_eq!(s.contents[1].status, ResultStatus::Failed);
        assert_eq!(s.contents[1].consumed_milligas, 3000);
        assert_eq!(s.contents[1].paid_storage_size_diff, 7);
        assert_eq!(s.contents[1].errors.len(), 1);
        let e = Simulation::from_json(&serde_json::json!({"contents": [{"metadata": {}}]}))
            .unwrap_err();
        assert!(e.contains("content 0"), "{e}");
    }
}
