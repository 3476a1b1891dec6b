//! Unsafe PVM patches (`unsafe-pvm-patches`, `--apply-unsafe-patches`; Octez `pvm_patches.ml`,
//! `interpreter.ml` `apply_unsafe_patches`, docs/reference/octez-rollup-node.md §2): changes to
//! the genesis PVM state of a **private** rollup, after its genesis commitment is computed
//! from the unpatched state. Etherlink on mainnet has one hard-coded patch; patches from the
//! configuration need `--apply-unsafe-patches` on the command line.

use std::fmt;

use serde_json::Value;
use tezos_types::SmartRollupAddress;

/// One patch (`unsafe_patch_encoding`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsafePatch {
    /// `{"increase_max_nb_tick": <int64>}`: the ticks per window, never lowered.
    IncreaseMaxNbTicks(i64),
    /// `{"patch_durable_storage": {"key": "/k", "value": "<hex>"}}`.
    PatchDurableStorage {
        /// Durable key.
        key: String,
        /// New value.
        value: Vec<u8>,
    },
}

/// Where a patch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// Built in for a known rollup (no flag needed).
    Hardcoded,
    /// From `unsafe-pvm-patches` (needs `--apply-unsafe-patches`).
    UserProvided,
}

/// Etherlink on mainnet, originated in Oxford with 11 000 000 000 ticks per window.
const ETHERLINK_MAINNET: &str = "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf";

/// The ticks per window of the hard-coded Etherlink patch.
const ETHERLINK_MAX_NB_TICKS: i64 = 50_000_000_000_000;

/// `n` with `_` every three digits, as OCaml's `%#Ld`.
fn underscored(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

impl fmt::Display for UnsafePatch {
    /// Octez's `pp_unsafe_patch`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IncreaseMaxNbTicks(n) => {
                write!(f, "Increase maximum number of ticks to {}", underscored(*n))
            }
            Self::PatchDurableStorage { key, value } => {
                write!(f, "Rewrites value at {key} with {}", hex::encode(value))
            }
        }
    }
}

impl UnsafePatch {
    /// Parses one element of `unsafe-pvm-patches`.
    ///
    /// # Errors
    /// What the element should look like.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let shape = "expected {\"increase_max_nb_tick\": <int64>} or \
                     {\"patch_durable_storage\": {\"key\": \"/k\", \"value\": \"<hex>\"}}";
        let obj = v.as_object().filter(|o| o.len() == 1).ok_or(shape)?;
        if let Some(n) = obj.get("increase_max_nb_tick") {
            let n = match n {
                Value::String(s) => s.parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            }
            .ok_or("increase_max_nb_tick: expected an int64 (a decimal string)")?;
            return Ok(Self::IncreaseMaxNbTicks(n));
        }
        if let Some(p) = obj.get("patch_durable_storage") {
            let key = p["key"]
                .as_str()
                .ok_or("patch_durable_storage: expected a string \"key\"")?;
            let value = p["value"]
                .as_str()
                .and_then(|h| hex::decode(h).ok())
                .ok_or("patch_durable_storage: expected a hex string \"value\"")?;
            return Ok(Self::PatchDurableStorage {
                key: key.to_owned(),
                value,
            });
        }
        Err(shape.to_owned())
    }
}

/// The patches of `rollup`: the hard-coded ones, then `user` (`unsafe-pvm-patches`), in order
/// (`Pvm_patches.make`).
///
/// # Errors
/// The index and the problem of a malformed element of `user`.
pub fn patches(
    rollup: &SmartRollupAddress,
    user: &[Value],
) -> Result<Vec<(UnsafePatch, PatchKind)>, String> {
    let mut out = Vec::new();
    if rollup.to_b58check() == ETHERLINK_MAINNET {
        out.push((
            UnsafePatch::IncreaseMaxNbTicks(ETHERLINK_MAX_NB_TICKS),
            PatchKind::Hardcoded,
        ));
    }
    for (i, v) in user.iter().enumerate() {
        let p = UnsafePatch::from_json(v)
            .map_err(|e| format!("unsafe-pvm-patches, element {i}: {e}"))?;
        out.push((p, PatchKind::UserProvided));
    }
    Ok(out)
}

/// Octez's `Needs_apply_unsafe_flag` message.
#[must_use]
pub fn needs_apply_unsafe_flag(patches: &[(UnsafePatch, PatchKind)]) -> String {
    let list: Vec<String> = patches.iter().map(|(p, _)| p.to_string()).collect();
    format!(
        "This rollup requires the application of the following unsafe PVM patches: {}.\nThe \
         rollup node must be started with option --apply-unsafe-patches to allow the \
         application of these patches.",
        list.join("\n  ")
    )
}

/// Octez's `Cannot_patch_pvm_of_public_rollup` message.
pub const CANNOT_PATCH_PUBLIC_ROLLUP: &str = "Unsafe PVM patches can only be applied in private \
     rollups, i.e. in non publicly refutable settings.";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_print_and_the_hardcoded_etherlink_patch() {
        let user = [
            json!({"increase_max_nb_tick": "60000000000000"}),
            json!({"patch_durable_storage": {"key": "/a/b", "value": "beef"}}),
        ];
        let other: SmartRollupAddress = "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap();
        let p = patches(&other, &user).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0].0.to_string(),
            "Increase maximum number of ticks to 60_000_000_000_000"
        );
        assert_eq!(p[1].0.to_string(), "Rewrites value at /a/b with beef");
        assert!(p.iter().all(|(_, k)| *k == PatchKind::UserProvided));
        let etherlink: SmartRollupAddress = ETHERLINK_MAINNET.parse().unwrap();
        let p = patches(&etherlink, &[]).unwrap();
        assert_eq!(
            p,
            vec![(
                UnsafePatch::IncreaseMaxNbTicks(50_000_000_000_000),
                PatchKind::Hardcoded
            )]
        );
        let e = patches(&other, &[json!({"increase_max_nb_tick": "x"})]).unwrap_err();
        assert!(e.contains("element 0") && e.contains("int64"), "{e}");
        let e = patches(&other, &[json!({"nope": 1})]).unwrap_err();
        assert!(e.contains("expected"), "{e}");
        assert_eq!(underscored(1000), "1_000");
        assert_eq!(underscored(999), "999");
    }
}
