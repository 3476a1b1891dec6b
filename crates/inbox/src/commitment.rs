//! Commitment-period and finality arithmetic (octez-rollup-node.md §5.2 finality, §6.1).
//!
//! The genesis commitment is at the origination level; each next commitment is at
//! `last_commitment.inbox_level + commitment_period` (period of the protocol current when it is
//! computed) and covers the inbox levels after the previous commitment's level up to its own.
//! All functions use checked arithmetic and return `None` on overflow or a zero period.

/// Tenderbake finality: a block is final once it has 2 successors (`block_finality_time`).
pub const BLOCK_FINALITY_TIME: i32 = 2;

/// First level whose inbox the rollup processes: origination level + 1 (the origination level
/// itself only installs the boot sector; §3.4).
pub fn first_inbox_level(origination_level: i32) -> Option<i32> {
    origination_level.checked_add(1)
}

/// Inbox level of the commitment after one at `last_commitment_level`.
pub fn next_commitment_level(last_commitment_level: i32, period: u32) -> Option<i32> {
    if period == 0 {
        return None;
    }
    last_commitment_level.checked_add(i32::try_from(period).ok()?)
}

/// Whether `level` gets a commitment when the period never changed since origination:
/// `level = origination + k·period` for some `k ≥ 1`.
pub fn is_commitment_level(level: i32, origination_level: i32, period: u32) -> bool {
    let period = i64::from(period);
    let Some(delta) = i64::from(level).checked_sub(origination_level.into()) else {
        return false;
    };
    period > 0 && delta > 0 && delta.checked_rem(period) == Some(0)
}

/// The inbox levels `(first, last)` covered by the commitment at `commitment_level`:
/// `(commitment_level − period + 1, commitment_level)`.
pub fn commitment_period_bounds(commitment_level: i32, period: u32) -> Option<(i32, i32)> {
    if period == 0 {
        return None;
    }
    let first = commitment_level
        .checked_sub(i32::try_from(period).ok()?)?
        .checked_add(1)?;
    Some((first, commitment_level))
}

/// The finalized level when the head is at `head_level` (head − 2), `None` below 0.
pub fn finalized_level(head_level: i32) -> Option<i32> {
    head_level
        .checked_sub(BLOCK_FINALITY_TIME)
        .filter(|l| *l >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitment_levels() {
        // Origination at 2, period 150 (sandbox constants): commitments at 152, 302, …
        assert_eq!(first_inbox_level(2), Some(3));
        assert_eq!(next_commitment_level(2, 150), Some(152));
        assert_eq!(next_commitment_level(152, 150), Some(302));
        assert!(is_commitment_level(152, 2, 150));
        assert!(is_commitment_level(302, 2, 150));
        assert!(!is_commitment_level(2, 2, 150));
        assert!(!is_commitment_level(151, 2, 150));
        assert!(!is_commitment_level(-148, 2, 150));
        assert_eq!(commitment_period_bounds(152, 150), Some((3, 152)));
    }

    #[test]
    fn overflow_and_zero_period() {
        assert_eq!(next_commitment_level(i32::MAX - 10, 150), None);
        assert_eq!(next_commitment_level(10, 0), None);
        assert_eq!(next_commitment_level(10, u32::MAX), None);
        assert!(!is_commitment_level(10, 0, 0));
        assert_eq!(commitment_period_bounds(i32::MIN, 1), None);
        assert_eq!(first_inbox_level(i32::MAX), None);
    }

    #[test]
    fn finality() {
        assert_eq!(finalized_level(10), Some(8));
        assert_eq!(finalized_level(2), Some(0));
        assert_eq!(finalized_level(1), None);
        assert_eq!(finalized_level(i32::MIN), None);
    }
}
