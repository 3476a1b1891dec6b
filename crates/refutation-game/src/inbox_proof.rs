//! Inbox proofs of a final move (`sc_rollup_inbox_repr.ml` `verify_proof`,
//! `sc_rollup_inbox_merkelized_payload_hashes_repr.ml` `verify_proof`, and
//! `src/lib_base/skip_list.ml` `valid_back_path`): the message a proof reads, checked against
//! the inbox snapshot of the game. Format: `docs/reference/l1-and-signer.md` §3.3 (proof
//! formats): `{inclusion_proof: list of history cells, message_proof: {proof: list of payload
//! cells, payload: opt bytes}}`. The node side produces them with [`produce`].

mod produce;

use std::collections::BTreeMap;

use tezos_types::inbox::{InboxHistoryCell, PayloadCell};
use tezos_types::{
    BinDecode, BinEncode, InboxHash, InboxMessage, InboxMessageHash, Level,
    MerkelizedPayloadHashesHash, Reader,
};

pub use produce::{ProduceError, ProducedInboxProof, produce, produce_input_proof};

/// Basis of both skip lists (`Skip_list_parameters.basis`).
const BASIS: u64 = 4;

/// A decoded inbox proof (`Sc_rollup_inbox_repr.proof`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxProof {
    /// History cells from the snapshot back to the level's cell.
    pub inclusion_proof: Vec<InboxHistoryCell>,
    /// Payload cells from the level's last cell back to the message's cell.
    pub payload_proof: Vec<PayloadCell>,
    /// The message, if the counter is in the level.
    pub payload: Option<Vec<u8>>,
}

fn read_history_cell(r: &mut Reader<'_>) -> tezos_types::encoding::DecodeResult<InboxHistoryCell> {
    let index = r.n_u64()?;
    let witness = MerkelizedPayloadHashesHash::bin_read(r)?;
    let level = Level::bin_read(r)?;
    let back_pointers = r.dyn_list(InboxHash::bin_read)?;
    Ok(InboxHistoryCell {
        witness,
        level,
        index,
        back_pointers,
    })
}

fn read_payload_cell(r: &mut Reader<'_>) -> tezos_types::encoding::DecodeResult<PayloadCell> {
    let index = r.n_u64()?;
    let content = InboxMessageHash::bin_read(r)?;
    let back_pointers = r.dyn_list(MerkelizedPayloadHashesHash::bin_read)?;
    Ok(PayloadCell {
        content,
        index,
        back_pointers,
    })
}

impl InboxProof {
    /// `of_serialized_proof`: the whole bytes, or `None`.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let inclusion_proof = r.dyn_list(read_history_cell).ok()?;
        let payload_proof = r.dyn_list(read_payload_cell).ok()?;
        let payload = match r.u8().ok()? {
            0x00 => None,
            0xff => Some(r.dyn_bytes().ok()?.to_vec()),
            _ => return None,
        };
        r.finish().ok()?;
        Some(Self {
            inclusion_proof,
            payload_proof,
            payload,
        })
    }

    /// `to_serialized_proof`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = tezos_types::Writer::new();
        w.dyn_list(&self.inclusion_proof, |w, c| {
            w.n_u64(c.index);
            c.witness.bin_write(w);
            c.level.bin_write(w);
            w.dyn_list(&c.back_pointers, |w, h| h.bin_write(w));
        });
        w.dyn_list(&self.payload_proof, |w, c| {
            w.n_u64(c.index);
            c.content.bin_write(w);
            w.dyn_list(&c.back_pointers, |w, h| h.bin_write(w));
        });
        w.opt_field(self.payload.as_ref(), |w, p| w.dyn_bytes(p));
        w.into_bytes()
    }
}

/// `best_skip`: the back pointer of `cell` to follow towards `target` (the pointed cell with
/// the smallest index not below `target`). `powers` are those of the path's first cell.
fn best_skip(index: u64, n_pointers: usize, target: u64, powers: &[u64]) -> Option<usize> {
    let pointed = |i: usize| -> Option<i128> {
        let p = *powers.get(i)?;
        let rem = index.checked_rem(p)?;
        i128::from(index)
            .checked_sub(i128::from(rem))?
            .checked_sub(1)
    };
    let target = i128::from(target);
    let mut start: i64 = 0;
    let mut end: i64 = i64::try_from(n_pointers).ok()?.checked_sub(1)?;
    loop {
        if start >= end {
            return usize::try_from(start).ok();
        }
        let mid = start.checked_add(end.checked_sub(start)? / 2)?;
        let mid_u = usize::try_from(mid).ok()?;
        let m = pointed(mid_u)?;
        if m == target {
            return Some(mid_u);
        } else if m < target {
            end = mid.checked_sub(1)?;
        } else {
            let next = mid_u.checked_add(1)?;
            let p = pointed(next)?;
            if p == target {
                return Some(next);
            } else if p < target {
                return Some(mid_u);
            }
            start = mid.checked_add(1)?;
        }
    }
}

/// `Skip_list.valid_back_path`: `path` (pointers) goes from `cell_ptr` to `target_ptr`
/// following, at each cell, its best back pointer towards the target.
fn valid_back_path<H: Ord + Copy>(
    cells: &BTreeMap<H, (u64, Vec<H>)>,
    cell_ptr: H,
    target_ptr: H,
    path: &[H],
) -> bool {
    let (Some((target_index, _)), Some((_, first_pointers))) =
        (cells.get(&target_ptr), cells.get(&cell_ptr))
    else {
        return false;
    };
    let mut powers = Vec::with_capacity(first_pointers.len());
    let mut p: u64 = 1;
    for _ in 0..first_pointers.len() {
        powers.push(p);
        p = p.saturating_mul(BASIS);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if *first != cell_ptr {
        return false;
    }
    let mut current = cell_ptr;
    for next in rest {
        let (Some((index, pointers)), Some(_)) = (cells.get(&current), cells.get(next)) else {
            return false;
        };
        if !pointers.contains(next) {
            return false;
        }
        let Some(best) = best_skip(*index, pointers.len(), *target_index, &powers) else {
            return false;
        };
        if pointers.get(best) != Some(next) {
            return false;
        }
        current = *next;
    }
    current == target_ptr && cells.get(&current).map(|c| c.0) == Some(*target_index)
}

/// Why an inbox proof is refused (`Inbox_proof_error`).
pub type ProofError = &'static str;

/// `Sc_rollup_inbox_repr.verify_proof (level, counter) snapshot proof`: the message at
/// `(level, counter)` (`Some((level, counter, payload))`), the next level's `Start_of_level`
/// when `counter` is one past the level's last message, or nothing past the snapshot.
pub fn verify(
    snapshot: &InboxHistoryCell,
    level: Level,
    counter: u64,
    proof: &InboxProof,
) -> Result<Option<(Level, u64, Vec<u8>)>, ProofError> {
    // The inclusion proof: from the snapshot back to the level's history cell.
    let target = proof
        .inclusion_proof
        .last()
        .ok_or("inclusion proof is empty")?;
    let mut cells = BTreeMap::new();
    let mut path = Vec::new();
    for c in &proof.inclusion_proof {
        let h = c.hash();
        cells.insert(h, (c.index, c.back_pointers.clone()));
        path.push(h);
    }
    if !valid_back_path(&cells, snapshot.hash(), target.hash(), &path) {
        return Err("invalid inclusion proof");
    }
    // The message proof: from the level's last payload cell back to the message's.
    let head = proof.payload_proof.first().ok_or("proof is empty")?;
    let payload_cell = proof.payload_proof.last().ok_or("proof is empty")?;
    let mut cells = BTreeMap::new();
    let mut path = Vec::new();
    for c in &proof.payload_proof {
        let h = c.hash();
        cells.insert(h, (c.index, c.back_pointers.clone()));
        path.push(h);
    }
    if !valid_back_path(&cells, head.hash(), payload_cell.hash(), &path) {
        return Err("invalid proof");
    }
    if head.hash() != target.witness {
        return Err("message_proof does not match history");
    }
    let max_index = head.index;
    if Some(counter) == max_index.checked_add(1) {
        if proof.payload.is_some() {
            return Err("Payload provided but none expected");
        }
        if payload_cell != head {
            return Err("Provided proof is about a unexpected payload");
        }
        if target == snapshot {
            return Ok(None);
        }
        let next = level.succ().ok_or("inbox level overflow")?;
        return Ok(Some((next, 0, InboxMessage::SOL.to_bin())));
    }
    if counter <= max_index {
        let payload = proof
            .payload
            .as_ref()
            .ok_or("Expected a payload but none provided in the proof")?;
        if InboxMessageHash::hash_bytes(payload) != payload_cell.content {
            return Err(
                "the payload provided does not match the payload's hash found in the message proof",
            );
        }
        if payload_cell.index != counter {
            return Err("found index in message_proof is incorrect");
        }
        return Ok(Some((level, counter, payload.clone())));
    }
    Err("Provided message counter is out of the valid range [0 -- (max_index + 1)]")
}
