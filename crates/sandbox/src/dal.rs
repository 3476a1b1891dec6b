//! The sandbox's DAL: published slot headers, the skip-list cells each block records, and the
//! DAL-node side (slot commitments and pages).
//!
//! What the protocol does (docs/reference/dal.md §1; U025 `dal_slot_storage.ml`
//! `update_skip_list`, `dal_slot_repr.ml` `History`), for a block of level L when
//! `dal_parametric.feature_enable` is true:
//! 1. the headers published at P = L − `attestation_lag` get one `published` cell each (slot
//!    index ascending) with `attestation_lag` = L − P (the "dynamic" encoding, tag 5),
//!    `is_proto_attested`, `attested_shards` and `total_shards`;
//! 2. every slot index with no header published at L gets an `unpublished` cell of level L and
//!    lag 0 (tag 4); slots published at L get their cell later (step 1, at L + lag).
//!
//! Cells ([`tezos_types::dal::DalCell`]: content, encodings, hash, back pointers) are chained
//! in a skip list of basis 4 (`src/lib_base/skip_list.ml`): the first real cell replaces the
//! genesis one (index 0, no back pointers); the next has index + 1 and back pointer i = the
//! previous cell's hash when index mod 4^i = 0, else the previous cell's pointer i. A cell's
//! hash (`dask1…`) is Blake2b-256 of its content's binary encoding ‖ its back pointers.
//!
//! Sandbox model: every published slot is attested exactly at P + `attestation_lag` (the
//! protocol may attest earlier with dynamic lags; the sandbox does not), all shards attested,
//! except the slot indices listed in the constants' `sandbox_dal_unattested_slots`
//! (`is_proto_attested: false`, 0 shards).
//!
//! **Commitments are KZG with Octez's test SRS** (`dal_crypto`, Octez
//! `src/lib_crypto_dal/cryptobox.ml`): the commitment of a slot is `[P(τ)]_1` (48 bytes,
//! `sh1…`), its proof the degree proof `[P(τ)·τ^s]_2` (96 bytes), and page proofs open the
//! commitment at a page's coset. τ is Octez's public test secret (`Srs.Internal_for_tests`,
//! what a DAL node started with `use_mock_srs_for_testing` uses), so anyone can forge proofs:
//! commitments and proofs are Octez's test ones, never mainnet's (ZCash SRS). Parameters
//! need only the page layout of `dal_crypto::Parameters::check_page_layout` (power-of-two
//! domains); Octez's other checks (page size ≥ 32, shard counts) are not applied, so small
//! test slots work. Provers and verifiers are built once per parameters and cached for the
//! process (a prover for the mainnet slot size takes seconds in a debug build).

use std::collections::BTreeMap;
use std::sync::Arc;

use dal_crypto::{Prover, Verifier};
use parking_lot::Mutex;

use serde_json::{Value, json};
use tezos_types::dal::{AttestationLag, DalCell, DalCellContent, next_back_pointers};
use tezos_types::operation::DalCommitmentProof;
use tezos_types::{Contract, DalCommitment, DalSkipListHash, Level, PublicKeyHash};

use crate::constants::DalParametric;

/// A published slot header and its publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedHeader {
    /// The slot's commitment.
    pub commitment: DalCommitment,
    /// Who published it (an implicit account: the operation's source).
    pub publisher: PublicKeyHash,
}

/// Why a `dal_publish_commitment` cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// Another header is already published for this slot at this level.
    Duplicate(PublishedHeader),
}

/// The DAL part of the L1 state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DalState {
    /// Headers published at levels whose cells are not recorded yet: published level → slot
    /// index → header.
    pub pending: BTreeMap<i32, BTreeMap<u8, PublishedHeader>>,
    /// The last cell of the skip list and its hash (`None`: still the genesis cell).
    pub last: Option<(DalCell, DalSkipListHash)>,
    /// The cells the last finalized block added, in insertion order
    /// (`skip_list_cells_of_level`).
    pub level_cells: Vec<(DalSkipListHash, DalCell)>,
}

impl DalState {
    /// Registers a header published at `level` (`Dal_slot_storage.register_slot_header`: at
    /// most one per slot and level).
    pub fn publish(
        &mut self,
        level: i32,
        index: u8,
        header: PublishedHeader,
    ) -> Result<(), PublishError> {
        let slots = self.pending.entry(level).or_default();
        if let Some(existing) = slots.get(&index) {
            return Err(PublishError::Duplicate(*existing));
        }
        slots.insert(index, header);
        Ok(())
    }

    /// Appends `content` to the skip list (`Skip_list.next` with the stored hash of the last
    /// cell); `None` on an index overflow.
    fn add(&mut self, content: DalCellContent) -> Option<()> {
        let cell = match &self.last {
            None => DalCell {
                index: 0,
                content,
                back_pointers: Vec::new(),
            },
            Some((prev, prev_hash)) => {
                let (index, back_pointers) =
                    next_back_pointers(prev.index, *prev_hash, &prev.back_pointers)?;
                DalCell {
                    index,
                    content,
                    back_pointers,
                }
            }
        };
        let h = cell.hash();
        self.level_cells.push((h, cell.clone()));
        self.last = Some((cell, h));
        Some(())
    }

    /// Records the cells of the block of `level` (see the module documentation); with the
    /// feature disabled the block records none. `unattested` lists the slot indices left
    /// unattested.
    pub fn finalize(&mut self, level: i32, p: &DalParametric, unattested: &[u8]) {
        self.level_cells.clear();
        if !p.feature_enable || p.attestation_lag == 0 {
            return;
        }
        let lag = p.attestation_lag;
        let Some(this_level) = Level::new(level) else {
            tracing::error!("DAL cells of a negative level {level}");
            return;
        };
        let mut contents = Vec::new();
        if let Some(published_level) = level.checked_sub(i32::from(lag))
            && let Some(headers) = self.pending.remove(&published_level)
            && let Some(published_level) = Level::new(published_level)
        {
            for (index, header) in headers {
                let attested = !unattested.contains(&index);
                contents.push(DalCellContent::Published {
                    published_level,
                    index,
                    commitment: header.commitment,
                    publisher: Contract::Implicit(header.publisher),
                    is_proto_attested: attested,
                    attested_shards: if attested { p.number_of_shards } else { 0 },
                    total_shards: p.number_of_shards,
                    attestation_lag: AttestationLag::Dynamic(lag),
                });
            }
        }
        // Levels that can no longer be finalized (e.g. published before a restart with
        // another lag) are dropped.
        let oldest = level.saturating_sub(i32::from(lag));
        self.pending.retain(|l, _| *l > oldest);
        let current = self.pending.get(&level);
        let slots = u8::try_from(p.number_of_slots.saturating_sub(1)).unwrap_or(u8::MAX);
        for index in 0..=slots {
            if current.is_none_or(|s| !s.contains_key(&index)) {
                contents.push(DalCellContent::Unpublished {
                    published_level: this_level,
                    index,
                    attestation_lag: AttestationLag::Dynamic(0),
                });
            }
        }
        for c in contents {
            if self.add(c).is_none() {
                tracing::error!("DAL skip list index overflow at level {level}");
                return;
            }
        }
    }

    /// The cell of `hash` among those this block added.
    pub fn cell(&self, hash: &DalSkipListHash) -> Option<&DalCell> {
        self.level_cells
            .iter()
            .find_map(|(h, c)| (h == hash).then_some(c))
    }

    /// `GET …/context/dal/skip_list_cells_of_level`: `[[hash, cell], …]`.
    pub fn cells_json(&self) -> Value {
        Value::Array(
            self.level_cells
                .iter()
                .map(|(h, c)| json!([h.to_b58check(), c.to_json()]))
                .collect(),
        )
    }
}

/// The cryptobox parameters of the constants.
pub fn crypto_parameters(p: &DalParametric) -> dal_crypto::Parameters {
    dal_crypto::Parameters {
        redundancy_factor: usize::from(p.redundancy_factor),
        page_size: usize::from(p.page_size),
        slot_size: usize::try_from(p.slot_size).unwrap_or(0),
        number_of_shards: usize::from(p.number_of_shards),
    }
}

/// Provers built so far, one per parameters (a prover computes its SRS points once).
static PROVERS: Mutex<Vec<(dal_crypto::Parameters, Arc<Prover>)>> = Mutex::new(Vec::new());
/// Verifiers built so far, one per parameters.
static VERIFIERS: Mutex<Vec<(dal_crypto::Parameters, Arc<Verifier>)>> = Mutex::new(Vec::new());

/// The (cached) prover of `p` with Octez's test SRS; the error names the parameters.
pub fn prover(p: &DalParametric) -> Result<Arc<Prover>, String> {
    let params = crypto_parameters(p);
    let mut cache = PROVERS.lock();
    if let Some((_, pr)) = cache.iter().find(|(q, _)| *q == params) {
        return Ok(pr.clone());
    }
    let pr = Arc::new(Prover::mock(params).map_err(|e| format!("dal_parametric: {e}"))?);
    cache.push((params, pr.clone()));
    Ok(pr)
}

/// The (cached) verifier of `p` with Octez's test SRS.
pub fn verifier(p: &DalParametric) -> Result<Arc<Verifier>, String> {
    let params = crypto_parameters(p);
    let mut cache = VERIFIERS.lock();
    if let Some((_, v)) = cache.iter().find(|(q, _)| *q == params) {
        return Ok(v.clone());
    }
    let v = Arc::new(Verifier::mock(params).map_err(|e| format!("dal_parametric: {e}"))?);
    cache.push((params, v.clone()));
    Ok(v)
}

/// The commitment and commitment proof of a padded slot (the DAL node's `POST /slots`).
pub fn commit_slot(
    p: &DalParametric,
    padded: &[u8],
) -> Result<(DalCommitment, DalCommitmentProof), String> {
    let (c, proof) = prover(p)?.commit_slot(padded).map_err(|e| e.to_string())?;
    Ok((DalCommitment(c), DalCommitmentProof(proof)))
}

/// Whether `proof` is a valid degree proof of `commitment` (`Dal_apply` →
/// `Cryptobox.verify_commitment`); false too when the parameters have no cryptobox.
pub fn commitment_proof_is_valid(
    p: &DalParametric,
    commitment: &DalCommitment,
    proof: &DalCommitmentProof,
) -> bool {
    verifier(p).is_ok_and(|v| v.verify_commitment(&commitment.0, &proof.0).is_ok())
}

/// The proof of page `page_index` of a padded slot (`Cryptobox.prove_page`; the DAL node's
/// `GET /levels/<l>/slots/<i>/pages/<p>/proof`); encoded as a commitment (`sh1…`), as Octez's
/// `page_proof_encoding` is the commitment's.
pub fn page_proof(
    p: &DalParametric,
    padded: &[u8],
    page_index: usize,
) -> Result<DalCommitment, dal_crypto::Error> {
    let pr = prover(p).map_err(dal_crypto::Error::InvalidParameters)?;
    pr.prove_page_of_slot(padded, page_index).map(DalCommitment)
}

/// Pads `data` to `slot_size` with `padding` (Octez DAL node `POST /slots`); refuses data
/// longer than a slot.
pub fn pad_slot(data: &[u8], slot_size: i32, padding: u8) -> Result<Vec<u8>, String> {
    let size = usize::try_from(slot_size).map_err(|_| format!("bad slot_size {slot_size}"))?;
    if data.len() > size {
        return Err(format!(
            "the slot is {} bytes, more than dal_parametric.slot_size ({size} bytes): split it \
             over several slots",
            data.len()
        ));
    }
    let mut v = data.to_vec();
    v.resize(size, padding);
    Ok(v)
}

/// The pages of a padded slot, hex (`GET /levels/<l>/slots/<i>/pages`).
pub fn pages_json(slot: &[u8], page_size: u16) -> Value {
    Value::Array(
        slot.chunks(usize::from(page_size.max(1)))
            .map(|p| Value::String(hex::encode(p)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DalParametric {
        DalParametric {
            feature_enable: true,
            number_of_slots: 4,
            attestation_lag: 2,
            attestation_lags: vec![2],
            ..DalParametric::default()
        }
    }

    fn header(n: u8) -> PublishedHeader {
        PublishedHeader {
            commitment: DalCommitment([n; 48]),
            publisher: "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap(),
        }
    }

    #[test]
    fn finalize_records_published_then_unpublished() {
        let p = params();
        let mut d = DalState::default();
        d.finalize(2, &p, &[]);
        assert_eq!(d.level_cells.len(), 4);
        assert_eq!(d.level_cells[0].1.index, 0);
        d.publish(3, 1, header(1)).unwrap();
        d.publish(3, 2, header(2)).unwrap();
        assert_eq!(
            d.publish(3, 1, header(9)),
            Err(PublishError::Duplicate(header(1)))
        );
        d.finalize(3, &p, &[2]);
        // Slots 1 and 2 are published at 3: only 0 and 3 are unpublished now.
        let idx: Vec<u8> = d
            .level_cells
            .iter()
            .map(|(_, c)| match c.content {
                DalCellContent::Unpublished { index, .. } => index,
                DalCellContent::Published { .. } => 100,
            })
            .collect();
        assert_eq!(idx, vec![0, 3]);
        d.finalize(4, &p, &[2]);
        assert_eq!(d.level_cells.len(), 4);
        d.finalize(5, &p, &[2]);
        let first: Vec<_> = d
            .level_cells
            .iter()
            .take(2)
            .map(|(_, c)| c.content.clone())
            .collect();
        let lvl = |l| Level::new(l).unwrap();
        assert!(matches!(
            &first[0],
            DalCellContent::Published {
                published_level,
                index: 1,
                is_proto_attested: true,
                attestation_lag: AttestationLag::Dynamic(2),
                publisher: Contract::Implicit(p),
                commitment,
                ..
            } if *published_level == lvl(3) && *p == header(1).publisher
                && *commitment == header(1).commitment
        ));
        assert!(matches!(
            &first[1],
            DalCellContent::Published {
                published_level,
                index: 2,
                is_proto_attested: false,
                attested_shards: 0,
                ..
            } if *published_level == lvl(3)
        ));
        // Chained: each cell's first back pointer is the previous cell's hash.
        let (h0, c0) = &d.level_cells[0];
        assert_eq!(d.level_cells[1].1.back_pointers[0], *h0);
        assert_eq!(c0.hash(), *h0);
        assert_eq!(d.level_cells.len(), 6);
        assert!(d.pending.is_empty());
        // Indices are consecutive across levels.
        assert_eq!(d.level_cells[0].1.index, 10);
        // Disabled: nothing.
        d.finalize(6, &DalParametric::default(), &[]);
        assert!(d.level_cells.is_empty());
    }

    #[test]
    fn slots_and_pages() {
        let s = pad_slot(b"abc", 8, 0).unwrap();
        assert_eq!(s, b"abc\0\0\0\0\0");
        assert!(pad_slot(&[0; 9], 8, 0).unwrap_err().contains("slot_size"));
        assert_eq!(pages_json(&s, 4), json!(["61626300", "00000000"]));
    }

    /// Commitments, their proofs and page proofs with small test parameters (4 pages of 16
    /// bytes; Octez's cryptobox would refuse pages under 32 bytes, this one does not).
    #[test]
    fn kzg_commitments_and_page_proofs() {
        let p = DalParametric {
            slot_size: 64,
            page_size: 16,
            number_of_shards: 64,
            ..DalParametric::default()
        };
        let s = pad_slot(b"hello DAL", 64, 0).unwrap();
        let (c, proof) = commit_slot(&p, &s).unwrap();
        assert!(c.to_b58check().starts_with("sh"), "{c}");
        assert_eq!(c.to_b58check().parse::<DalCommitment>(), Ok(c));
        assert!(commitment_proof_is_valid(&p, &c, &proof));
        let (c2, proof2) = commit_slot(&p, &pad_slot(b"hello DAM", 64, 0).unwrap()).unwrap();
        assert_ne!(c, c2);
        assert!(!commitment_proof_is_valid(&p, &c, &proof2));
        assert!(commit_slot(&p, &s[1..]).is_err());
        let v = verifier(&p).unwrap();
        for i in 0..4 {
            let pp = page_proof(&p, &s, i).unwrap();
            let page = &s[i * 16..(i + 1) * 16];
            v.verify_page(&c.0, i, page, &pp.0).unwrap();
            assert!(v.verify_page(&c2.0, i, page, &pp.0).is_err());
        }
        assert!(page_proof(&p, &s, 4).is_err());
        // Parameters without a radix-2 layout: no cryptobox, proofs refused.
        let odd = DalParametric {
            slot_size: 96,
            page_size: 32,
            ..p
        };
        assert!(commit_slot(&odd, &[0; 96]).is_err());
        assert!(!commitment_proof_is_valid(&odd, &c, &proof));
    }
}
