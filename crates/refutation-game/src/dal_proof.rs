//! DAL page proofs of a final move (`src/proto_alpha/lib_protocol/dal_slot_repr.ml`,
//! `History`: `proof_repr`, its encoding, `produce_proof_repr`, `verify_proof_repr`;
//! `src/lib_base/skip_list.ml` `search` and `valid_back_path`; the page-id validity of
//! `sc_rollup_proof_repr.ml` `Dal_helpers`). Cells, skip list and hashing:
//! [`tezos_types::dal`], `docs/reference/dal.md` §1.
//!
//! A proof shows, from the game's DAL snapshot cell, through a minimal path of back pointers,
//! the skip-list cell of the page's slot: the page is then confirmed (its slot attested, the
//! page data checked against the slot's commitment by a [`PageVerifier`]), unconfirmed (the
//! slot unpublished or not attested: the PVM reads nothing), or its id is invalid for the
//! importing level. Pure: cells come from the caller.

use std::cmp::Ordering;
use std::collections::HashMap;

use tezos_types::dal::BASIS;
use tezos_types::operation::DalPageId;
use tezos_types::reveal::DalParameters;
use tezos_types::{
    BinDecode, BinEncode, Contract, DalCommitment, DalSkipListHash, Level, Reader, Writer,
};

pub use tezos_types::dal::{AttestationLag, DalCell, DalCellContent, next_back_pointers};
pub use tezos_types::reveal::{LEGACY_ATTESTATION_LAG, LagCheck, PageValidity};

/// Size of a page proof (`Cryptobox.page_proof_encoding`: a compressed G1 point, raw).
pub const PAGE_PROOF_SIZE: usize = 48;

/// Checks that a page is the `page_index`th page of the slot committed to by `commitment`
/// (`Dal.verify_page` of the cryptobox, KZG over BLS12-381). Implemented outside this crate,
/// which has no cryptographic backend.
pub trait PageVerifier {
    /// Whether `proof` proves `page` at `page_index` against `commitment`, with the
    /// cryptobox parameters of `params`. A page of the wrong size or an index out of the
    /// slot is `false` (Octez's `Unexpected_page_size` and `Segment_index_out_of_range`
    /// also make the proof invalid).
    fn verify_page(
        &self,
        params: &DalParameters,
        commitment: &DalCommitment,
        page_index: u16,
        page: &[u8],
        proof: &[u8; PAGE_PROOF_SIZE],
    ) -> bool;
}

/// `best_skip`: the back pointer of `cell` leading to the smallest pointed index not below
/// `target` (a binary search over the pointers, as `skip_list.ml` does it).
fn best_skip(cell: &DalCell, target: u64) -> Option<usize> {
    // Indices as signed, as the OCaml does (a pointed index may be -1, an end index -1).
    let pointed = |i: i64| -> Option<i128> {
        let i = usize::try_from(i).ok()?;
        let power = u128::from(BASIS).checked_pow(u32::try_from(i).ok()?)?;
        let idx = u128::from(cell.index);
        let below = idx.checked_sub(idx.checked_rem(power)?)?;
        i128::try_from(below).ok()?.checked_sub(1)
    };
    let target = i128::from(target);
    let mut start: i64 = 0;
    let mut end = i64::try_from(cell.back_pointers.len())
        .ok()?
        .checked_sub(1)?;
    loop {
        if start >= end {
            return usize::try_from(start).ok();
        }
        let mid = start.checked_add(end.checked_sub(start)?.checked_div(2)?)?;
        let mid_index = pointed(mid)?;
        match mid_index.cmp(&target) {
            Ordering::Equal => return usize::try_from(mid).ok(),
            Ordering::Less => end = mid.checked_sub(1)?,
            Ordering::Greater => {
                let next = mid.checked_add(1)?;
                let prev_mid_index = pointed(next)?;
                match prev_mid_index.cmp(&target) {
                    Ordering::Equal => return usize::try_from(next).ok(),
                    Ordering::Less => return usize::try_from(mid).ok(),
                    Ordering::Greater => start = next,
                }
            }
        }
    }
}

/// `Skip_list.valid_back_path` with `deref` over the proof's cells: `path` starts at the
/// snapshot, each next cell is the best back pointer of the previous one towards the
/// target's index, and it ends at the target.
fn valid_back_path(
    deref: &HashMap<DalSkipListHash, &DalCell>,
    cell_ptr: &DalSkipListHash,
    target_ptr: &DalSkipListHash,
    path: &[DalSkipListHash],
) -> bool {
    let (Some(target), Some(cell)) = (deref.get(target_ptr), deref.get(cell_ptr)) else {
        return false;
    };
    let target_index = target.index;
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if first != cell_ptr {
        return false;
    }
    let mut index = cell.index;
    let mut current = cell_ptr;
    for next in rest {
        let (Some(c), Some(c2)) = (deref.get(current), deref.get(next)) else {
            return false;
        };
        if !c.back_pointers.contains(next) {
            return false;
        }
        let Some(best) = best_skip(c, target_index) else {
            return false;
        };
        if c.back_pointers.get(best) != Some(next) {
            return false;
        }
        index = c2.index;
        current = next;
    }
    current == target_ptr && index == target_index
}

/// `verify_inclusion_proof`: `inc_proof` is a minimal path from `snapshot` to `target`.
fn verify_inclusion_proof(inc_proof: &[DalCell], snapshot: &DalCell, target: &DalCell) -> bool {
    let hashes: Vec<DalSkipListHash> = inc_proof.iter().map(DalCell::hash).collect();
    let deref: HashMap<DalSkipListHash, &DalCell> = hashes.iter().copied().zip(inc_proof).collect();
    valid_back_path(&deref, &snapshot.hash(), &target.hash(), &hashes)
}

/// A DAL page proof (`History.proof_repr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DalProof {
    /// The page's slot is attested: the page and its proof against the commitment.
    Confirmed {
        /// The slot's cell.
        target_cell: DalCell,
        /// The path from the snapshot (first) to the target (last).
        inc_proof: Vec<DalCell>,
        /// The page.
        page_data: Vec<u8>,
        /// The page's KZG proof.
        page_proof: [u8; PAGE_PROOF_SIZE],
        /// Adjustable DAL's threshold (`None` for the DAL).
        attestation_threshold_percent: Option<u8>,
        /// Adjustable DAL's publishers (`None` for the DAL).
        restricted_commitments_publishers: Option<Vec<Contract>>,
    },
    /// The page's slot is unpublished or not attested.
    Unconfirmed {
        /// The slot's cell.
        target_cell: DalCell,
        /// The path from the snapshot to the target.
        inc_proof: Vec<DalCell>,
        /// Adjustable DAL's threshold.
        attestation_threshold_percent: Option<u8>,
        /// Adjustable DAL's publishers.
        restricted_commitments_publishers: Option<Vec<Contract>>,
    },
    /// The page id is invalid for the importing level.
    InvalidPageId {
        /// The slot's cell and the path to it, when the invalidity needs the cell's lag.
        target_cell_and_inc_proof: Option<(DalCell, Vec<DalCell>)>,
        /// Adjustable DAL's threshold.
        attestation_threshold_percent: Option<u8>,
        /// Adjustable DAL's publishers.
        restricted_commitments_publishers: Option<Vec<Contract>>,
    },
}

fn write_cells(w: &mut Writer, cells: &[DalCell]) {
    w.dyn_list(cells, |w, c| c.bin_write(w));
}

fn write_adal(w: &mut Writer, threshold: Option<&u8>, publishers: Option<&Vec<Contract>>) {
    w.opt_field(threshold, |w, t| w.u8(*t));
    w.opt_field(publishers, |w, l| w.dyn_list(l, |w, c| c.bin_write(w)));
}

type Adal = (Option<u8>, Option<Vec<Contract>>);

fn read_adal(r: &mut Reader<'_>) -> tezos_types::encoding::DecodeResult<Adal> {
    let threshold = r.opt_field(Reader::u8)?;
    let publishers = r.opt_field(|r| r.dyn_list(Contract::bin_read))?;
    Ok((threshold, publishers))
}

impl DalProof {
    /// `serialize_proof` (`proof_repr_encoding`, binary: `uint8` tag 0 confirmed, 1
    /// unconfirmed, 2 invalid page id; cells in `History.encoding`, lists and bytes with a
    /// 4-byte size, `opt` fields with a `00`/`ff` byte, the page proof raw).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Self::Confirmed {
                target_cell,
                inc_proof,
                page_data,
                page_proof,
                attestation_threshold_percent,
                restricted_commitments_publishers,
            } => {
                w.u8(0);
                target_cell.bin_write(&mut w);
                write_cells(&mut w, inc_proof);
                w.dyn_bytes(page_data);
                w.bytes(page_proof);
                write_adal(
                    &mut w,
                    attestation_threshold_percent.as_ref(),
                    restricted_commitments_publishers.as_ref(),
                );
            }
            Self::Unconfirmed {
                target_cell,
                inc_proof,
                attestation_threshold_percent,
                restricted_commitments_publishers,
            } => {
                w.u8(1);
                target_cell.bin_write(&mut w);
                write_cells(&mut w, inc_proof);
                write_adal(
                    &mut w,
                    attestation_threshold_percent.as_ref(),
                    restricted_commitments_publishers.as_ref(),
                );
            }
            Self::InvalidPageId {
                target_cell_and_inc_proof,
                attestation_threshold_percent,
                restricted_commitments_publishers,
            } => {
                w.u8(2);
                w.opt_field(target_cell_and_inc_proof.as_ref(), |w, (t, p)| {
                    t.bin_write(w);
                    write_cells(w, p);
                });
                write_adal(
                    &mut w,
                    attestation_threshold_percent.as_ref(),
                    restricted_commitments_publishers.as_ref(),
                );
            }
        }
        w.into_bytes()
    }

    /// `deserialize_proof`: exactly `bytes`, or `None`.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let p = Self::read(&mut r).ok()?;
        r.finish().ok()?;
        Some(p)
    }

    fn read(r: &mut Reader<'_>) -> tezos_types::encoding::DecodeResult<Self> {
        match r.u8()? {
            0 => {
                let target_cell = DalCell::bin_read(r)?;
                let inc_proof = r.dyn_list(DalCell::bin_read)?;
                let page_data = r.dyn_bytes()?.to_vec();
                let page_proof = r.array::<PAGE_PROOF_SIZE>()?;
                let (attestation_threshold_percent, restricted_commitments_publishers) =
                    read_adal(r)?;
                Ok(Self::Confirmed {
                    target_cell,
                    inc_proof,
                    page_data,
                    page_proof,
                    attestation_threshold_percent,
                    restricted_commitments_publishers,
                })
            }
            1 => {
                let target_cell = DalCell::bin_read(r)?;
                let inc_proof = r.dyn_list(DalCell::bin_read)?;
                let (attestation_threshold_percent, restricted_commitments_publishers) =
                    read_adal(r)?;
                Ok(Self::Unconfirmed {
                    target_cell,
                    inc_proof,
                    attestation_threshold_percent,
                    restricted_commitments_publishers,
                })
            }
            2 => {
                let target_cell_and_inc_proof = r.opt_field(|r| {
                    let t = DalCell::bin_read(r)?;
                    Ok((t, r.dyn_list(DalCell::bin_read)?))
                })?;
                let (attestation_threshold_percent, restricted_commitments_publishers) =
                    read_adal(r)?;
                Ok(Self::InvalidPageId {
                    target_cell_and_inc_proof,
                    attestation_threshold_percent,
                    restricted_commitments_publishers,
                })
            }
            t => Err(r.invalid(format!("DAL proof tag {t}"))),
        }
    }

    /// `adal_parameters_of_proof`: the threshold and publishers (both `None` for the DAL).
    #[must_use]
    pub fn adal_parameters(&self) -> (Option<u8>, Option<&Vec<Contract>>) {
        match self {
            Self::Confirmed {
                attestation_threshold_percent,
                restricted_commitments_publishers,
                ..
            }
            | Self::Unconfirmed {
                attestation_threshold_percent,
                restricted_commitments_publishers,
                ..
            }
            | Self::InvalidPageId {
                attestation_threshold_percent,
                restricted_commitments_publishers,
                ..
            } => (
                *attestation_threshold_percent,
                restricted_commitments_publishers.as_ref(),
            ),
        }
    }
}

/// `is_commitment_attested`: the commitment of a published cell that counts as attested —
/// by the protocol, or with Adjustable DAL's threshold of shards and allowed publishers.
fn attested_commitment(
    threshold: Option<u8>,
    publishers: Option<&Vec<Contract>>,
    content: &DalCellContent,
) -> Option<DalCommitment> {
    match content {
        DalCellContent::Unpublished { .. } => None,
        DalCellContent::Published {
            commitment,
            is_proto_attested,
            attested_shards,
            total_shards,
            publisher,
            ..
        } => {
            let attested = match threshold {
                None => *is_proto_attested,
                Some(t) => {
                    u32::from(*attested_shards).saturating_mul(100)
                        >= u32::from(t).saturating_mul(u32::from(*total_shards))
                        && publishers.is_none_or(|l| l.contains(publisher))
                }
            };
            attested.then_some(*commitment)
        }
    }
}

/// Why a DAL page proof was not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DalProofError {
    /// The proof is wrong (Octez's `Dal_page_proof_error`, `Unexpected_page_size`, …).
    Invalid(String),
    /// The page must be checked against its commitment and no [`PageVerifier`] is given.
    NoPageVerifier,
}

/// `verify_proof_repr`: the page the PVM reads (`None`: nothing, the empty page) if `proof`
/// holds for `page` against the game's `snapshot` cell. `precheck` is the producer's lag
/// interval ([`LagCheck::interval`] of the published level's lags); `params` and `verifier`
/// check a confirmed page against its slot's commitment.
///
/// # Errors
/// [`DalProofError::Invalid`] for a wrong proof; [`DalProofError::NoPageVerifier`] when a
/// confirmed page needs the KZG check and `verifier` is `None`.
pub fn verify(
    proof: &DalProof,
    page: &DalPageId,
    snapshot: &DalCell,
    validity: &PageValidity,
    precheck: LagCheck,
    params: &DalParameters,
    verifier: Option<&dyn PageVerifier>,
) -> Result<Option<Vec<u8>>, DalProofError> {
    let invalid = |s: &str| Err(DalProofError::Invalid(format!("verify_proof_repr: {s}")));
    let (target, inc_proof) = match proof {
        DalProof::InvalidPageId {
            target_cell_and_inc_proof: None,
            ..
        } => {
            return if validity.is_valid(precheck, page) {
                invalid("the page id is valid but the proof gives no target cell")
            } else {
                Ok(None)
            };
        }
        DalProof::Confirmed {
            target_cell,
            inc_proof,
            ..
        }
        | DalProof::Unconfirmed {
            target_cell,
            inc_proof,
            ..
        }
        | DalProof::InvalidPageId {
            target_cell_and_inc_proof: Some((target_cell, inc_proof)),
            ..
        } => (target_cell, inc_proof),
    };
    let (level, index, lag) = target.content.id();
    if level != page.published_level {
        return invalid("published_level mismatch.");
    }
    if index != page.slot_index {
        return invalid("slot index mismatch.");
    }
    if !verify_inclusion_proof(inc_proof, snapshot, target) {
        return invalid("invalid inclusion Dal proof.");
    }
    let (threshold, publishers) = proof.adal_parameters();
    let exact = LagCheck::Exact(lag.value());
    match (
        proof,
        attested_commitment(threshold, publishers, &target.content),
    ) {
        (DalProof::Unconfirmed { .. }, Some(_)) => {
            invalid("the confirmation proof doesn't contain the attested slot.")
        }
        (DalProof::Unconfirmed { .. }, None) => Ok(None),
        (DalProof::Confirmed { .. }, None) => {
            invalid("the unconfirmation proof contains the target slot.")
        }
        (
            DalProof::Confirmed {
                page_data,
                page_proof,
                ..
            },
            Some(commitment),
        ) => {
            if !validity.is_valid(exact, page) {
                // Imported before its attestation status was known.
                return Ok(None);
            }
            let verifier = verifier.ok_or(DalProofError::NoPageVerifier)?;
            let page_index = u16::try_from(page.page_index)
                .map_err(|_| DalProofError::Invalid("page index out of range".into()))?;
            if verifier.verify_page(params, &commitment, page_index, page_data, page_proof) {
                Ok(Some(page_data.clone()))
            } else {
                Err(DalProofError::Invalid(format!(
                    "Wrong page content for the given page index and slot commitment (page id \
                     = published level {}, slot {}, page {}).",
                    page.published_level, page.slot_index, page.page_index
                )))
            }
        }
        (DalProof::InvalidPageId { .. }, _) => {
            if validity.is_valid(exact, page) {
                invalid(
                    "page_id_is_valid returned true for an Invalid_page_id whose target cell is given.",
                )
            } else {
                Ok(None)
            }
        }
    }
}

/// Why no DAL page proof could be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProduceError<E> {
    /// Reading a cell failed (the caller's error).
    #[error("{0}")]
    Deref(E),
    /// The cells or the page information do not allow a proof (Octez's
    /// `Dal_page_proof_error` on the producer's side).
    #[error("DAL page proof: {0}")]
    Proof(String),
}

/// How a search ended (`search_cell_result`).
enum SearchEnd {
    Found(DalCell),
    Other(&'static str),
}

/// The order of the skip list (`compare_slot_ids_by_dynamic_attested_level`): by
/// `published_level + lag` (legacy as 0), then published level, then slot index.
fn order_key(level: Level, index: u8, lag: AttestationLag) -> (i64, i32, u8) {
    let l = level.get();
    (i64::from(l).saturating_add(lag.order_lag()), l, index)
}

/// `Skip_list.search` from `cell` for the cell whose key is `target`: the path from `cell`
/// (Octez's `path`, reversed) and how it ended. `deref` is given the pointed cell's index with its hash.
fn search<E>(
    cell: &DalCell,
    target: (i64, i32, u8),
    deref: &mut impl FnMut(u64, &DalSkipListHash) -> Result<Option<DalCell>, E>,
) -> Result<(Vec<DalCell>, SearchEnd), E> {
    let cmp = |c: &DalCell| {
        let (l, i, lag) = c.content.id();
        order_key(l, i, lag).cmp(&target)
    };
    match cmp(cell) {
        Ordering::Equal => return Ok((vec![cell.clone()], SearchEnd::Found(cell.clone()))),
        Ordering::Less => return Ok((vec![cell.clone()], SearchEnd::Other("Nearest"))),
        Ordering::Greater => {}
    }
    let mut path = vec![cell.clone()];
    let mut cell = cell.clone();
    let mut last_candidate: Option<DalCell> = None;
    let mut ix = 0usize;
    loop {
        let n = cell.back_pointers.len();
        if n == 0 {
            return Ok((path, SearchEnd::Other("No_exact_or_lower_ptr")));
        }
        let (Some(ptr), Some(pointed)) = (cell.back_pointers.get(ix), cell.pointed_index(ix))
        else {
            return Ok((path, SearchEnd::Other("ill-formed cell")));
        };
        match deref(pointed, ptr)? {
            None => match last_candidate.take() {
                None => return Ok((path, SearchEnd::Other("Deref_returned_none"))),
                Some(next) => {
                    path.push(next.clone());
                    cell = next;
                    ix = 0;
                }
            },
            Some(next) => match cmp(&next) {
                Ordering::Equal => {
                    path.push(next.clone());
                    return Ok((path, SearchEnd::Found(next)));
                }
                Ordering::Greater if ix.saturating_add(1) < n => {
                    last_candidate = Some(next);
                    ix = ix.saturating_add(1);
                }
                Ordering::Greater => {
                    path.push(next.clone());
                    cell = next;
                    last_candidate = None;
                    ix = 0;
                }
                Ordering::Less => match last_candidate.take() {
                    None => {
                        path.push(next);
                        return Ok((path, SearchEnd::Other("Nearest")));
                    }
                    // The previous pointer was the good one.
                    Some(good) => {
                        path.push(good.clone());
                        cell = good;
                        ix = 0;
                    }
                },
            },
        }
    }
}

/// `search_with_any_attestation_lag`: the target slot under the legacy lag, then the dynamic
/// lags 0 to 8; the first found, else the last search's end.
fn search_any_lag<E>(
    snapshot: &DalCell,
    level: Level,
    index: u8,
    deref: &mut impl FnMut(u64, &DalSkipListHash) -> Result<Option<DalCell>, E>,
) -> Result<(Vec<DalCell>, SearchEnd), E> {
    let mut res = search(
        snapshot,
        order_key(level, index, AttestationLag::Legacy),
        deref,
    )?;
    let mut lag = 0u8;
    while !matches!(res.1, SearchEnd::Found(_)) && lag <= LEGACY_ATTESTATION_LAG {
        res = search(
            snapshot,
            order_key(level, index, AttestationLag::Dynamic(lag)),
            deref,
        )?;
        lag = lag.saturating_add(1);
    }
    Ok(res)
}

/// `produce_proof_repr`: the proof for `page` from the game's `snapshot`, and the page the
/// PVM reads (`None`: nothing). `page_info` is the page and its KZG proof when the node
/// found the slot attested and the page valid, else `None`; `deref` reads the cell of a
/// hash (given with the cell's index, which a source keyed by level may use). The page is
/// not checked against the commitment here: the verifier does it.
///
/// # Errors
/// `deref`'s errors; the slot's cell not reachable from the snapshot; `page_info` given for
/// a slot that is not attested, or missing for one that is.
pub fn produce<E>(
    page: &DalPageId,
    snapshot: &DalCell,
    validity: &PageValidity,
    precheck: LagCheck,
    page_info: Option<(Vec<u8>, [u8; PAGE_PROOF_SIZE])>,
    mut deref: impl FnMut(u64, &DalSkipListHash) -> Result<Option<DalCell>, E>,
) -> Result<(DalProof, Option<Vec<u8>>), ProduceError<E>> {
    if !validity.is_valid(precheck, page) {
        return Ok((
            DalProof::InvalidPageId {
                target_cell_and_inc_proof: None,
                attestation_threshold_percent: None,
                restricted_commitments_publishers: None,
            },
            None,
        ));
    }
    let (path, end) = search_any_lag(snapshot, page.published_level, page.slot_index, &mut deref)
        .map_err(ProduceError::Deref)?;
    let target_cell = match end {
        SearchEnd::Found(c) => c,
        SearchEnd::Other(why) => {
            return Err(ProduceError::Proof(format!(
                "Skip_list.search returned {why} for slot {} published at level {}: the cells \
                 known do not reach it from the game's snapshot",
                page.slot_index, page.published_level
            )));
        }
    };
    let inc_proof = path;
    let (_, _, lag) = target_cell.content.id();
    if !validity.is_valid(LagCheck::Exact(lag.value()), page) {
        return Ok((
            DalProof::InvalidPageId {
                target_cell_and_inc_proof: Some((target_cell, inc_proof)),
                attestation_threshold_percent: None,
                restricted_commitments_publishers: None,
            },
            None,
        ));
    }
    let attested = attested_commitment(None, None, &target_cell.content);
    match (page_info, attested) {
        (Some((page_data, page_proof)), Some(_)) => Ok((
            DalProof::Confirmed {
                target_cell,
                inc_proof,
                page_data: page_data.clone(),
                page_proof,
                attestation_threshold_percent: None,
                restricted_commitments_publishers: None,
            },
            Some(page_data),
        )),
        (None, None) => Ok((
            DalProof::Unconfirmed {
                target_cell,
                inc_proof,
                attestation_threshold_percent: None,
                restricted_commitments_publishers: None,
            },
            None,
        )),
        (None, Some(_)) => Err(ProduceError::Proof(
            "The page ID's slot is confirmed, but no page content and proof are provided.".into(),
        )),
        (Some(_), None) => Err(ProduceError::Proof(
            "The page ID's slot is not confirmed, but page content and proof are provided.".into(),
        )),
    }
}

/// Whether the slot of `page` is attested according to `cell` (its own cell): what the node
/// needs to decide whether to fetch the page and its proof.
#[must_use]
pub fn is_attested(cell: &DalCell) -> bool {
    attested_commitment(None, None, &cell.content).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: u8 = 2;
    const LAG: u8 = 2;

    fn lvl(l: i32) -> Level {
        Level::new(l).unwrap()
    }

    fn publisher() -> Contract {
        Contract::from_b58check("tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx").unwrap()
    }

    fn unpublished(level: i32, index: u8) -> DalCellContent {
        DalCellContent::Unpublished {
            published_level: lvl(level),
            index,
            attestation_lag: AttestationLag::Dynamic(0),
        }
    }

    fn published(level: i32, index: u8, attested: bool) -> DalCellContent {
        DalCellContent::Published {
            published_level: lvl(level),
            index,
            commitment: DalCommitment([u8::try_from(level).unwrap(); 48]),
            publisher: publisher(),
            is_proto_attested: attested,
            attested_shards: if attested { 64 } else { 0 },
            total_shards: 64,
            attestation_lag: AttestationLag::Dynamic(LAG),
        }
    }

    /// The skip list of levels 1 to `levels` as the protocol fills it (the sandbox's model):
    /// at level L the published slots of L − 2 (slot 1 of even levels, attested when
    /// L − 2 is a multiple of 4), then the unpublished slots of L. The first cell replaces
    /// the genesis one.
    fn skip_list(levels: i32) -> Vec<DalCell> {
        let mut contents = Vec::new();
        for l in 1..=levels {
            let p = l.checked_sub(i32::from(LAG)).unwrap();
            if p >= 1 && p % 2 == 0 {
                contents.push(published(p, 1, p % 4 == 0));
            }
            for i in 0..SLOTS {
                if !(l % 2 == 0 && i == 1) {
                    contents.push(unpublished(l, i));
                }
            }
        }
        let mut cells = vec![DalCell {
            index: 0,
            content: contents[0].clone(),
            back_pointers: vec![],
        }];
        for c in contents.into_iter().skip(1) {
            let n = cells.last().unwrap().next(c).unwrap();
            cells.push(n);
        }
        cells
    }

    fn deref_of(
        cells: &[DalCell],
    ) -> impl FnMut(u64, &DalSkipListHash) -> Result<Option<DalCell>, ()> + '_ {
        move |index, hash| {
            let c = usize::try_from(index).ok().and_then(|i| cells.get(i));
            Ok(c.filter(|c| c.hash() == *hash).cloned())
        }
    }

    fn validity(import: i32) -> PageValidity {
        PageValidity {
            number_of_slots: u16::from(SLOTS),
            pages_per_slot: 4,
            activation_level: Some(lvl(1)),
            origination_level: lvl(1),
            import_inbox_level: lvl(import),
            validity_lag: Some(100),
        }
    }

    fn page(level: i32, slot: u8, page: i16) -> DalPageId {
        DalPageId {
            published_level: lvl(level),
            slot_index: slot,
            page_index: page,
        }
    }

    fn params() -> DalParameters {
        DalParameters {
            number_of_slots: i64::from(SLOTS),
            attestation_lag: i64::from(LAG),
            slot_size: 64,
            page_size: 16,
        }
    }

    /// A test double: the "proof" of a page is the first 48 bytes of Blake2b-512 of the
    /// commitment, the index and the page.
    struct HashVerifier;

    fn page_proof(c: &DalCommitment, index: u16, page: &[u8]) -> [u8; PAGE_PROOF_SIZE] {
        let h = tezos_types::hash::blake2b::<64>(&[&c.0, &index.to_be_bytes(), page]);
        h[..PAGE_PROOF_SIZE].try_into().unwrap()
    }

    impl PageVerifier for HashVerifier {
        fn verify_page(
            &self,
            params: &DalParameters,
            commitment: &DalCommitment,
            page_index: u16,
            page: &[u8],
            proof: &[u8; PAGE_PROOF_SIZE],
        ) -> bool {
            i64::try_from(page.len()) == Ok(params.page_size)
                && page_proof(commitment, page_index, page) == *proof
        }
    }

    const LAGS: LagCheck = LagCheck::Interval(LAG, LEGACY_ATTESTATION_LAG);

    fn check(
        proof: &DalProof,
        p: &DalPageId,
        snapshot: &DalCell,
        import: i32,
    ) -> Result<Option<Vec<u8>>, DalProofError> {
        let proof = DalProof::decode(&proof.encode()).expect("round trip");
        verify(
            &proof,
            p,
            snapshot,
            &validity(import),
            LAGS,
            &params(),
            Some(&HashVerifier),
        )
    }

    /// The three proof cases round-trip, with their tags, and trailing bytes are refused.
    #[test]
    fn proof_encoding() {
        let cells = skip_list(6);
        let t = cells[3].clone();
        let path = vec![cells[4].clone(), t.clone()];
        let confirmed = DalProof::Confirmed {
            target_cell: t.clone(),
            inc_proof: path.clone(),
            page_data: b"page".to_vec(),
            page_proof: [9; PAGE_PROOF_SIZE],
            attestation_threshold_percent: Some(50),
            restricted_commitments_publishers: Some(vec![publisher()]),
        };
        let unconfirmed = DalProof::Unconfirmed {
            target_cell: t.clone(),
            inc_proof: path.clone(),
            attestation_threshold_percent: None,
            restricted_commitments_publishers: None,
        };
        let invalid = DalProof::InvalidPageId {
            target_cell_and_inc_proof: None,
            attestation_threshold_percent: None,
            restricted_commitments_publishers: None,
        };
        let invalid_with = DalProof::InvalidPageId {
            target_cell_and_inc_proof: Some((t.clone(), path)),
            attestation_threshold_percent: None,
            restricted_commitments_publishers: None,
        };
        for p in [&confirmed, &unconfirmed, &invalid, &invalid_with] {
            let b = p.encode();
            assert_eq!(DalProof::decode(&b).as_ref(), Some(p));
            let mut longer = b.clone();
            longer.push(0);
            assert_eq!(DalProof::decode(&longer), None);
        }
        // Tag 2, no target, no threshold, no publishers.
        assert_eq!(invalid.encode(), vec![2, 0, 0, 0]);
        let u = unconfirmed.encode();
        let t_bin = t.to_bin();
        assert_eq!(u[0], 1);
        assert_eq!(&u[1..=t_bin.len()], &t_bin[..]);
        assert_eq!(&u[u.len() - 2..], &[0, 0]);
        // … page proof ‖ ff 50 ‖ ff ‖ size ‖ publisher.
        let c = confirmed.encode();
        let pb = publisher_bytes();
        let mut tail = vec![9u8; PAGE_PROOF_SIZE];
        tail.extend([0xff, 50, 0xff]);
        tail.extend(u32::try_from(pb.len()).unwrap().to_be_bytes());
        tail.extend(&pb);
        assert!(c.ends_with(&tail));
    }

    fn publisher_bytes() -> Vec<u8> {
        let mut w = Writer::new();
        publisher().bin_write(&mut w);
        w.into_bytes()
    }

    /// For every slot id of the list, the proof produced from the last cell verifies, with
    /// the page for the attested slots and nothing for the others.
    #[test]
    fn produce_then_verify_every_slot() {
        let cells = skip_list(30);
        let snapshot = cells.last().unwrap();
        let import = 40;
        let mut kinds = [0; 3];
        for target in &cells {
            let (level, slot, _) = target.content.id();
            let p = page(level.get(), slot, 1);
            let info = is_attested(target).then(|| {
                let DalCellContent::Published { commitment, .. } = &target.content else {
                    unreachable!()
                };
                let data = vec![u8::try_from(level.get()).unwrap(); 16];
                let proof = page_proof(commitment, 1, &data);
                (data, proof)
            });
            let (proof, data) = produce(
                &p,
                snapshot,
                &validity(import),
                LAGS,
                info.clone(),
                deref_of(&cells),
            )
            .unwrap();
            match &proof {
                DalProof::Confirmed { inc_proof, .. } => {
                    kinds[0] += 1;
                    assert_eq!(inc_proof.last(), Some(target));
                }
                DalProof::Unconfirmed { inc_proof, .. } => {
                    kinds[1] += 1;
                    assert_eq!(inc_proof.first(), Some(snapshot));
                }
                DalProof::InvalidPageId { .. } => kinds[2] += 1,
            }
            assert_eq!(data, info.map(|i| i.0));
            assert_eq!(check(&proof, &p, snapshot, import), Ok(data));
        }
        // Slot ids of level 1 are not after the origination: invalid.
        assert!(kinds.iter().all(|k| *k > 0), "{kinds:?}");
    }

    /// Unpublished and unattested slots are fully verified without a page verifier; an
    /// attested one needs it.
    #[test]
    fn page_verifier_only_for_attested_slots() {
        let cells = skip_list(20);
        let snapshot = cells.last().unwrap();
        let run = |p: &DalPageId, info| {
            let (proof, _) =
                produce(p, snapshot, &validity(30), LAGS, info, deref_of(&cells)).unwrap();
            verify(&proof, p, snapshot, &validity(30), LAGS, &params(), None)
        };
        // Level 6 slot 1: published at 6, unattested (6 is not a multiple of 4).
        assert_eq!(run(&page(6, 1, 0), None), Ok(None));
        // Level 7 slot 1: not published.
        assert_eq!(run(&page(7, 1, 0), None), Ok(None));
        let c = DalCommitment([8; 48]);
        let data = vec![1; 16];
        assert_eq!(
            run(
                &page(8, 1, 0),
                Some((data.clone(), page_proof(&c, 0, &data)))
            ),
            Err(DalProofError::NoPageVerifier)
        );
    }

    fn invalid(r: Result<Option<Vec<u8>>, DalProofError>) -> bool {
        matches!(r, Err(DalProofError::Invalid(_)))
    }

    /// Wrong page, wrong proof kind, wrong path, wrong snapshot, wrong page id: refused.
    #[test]
    fn tampering_is_refused() {
        let cells = skip_list(30);
        let snapshot = cells.last().unwrap();
        let p = page(8, 1, 2);
        let c = DalCommitment([8; 48]);
        let data = vec![3; 16];
        let info = Some((data.clone(), page_proof(&c, 2, &data)));
        let (proof, _) =
            produce(&p, snapshot, &validity(40), LAGS, info, deref_of(&cells)).unwrap();
        assert_eq!(check(&proof, &p, snapshot, 40), Ok(Some(data.clone())));
        let DalProof::Confirmed {
            target_cell,
            inc_proof,
            page_data,
            page_proof: pp,
            ..
        } = proof.clone()
        else {
            panic!("{proof:?}")
        };
        let confirmed = |page_data: Vec<u8>, inc_proof: Vec<DalCell>, target_cell: DalCell| {
            DalProof::Confirmed {
                target_cell,
                inc_proof,
                page_data,
                page_proof: pp,
                attestation_threshold_percent: None,
                restricted_commitments_publishers: None,
            }
        };
        // Another page's data, another index.
        let mut other = page_data;
        other[0] ^= 1;
        let t = || target_cell.clone();
        assert!(invalid(check(
            &confirmed(other, inc_proof.clone(), t()),
            &p,
            snapshot,
            40
        )));
        assert!(invalid(check(&proof, &page(8, 1, 1), snapshot, 40)));
        // A page id of another slot or level than the target cell.
        assert!(invalid(check(&proof, &page(8, 0, 2), snapshot, 40)));
        assert!(invalid(check(&proof, &page(10, 1, 2), snapshot, 40)));
        // Paths: a cell removed, a non-minimal path, another target.
        assert!(inc_proof.len() > 3, "{}", inc_proof.len());
        let mut short = inc_proof.clone();
        short.remove(1);
        assert!(invalid(check(
            &confirmed(data.clone(), short, t()),
            &p,
            snapshot,
            40
        )));
        let full: Vec<DalCell> = cells
            .iter()
            .rev()
            .take_while(|c| c.index >= target_cell.index)
            .cloned()
            .collect();
        assert!(full.len() > inc_proof.len());
        assert!(invalid(check(
            &confirmed(data.clone(), full, t()),
            &p,
            snapshot,
            40
        )));
        let mut truncated = inc_proof.clone();
        truncated.pop();
        let mut fake = target_cell.clone();
        fake.index += 1;
        assert!(invalid(check(
            &confirmed(data.clone(), truncated, fake),
            &p,
            snapshot,
            40
        )));
        // Another snapshot (an earlier cell, and a forged one with the same index).
        assert!(invalid(check(&proof, &p, &cells[cells.len() - 2], 40)));
        let mut forged = snapshot.clone();
        forged.back_pointers[0] = DalSkipListHash([0; 32]);
        assert!(invalid(check(&proof, &p, &forged, 40)));
        // Unconfirmed for an attested slot; confirmed for an unattested one.
        let unconf = DalProof::Unconfirmed {
            target_cell: t(),
            inc_proof: inc_proof.clone(),
            attestation_threshold_percent: None,
            restricted_commitments_publishers: None,
        };
        assert!(invalid(check(&unconf, &p, snapshot, 40)));
        let p6 = page(6, 1, 0);
        let (unattested, _) =
            produce(&p6, snapshot, &validity(40), LAGS, None, deref_of(&cells)).unwrap();
        let DalProof::Unconfirmed {
            target_cell: t6,
            inc_proof: i6,
            ..
        } = unattested
        else {
            panic!()
        };
        assert!(invalid(check(&confirmed(data, i6, t6), &p6, snapshot, 40)));
        // "Invalid page id" for a valid one, with or without the cell.
        let inv = DalProof::InvalidPageId {
            target_cell_and_inc_proof: None,
            attestation_threshold_percent: None,
            restricted_commitments_publishers: None,
        };
        assert!(invalid(check(&inv, &p, snapshot, 40)));
        let inv_with = DalProof::InvalidPageId {
            target_cell_and_inc_proof: Some((t(), inc_proof)),
            attestation_threshold_percent: None,
            restricted_commitments_publishers: None,
        };
        assert!(invalid(check(&inv_with, &p, snapshot, 40)));
        // The producer refuses mismatched page information.
        let e = produce(&p, snapshot, &validity(40), LAGS, None, deref_of(&cells));
        assert!(matches!(e, Err(ProduceError::Proof(_))));
    }

    /// Page ids invalid for the importing level: too recent (before any lag), attested
    /// after the import (invalid with the cell's exact lag), expired, out of range.
    #[test]
    fn invalid_page_ids() {
        let cells = skip_list(30);
        let snapshot = cells.last().unwrap();
        let p = page(8, 1, 0);
        // Import at 9: 8 + 2 > 9, no lag fits.
        let (proof, data) =
            produce(&p, snapshot, &validity(9), LAGS, None, deref_of(&cells)).unwrap();
        assert!(matches!(
            proof,
            DalProof::InvalidPageId {
                target_cell_and_inc_proof: None,
                ..
            }
        ));
        assert_eq!((check(&proof, &p, snapshot, 9), data), (Ok(None), None));
        // Interval check [1, 8] passes at 9, the cell's lag (2) does not.
        let wide = LagCheck::interval(&[1]);
        let (proof, _) = produce(&p, snapshot, &validity(9), wide, None, deref_of(&cells)).unwrap();
        assert!(matches!(
            proof,
            DalProof::InvalidPageId {
                target_cell_and_inc_proof: Some(_),
                ..
            }
        ));
        let ok = verify(&proof, &p, snapshot, &validity(9), wide, &params(), None);
        assert_eq!(ok, Ok(None));
        // Expired: 8 + 8 + 100 < 117.
        let (proof, _) =
            produce(&p, snapshot, &validity(117), LAGS, None, deref_of(&cells)).unwrap();
        assert!(matches!(proof, DalProof::InvalidPageId { .. }));
        assert_eq!(check(&proof, &p, snapshot, 117), Ok(None));
        let v = validity(40);
        assert!(!v.is_valid(LAGS, &page(8, 1, 4)));
        assert!(!v.is_valid(LAGS, &page(8, 1, -1)));
        assert!(!v.is_valid(LAGS, &page(8, 2, 0)));
        assert!(!v.is_valid(LAGS, &page(1, 0, 0)));
        assert!(v.is_valid(LAGS, &page(8, 1, 3)));
        let off = PageValidity {
            activation_level: None,
            ..v
        };
        assert!(!off.is_valid(LAGS, &page(8, 1, 3)));
        let huge = PageValidity {
            validity_lag: Some(i64::from(i32::MAX)),
            ..v
        };
        assert!(!huge.is_valid(LAGS, &page(8, 1, 3)));
    }

    /// `best_skip` picks the pointer to the smallest pointed index not below the target.
    #[test]
    fn best_skip_is_minimal() {
        let cells = skip_list(40);
        let c = cells.last().unwrap();
        for target in 0..c.index {
            let best = best_skip(c, target).unwrap();
            let pointed = c.pointed_index(best);
            let all: Vec<u64> = (0..c.back_pointers.len())
                .filter_map(|i| c.pointed_index(i))
                .filter(|p| *p >= target)
                .collect();
            assert_eq!(pointed, all.iter().copied().min(), "target {target}");
        }
    }
}
