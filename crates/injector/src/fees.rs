//! Fees and limits of injected operations (pure).
//!
//! Rules (docs/reference/l1-and-signer.md §1.8 step 4, docs/reference/octez-rollup-node.md §2
//! "Fee parameter object"): gas limit = ⌈consumed milligas / 1000⌉ + 100 + the kind's safety guard
//! (300 for publish, refute, timeout; `injector.ml` `safety_guard`), capped by the hard limit;
//! storage limit = paid bytes + 20 (0 when none); fee = the fixpoint of
//! `⌈(minimal_fees·1000 + nanotez_per_gas·gas_limit + nanotez_per_byte·size) / 1000⌉`, where the
//! first content of a batch also counts the 32-byte branch and the signature.

use std::collections::BTreeMap;

use l1_operation::OperationKind;
use serde_json::Value;
use tezos_types::{BinEncode, ManagerOperation, Mutez};

/// Gas added to every simulated consumption but reveals' (octez-client's guard).
pub const BASE_GAS_SAFETY: u64 = 100;
/// Bytes added to simulated storage when some is used.
pub const STORAGE_SAFETY: u64 = 20;

/// One kind's fee parameters (`Injector_common.fee_parameter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeParameter {
    /// `minimal-fees` (mutez).
    pub minimal_fees: u64,
    /// `minimal-nanotez-per-byte` as a rational `(num, den)`.
    pub nanotez_per_byte: (u64, u64),
    /// `minimal-nanotez-per-gas-unit` as a rational `(num, den)`.
    pub nanotez_per_gas: (u64, u64),
    /// `force-low-fee`: accept a fee below the minimum (unused: fees are always computed).
    pub force_low_fee: bool,
    /// `fee-cap` (mutez): an operation needing more is not injected.
    pub fee_cap: u64,
    /// `burn-cap` (mutez): an operation burning more is not injected.
    pub burn_cap: u64,
}

impl FeeParameter {
    /// Octez defaults for a kind (`configuration.ml` `default_fee_parameter`).
    pub fn default_for(kind: OperationKind) -> Self {
        Self {
            minimal_fees: 100,
            nanotez_per_byte: (1000, 1),
            nanotez_per_gas: (100, 1),
            force_low_fee: false,
            fee_cap: kind.default_fee_cap(),
            burn_cap: kind.default_burn_cap(),
        }
    }

    /// The defaults of `kind` overridden by the fields of a `fee-parameters` object of
    /// config.json.
    ///
    /// # Errors
    /// [`FeeConfigError`] naming the kind and the field with a value of the wrong shape.
    pub fn from_config(kind: OperationKind, v: &Value) -> Result<Self, FeeConfigError> {
        let mut p = Self::default_for(kind);
        let bad = |field: &'static str, expected: &'static str| FeeConfigError {
            kind,
            field,
            value: v.get(field).map(Value::to_string).unwrap_or_default(),
            expected,
        };
        let obj = v.as_object().ok_or(FeeConfigError {
            kind,
            field: "",
            value: v.to_string(),
            expected: "an object",
        })?;
        for (field, val) in obj {
            match field.as_str() {
                "minimal-fees" => {
                    p.minimal_fees = mutez(val).ok_or_else(|| bad("minimal-fees", MUTEZ))?;
                }
                "fee-cap" => p.fee_cap = mutez(val).ok_or_else(|| bad("fee-cap", MUTEZ))?,
                "burn-cap" => p.burn_cap = mutez(val).ok_or_else(|| bad("burn-cap", MUTEZ))?,
                "minimal-nanotez-per-byte" => {
                    p.nanotez_per_byte =
                        rational(val).ok_or_else(|| bad("minimal-nanotez-per-byte", RATIONAL))?;
                }
                "minimal-nanotez-per-gas-unit" => {
                    p.nanotez_per_gas = rational(val)
                        .ok_or_else(|| bad("minimal-nanotez-per-gas-unit", RATIONAL))?;
                }
                "force-low-fee" => {
                    p.force_low_fee = val
                        .as_bool()
                        .ok_or_else(|| bad("force-low-fee", "a boolean"))?;
                }
                _ => {}
            }
        }
        Ok(p)
    }

    /// The minimal fee (mutez) of a content whose binary size is `size` bytes and gas limit
    /// `gas`, rounded up.
    pub fn minimal_fee(&self, size: u64, gas: u64) -> Option<u64> {
        // nanotez = minimal·1000 + per_byte·size + per_gas·gas, with rationals.
        let (bn, bd) = self.nanotez_per_byte;
        let (gn, gd) = self.nanotez_per_gas;
        let den = bd.checked_mul(gd)?;
        let num = self
            .minimal_fees
            .checked_mul(1000)?
            .checked_mul(den)?
            .checked_add(bn.checked_mul(size)?.checked_mul(gd)?)?
            .checked_add(gn.checked_mul(gas)?.checked_mul(bd)?)?;
        Some(num.div_ceil(den.checked_mul(1000)?))
    }
}

const MUTEZ: &str = "a mutez amount as a decimal string";
const RATIONAL: &str = "a rational: a number, a decimal string, or [numerator, denominator]";

fn mutez(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn rational(v: &Value) -> Option<(u64, u64)> {
    let r = match v {
        Value::Array(a) if a.len() == 2 => (mutez(&a[0])?, mutez(&a[1])?),
        Value::Object(o) => (mutez(o.get("numerator")?)?, mutez(o.get("denominator")?)?),
        Value::String(s) => match s.split_once('/') {
            Some((n, d)) => (n.trim().parse().ok()?, d.trim().parse().ok()?),
            None => (s.parse().ok()?, 1),
        },
        other => (mutez(other)?, 1),
    };
    (r.1 != 0).then_some(r)
}

/// A `fee-parameters` entry of config.json with a value of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid fee-parameters.{kind}.{field} in config.json: {value} is not {expected}; fix or remove it"
)]
pub struct FeeConfigError {
    /// Kind.
    pub kind: OperationKind,
    /// Field.
    pub field: &'static str,
    /// Offending value.
    pub value: String,
    /// What was expected.
    pub expected: &'static str,
}

/// The fee parameters of every kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeeParameters(pub BTreeMap<OperationKind, FeeParameter>);

impl FeeParameters {
    /// From config.json's `fee-parameters` (missing kinds and fields take Octez defaults).
    ///
    /// # Errors
    /// [`FeeConfigError`].
    pub fn from_config(
        fees: Option<&BTreeMap<OperationKind, Value>>,
    ) -> Result<Self, FeeConfigError> {
        let mut out = BTreeMap::new();
        for (k, v) in fees.into_iter().flatten() {
            out.insert(*k, FeeParameter::from_config(*k, v)?);
        }
        Ok(Self(out))
    }

    /// Parameters of a kind.
    pub fn get(&self, kind: OperationKind) -> FeeParameter {
        self.0
            .get(&kind)
            .copied()
            .unwrap_or_else(|| FeeParameter::default_for(kind))
    }
}

/// Gas limit from a simulated consumption: ⌈milligas/1000⌉ + guard, at most `hard`.
pub fn gas_limit(consumed_milligas: u64, guard: u64, hard: u64) -> u64 {
    consumed_milligas
        .div_ceil(1000)
        .saturating_add(guard)
        .min(hard)
}

/// Storage limit from simulated paid bytes: 0, or bytes + 20, at most `hard`.
pub fn storage_limit(paid: u64, hard: u64) -> u64 {
    if paid == 0 {
        0
    } else {
        paid.saturating_add(STORAGE_SAFETY).min(hard)
    }
}

/// Signature size counted in the first content's fee (64; BLS 96 + 2 for the pseudo-content).
pub fn signature_size(pkh: &tezos_types::PublicKeyHash) -> u64 {
    if matches!(pkh, tezos_types::PublicKeyHash::Bls(_)) {
        98
    } else {
        64
    }
}

/// Sets `op.fee` to the fixpoint of [`FeeParameter::minimal_fee`] (the fee's own encoding size
/// counts). `extra` is added to the content size (branch and signature for the first content).
/// `None` on arithmetic overflow.
pub fn set_fee(op: &mut ManagerOperation, p: &FeeParameter, extra: u64) -> Option<u64> {
    op.fee = Mutez(0);
    for _ in 0..16 {
        let size = u64::try_from(op.to_bin().len()).ok()?.checked_add(extra)?;
        let fee = p.minimal_fee(size, op.gas_limit)?;
        if fee == op.fee.0 {
            return Some(fee);
        }
        op.fee = Mutez(fee);
    }
    Some(op.fee.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tezos_types::{OperationContent, PublicKeyHash, SmartRollupAddress};

    #[test]
    fn defaults_are_octez_ones() {
        let p = FeeParameter::default_for(OperationKind::Publish);
        assert_eq!(p.minimal_fees, 100);
        assert_eq!(p.fee_cap, 2_000_000);
        assert_eq!(p.burn_cap, 1_000_000);
        assert_eq!(FeeParameter::default_for(OperationKind::Cement).burn_cap, 0);
        assert_eq!(
            FeeParameter::default_for(OperationKind::Refute).fee_cap,
            5_000_000
        );
        // 100 mutez + 1000 nanotez × 200 bytes + 100 nanotez × 1000 gas = 100 + 200 + 100.
        assert_eq!(p.minimal_fee(200, 1000), Some(400));
        // Rounded up.
        assert_eq!(p.minimal_fee(1, 1), Some(102));
    }

    #[test]
    fn config_overrides_and_errors_name_the_field() {
        let p = FeeParameter::from_config(
            OperationKind::Publish,
            &json!({"minimal-fees": "200", "minimal-nanotez-per-byte": [3, 2], "fee-cap": "5"}),
        )
        .unwrap();
        assert_eq!(p.minimal_fees, 200);
        assert_eq!(p.nanotez_per_byte, (3, 2));
        assert_eq!(p.fee_cap, 5);
        assert_eq!(p.burn_cap, 1_000_000);
        let e = FeeParameter::from_config(OperationKind::Cement, &json!({"burn-cap": "x"}))
            .unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("fee-parameters.cement.burn-cap") && m.contains("\"x\""),
            "{m}"
        );
    }

    #[test]
    fn fee_is_a_fixpoint_including_its_own_size() {
        let pkh: PublicKeyHash = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap();
        let rollup: SmartRollupAddress = "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap();
        let mut op = ManagerOperation {
            content: OperationContent::SmartRollupAddMessages {
                message: vec![vec![0; 3000]],
            },
            source: pkh,
            fee: Mutez(0),
            counter: 7,
            gas_limit: 2000,
            storage_limit: 0,
        };
        let _ = rollup;
        let p = FeeParameter::default_for(OperationKind::AddMessages);
        let fee = set_fee(&mut op, &p, 96).unwrap();
        let size = op.to_bin().len() as u64 + 96;
        assert_eq!(fee, p.minimal_fee(size, 2000).unwrap());
        assert_eq!(op.fee.0, fee);
        // The fee (≥ 3 000 mutez) takes two bytes in `n`: counted.
        assert!(fee > 3000);
        assert_eq!(gas_limit(1_500, 300, 1_040_000), 302);
        assert_eq!(gas_limit(u64::MAX, 300, 1_040_000), 1_040_000);
        assert_eq!(storage_limit(0, 60_000), 0);
        assert_eq!(storage_limit(10, 60_000), 30);
    }
}
