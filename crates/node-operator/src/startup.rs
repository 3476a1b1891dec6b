//! Startup checks of Octez's daemon (docs/reference/octez-rollup-node.md §3 "Common startup"):
//! the operator's stake, the private-rollup whitelist, and bailout's staker check.

use node_follower::follower::{FollowError, L1};
use tezos_types::{Mutez, PublicKeyHash, SmartRollupAddress};

/// Balance an operator needs to stake: strictly more than 10 000 tez (Octez
/// `check_operator_balance`; the protocol's `smart_rollup_stake_amount`).
pub const STAKE_BALANCE_MUTEZ: u64 = 10_000_000_000;

/// The stake check, a pure rule: an operator that is not staked yet needs strictly more than
/// [`STAKE_BALANCE_MUTEZ`].
///
/// # Errors
/// Octez's message, naming the operator and its balance in tez.
pub fn check_stake(operator: &PublicKeyHash, staked: bool, balance: Mutez) -> Result<(), String> {
    if staked || balance.0 > STAKE_BALANCE_MUTEZ {
        return Ok(());
    }
    // Octez prints the balance with `%f`: six decimals.
    let whole = balance.0 / 1_000_000;
    let frac = balance.0 % 1_000_000;
    Err(format!(
        "Operator {operator} only has {whole}.{frac:06} tz but needs more than 10000 in order to \
         stake on the rollup."
    ))
}

/// What `staker/<pkh>/staked_on_commitment` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stake {
    /// Not a staker of the rollup (`smart_rollup_not_staked`).
    NotStaked,
    /// Staked on a cemented commitment (`null`): the bond can be recovered.
    OnCemented,
    /// Staked on a commitment newer than the LCC.
    Active,
}

/// Reads the stake of `staker` on `rollup` at the L1 head.
///
/// # Errors
/// L1 failures (retried by the caller).
pub fn stake_of(
    l1: &L1,
    rollup: &SmartRollupAddress,
    staker: &PublicKeyHash,
) -> Result<Stake, FollowError> {
    let path = format!(
        "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{rollup}/staker/{staker}/staked_on_commitment"
    );
    match l1.call(l1.client.get_json::<serde_json::Value>(&path)) {
        Ok(serde_json::Value::Null) => Ok(Stake::OnCemented),
        Ok(_) => Ok(Stake::Active),
        Err(FollowError::L1(e)) if e.has_rpc_error("smart_rollup_not_staked") => {
            Ok(Stake::NotStaked)
        }
        Err(e) => Err(e),
    }
}

/// The private-rollup check (Octez `Operator_not_in_whitelist`): with a whitelist, the
/// operating key must be in it unless the node runs in bailout mode.
///
/// # Errors
/// Octez's message.
pub fn check_whitelist(
    whitelist: Option<&[PublicKeyHash]>,
    operator: &PublicKeyHash,
    bailout: bool,
) -> Result<(), String> {
    match whitelist {
        Some(list) if !bailout && !list.contains(operator) => Err(
            "The operator is not in the whitelist. Please restart the rollup node in bailout \
             mode if you still have stakes."
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

/// The whitelist of a private rollup (`None` for a public one).
///
/// # Errors
/// L1 failures.
pub fn whitelist(
    l1: &L1,
    rollup: &SmartRollupAddress,
) -> Result<Option<Vec<PublicKeyHash>>, FollowError> {
    let path =
        format!("/chains/main/blocks/head/context/smart_rollups/smart_rollup/{rollup}/whitelist");
    l1.call(l1.client.get_json::<Option<Vec<PublicKeyHash>>>(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stake_needs_more_than_ten_thousand_tez() {
        let op = PublicKeyHash::Ed25519([1; 20]);
        let e = check_stake(&op, false, Mutez(5_000_000_000)).unwrap_err();
        assert_eq!(
            e,
            format!(
                "Operator {op} only has 5000.000000 tz but needs more than 10000 in order to \
                 stake on the rollup."
            )
        );
        assert!(check_stake(&op, false, Mutez(10_000_000_000)).is_err());
        assert!(check_stake(&op, false, Mutez(10_000_000_001)).is_ok());
        assert!(check_stake(&op, true, Mutez(0)).is_ok());
        assert!(
            check_stake(&op, false, Mutez(1_234_567))
                .unwrap_err()
                .contains("only has 1.234567 tz")
        );
    }

    #[test]
    fn whitelists_bind_operators_except_in_bailout() {
        let op = PublicKeyHash::Ed25519([1; 20]);
        let other = PublicKeyHash::Ed25519([2; 20]);
        assert!(check_whitelist(None, &op, false).is_ok());
        assert!(check_whitelist(Some(&[op]), &op, false).is_ok());
        assert!(check_whitelist(Some(&[other]), &op, false).is_err());
        assert!(check_whitelist(Some(&[other]), &op, true).is_ok());
    }
}
