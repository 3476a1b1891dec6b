//! Conflicts between stakers (`sc_rollup_refutation_storage.ml`: `check_conflict_point`,
//! `get_conflict_point`, `conflicting_stakers_uncarbonated`; `validate.ml`
//! `validate_sc_rollup_refute`). Two commitments conflict when they differ and have the same
//! predecessor (`docs/reference/octez-rollup-node.md` §6.4).

use serde_json::{Value, json};
use tezos_types::operation::Commitment;
use tezos_types::{CommitmentHash, Level, PublicKeyHash};

use crate::GameError;

/// What the rules read of the rollup's stakes.
pub trait StakeView {
    /// The commitment `hash`, if stored.
    fn commitment(&self, hash: &CommitmentHash) -> Option<Commitment>;
    /// Whether `staker` (still a staker) is staked on `hash`.
    fn is_staked_on(&self, staker: &PublicKeyHash, hash: &CommitmentHash) -> bool;
    /// The commitment of inbox level `level` `staker` is staked on, if any.
    fn staked_at_level(&self, staker: &PublicKeyHash, level: Level) -> Option<CommitmentHash>;
}

/// One side of a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// The commitment.
    pub commitment: Commitment,
    /// Its hash.
    pub hash: CommitmentHash,
}

/// `check_conflict_point`: both stakers are staked on their commitment, the commitments differ
/// and share their predecessor. Returns the defender's commitment.
pub fn check_conflict_point(
    view: &impl StakeView,
    refuter: &PublicKeyHash,
    refuter_commitment_hash: &CommitmentHash,
    defender: &PublicKeyHash,
    defender_commitment_hash: &CommitmentHash,
) -> Result<Commitment, GameError> {
    for (s, h) in [
        (refuter, refuter_commitment_hash),
        (defender, defender_commitment_hash),
    ] {
        if !view.is_staked_on(s, h) {
            return Err(GameError::WrongStakerForConflictCommitment(*s, *h));
        }
    }
    let get = |h: &CommitmentHash| {
        view.commitment(h)
            .ok_or(GameError::WrongStakerForConflictCommitment(*refuter, *h))
    };
    let refuter_commitment = get(refuter_commitment_hash)?;
    let defender_commitment = get(defender_commitment_hash)?;
    if refuter_commitment_hash == defender_commitment_hash {
        return Err(GameError::NoConflict);
    }
    if refuter_commitment.predecessor != defender_commitment.predecessor {
        return Err(GameError::NotValidCommitmentsConflict(
            *refuter_commitment_hash,
            *refuter,
            *defender_commitment_hash,
            *defender,
        ));
    }
    Ok(defender_commitment)
}

/// The validation rule of a game start: the game can start one commitment period after the
/// conflict's inbox level (`Sc_rollup_refutation_game_start_too_early`).
pub fn check_start_level(
    current_level: Level,
    conflict_inbox_level: Level,
    commitment_period_in_blocks: u32,
) -> Result<(), GameError> {
    let earliest_start_level = conflict_inbox_level
        .checked_add(commitment_period_in_blocks)
        .ok_or(GameError::Overflow("earliest start level"))?;
    if current_level >= earliest_start_level {
        Ok(())
    } else {
        Err(GameError::StartTooEarly {
            current_level,
            earliest_start_level,
            conflict_inbox_level,
            commitment_period_in_blocks,
        })
    }
}

/// `get_conflict_point`: from the LCC's successor level up to (excluded) `current_level`,
/// one commitment period at a time, the first level where the two stakers are staked on
/// different commitments with the same predecessor: `(staker1's, staker2's)`.
pub fn conflict_point(
    view: &impl StakeView,
    staker1: &PublicKeyHash,
    staker2: &PublicKeyHash,
    lcc_inbox_level: Level,
    current_level: Level,
    commitment_period: u32,
) -> Result<(Point, Point), GameError> {
    if commitment_period == 0 {
        return Err(GameError::NoConflict);
    }
    let mut level = lcc_inbox_level
        .checked_add(commitment_period)
        .ok_or(GameError::NoConflict)?;
    while level < current_level {
        if let (Some(h1), Some(h2)) = (
            view.staked_at_level(staker1, level),
            view.staked_at_level(staker2, level),
        ) && h1 != h2
            && let (Some(c1), Some(c2)) = (view.commitment(&h1), view.commitment(&h2))
            && c1.predecessor == c2.predecessor
        {
            return Ok((
                Point {
                    commitment: c1,
                    hash: h1,
                },
                Point {
                    commitment: c2,
                    hash: h2,
                },
            ));
        }
        level = match level.checked_add(commitment_period) {
            Some(l) => l,
            None => break,
        };
    }
    Err(GameError::NoConflict)
}

/// A conflict of a staker (`conflict`, the `…/staker/<pkh>/conflicts` RPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    /// The other staker.
    pub other: PublicKeyHash,
    /// Its commitment.
    pub their_commitment: Commitment,
    /// Ours.
    pub our_commitment: Commitment,
    /// Their common predecessor.
    pub parent_commitment: CommitmentHash,
}

impl Conflict {
    /// Reads [`Self::to_json`]'s shape (an element of the `…/conflicts` RPC's answer).
    pub fn from_json(v: &Value) -> Option<Self> {
        let field = |k: &str| v.get(k).cloned();
        Some(Self {
            other: serde_json::from_value(field("other")?).ok()?,
            their_commitment: serde_json::from_value(field("their_commitment")?).ok()?,
            our_commitment: serde_json::from_value(field("our_commitment")?).ok()?,
            parent_commitment: serde_json::from_value(field("parent_commitment")?).ok()?,
        })
    }

    /// `conflict_encoding`, JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "other": self.other.to_b58check(),
            "their_commitment": serde_json::to_value(self.their_commitment).unwrap_or(Value::Null),
            "our_commitment": serde_json::to_value(self.our_commitment).unwrap_or(Value::Null),
            "parent_commitment": self.parent_commitment.to_b58check(),
        })
    }
}

/// `conflicting_stakers_uncarbonated`: the first conflict of `staker` with each of `stakers`
/// that has one, in the protocol's order (the fold prepends: last staker first).
pub fn conflicting_stakers(
    view: &impl StakeView,
    staker: &PublicKeyHash,
    stakers: &[PublicKeyHash],
    lcc_inbox_level: Level,
    current_level: Level,
    commitment_period: u32,
) -> Vec<Conflict> {
    let mut out: Vec<Conflict> = stakers
        .iter()
        .filter_map(|other| {
            let (ours, theirs) = conflict_point(
                view,
                staker,
                other,
                lcc_inbox_level,
                current_level,
                commitment_period,
            )
            .ok()?;
            Some(Conflict {
                other: *other,
                their_commitment: theirs.commitment,
                our_commitment: ours.commitment,
                parent_commitment: ours.commitment.predecessor,
            })
        })
        .collect();
    out.reverse();
    out
}
