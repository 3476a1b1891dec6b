//! The final move's proofs (Octez `Sc_rollup_proof_repr.produce`): the one-tick proof of the
//! step from our state at the chosen tick, with the input proof of what the step reads (an
//! inbox message, the rollup's first input, or a reveal: pre-image, metadata, DAL parameters
//! or a DAL page).

use std::collections::HashMap;

use durable_tree::Tree;
use node_follower::follower::{FollowError, Processor};
use refutation_game::Game;
use refutation_game::dal_proof::{self, DalCell, LagCheck, PageValidity, ProduceError};
use serde_json::Value;
use tezos_types::operation::{DalPageId, InputProof, RevealProof};
use tezos_types::reveal::RevealRequest;
use tezos_types::{DalSkipListHash, Level, Tick};

use super::{replay_error, reveal_fetch_error};

/// The one-tick proof of the step from our state `tree` at `choice`, with the input it reads, and the
/// state's tick tag (for the log).
pub(super) fn final_proof(
    p: &mut Processor,
    game: &Game,
    choice: Tick,
    tree: &Tree,
) -> Result<(Vec<u8>, Option<InputProof>, &'static str), FollowError> {
    let tick_error = |e: pvm_tick::TickError| {
        FollowError::Inconsistent(format!("refutation game: proving tick {choice}: {e}"))
    };
    // What the state reads (Octez `Sc_rollup_proof_repr.produce`): a reveal, an inbox
    // message (or the rollup's first one), or nothing.
    let (input, input_proof) =
        if let Some(request) = pvm_tick::reveal_request(tree).map_err(tick_error)? {
            let (data, reveal_proof) = reveal_proof(p, game, choice, tree, &request)?;
            (
                Some(pvm_tick::Input::Reveal(data)),
                Some(InputProof::RevealProof { reveal_proof }),
            )
        } else if pvm_tick::is_input_state(tree).map_err(tick_error)? {
            let last = wasm_pvm::last_input_of(tree).map_err(|e| replay_error(e.into()))?;
            match last {
                // The rollup's first input (`First_inbox_message`): `Start_of_level` of the level
                // after the origination.
                None => {
                    let level = p
                        .rollup
                        .origination_level
                        .succ()
                        .ok_or(FollowError::Overflow("inbox level"))?;
                    let input = pvm_tick::Input::Message {
                        level: level.to_u32(),
                        counter: 0,
                        payload: vec![0, 1],
                    };
                    (Some(input), Some(InputProof::FirstInput))
                }
                Some(i) => {
                    let (proof, input) = inbox_proof(p, game, i.level, i.counter)?;
                    (input, Some(proof))
                }
            }
        } else {
            (None, None)
        };
    let tag = pvm_tick::tick_tag(tree).map_err(tick_error)?.name();
    let (pvm_step, _) = pvm_tick::produce_proof(tree, input.as_ref()).map_err(tick_error)?;
    Ok((pvm_step, input_proof, tag))
}

/// The answer to the reveal `request` (the same bytes the fast execution reveals) and its proof
/// (`Sc_rollup_proof_repr.produce`, `Needs_reveal`): the pre-image for raw data (a malformed
/// request asks for the well-known hash's, the empty string), nothing but the kind for the
/// metadata and the DAL parameters (the L1 derives their data from the rollup and the protocol),
/// the DAL skip-list proof for a DAL page ([`dal_page_proof`]). Data that cannot be fetched
/// (pre-image, L1, DAL node) is an operational error: the move is retried.
fn reveal_proof(
    p: &mut Processor,
    game: &Game,
    choice: Tick,
    tree: &Tree,
    request: &[u8],
) -> Result<(Vec<u8>, RevealProof), FollowError> {
    let kind = RevealRequest::decode(request);
    if matches!(
        kind,
        RevealRequest::DalParameters | RevealRequest::DalPage { .. }
    ) {
        // `find_dal_parameters` at the proved state's level (its last input's, else the
        // origination level), as `produce` reads them; a DAL page is valid or not for it.
        let level = state_level(p, tree)?.to_u32();
        wasm_pvm::RevealHandler::set_inbox_level(&mut p.reveal, level);
    }
    let data = wasm_pvm::RevealHandler::reveal(&mut p.reveal, request)
        .map_err(|e| reveal_fetch_error(choice, e))?;
    let proof = match kind {
        RevealRequest::Metadata => RevealProof::MetadataProof,
        RevealRequest::DalParameters => RevealProof::DalParametersProof,
        RevealRequest::DalPage {
            published_level,
            slot_index,
            page_index,
        } => {
            let page = DalPageId {
                published_level: Level::new(published_level)
                    .ok_or(FollowError::NegativeLevel(published_level))?,
                slot_index,
                page_index,
            };
            dal_page_proof(p, game, choice, tree, page, &data)?
        }
        _ => RevealProof::RawDataProof {
            raw_data: data.clone(),
        },
    };
    Ok((data, proof))
}

/// The inbox level of the state (its last input's, else the origination level: Octez
/// `get_current_level` with the default of `produce`).
fn state_level(p: &Processor, tree: &Tree) -> Result<Level, FollowError> {
    match wasm_pvm::last_input_of(tree).map_err(|e| replay_error(e.into()))? {
        Some(input) => Level::from_u32(input.level).ok_or(FollowError::Overflow("inbox level")),
        None => Ok(p.rollup.origination_level),
    }
}

/// The DAL page proof of `page` against the game's DAL snapshot (Octez
/// `refutation_game_helpers.ml` `generate_proof` then `Dal_helpers.produce`): the page id's
/// validity with the constants of its published level, the page the kernel reads (`data`,
/// empty when the page id is invalid or the slot not attested: `preimages::dal::page`'s
/// answer) with its KZG proof from the DAL node (`GET /levels/<l>/slots/<i>/pages/<p>/proof`),
/// and the skip-list cells from the snapshot back to the slot's, read by hash from the DAL
/// node as the search follows back pointers (`GET /plugin/<protocol>/commitments_history/
/// hash/<h>`, the protocol of L1's head as Octez's `last_proto_plugin`; [`dal_node_cells`]).
/// The DAL node keeps the cells for the refutation window, where L1 keeps the context of
/// recent levels only.
fn dal_page_proof(
    p: &mut Processor,
    game: &Game,
    choice: Tick,
    tree: &Tree,
    page: DalPageId,
    data: &[u8],
) -> Result<RevealProof, FollowError> {
    let inconsistent = |what: String| {
        FollowError::Inconsistent(format!(
            "refutation game: the DAL page proof of the step at tick {choice}: {what}"
        ))
    };
    let fetch = |e: &dyn std::fmt::Display| {
        reveal_fetch_error(choice, wasm_pvm::RevealError(e.to_string()))
    };
    let level = page.published_level.get();
    let c = p.reveal.dal_constants(level).map_err(|e| fetch(&e))?;
    let import_inbox_level = state_level(p, tree)?;
    let validity = PageValidity {
        number_of_slots: c.params.number_of_slots,
        pages_per_slot: i64::from(c.pages_per_slot()),
        activation_level: c.activation_level.and_then(Level::new),
        origination_level: p.rollup.origination_level,
        import_inbox_level,
        validity_lag: c.validity_lag.map(i64::from),
    };
    // `page_content` answers a page only for a valid page id of an attested slot, whose
    // pages are never empty.
    let page_info = if data.is_empty() {
        None
    } else {
        let proof = p
            .reveal
            .dal_page_proof(level, page.slot_index, page.page_index)
            .map_err(|e| fetch(&e))?;
        Some((data.to_vec(), proof))
    };
    let snapshot = game
        .dal_snapshot
        .cell()
        .map_err(|e| inconsistent(format!("the game's DAL snapshot does not decode: {e}")))?;
    let protocol =
        p.l1.call(p.l1.client.block_protocols("main", "head"))?
            .protocol;
    let reveal = &mut p.reveal;
    let (proof, read) = dal_proof::produce(
        &page,
        &snapshot,
        &validity,
        LagCheck::interval(&c.params.attestation_lags),
        page_info,
        dal_node_cells(|hash| {
            reveal
                .dal_skip_list_cell(&protocol, hash)
                .map_err(|e| fetch(&e))
        }),
    )
    .map_err(|e| match e {
        ProduceError::Deref(e) => e,
        ProduceError::Proof(why) => inconsistent(why),
    })?;
    if read.as_deref().unwrap_or_default() != data {
        return Err(inconsistent(format!(
            "the proof gives {} bytes, the kernel reads {}",
            read.map_or(0, |r| r.len()),
            data.len()
        )));
    }
    Ok(RevealProof::DalPageProof {
        dal_page_id: page,
        dal_proof: proof.encode(),
    })
}

/// The `deref` of the skip-list search over the DAL node's cells (`fetch`: its answer for a
/// hash, `None` for a 404; Octez `Dal_with_history.get_history`), each checked by
/// [`checked_cell`] (a cell that does not check is an inconsistent DAL node) and kept for the
/// searches under the other lags, which walk the same cells.
fn dal_node_cells(
    mut fetch: impl FnMut(&DalSkipListHash) -> Result<Option<Value>, FollowError>,
) -> impl FnMut(u64, &DalSkipListHash) -> Result<Option<DalCell>, FollowError> {
    let mut known: HashMap<DalSkipListHash, Option<DalCell>> = HashMap::new();
    move |index, hash| {
        if let Some(c) = known.get(hash) {
            return Ok(c.clone().filter(|c| c.index == index));
        }
        let answer = fetch(hash)?;
        let cell = checked_cell(answer.as_ref(), index, hash).map_err(|why| {
            FollowError::Inconsistent(format!(
                "refutation game: the DAL node's skip-list cell {hash}: {why}"
            ))
        })?;
        known.insert(*hash, cell.clone());
        Ok(cell)
    }
}

/// The DAL node's answer for the cell of `hash` that back pointer leads to, `index` being the
/// index the pointer implies (`None`: no such cell): it must decode (`History.encoding`), hash
/// to `hash` and have that index. Octez takes the answer as it comes; a wrong cell would make a
/// proof L1 refuses.
fn checked_cell(
    answer: Option<&Value>,
    index: u64,
    hash: &DalSkipListHash,
) -> Result<Option<DalCell>, String> {
    let Some(v) = answer else {
        return Ok(None);
    };
    let cell = DalCell::from_json(v)?;
    if cell.hash() != *hash {
        return Err(format!("the cell answered hashes to {}", cell.hash()));
    }
    if cell.index != index {
        return Err(format!(
            "the cell has index {}, its back pointer leads to index {index}",
            cell.index
        ));
    }
    Ok(Some(cell))
}

/// The inbox proof of the message after `(level, counter)` against the game's inbox snapshot,
/// and the input the PVM step reads (none beyond the game's levels).
fn inbox_proof(
    p: &Processor,
    game: &Game,
    level: u32,
    counter: u64,
) -> Result<(InputProof, Option<pvm_tick::Input>), FollowError> {
    let level = Level::from_u32(level).ok_or(FollowError::Overflow("inbox level"))?;
    let store = &p.store;
    let (proof, input) = refutation_game::produce_inbox_input_proof(
        &game.inbox_snapshot,
        |h| store.inbox(h).map(|i| i.map(|i| i.old_levels_messages)),
        |w| store.messages(w),
        level,
        counter,
        p.rollup.origination_level,
        game.inbox_level,
    )
    .map_err(|e| {
        FollowError::Inconsistent(format!(
            "refutation game: the inbox proof of the message after ({level}, {counter}): {e}"
        ))
    })?;
    let input = input.map(|i| match i {
        refutation_game::StepInput::Message {
            level,
            counter,
            payload,
        } => pvm_tick::Input::Message {
            level: level.to_u32(),
            counter,
            payload,
        },
        refutation_game::StepInput::Reveal(b) => pvm_tick::Input::Reveal(b),
    });
    Ok((proof, input))
}

#[cfg(test)]
mod tests {
    use super::*;
    use refutation_game::DalProof;
    use refutation_game::dal_proof::{AttestationLag, DalCellContent};

    fn lvl(l: i32) -> Level {
        Level::new(l).unwrap()
    }

    /// Levels 1 to 100 as the protocol fills the skip list with two slots, slot 1 published
    /// (and not attested) at every level with lag 2: at level L the cell of slot 1 published
    /// at L − 2, then the `unpublished` cell of slot 0 at L.
    fn skip_list() -> Vec<DalCell> {
        let mut contents = Vec::new();
        for l in 1..=100 {
            if l > 2 {
                contents.push(DalCellContent::Published {
                    published_level: lvl(l - 2),
                    index: 1,
                    commitment: tezos_types::DalCommitment([1; 48]),
                    publisher: "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap(),
                    is_proto_attested: false,
                    attested_shards: 0,
                    total_shards: 64,
                    attestation_lag: AttestationLag::Dynamic(2),
                });
            }
            contents.push(DalCellContent::Unpublished {
                published_level: lvl(l),
                index: 0,
                attestation_lag: AttestationLag::Dynamic(0),
            });
        }
        let mut cells: Vec<DalCell> = Vec::new();
        for content in contents {
            cells.push(match cells.last() {
                None => DalCell {
                    index: 0,
                    content,
                    back_pointers: vec![],
                },
                Some(prev) => prev.next(content).unwrap(),
            });
        }
        cells
    }

    /// The proof of page 0 of slot 1 published at level 7, from the last cell, over the DAL
    /// node `answer` (its answer for a hash); the hashes asked for.
    fn prove(
        answer: impl Fn(&DalSkipListHash) -> Option<Value>,
        snapshot: &DalCell,
    ) -> (
        Result<DalProof, ProduceError<FollowError>>,
        Vec<DalSkipListHash>,
    ) {
        let validity = PageValidity {
            number_of_slots: 2,
            pages_per_slot: 4,
            activation_level: Some(lvl(1)),
            origination_level: Level::ZERO,
            import_inbox_level: lvl(100),
            validity_lag: Some(1000),
        };
        let page = DalPageId {
            published_level: lvl(7),
            slot_index: 1,
            page_index: 0,
        };
        let mut asked = Vec::new();
        let r = dal_proof::produce(
            &page,
            snapshot,
            &validity,
            LagCheck::interval(&[0]),
            None,
            dal_node_cells(|h| {
                asked.push(*h);
                Ok(answer(h))
            }),
        );
        (r.map(|(p, _)| p), asked)
    }

    /// The search walks from the snapshot along back pointers, asking the DAL node only for
    /// the cells it follows (a few per power of 4, each once although the slot's cell is
    /// searched under several lags), and proves the slot's cell.
    #[test]
    fn the_walk_asks_the_dal_node_for_the_cells_on_the_path() {
        let cells = skip_list();
        let by_hash: HashMap<DalSkipListHash, Value> =
            cells.iter().map(|c| (c.hash(), c.to_json())).collect();
        let snapshot = cells.last().unwrap();
        let (proof, asked) = prove(|h| by_hash.get(h).cloned(), snapshot);
        let Ok(DalProof::Unconfirmed {
            target_cell,
            inc_proof,
            ..
        }) = proof
        else {
            panic!("{proof:?}");
        };
        // Level 9 adds the cell of slot 1 published at 7 after the 14 cells of levels 1–8.
        let target = &cells[14];
        assert!(matches!(
            target.content,
            DalCellContent::Published { published_level, index: 1, .. }
                if published_level == lvl(7)
        ));
        assert_eq!(target_cell, *target);
        assert_eq!(inc_proof.first(), Some(snapshot));
        assert_eq!(inc_proof.last(), Some(target));
        for w in inc_proof.windows(2) {
            assert!(w[0].back_pointers.contains(&w[1].hash()));
        }
        assert!(asked.len() <= 30, "{} cells asked for", asked.len());
        let mut distinct = asked.clone();
        distinct.sort_by_key(|h| h.0);
        distinct.dedup();
        assert_eq!(distinct.len(), asked.len(), "a cell asked for twice");
        // Every hash asked for is a back pointer of the snapshot or of a cell answered.
        let mut known: Vec<DalSkipListHash> = snapshot.back_pointers.clone();
        for h in &asked {
            assert!(known.contains(h));
            known.extend(
                cells
                    .iter()
                    .find(|c| c.hash() == *h)
                    .unwrap()
                    .back_pointers
                    .clone(),
            );
        }
    }

    /// A cell the DAL node does not have (404) ends the search: no proof, not an error of the
    /// DAL node; a cell that is not the one asked for is refused.
    #[test]
    fn missing_and_wrong_cells() {
        let cells = skip_list();
        let snapshot = cells.last().unwrap();
        let (proof, _) = prove(|_| None, snapshot);
        assert!(
            matches!(&proof, Err(ProduceError::Proof(why)) if why.contains("Deref_returned_none")),
            "{proof:?}"
        );
        let (proof, asked) = prove(|_| Some(cells[5].to_json()), snapshot);
        assert_eq!(asked.len(), 1);
        assert!(
            matches!(&proof, Err(ProduceError::Deref(FollowError::Inconsistent(why)))
                if why.contains("hashes to")),
            "{proof:?}"
        );
    }

    /// A cell must decode, hash to the pointer and have the pointer's index.
    #[test]
    fn cells_are_checked() {
        let cells = skip_list();
        let c = &cells[9];
        let h = c.hash();
        assert_eq!(checked_cell(Some(&c.to_json()), 9, &h), Ok(Some(c.clone())));
        assert_eq!(checked_cell(None, 9, &h), Ok(None));
        assert!(
            checked_cell(Some(&c.to_json()), 8, &h)
                .unwrap_err()
                .contains("index 9")
        );
        assert!(checked_cell(Some(&c.to_json()), 9, &cells[8].hash()).is_err());
        assert!(checked_cell(Some(&serde_json::json!({"kind": "x"})), 9, &h).is_err());
    }
}
