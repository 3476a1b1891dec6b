//! Producing inbox proofs, the node side of a final move (`sc_rollup_inbox_repr.ml`
//! `produce_proof`, `produce_inclusion_proof`, `produce_payloads_proof`;
//! `sc_rollup_inbox_merkelized_payload_hashes_repr.ml` `produce_proof`;
//! `src/lib_base/skip_list.ml` `search` and `back_path`; octez-rollup-node.md §6.4 in
//! `docs/reference/`).
//!
//! The inclusion proof is the path `Skip_list.search` finds from the game's snapshot to the
//! history cell of the level; the payload proof the minimal back path from the level's last
//! payload cell to the message's. Both are the only paths [`verify`] accepts (it checks that
//! each step follows the best back pointer), so a produced proof is byte for byte the one
//! Octez produces. Every produced proof is checked with [`verify`] before it is returned.
//!
//! The node reads the history and the messages from its store (`node_store::Store`):
//! `history` = `|h| store.inbox(h).map(|i| i.map(|i| i.old_levels_messages))` (an inbox's
//! hash is the hash of its last history cell), `payloads` = `|w| store.messages(w)` (the
//! level's serialized messages, `Start_of_level` … `End_of_level`).

use std::collections::BTreeMap;

use tezos_types::inbox::{InboxHistoryCell, PayloadCell};
use tezos_types::operation::InputProof;
use tezos_types::{InboxHash, InboxMessageHash, Level, MerkelizedPayloadHashesHash};

use super::{BASIS, InboxProof, ProofError, best_skip, verify};
use crate::proof::StepInput;

/// Why no inbox proof was produced.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError<E> {
    /// Reading a history cell or a level's messages failed.
    #[error("cannot read the inbox history or messages from the node's store: {0}")]
    Store(#[source] E),
    /// The level is after the snapshot's: the game cannot read it.
    #[error(
        "inbox level {level} is after the level {snapshot} of the game's inbox snapshot: \
         no message of it can be proved in this game"
    )]
    LevelAfterSnapshot {
        /// The level asked for.
        level: Level,
        /// The snapshot's level.
        snapshot: Level,
    },
    /// A history cell on the path is not stored.
    #[error(
        "the inbox history cell {0} is not in the node's store: the store is incomplete \
         (was it garbage-collected or imported from a snapshot after that level?); \
         resynchronise the node from an earlier level"
    )]
    MissingHistoryCell(InboxHash),
    /// The history has no cell of that level (below its first cell, or a gap).
    #[error("the inbox history from the game's snapshot has no cell of level {0}")]
    LevelNotInHistory(Level),
    /// A stored history cell does not hash to its key.
    #[error("the stored inbox history cell {expected} hashes to {got}: the store is corrupted")]
    CorruptHistoryCell {
        /// The hash it was read by.
        expected: InboxHash,
        /// Its hash.
        got: InboxHash,
    },
    /// The level's messages are not stored.
    #[error(
        "the messages of inbox level {level} (witness {witness}) are not in the node's store: \
         the store is incomplete; resynchronise the node from an earlier level"
    )]
    MissingMessages {
        /// The level.
        level: Level,
        /// Its witness.
        witness: MerkelizedPayloadHashesHash,
    },
    /// The stored messages do not hash to the level's witness.
    #[error(
        "the stored messages of inbox level {level} do not hash to its witness {witness} (the \
         store is corrupted, or holds no messages for the rollup's origination level)"
    )]
    MessagesMismatch {
        /// The level.
        level: Level,
        /// Its witness.
        witness: MerkelizedPayloadHashesHash,
    },
    /// The counter is more than one past the level's last message.
    #[error(
        "message counter {counter} is out of range for inbox level {level}, which has \
         {count} messages (a proof exists for counters 0 to {count})"
    )]
    CounterOutOfRange {
        /// The level.
        level: Level,
        /// The counter asked for.
        counter: u64,
        /// The level's number of messages.
        count: u64,
    },
    /// An index or level overflowed.
    #[error("arithmetic overflow while producing an inbox proof: {0}")]
    Overflow(&'static str),
    /// The produced proof does not verify (the history does not come from one inbox).
    #[error(
        "the produced inbox proof is refused by the protocol's check ({0}): the stored inbox \
         history is inconsistent with the game's snapshot"
    )]
    Unverified(ProofError),
}

/// A produced proof and what it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedInboxProof {
    /// The proof.
    pub proof: InboxProof,
    /// What [`verify`] reads from it: the message at `(level, counter)`, the next level's
    /// `Start_of_level` when `counter` is one past the level's last message, or nothing
    /// past the snapshot's last message.
    pub input: Option<(Level, u64, Vec<u8>)>,
}

/// Reads the history cell `ptr`, checking it hashes to `ptr`; `None` if not stored.
fn deref<E>(
    history: &impl Fn(&InboxHash) -> Result<Option<InboxHistoryCell>, E>,
    ptr: &InboxHash,
) -> Result<Option<InboxHistoryCell>, ProduceError<E>> {
    let Some(cell) = history(ptr).map_err(ProduceError::Store)? else {
        return Ok(None);
    };
    let got = cell.hash();
    if got != *ptr {
        return Err(ProduceError::CorruptHistoryCell {
            expected: *ptr,
            got,
        });
    }
    Ok(Some(cell))
}

/// `produce_inclusion_proof` (`Skip_list.search` by level): the cells from `snapshot` back
/// to the cell of `level`, each step to the back pointer of smallest level not below
/// `level`. A pointer that is not stored, after one that reaches above `level`, is taken to
/// be below it (cells older than the node's first level are not stored), as `search` does.
fn inclusion_proof<E>(
    snapshot: &InboxHistoryCell,
    history: &impl Fn(&InboxHash) -> Result<Option<InboxHistoryCell>, E>,
    level: Level,
) -> Result<Vec<InboxHistoryCell>, ProduceError<E>> {
    if snapshot.level < level {
        return Err(ProduceError::LevelAfterSnapshot {
            level,
            snapshot: snapshot.level,
        });
    }
    let mut path = vec![snapshot.clone()];
    let mut cell = snapshot.clone();
    while cell.level != level {
        let mut candidate: Option<InboxHistoryCell> = None;
        let mut next = None;
        for ptr in &cell.back_pointers {
            let Some(pointed) = deref(history, ptr)? else {
                next = Some(
                    candidate
                        .take()
                        .ok_or(ProduceError::MissingHistoryCell(*ptr))?,
                );
                break;
            };
            if pointed.level > level {
                candidate = Some(pointed);
            } else if pointed.level == level {
                next = Some(pointed);
                break;
            } else {
                next = Some(
                    candidate
                        .take()
                        .ok_or(ProduceError::LevelNotInHistory(level))?,
                );
                break;
            }
        }
        // Genesis (no pointer): `level` is below the history. All pointers above `level`:
        // the last one.
        cell = match next.or(candidate) {
            Some(c) => c,
            None => return Err(ProduceError::LevelNotInHistory(level)),
        };
        path.push(cell.clone());
    }
    Ok(path)
}

/// The payload cells of a level's messages, oldest first
/// (`src/proto_alpha/lib_sc_rollup_node/inbox.ml` `payloads_history_of_all_messages`).
fn payload_cells<E>(messages: &[Vec<u8>]) -> Result<Vec<PayloadCell>, ProduceError<E>> {
    let mut cells: Vec<PayloadCell> = Vec::with_capacity(messages.len());
    for m in messages {
        let content = InboxMessageHash::hash_bytes(m);
        let cell = match cells.last() {
            None => PayloadCell::genesis(content),
            Some(prev) => prev
                .next(content)
                .ok_or(ProduceError::Overflow("payload index"))?,
        };
        cells.push(cell);
    }
    Ok(cells)
}

/// `Skip_list.back_path` on a level's payload cells (oldest first, non-empty): from the
/// last cell to the one of index `target`, at each cell following its best back pointer
/// (`best_skip` with the powers of the first cell of the path). `None` on an overflow.
fn payload_back_path(cells: &[PayloadCell], target: u64) -> Option<Vec<PayloadCell>> {
    let by_hash: BTreeMap<MerkelizedPayloadHashesHash, &PayloadCell> =
        cells.iter().map(|c| (c.hash(), c)).collect();
    let head = cells.last()?;
    let mut powers = Vec::with_capacity(head.back_pointers.len());
    let mut p: u64 = 1;
    for _ in 0..head.back_pointers.len() {
        powers.push(p);
        p = p.saturating_mul(BASIS);
    }
    let mut path = vec![head.clone()];
    let mut cell = head;
    while cell.index > target {
        let best = best_skip(cell.index, cell.back_pointers.len(), target, &powers)?;
        cell = by_hash.get(cell.back_pointers.get(best)?)?;
        path.push(cell.clone());
    }
    Some(path)
}

/// `Sc_rollup_inbox_repr.produce_proof (level, counter) snapshot`: the proof [`verify`]
/// accepts for the message at `(level, counter)` of the inbox whose history ends at
/// `snapshot` (the game's `inbox_snapshot`), `counter` being the message's index in the
/// level, or the level's number of messages for the past-the-end proof (the next level's
/// `Start_of_level`, or nothing at the snapshot's level).
///
/// `history` gives a history cell by its hash (`Ok(None)` when not stored), `payloads` a
/// level's serialized messages by the level's witness (module docs: how to read both from
/// the node's store). A proof for a PVM that asks for the message after `(level, n)` is the
/// one of `(level, n + 1)`: [`produce_input_proof`].
pub fn produce<E>(
    snapshot: &InboxHistoryCell,
    history: impl Fn(&InboxHash) -> Result<Option<InboxHistoryCell>, E>,
    payloads: impl Fn(&MerkelizedPayloadHashesHash) -> Result<Option<Vec<Vec<u8>>>, E>,
    level: Level,
    counter: u64,
) -> Result<ProducedInboxProof, ProduceError<E>> {
    let inclusion_proof = inclusion_proof(snapshot, &history, level)?;
    let witness = inclusion_proof
        .last()
        .ok_or(ProduceError::LevelNotInHistory(level))?
        .witness;
    let messages = payloads(&witness)
        .map_err(ProduceError::Store)?
        .ok_or(ProduceError::MissingMessages { level, witness })?;
    let cells = payload_cells(&messages)?;
    let head = cells
        .last()
        .ok_or(ProduceError::MessagesMismatch { level, witness })?;
    if head.hash() != witness {
        return Err(ProduceError::MessagesMismatch { level, witness });
    }
    let count = head
        .index
        .checked_add(1)
        .ok_or(ProduceError::Overflow("message count"))?;
    if counter > count {
        return Err(ProduceError::CounterOutOfRange {
            level,
            counter,
            count,
        });
    }
    let payload_proof = payload_back_path(&cells, counter.min(head.index))
        .ok_or(ProduceError::Overflow("payload back path"))?;
    let payload = match usize::try_from(counter) {
        Ok(i) => messages.get(i).cloned(),
        Err(_) => None,
    };
    let proof = InboxProof {
        inclusion_proof,
        payload_proof,
        payload,
    };
    let input = verify(snapshot, level, counter, &proof).map_err(ProduceError::Unverified)?;
    Ok(ProducedInboxProof { proof, input })
}

/// The input proof of a final move whose state asks for the message after
/// `(level, message_counter)` (`Sc_rollup_proof_repr.produce`, `First_after`): the inbox
/// proof of `(level, message_counter + 1)`, and the input given to the PVM step, cut at the
/// game's levels (`cut_at_level`: nothing at or below `origination_level` or above
/// `commit_inbox_level`), as [`crate::final_move_is_valid`] reads them.
pub fn produce_input_proof<E>(
    snapshot: &InboxHistoryCell,
    history: impl Fn(&InboxHash) -> Result<Option<InboxHistoryCell>, E>,
    payloads: impl Fn(&MerkelizedPayloadHashesHash) -> Result<Option<Vec<Vec<u8>>>, E>,
    level: Level,
    message_counter: u64,
    origination_level: Level,
    commit_inbox_level: Level,
) -> Result<(InputProof, Option<StepInput>), ProduceError<E>> {
    let next = message_counter
        .checked_add(1)
        .ok_or(ProduceError::Overflow("message counter"))?;
    let produced = produce(snapshot, history, payloads, level, next)?;
    let input = produced
        .input
        .filter(|(l, _, _)| *l > origination_level && *l <= commit_inbox_level)
        .map(|(level, counter, payload)| StepInput::Message {
            level,
            counter,
            payload,
        });
    Ok((
        InputProof::InboxProof {
            level,
            message_counter,
            serialized_proof: produced.proof.encode(),
        },
        input,
    ))
}
