//! The final move's proofs (Octez `Sc_rollup_proof_repr.produce`): the one-tick proof of the
//! step from our state at the chosen tick, with the input proof of what the step reads (an
//! inbox message, the rollup's first input, or a reveal: pre-image, metadata or DAL parameters).

use durable_tree::Tree;
use node_follower::follower::{FollowError, Processor};
use refutation_game::Game;
use tezos_types::operation::{InputProof, RevealProof};
use tezos_types::reveal::RevealRequest;
use tezos_types::{Level, Tick};

use super::replay_error;

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
            let (data, reveal_proof) = reveal_proof(p, choice, tree, &request)?;
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
/// metadata and the DAL parameters (the L1 derives their data from the rollup and the protocol).
/// DAL page proofs are not produced.
fn reveal_proof(
    p: &mut Processor,
    choice: Tick,
    tree: &Tree,
    request: &[u8],
) -> Result<(Vec<u8>, RevealProof), FollowError> {
    let kind = RevealRequest::decode(request);
    if let RevealRequest::DalPage { .. } = kind {
        return Err(FollowError::Inconsistent(format!(
            "refutation game: the step at tick {choice} reveals a DAL page, whose proof this \
             node does not produce yet"
        )));
    }
    if kind == RevealRequest::DalParameters {
        // `find_dal_parameters` at the proved state's level (its last input's, else the
        // origination level), as `produce` reads them.
        let level = match wasm_pvm::last_input_of(tree).map_err(|e| replay_error(e.into()))? {
            Some(input) => input.level,
            None => p.rollup.origination_level.to_u32(),
        };
        wasm_pvm::RevealHandler::set_inbox_level(&mut p.reveal, level);
    }
    let data = wasm_pvm::RevealHandler::reveal(&mut p.reveal, request).map_err(|e| {
        FollowError::Inconsistent(format!(
            "refutation game: the data the step at tick {choice} reveals: {e}"
        ))
    })?;
    let proof = match kind {
        RevealRequest::Metadata => RevealProof::MetadataProof,
        RevealRequest::DalParameters => RevealProof::DalParametersProof,
        _ => RevealProof::RawDataProof {
            raw_data: data.clone(),
        },
    };
    Ok((data, proof))
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
