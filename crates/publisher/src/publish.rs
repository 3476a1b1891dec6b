//! Which commitments to publish (docs/reference/octez-rollup-node.md §6.2, Octez `publisher.ml`
//! `missing_commitments`): walk back from the finalized block's most recent commitment to the
//! LCC or the LPC; keep those whose inbox level is final, not past the curfew and within the
//! lookahead; oldest first.

use tezos_types::{Commitment, CommitmentHash};

use crate::{CommitmentStore, Position, RollupConstants};

/// The commitments to publish at a head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToPublish {
    /// Publish these now, oldest first.
    pub now: Vec<(CommitmentHash, Commitment)>,
    /// Withheld because they are beyond `lcc + max_lookahead` (Octez event
    /// `publish_commitment_delayed`), oldest first.
    pub delayed: Vec<(CommitmentHash, Commitment)>,
}

/// The commitments this node should publish given `pos` (§6.2).
///
/// Stops at the first commitment at or below the LCC or the LPC, and at an unknown one (below
/// the GC'd levels). A commitment first published more than `challenge_window` blocks before
/// the next block is past its curfew and skipped.
///
/// # Errors
/// The store's.
pub fn commitments_to_publish<S: CommitmentStore>(
    store: &S,
    pos: &Position,
    constants: &RollupConstants,
) -> Result<ToPublish, S::Error> {
    let mut out = ToPublish::default();
    let Some(finalized) = pos.finalized_level else {
        return Ok(out);
    };
    let Some(mut cursor) = store.most_recent_commitment_at(finalized)? else {
        return Ok(out);
    };
    let lpc_level = pos.lpc_level.unwrap_or(pos.genesis_level);
    let next_head_level = pos.head_level.checked_add(1);
    let lookahead_limit = pos.lcc.1.saturating_add(constants.max_lookahead);
    while let Some(c) = store.commitment(&cursor)? {
        if c.inbox_level <= pos.lcc.1 || c.inbox_level <= lpc_level {
            break;
        }
        let past_curfew = match (store.first_published_at_level(&cursor)?, next_head_level) {
            (Some(first), Some(next)) => next
                .distance_from(first)
                .is_some_and(|d| d > constants.challenge_window),
            _ => false,
        };
        if c.inbox_level <= finalized && !past_curfew {
            if c.inbox_level <= lookahead_limit {
                out.now.push((cursor, c));
            } else {
                out.delayed.push((cursor, c));
            }
        }
        if c.predecessor == cursor {
            break;
        }
        cursor = c.predecessor;
    }
    out.now.reverse();
    out.delayed.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inbox levels of the commitments to publish now.
    fn levels(out: &ToPublish) -> Vec<i32> {
        out.now.iter().map(|(_, c)| c.inbox_level.into()).collect()
    }
    use crate::tests::{Chain, constants, lv, pos};

    #[test]
    fn publishes_final_commitments_oldest_first_from_the_lcc() {
        // Commitments every 5 levels from 0: 5, 10, 15, 20; finalized level 20.
        let chain = Chain::new(0, 5, 4);
        let p = pos(&chain, 0, None, 22, Some(20));
        let out = commitments_to_publish(&chain, &p, &constants()).unwrap();
        assert_eq!(levels(&out), vec![5, 10, 15, 20]);
        assert!(out.delayed.is_empty());
    }

    #[test]
    fn stops_at_the_lpc_and_the_lcc() {
        let chain = Chain::new(0, 5, 4);
        let out = commitments_to_publish(
            &chain,
            &pos(&chain, 0, Some(10), 22, Some(20)),
            &constants(),
        )
        .unwrap();
        assert_eq!(levels(&out), vec![15, 20]);
        let out =
            commitments_to_publish(&chain, &pos(&chain, 15, None, 22, Some(20)), &constants())
                .unwrap();
        assert_eq!(levels(&out), vec![20]);
    }

    #[test]
    fn only_final_levels_are_published() {
        let chain = Chain::new(0, 5, 4);
        // Finalized level 17: its most recent commitment is the one of level 15.
        let out = commitments_to_publish(&chain, &pos(&chain, 0, None, 19, Some(17)), &constants())
            .unwrap();
        assert_eq!(levels(&out), vec![5, 10, 15]);
        // Nothing is final yet.
        let out =
            commitments_to_publish(&chain, &pos(&chain, 0, None, 3, None), &constants()).unwrap();
        assert_eq!(out, ToPublish::default());
    }

    #[test]
    fn commitments_past_their_curfew_are_skipped() {
        let mut chain = Chain::new(0, 5, 4);
        // Level 10's commitment was first published at level 11; challenge window 10: at head
        // 21 the next block (22) is 11 blocks later, past the curfew.
        let h10 = chain.hash_at(10);
        chain.published.insert(h10, lv(11));
        let out = commitments_to_publish(&chain, &pos(&chain, 0, None, 21, Some(20)), &constants())
            .unwrap();
        assert_eq!(levels(&out), vec![5, 15, 20]);
        // At head 20 the next block is 10 blocks later: still publishable.
        let out = commitments_to_publish(&chain, &pos(&chain, 0, None, 20, Some(20)), &constants())
            .unwrap();
        assert_eq!(out.now.len(), 4);
    }

    #[test]
    fn commitments_beyond_the_lookahead_are_delayed() {
        let chain = Chain::new(0, 5, 4);
        let c = RollupConstants {
            max_lookahead: 12,
            ..constants()
        };
        let out = commitments_to_publish(&chain, &pos(&chain, 0, None, 22, Some(20)), &c).unwrap();
        assert_eq!(levels(&out), vec![5, 10]);
        assert_eq!(
            out.delayed
                .iter()
                .map(|(_, c)| c.inbox_level)
                .collect::<Vec<_>>(),
            vec![lv(15), lv(20)]
        );
    }
}
