//! Which commitments to cement (docs/reference/octez-rollup-node.md §6.2, Octez `publisher.ml`
//! `cementable_commitments`): from the most recent commitment that could be cementable (the
//! one of the block `challenge_window` levels before the head's commitment), back to the LCC,
//! those whose first publication is at least `challenge_window` blocks old; oldest first.

use tezos_types::{CommitmentHash, Level};

use crate::{CommitmentStore, Position, RollupConstants};

/// Blocks between a commitment's inbox level and its first publication when the node has no
/// publication record (Octez: block finality 2 + the injection block).
pub const UNKNOWN_PUBLICATION_DELAY: u32 = 3;

/// The level from which `hash` (inbox level `inbox_level`) can be cemented: its first
/// publication plus the challenge window, or an under-approximation without a record.
///
/// # Errors
/// The store's.
pub fn earliest_cementing_level<S: CommitmentStore>(
    store: &S,
    hash: &CommitmentHash,
    inbox_level: Level,
    constants: &RollupConstants,
) -> Result<Level, S::Error> {
    let first = match store.first_published_at_level(hash)? {
        Some(first) => first,
        None => inbox_level.saturating_add(UNKNOWN_PUBLICATION_DELAY),
    };
    Ok(first.saturating_add(constants.challenge_window))
}

/// The commitments cementable in the block after `pos.head_level`, oldest first.
///
/// # Errors
/// The store's.
pub fn cementable_commitments<S: CommitmentStore>(
    store: &S,
    pos: &Position,
    constants: &RollupConstants,
) -> Result<Vec<CommitmentHash>, S::Error> {
    let mut out = Vec::new();
    let Some(latest) = store.most_recent_commitment_at(pos.head_level)? else {
        return Ok(out);
    };
    let Some(latest) = store.commitment(&latest)? else {
        return Ok(out);
    };
    // Upper bound of the search: a commitment published at its own inbox level becomes
    // cementable `challenge_window` levels later.
    let Some(bound) = latest.inbox_level.checked_sub(constants.challenge_window) else {
        return Ok(out);
    };
    if bound <= pos.lcc.1 {
        return Ok(out);
    }
    let Some(mut cursor) = store.most_recent_commitment_at(bound)? else {
        return Ok(out);
    };
    while let Some(c) = store.commitment(&cursor)? {
        if c.inbox_level <= pos.lcc.1 {
            break;
        }
        if earliest_cementing_level(store, &cursor, c.inbox_level, constants)? <= pos.head_level {
            out.push(cursor);
        }
        if c.predecessor == cursor {
            break;
        }
        cursor = c.predecessor;
    }
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{Chain, constants, lv, pos};

    #[test]
    fn cements_commitments_whose_window_has_passed() {
        // Commitments at 5, 10, …, 40; challenge window 10.
        let mut chain = Chain::new(0, 5, 8);
        for l in [5, 10, 15, 20, 25] {
            let h = chain.hash_at(l);
            chain.published.insert(h, lv(l.checked_add(2).unwrap()));
        }
        // Head 27: 5 (published 7, cementable from 17) and 10 (12 → 22), 15 (17 → 27).
        let out = cementable_commitments(&chain, &pos(&chain, 0, None, 27, Some(25)), &constants())
            .unwrap();
        assert_eq!(
            out,
            vec![chain.hash_at(5), chain.hash_at(10), chain.hash_at(15)]
        );
        // With 10 cemented, only 15 remains.
        let out =
            cementable_commitments(&chain, &pos(&chain, 10, None, 27, Some(25)), &constants())
                .unwrap();
        assert_eq!(out, vec![chain.hash_at(15)]);
    }

    #[test]
    fn unknown_publication_is_under_approximated() {
        let chain = Chain::new(0, 5, 8);
        // No record: 5 is assumed published at 8, cementable from 18.
        let at = |head| {
            cementable_commitments(
                &chain,
                &pos(&chain, 0, None, head, Some(head - 2)),
                &constants(),
            )
            .unwrap()
        };
        assert_eq!(at(17), Vec::<CommitmentHash>::new());
        assert_eq!(at(18), vec![chain.hash_at(5)]);
    }

    #[test]
    fn nothing_before_a_full_window() {
        let mut chain = Chain::new(0, 5, 2);
        chain.published.insert(chain.hash_at(5), lv(5));
        let out = cementable_commitments(&chain, &pos(&chain, 0, None, 12, Some(10)), &constants())
            .unwrap();
        assert!(out.is_empty());
    }
}
