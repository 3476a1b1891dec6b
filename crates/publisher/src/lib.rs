//! Pure decisions of a smart rollup node that posts to L1 (docs/reference/octez-rollup-node.md
//! §3, §6.2; Octez `publisher.ml`, `daemon_helpers.ml` `process_included_l1_operation`).
//!
//! No I/O, no clock: every function reads recorded state through [`CommitmentStore`] (the node's
//! store) and returns what to do. The node's shell queues the resulting operations in the
//! injector, which records every signed commitment before signing (no two conflicting
//! commitments for one level, across restarts).
//!
//! * [`publish`]: the commitments to publish at a head, oldest first.
//! * [`cement`]: the commitments cementable in the next block, oldest first.
//! * [`l1_ops`]: what an applied rollup operation seen in an L1 block means for the node.

// Levels come from L1 and the store: no silent wrap (review §2 item 2).
#![deny(clippy::arithmetic_side_effects, clippy::cast_possible_wrap)]

pub mod cement;
pub mod l1_ops;
pub mod publish;

use tezos_types::{Commitment, CommitmentHash, Level};

/// Protocol constants the decisions depend on (from `/context/constants` of the current
/// protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupConstants {
    /// `smart_rollup_challenge_window_in_blocks`.
    pub challenge_window: u32,
    /// `smart_rollup_max_lookahead_in_blocks`.
    pub max_lookahead: u32,
}

/// The node's recorded state the decisions read (the SQL store in the node; a map in tests).
pub trait CommitmentStore {
    /// Store failure (operational: aborts the decision, retried at the next head).
    type Error;
    /// A commitment computed by this node.
    ///
    /// # Errors
    /// The store's.
    fn commitment(&self, hash: &CommitmentHash) -> Result<Option<Commitment>, Self::Error>;
    /// Level at which `hash` was first published on L1, when seen.
    ///
    /// # Errors
    /// The store's.
    fn first_published_at_level(&self, hash: &CommitmentHash)
    -> Result<Option<Level>, Self::Error>;
    /// The most recent commitment (computed at or before it) of the processed L2 block at
    /// `level` (Octez `Sc_rollup_block.most_recent_commitment`), `None` if no such block.
    ///
    /// # Errors
    /// The store's.
    fn most_recent_commitment_at(
        &self,
        level: Level,
    ) -> Result<Option<CommitmentHash>, Self::Error>;
}

/// Where the node stands, from L1 blocks only (§6.2: never from injector feedback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Last cemented commitment `(hash, inbox level)`.
    pub lcc: (CommitmentHash, Level),
    /// Inbox level of the last commitment this node's operator published (LPC), if any.
    pub lpc_level: Option<Level>,
    /// Origination level of the rollup (the LPC level when there is none).
    pub genesis_level: Level,
    /// Level of the last processed L2 block (the head).
    pub head_level: Level,
    /// Level of the finalized L2 block, if any.
    pub finalized_level: Option<Level>,
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use tezos_types::{Commitment, CommitmentHash, Level, StateHash};

    use crate::{CommitmentStore, Position, RollupConstants};

    /// The level `l` (test literals).
    pub(crate) fn lv(l: i32) -> Level {
        Level::new(l).unwrap()
    }

    /// A rollup with commitments every `period` levels from `origination`.
    pub(crate) struct Chain {
        pub(crate) origination: Level,
        pub(crate) commitments: BTreeMap<CommitmentHash, Commitment>,
        pub(crate) by_level: BTreeMap<Level, CommitmentHash>,
        pub(crate) published: BTreeMap<CommitmentHash, Level>,
    }

    impl Chain {
        pub(crate) fn new(origination: i32, period: i32, count: i32) -> Self {
            let origination = lv(origination);
            let genesis = Commitment {
                compressed_state: StateHash([0; 32]),
                inbox_level: origination,
                predecessor: CommitmentHash([0; 32]),
                number_of_ticks: 0,
            };
            let mut chain = Self {
                origination,

                commitments: BTreeMap::new(),
                by_level: BTreeMap::new(),
                published: BTreeMap::new(),
            };
            let mut pred = genesis.hash();
            chain.commitments.insert(pred, genesis);
            chain.by_level.insert(origination, pred);
            for i in 1..=count {
                let c = Commitment {
                    compressed_state: StateHash([u8::try_from(i).unwrap(); 32]),
                    inbox_level: lv(i
                        .checked_mul(period)
                        .and_then(|l| l.checked_add(origination.into()))
                        .unwrap()),
                    predecessor: pred,
                    number_of_ticks: 10,
                };
                pred = c.hash();
                chain.commitments.insert(pred, c);
                chain.by_level.insert(c.inbox_level, pred);
            }
            chain
        }

        pub(crate) fn hash_at(&self, level: i32) -> CommitmentHash {
            self.by_level[&lv(level)]
        }

        pub(crate) fn lcc_at(&self, level: i32) -> (CommitmentHash, Level) {
            (self.hash_at(level), lv(level))
        }
    }

    impl CommitmentStore for Chain {
        type Error = std::convert::Infallible;
        fn commitment(&self, h: &CommitmentHash) -> Result<Option<Commitment>, Self::Error> {
            Ok(self.commitments.get(h).copied())
        }
        fn first_published_at_level(
            &self,
            h: &CommitmentHash,
        ) -> Result<Option<Level>, Self::Error> {
            Ok(self.published.get(h).copied())
        }
        fn most_recent_commitment_at(
            &self,
            level: Level,
        ) -> Result<Option<CommitmentHash>, Self::Error> {
            if level < self.origination {
                return Ok(None);
            }
            Ok(self.by_level.range(..=level).next_back().map(|(_, h)| *h))
        }
    }

    pub(crate) fn constants() -> RollupConstants {
        RollupConstants {
            challenge_window: 10,
            max_lookahead: 100,
        }
    }

    pub(crate) fn pos(
        chain: &Chain,
        lcc_level: i32,
        lpc_level: Option<i32>,
        head: i32,
        finalized: Option<i32>,
    ) -> Position {
        Position {
            lcc: chain.lcc_at(lcc_level),
            lpc_level: lpc_level.map(lv),
            genesis_level: chain.origination,
            head_level: lv(head),
            finalized_level: finalized.map(lv),
        }
    }
}
