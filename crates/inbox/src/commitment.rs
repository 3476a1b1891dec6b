//! Commitment-period and finality arithmetic (octez-rollup-node.md §5.2 finality, §6.1).
//!
//! The genesis commitment is at the origination level; each next commitment is at
//! `last_commitment.inbox_level + commitment_period` (period of the protocol current when it is
//! computed) and covers the inbox levels after the previous commitment's level up to its own.
//! All functions use checked arithmetic on [`Level`] and return `None` on overflow, below level
//! 0 or with a zero period.

use tezos_types::Level;

/// Tenderbake finality: a block is final once it has 2 successors (`block_finality_time`).
pub const BLOCK_FINALITY_TIME: u32 = 2;

/// First level whose inbox the rollup processes: origination level + 1 (the origination level
/// itself only installs the boot sector; §3.4).
pub fn first_inbox_level(origination_level: Level) -> Option<Level> {
    origination_level.succ()
}

/// Inbox level of the commitment after one at `last_commitment_level`.
pub fn next_commitment_level(last_commitment_level: Level, period: u32) -> Option<Level> {
    if period == 0 {
        return None;
    }
    last_commitment_level.checked_add(period)
}

/// Whether `level` gets a commitment when the period never changed since origination:
/// `level = origination + k·period` for some `k ≥ 1`.
pub fn is_commitment_level(level: Level, origination_level: Level, period: u32) -> bool {
    match level.distance_from(origination_level) {
        Some(delta) => period > 0 && delta > 0 && delta.checked_rem(period) == Some(0),
        None => false,
    }
}

/// The inbox levels `(first, last)` covered by the commitment at `commitment_level`:
/// `(commitment_level − period + 1, commitment_level)`.
pub fn commitment_period_bounds(commitment_level: Level, period: u32) -> Option<(Level, Level)> {
    if period == 0 {
        return None;
    }
    let first = commitment_level.checked_sub(period)?.succ()?;
    Some((first, commitment_level))
}

/// The finalized level when the head is at `head_level` (head − 2), `None` below 0.
pub fn finalized_level(head_level: Level) -> Option<Level> {
    head_level.checked_sub(BLOCK_FINALITY_TIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(l: i32) -> Level {
        Level::new(l).unwrap()
    }

    #[test]
    fn commitment_levels() {
        // Origination at 2, period 150 (sandbox constants): commitments at 152, 302, …
        assert_eq!(first_inbox_level(lv(2)), Some(lv(3)));
        assert_eq!(next_commitment_level(lv(2), 150), Some(lv(152)));
        assert_eq!(next_commitment_level(lv(152), 150), Some(lv(302)));
        assert!(is_commitment_level(lv(152), lv(2), 150));
        assert!(is_commitment_level(lv(302), lv(2), 150));
        assert!(!is_commitment_level(lv(2), lv(2), 150));
        assert!(!is_commitment_level(lv(151), lv(2), 150));
        assert!(!is_commitment_level(lv(1), lv(2), 150));
        assert_eq!(
            commitment_period_bounds(lv(152), 150),
            Some((lv(3), lv(152)))
        );
    }

    #[test]
    fn overflow_and_zero_period() {
        let max = lv(i32::MAX);
        assert_eq!(next_commitment_level(lv(i32::MAX - 10), 150), None);
        assert_eq!(next_commitment_level(lv(10), 0), None);
        assert_eq!(next_commitment_level(lv(10), u32::MAX), None);
        assert!(!is_commitment_level(lv(10), Level::ZERO, 0));
        assert_eq!(commitment_period_bounds(Level::ZERO, 1), None);
        assert_eq!(commitment_period_bounds(lv(10), 0), None);
        assert_eq!(first_inbox_level(max), None);
    }

    #[test]
    fn finality() {
        assert_eq!(finalized_level(lv(10)), Some(lv(8)));
        assert_eq!(finalized_level(lv(2)), Some(Level::ZERO));
        assert_eq!(finalized_level(lv(1)), None);
        assert_eq!(finalized_level(Level::ZERO), None);
    }
}
