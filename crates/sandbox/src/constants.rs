//! Protocol constants served by `/context/constants` and used by the state transition.
//!
//! Mainnet values by default (octez-rollup-node.md §6.5); every field can be overridden by a
//! JSON file (`--constants`) whose keys are the Octez constant names (l1-and-signer.md §1.4).
//!
//! The DAL is off by default (`dal_parametric.feature_enable: false`); a constants file turns
//! it on with e.g. `{"dal_parametric": {"feature_enable": true, "attestation_lag": 2,
//! "attestation_lags": [2], …}}` (docs/reference/dal.md §4; a partial `dal_parametric` object
//! keeps the other fields' defaults). `sandbox_dal_unattested_slots` (sandbox only, not served
//! by `/context/constants`) lists slot indices whose published commitments are never attested.

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
    /// `smart_rollup_reveal_activation_level` (docs/reference/dal.md §5).
    pub smart_rollup_reveal_activation_level: RevealActivationLevel,
    /// `dal_parametric` (docs/reference/dal.md §4).
    pub dal_parametric: DalParametric,
    /// Sandbox knob, not a protocol constant (never served): slot indices whose published
    /// commitments the sandbox leaves unattested (`is_proto_attested: false`); every other
    /// published slot is attested `attestation_lag` levels after its publication.
    pub sandbox_dal_unattested_slots: Vec<u8>,
}

/// `smart_rollup_reveal_activation_level` (Octez `constants_parametric_repr.ml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RevealActivationLevel {
    /// `raw_data`: activation level per hashing scheme (`{"Blake2B": 0}`).
    pub raw_data: std::collections::BTreeMap<String, i32>,
    /// `metadata`.
    pub metadata: i32,
    /// `dal_page`.
    pub dal_page: i32,
    /// `dal_parameters`.
    pub dal_parameters: i32,
    /// `dal_attested_slots_validity_lag`.
    pub dal_attested_slots_validity_lag: i32,
}

impl Default for RevealActivationLevel {
    fn default() -> Self {
        Self {
            raw_data: [("Blake2B".to_owned(), 0)].into_iter().collect(),
            metadata: 0,
            dal_page: 0,
            dal_parameters: 0,
            dal_attested_slots_validity_lag: 241_920,
        }
    }
}

/// A rational constant (`{"numerator": "…", "denominator": "…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    /// Numerator (`z`, decimal string).
    pub numerator: String,
    /// Denominator (`z`, decimal string).
    pub denominator: String,
}

impl Ratio {
    fn new(n: u32, d: u32) -> Self {
        Self {
            numerator: n.to_string(),
            denominator: d.to_string(),
        }
    }
}

/// `dal_parametric` (`constants_parametric_repr.ml` `dal_encoding`, fields in Octez's order;
/// docs/reference/dal.md §4). The sandbox models the DAL with a fixed lag: a slot published
/// at level P is attested (or not) at P + `attestation_lag`; `attestation_lags` is served as
/// given (keep it `[attestation_lag]` with `dynamic_lag_enable: false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DalParametric {
    /// `feature_enable`: the sandbox applies `dal_publish_commitment` and records skip-list
    /// cells only when true.
    pub feature_enable: bool,
    /// `incentives_enable`.
    pub incentives_enable: bool,
    /// `dynamic_lag_enable`.
    pub dynamic_lag_enable: bool,
    /// `number_of_slots` (at most 256 here: slot indices are uint8).
    pub number_of_slots: u16,
    /// `attestation_lag` (at least 1).
    pub attestation_lag: u8,
    /// `attestation_lags`.
    pub attestation_lags: Vec<u8>,
    /// `attestation_threshold` (percent).
    pub attestation_threshold: u8,
    /// `minimal_participation_ratio`.
    pub minimal_participation_ratio: Ratio,
    /// `rewards_ratio`.
    pub rewards_ratio: Ratio,
    /// `traps_fraction`.
    pub traps_fraction: Ratio,
    /// `redundancy_factor`.
    pub redundancy_factor: u8,
    /// `page_size` (bytes).
    pub page_size: u16,
    /// `slot_size` (bytes).
    pub slot_size: i32,
    /// `number_of_shards`.
    pub number_of_shards: u16,
}

impl Default for DalParametric {
    fn default() -> Self {
        Self {
            feature_enable: false,
            incentives_enable: false,
            dynamic_lag_enable: false,
            number_of_slots: 32,
            attestation_lag: 8,
            attestation_lags: vec![8],
            attestation_threshold: 66,
            minimal_participation_ratio: Ratio::new(16, 25),
            rewards_ratio: Ratio::new(1, 10),
            traps_fraction: Ratio::new(1, 2000),
            redundancy_factor: 8,
            page_size: 3967,
            slot_size: 126_944,
            number_of_shards: 512,
        }
    }
}

impl DalParametric {
    /// Checks what the sandbox's DAL model relies on; the message names the constant to fix.
    pub fn check(&self) -> Result<(), String> {
        if !self.feature_enable {
            return Ok(());
        }
        if self.number_of_slots == 0 || self.number_of_slots > 256 {
            return Err(format!(
                "dal_parametric.number_of_slots must be between 1 and 256, not {}",
                self.number_of_slots
            ));
        }
        if self.attestation_lag == 0 {
            return Err("dal_parametric.attestation_lag must be at least 1".into());
        }
        if self.page_size == 0 || self.slot_size <= 0 {
            return Err("dal_parametric.page_size and slot_size must be positive".into());
        }
        if self.slot_size % i32::from(self.page_size) != 0 {
            return Err(format!(
                "dal_parametric.slot_size ({}) must be a multiple of page_size ({})",
                self.slot_size, self.page_size
            ));
        }
        Ok(())
    }

    /// Number of pages of a slot (`slot_size / page_size`).
    pub fn pages_per_slot(&self) -> usize {
        usize::try_from(self.slot_size).unwrap_or(0) / usize::from(self.page_size.max(1))
    }
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
            smart_rollup_reveal_activation_level: RevealActivationLevel::default(),
            dal_parametric: DalParametric::default(),
            sandbox_dal_unattested_slots: Vec::new(),
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
        if let Value::Object(m) = &mut v {
            m.remove("sandbox_dal_unattested_slots");
        }
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
            "smart_rollup_max_wrapped_proof_binary_size": 30000
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
        assert_eq!(j["dal_parametric"]["feature_enable"], false);
        assert_eq!(j["smart_rollup_reveal_activation_level"]["dal_page"], 0);
    }

    #[test]
    fn dal_overrides_are_partial_and_the_knob_is_not_served() {
        let c = Constants::from_json(&json!({
            "dal_parametric": {"feature_enable": true, "attestation_lag": 2},
            "sandbox_dal_unattested_slots": [1]
        }))
        .unwrap();
        assert!(c.dal_parametric.feature_enable);
        assert_eq!(c.dal_parametric.attestation_lag, 2);
        assert_eq!(c.dal_parametric.number_of_slots, 32);
        assert_eq!(c.sandbox_dal_unattested_slots, vec![1]);
        let j = c.to_rpc_json();
        assert!(j.get("sandbox_dal_unattested_slots").is_none());
        assert_eq!(j["dal_parametric"]["attestation_lag"], 2);
        assert_eq!(
            j["dal_parametric"]["minimal_participation_ratio"]["numerator"],
            "16"
        );
        // The node's decoder reads what the sandbox serves.
        let p = inbox::dal::DalParameters::from_json(&j["dal_parametric"]).unwrap();
        assert_eq!((p.number_of_slots, p.page_size), (32, 3967));
        let mut bad = c.dal_parametric;
        bad.attestation_lag = 0;
        assert!(bad.check().unwrap_err().contains("attestation_lag"));
    }
}
