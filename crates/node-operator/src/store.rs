//! The node's store as the [`publisher`] decisions read it, and the node's position on L1.

use node_store::{Store, StoreError};
use publisher::{CommitmentStore, Position};
use tezos_types::{Commitment, CommitmentHash, Level};

/// The follower's store, read by the publisher decisions.
pub struct StoreCommitments<'a>(pub &'a Store);

impl CommitmentStore for StoreCommitments<'_> {
    type Error = StoreError;

    fn commitment(&self, hash: &CommitmentHash) -> Result<Option<Commitment>, StoreError> {
        self.0.commitment(hash)
    }

    fn first_published_at_level(&self, hash: &CommitmentHash) -> Result<Option<Level>, StoreError> {
        Ok(self
            .0
            .commitment_published_at(hash)?
            .map(|(first, _)| first))
    }

    fn most_recent_commitment_at(
        &self,
        level: Level,
    ) -> Result<Option<CommitmentHash>, StoreError> {
        Ok(self
            .0
            .block_by_level(level)?
            .map(|b| b.commitment_hash.unwrap_or(b.previous_commitment_hash)))
    }
}

/// Where the node stands (LCC and LPC as seen in L1 blocks, head and finalized levels);
/// `None` before the first processed block.
///
/// # Errors
/// The store's.
pub fn position(
    store: &Store,
    genesis: (CommitmentHash, Level),
) -> Result<Option<Position>, StoreError> {
    let Some(head) = store.head()? else {
        return Ok(None);
    };
    let (lcc, lcc_level) = store.lcc()?.unwrap_or(genesis);
    Ok(Some(Position {
        lcc: (lcc, lcc_level),
        lpc_level: store.lpc()?.map(|(_, l)| l),
        genesis_level: genesis.1,
        head_level: head.level,
        finalized_level: store.finalized()?.map(|b| b.level),
    }))
}
