//! The final move: a one-tick proof judged as `Sc_rollup_proof_repr.valid` and
//! `Sc_rollup_game_repr.validity_final_move` do (`src/proto_alpha/lib_protocol/`; the proof
//! format is in `docs/reference/l1-and-signer.md` §2.7). The PVM step itself is checked by a
//! [`StepVerifier`] (the WASM PVM's is `pvm_tick`).

use tezos_types::operation::{DissectionChunk, InputProof, RevealProof};
use tezos_types::{BinEncode, InboxMessage, Level, StateHash, Tick};

use tezos_types::inbox::InboxHistoryCell;

use crate::GameError;
use crate::dissection::distance;
use crate::inbox_proof::{self, InboxProof};

/// An input given to the proved tick (`Sc_rollup_PVM_sig.input`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepInput {
    /// An inbox message.
    Message {
        /// Its inbox level.
        level: Level,
        /// Its index in the level.
        counter: u64,
        /// The serialized message (internal `00 …`, external `01 …`).
        payload: Vec<u8>,
    },
    /// The answer to a reveal.
    Reveal(Vec<u8>),
}

/// What the proved state asks for (`Sc_rollup_PVM_sig.input_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputRequest {
    /// A computation tick.
    NoInputRequired,
    /// The first input (no input read yet).
    Initial,
    /// The inbox message after `(level, counter)`.
    FirstAfter {
        /// Inbox level.
        level: Level,
        /// Message index.
        counter: u64,
    },
    /// A reveal, with the PVM's request bytes (`0x00 ‖ hash` for a pre-image, `0x01` for the
    /// metadata, a DAL request otherwise; `docs/reference/wasm-pvm.md` §5.2).
    NeedsReveal(Vec<u8>),
}

/// A verified PVM step: the state hashes before and after, and what the state asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStep {
    /// State hash before the tick (`proof_start_state`).
    pub start: StateHash,
    /// State hash after the tick (`proof_stop_state`).
    pub stop: StateHash,
    /// The state's input request.
    pub request: InputRequest,
}

/// Why a PVM step was not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The proof is wrong (bad encoding, hashes, replay): the move's proof is invalid.
    Invalid(String),
    /// The verifier cannot judge this tick yet: the move must be refused, not judged.
    Unsupported(String),
}

/// Verifies the PVM step of a proof (`PVM.verify_proof`).
pub trait StepVerifier {
    /// Verify `pvm_step` (the PVM's serialized proof) for the tick that reads `input`.
    fn verify(
        &self,
        pvm_step: &[u8],
        input: Option<&StepInput>,
    ) -> Result<VerifiedStep, VerifyError>;
}

/// What a final move proves: the input proof read against the game, and the PVM step.
pub struct FinalMove<'a> {
    /// The PVM step bytes.
    pub pvm_step: &'a [u8],
    /// The input proof, if the tick reads an input.
    pub input_proof: Option<&'a InputProof>,
}

/// Why no input could be read from an input proof.
enum InputError {
    /// The input proof is wrong: the move's proof is invalid.
    Invalid,
    /// The adjudicator cannot check it: the move is refused.
    Unsupported(GameError),
}

/// The input an input proof gives (`valid`, first half), cut at the commitment's level
/// (`cut_at_level`). Pre-image reveal proofs give their data; metadata and DAL reveal proofs
/// are not checked here: [`GameError::Unsupported`].
fn proof_input(
    input_proof: Option<&InputProof>,
    inbox_snapshot: &InboxHistoryCell,
    origination_level: Level,
    commit_inbox_level: Level,
) -> Result<Option<StepInput>, InputError> {
    let input = match input_proof {
        None => None,
        Some(InputProof::FirstInput) => Some(StepInput::Message {
            level: origination_level.succ().ok_or(InputError::Invalid)?,
            counter: 0,
            payload: InboxMessage::SOL.to_bin(),
        }),
        Some(InputProof::InboxProof {
            level,
            message_counter,
            serialized_proof,
        }) => {
            let proof = InboxProof::decode(serialized_proof).ok_or(InputError::Invalid)?;
            let next = message_counter.checked_add(1).ok_or(InputError::Invalid)?;
            inbox_proof::verify(inbox_snapshot, *level, next, &proof)
                .map_err(|_| InputError::Invalid)?
                .map(|(level, counter, payload)| StepInput::Message {
                    level,
                    counter,
                    payload,
                })
        }
        // A pre-image: the data itself, checked against the request's hash below.
        Some(InputProof::RevealProof {
            reveal_proof: RevealProof::RawDataProof { raw_data },
        }) => {
            if raw_data.len() > MAX_REVEAL_SIZE {
                return Err(InputError::Invalid);
            }
            Some(StepInput::Reveal(raw_data.clone()))
        }
        Some(InputProof::RevealProof { .. }) => {
            return Err(InputError::Unsupported(GameError::Unsupported(
                "metadata and DAL reveal proofs are not verified by this adjudicator yet: the \
                 move was not applied; end the game by timeout"
                    .into(),
            )));
        }
    };
    Ok(input.filter(|i| match i {
        StepInput::Message { level, .. } => {
            *level > origination_level && *level <= commit_inbox_level
        }
        StepInput::Reveal(_) => true,
    }))
}

/// Whether the input proof matches the state's request (`valid`, second half).
fn input_matches_request(input_proof: Option<&InputProof>, request: &InputRequest) -> bool {
    match (input_proof, request) {
        (None, InputRequest::NoInputRequired) => true,
        (Some(InputProof::FirstInput), InputRequest::Initial) => true,
        (
            Some(InputProof::InboxProof {
                level,
                message_counter,
                ..
            }),
            InputRequest::FirstAfter { level: l, counter },
        ) => level == l && message_counter == counter,
        // `Raw_data_proof data` answers `Reveal_raw_data h` when `h` is the data's hash in
        // the request's scheme (only Blake2B, tag 0, exists).
        (
            Some(InputProof::RevealProof {
                reveal_proof: RevealProof::RawDataProof { raw_data },
            }),
            InputRequest::NeedsReveal(request),
        ) => match request.split_first() {
            Some((0, hash)) => hash == tezos_types::hash::blake2b::<32>(&[raw_data]).as_slice(),
            _ => false,
        },
        _ => false,
    }
}

/// Largest pre-image a reveal proof may carry (`Constants_repr.sc_rollup_message_size_limit`'s
/// reveal counterpart: 4 096 bytes, `docs/reference/wasm-pvm.md` §5.2).
const MAX_REVEAL_SIZE: usize = 4096;

/// `validity_final_move`: whether the proof of the player's final move is valid, on the
/// section `[start_chunk, stop_chunk]`. The first final move (on a dissection) must be one
/// tick long and *refute* the stop state; the second (on `Final_move`) must *validate* the
/// refuted stop state. Every failure makes the proof invalid (`Ok(false)`); only a proof the
/// verifier cannot judge is an error.
#[allow(
    clippy::too_many_arguments,
    reason = "the protocol's `validity_final_move` reads exactly these"
)]
pub fn final_move_is_valid(
    verifier: &impl StepVerifier,
    first_move: bool,
    proof: &FinalMove<'_>,
    start_chunk: &DissectionChunk,
    stop_chunk: &DissectionChunk,
    inbox_snapshot: &InboxHistoryCell,
    origination_level: Level,
    commit_inbox_level: Level,
) -> Result<bool, GameError> {
    let input = match proof_input(
        proof.input_proof,
        inbox_snapshot,
        origination_level,
        commit_inbox_level,
    ) {
        Ok(input) => input,
        Err(InputError::Invalid) => return Ok(false),
        Err(InputError::Unsupported(e)) => return Err(e),
    };
    let step = match verifier.verify(proof.pvm_step, input.as_ref()) {
        Ok(step) => step,
        Err(VerifyError::Invalid(_)) => return Ok(false),
        Err(VerifyError::Unsupported(why)) => {
            return Err(GameError::Unsupported(format!(
                "the PVM step of this proof cannot be verified by this adjudicator yet ({why}): \
                 the move was not applied"
            )));
        }
    };
    if !input_matches_request(proof.input_proof, &step.request) {
        return Ok(false);
    }
    if first_move && distance(start_chunk.tick, stop_chunk.tick) != Tick::ONE {
        return Ok(false);
    }
    if start_chunk.state != Some(step.start) {
        return Ok(false);
    }
    let stop_proof = match (&input, &step.request) {
        (None, InputRequest::NoInputRequired)
        | (
            Some(_),
            InputRequest::Initial | InputRequest::FirstAfter { .. } | InputRequest::NeedsReveal(_),
        ) => Some(step.stop),
        _ => None,
    };
    let same = stop_chunk.state == stop_proof;
    Ok(if first_move { !same } else { same })
}
