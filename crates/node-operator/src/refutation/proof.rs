//! The final move's proofs (Octez `Sc_rollup_proof_repr.produce`): the one-tick proof of the
//! step from our state at the chosen tick, with the input proof of what the step reads (an
//! inbox message, the rollup's first input, or a reveal: pre-image, metadata, DAL parameters
//! or a DAL page).

use std::collections::{BTreeMap, HashMap};

use durable_tree::Tree;
use node_follower::follower::{FollowError, L1, Processor};
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
/// and the skip-list cells from the snapshot back to the slot's, read from L1
/// (`skip_list_cells_of_level`, [`CellsByLevel`]). Octez reads the cells from the DAL node
/// (`commitments_history/hash/<h>`), which the sandbox does not serve.
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
    let l1 = p.l1.clone();
    let mut cells = CellsByLevel::new(
        |level| read_cells(&l1, level),
        i64::from(c.params.number_of_slots),
        cell_level(&snapshot),
    );
    let (proof, read) = dal_proof::produce(
        &page,
        &snapshot,
        &validity,
        LagCheck::interval(&c.params.attestation_lags),
        page_info,
        |index, hash| cells.find(index, hash),
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

/// The level of the block that added `cell` to the skip list: its slot's published level plus
/// its lag (an unpublished cell of the current level has lag 0).
fn cell_level(cell: &DalCell) -> i32 {
    let (level, _, lag) = cell.content.id();
    level.get().saturating_add(i32::from(lag.value()))
}

/// The cells one L1 block added to the DAL skip list, with their hashes.
type LevelCells = Vec<(DalSkipListHash, DalCell)>;

/// `GET /chains/main/blocks/<level>/context/dal/skip_list_cells_of_level`, each cell checked
/// against its hash.
fn read_cells(l1: &L1, level: i32) -> Result<LevelCells, FollowError> {
    let v: Value = l1.call(l1.client.get_json(&format!(
        "/chains/main/blocks/{level}/context/dal/skip_list_cells_of_level"
    )))?;
    let bad = |what: String| {
        FollowError::Inconsistent(format!(
            "refutation game: DAL skip-list cells of level {level}: {what}"
        ))
    };
    v.as_array()
        .ok_or_else(|| bad(format!("not a list: {v}")))?
        .iter()
        .map(|pair| {
            let (Some(h), Some(c)) = (pair.get(0).and_then(Value::as_str), pair.get(1)) else {
                return Err(bad(format!("not a [hash, cell] pair: {pair}")));
            };
            let hash = DalSkipListHash::from_b58check(h).map_err(|e| bad(e.to_string()))?;
            let cell = DalCell::from_json(c).map_err(bad)?;
            if cell.hash() != hash {
                return Err(bad(format!("cell {} does not hash to {h}", cell.index)));
            }
            Ok((hash, cell))
        })
        .collect()
}

/// DAL skip-list cells by index, read from the cells each L1 block added (`read`, cached):
/// the level holding an index is searched between the levels already read, guessing from the
/// number of slots (about one cell per slot and level).
struct CellsByLevel<R> {
    read: R,
    slots: i64,
    max_level: i32,
    /// Per level read: the indices of the cells it added.
    levels: BTreeMap<i32, Vec<u64>>,
    by_index: HashMap<u64, (DalSkipListHash, DalCell)>,
}

/// Most levels read to find one cell.
const MAX_CELL_FETCHES: usize = 64;

impl<R: FnMut(i32) -> Result<LevelCells, FollowError>> CellsByLevel<R> {
    /// Cells of the levels up to `max_level` (the snapshot's), `slots` slots per level.
    fn new(read: R, slots: i64, max_level: i32) -> Self {
        Self {
            read,
            slots: slots.max(1),
            max_level,
            levels: BTreeMap::new(),
            by_index: HashMap::new(),
        }
    }

    /// The cell of `index` if its hash is `hash` (`None`: not found or another cell).
    fn find(&mut self, index: u64, hash: &DalSkipListHash) -> Result<Option<DalCell>, FollowError> {
        for _ in 0..MAX_CELL_FETCHES {
            if let Some((h, c)) = self.by_index.get(&index) {
                return Ok((h == hash).then(|| c.clone()));
            }
            let Some(level) = self.next_level(index) else {
                return Ok(None);
            };
            let cells = (self.read)(level)?;
            self.levels
                .insert(level, cells.iter().map(|(_, c)| c.index).collect());
            self.by_index
                .extend(cells.into_iter().map(|(h, c)| (c.index, (h, c))));
        }
        Ok(None)
    }

    /// The next level to read for `index`: between the last level read whose cells are below
    /// it and the first one whose cells are above, guessed from the distance in cells.
    fn next_level(&self, index: u64) -> Option<i32> {
        let below = self
            .levels
            .iter()
            .filter_map(|(l, ix)| Some((*l, *ix.iter().max()?)))
            .rfind(|(_, m)| *m < index);
        let above = self
            .levels
            .iter()
            .filter_map(|(l, ix)| Some((*l, *ix.iter().min()?)))
            .find(|(_, m)| *m > index);
        let steps = |d: u64| {
            i64::try_from(d)
                .ok()
                .and_then(|d| d.checked_div(self.slots))
                .and_then(|s| i32::try_from(s).ok())
                .unwrap_or(i32::MAX)
                .max(1)
        };
        let lo = below.map_or(0, |(l, _)| l);
        let hi = above.map_or(self.max_level.saturating_add(1), |(l, _)| l);
        if hi.saturating_sub(lo) <= 1 {
            return None;
        }
        let guess = match (below, above) {
            (Some((l, max)), _) => l.saturating_add(steps(index.saturating_sub(max))),
            (None, Some((l, min))) => l.saturating_sub(steps(min.saturating_sub(index))),
            (None, None) => self.max_level,
        }
        .clamp(lo.saturating_add(1), hi.saturating_sub(1));
        // The nearest level not read yet in (lo, hi) (a level may add no cell).
        (0..=hi.saturating_sub(lo))
            .flat_map(|d| [guess.saturating_add(d), guess.saturating_sub(d)])
            .find(|l| *l > lo && *l < hi && *l >= 1 && !self.levels.contains_key(l))
    }
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
    use refutation_game::dal_proof::{AttestationLag, DalCellContent};

    /// A skip list where level L adds `L mod 4` cells (none at multiples of 4).
    fn chain(levels: i32) -> BTreeMap<i32, LevelCells> {
        let mut out = BTreeMap::new();
        let mut last: Option<DalCell> = None;
        for l in 1..=levels {
            let mut cells = Vec::new();
            for i in 0..u8::try_from(l % 4).unwrap() {
                let content = DalCellContent::Unpublished {
                    published_level: Level::new(l).unwrap(),
                    index: i,
                    attestation_lag: AttestationLag::Dynamic(0),
                };
                let c = match &last {
                    None => DalCell {
                        index: 0,
                        content,
                        back_pointers: vec![],
                    },
                    Some(p) => p.next(content).unwrap(),
                };
                cells.push((c.hash(), c.clone()));
                last = Some(c);
            }
            out.insert(l, cells);
        }
        out
    }

    /// Every cell is found from the snapshot's level by its index, in few reads; an index
    /// beyond the list or a wrong hash is not found.
    #[test]
    fn cells_are_found_by_index() {
        let chain = chain(200);
        let all: Vec<&(DalSkipListHash, DalCell)> = chain.values().flatten().collect();
        let reads = std::cell::Cell::new(0);
        let mut finder = CellsByLevel::new(
            |l| {
                reads.set(reads.get() + 1);
                Ok(chain.get(&l).cloned().unwrap_or_default())
            },
            3,
            200,
        );
        for (h, c) in all.iter().rev().step_by(7) {
            let before = reads.get();
            assert_eq!(finder.find(c.index, h).unwrap().as_ref(), Some(c));
            assert!(reads.get() - before <= 12, "{} reads", reads.get() - before);
        }
        let (h, c) = all[5];
        assert_eq!(
            finder.find(c.index, &DalSkipListHash([0; 32])).unwrap(),
            None
        );
        assert_eq!(finder.find(c.index, h).unwrap().as_ref(), Some(c));
        assert_eq!(finder.find(10_000, h).unwrap(), None);
    }
}
