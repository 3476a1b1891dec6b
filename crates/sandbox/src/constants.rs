//! Protocol constants served by `/context/constants` and used by the state transition.
//!
//! Mainnet values by default (octez-rollup-node.md §6.5); every field can be overridden by a
//! JSON file (`--constants`) whose keys are the Octez constant names (l1-and-signer.md §1.4).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Constants that the sandbox's rules depend on (Octez names, l1-and-signer.md §1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Constants {
    /// `minimal_block_delay` (seconds).
    #[serde(with = "tezos_types::encoding::json::u64_string")]
    pub minimal_block_delay: u64,
    /// `smart_rollup_commitment_period_in_blocks`.
    pub smart_rollup_commitment_period_in_blocks: i32,
    /// `smart_rollup_challenge_window_in_blocks`.
    pub smart_rollup_challenge_window_in_blocks: i32,
    /// `smart_rollup_stake_amount` (mutez).
    #[serde(with = "tezos_types::encoding::json::u64_string")]
    pub smart_rollup_stake_amount: u64,
    /// `smart_rollup_max_lookahead_in_blocks`.
    pub smart_rollup_max_lookahead_in_blocks: i32,
    /// `smart_rollup_timeout_period_in_blocks`.
    pub smart_rollup_timeout_period_in_blocks: i32,
    /// `smart_rollup_max_active_outbox_levels`.
    pub smart_rollup_max_active_outbox_levels: i32,
    /// `smart_rollup_max_number_of_cemented_commitments`.
    pub smart_rollup_max_number_of_cemented_commitments: i32,
    /// `smart_rollup_message_size_limit` (bytes of a serialized inbox message).
    pub smart_rollup_message_size_limit: u32,
    /// `hard_gas_limit_per_operation`.
    #[serde(with = "tezos_types::encoding::json::u64_string")]
    pub hard_gas_limit_per_operation: u64,
    /// `hard_storage_limit_per_operation`.
    #[serde(with = "tezos_types::encoding::json::u64_string")]
    pub hard_storage_limit_per_operation: u64,
    /// `cost_per_byte` (mutez).
    #[serde(with = "tezos_types::encoding::json::u64_string")]
    pub cost_per_byte: u64,
    /// `smart_rollup_origination_size`.
    pub smart_rollup_origination_size: u64,
}

impl Default for Constants {
    fn default() -> Self {
        Self::mainnet()
    }
}

impl Constants {
    /// Mainnet (Ushuaia, 6 s blocks) values (octez-rollup-node.md §6.5).
    pub fn mainnet() -> Self {
        Self {
            minimal_block_delay: 6,
            smart_rollup_commitment_period_in_blocks: 150,
            smart_rollup_challenge_window_in_blocks: 201_600,
            smart_rollup_stake_amount: 10_000_000_000,
            smart_rollup_max_lookahead_in_blocks: 432_000,
            smart_rollup_timeout_period_in_blocks: 100_800,
            smart_rollup_max_active_outbox_levels: 151_200,
            smart_rollup_max_number_of_cemented_commitments: 5,
            smart_rollup_message_size_limit: 4096,
            hard_gas_limit_per_operation: 1_040_000,
            hard_storage_limit_per_operation: 60_000,
            cost_per_byte: 250,
            smart_rollup_origination_size: 6314,
        }
    }

    /// Small values for tests: commitment period 5, challenge window 10.
    pub fn test() -> Self {
        Self {
            minimal_block_delay: 1,
            smart_rollup_commitment_period_in_blocks: 5,
            smart_rollup_challenge_window_in_blocks: 10,
            smart_rollup_max_lookahead_in_blocks: 100,
            smart_rollup_timeout_period_in_blocks: 10,
            ..Self::mainnet()
        }
    }

    /// Parses a JSON object of overrides (missing keys keep the mainnet value).
    pub fn from_json(v: &Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(v.clone())
    }

    /// The `/context/constants` JSON: the sandbox's constants plus fixed fields the rollup node
    /// and clients read (l1-and-signer.md §1.4).
    pub fn to_rpc_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        let extra = json!({
            "proof_of_work_nonce_size": 8,
            "nonce_length": 32,
            "max_operation_data_length": 32768,
            "max_operations_time_to_live": 240,
            "blocks_per_cycle": 10800,
            "delay_increment_per_round": "3",
            "hard_gas_limit_per_block": "1386666",
            "origination_size": 257,
            "smart_rollup_arith_pvm_enable": true,
            "smart_rollup_private_enable": true,
            "smart_rollup_riscv_pvm_enable": false,
            "smart_rollup_max_outbox_messages_per_level": 100,
            "smart_rollup_number_of_sections_in_dissection": 32,
            "smart_rollup_max_number_of_messages_per_level": "1000000",
            "smart_rollup_max_number_of_parallel_games": 32,
            "smart_rollup_max_wrapped_proof_binary_size": 30000,
            "smart_rollup_reveal_activation_level": {
                "raw_data": {"Blake2B": 0}, "metadata": 0, "dal_page": 0,
                "dal_parameters": 0, "dal_attested_slots_validity_lag": 241920
            },
            "dal_parametric": {
                "feature_enable": false, "incentives_enable": false, "number_of_slots": 32,
                "attestation_lag": 8, "attestation_threshold": 66, "slot_size": 126944,
                "redundancy_factor": 8, "page_size": 3967, "number_of_shards": 512
            }
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            for (k, x) in e {
                m.entry(k).or_insert(x);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_keep_defaults() {
        let c = Constants::from_json(&json!({
            "smart_rollup_commitment_period_in_blocks": 3,
            "smart_rollup_stake_amount": "5"
        }))
        .unwrap();
        assert_eq!(c.smart_rollup_commitment_period_in_blocks, 3);
        assert_eq!(c.smart_rollup_stake_amount, 5);
        assert_eq!(c.smart_rollup_challenge_window_in_blocks, 201_600);
        let j = c.to_rpc_json();
        assert_eq!(j["smart_rollup_stake_amount"], "5");
        assert_eq!(j["minimal_block_delay"], "6");
        assert_eq!(j["smart_rollup_number_of_sections_in_dissection"], 32);
    }
}
