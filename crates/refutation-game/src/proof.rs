//! The final move: a one-tick proof judged as `Sc_rollup_proof_repr.valid` and
//! `Sc_rollup_game_repr.validity_final_move` do (`src/proto_alpha/lib_protocol/`; the proof
//! format is in `docs/reference/l1-and-signer.md` §2.7). The PVM step itself is checked by a
//! [`StepVerifier`] (the WASM PVM's is `pvm_tick`).

use tezos_types::operation::{DissectionChunk, InputProof, RevealProof};
pub use tezos_types::reveal::DalParameters;
use tezos_types::reveal::{RevealHash, RevealRequest, RollupMetadata};
use tezos_types::{BinEncode, InboxMessage, Level, SmartRollupAddress, StateHash, Tick};

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
    /// metadata, a DAL request otherwise; `docs/reference/wasm-pvm.md` §5.2), read by
    /// [`RevealRequest::decode`].
    NeedsReveal(Vec<u8>),
}

/// What the L1 knows of the rollup and the protocol: the metadata and DAL-parameters reveals
/// are answered from it by the verifier, never from the prover (`Sc_rollup_proof_repr.valid`
/// with the rollup's `metadata` and `find_dal_parameters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupContext {
    /// The rollup's address (`metadata.address`).
    pub address: SmartRollupAddress,
    /// The rollup's origination level (`metadata.origination_level`).
    pub origination_level: Level,
    /// The protocol's DAL parameters. One set for every level: the sandbox has a single
    /// protocol, so `find_dal_parameters` at the proved state's level is this.
    pub dal_parameters: DalParameters,
}

impl RollupContext {
    /// The revealed metadata (`Sc_rollup_metadata_repr.encoding`): the 20-byte address, then
    /// the origination level as `int32` big-endian (`docs/reference/wasm-pvm.md` §4.3).
    #[must_use]
    pub fn metadata_bytes(&self) -> [u8; 24] {
        RollupMetadata {
            address: self.address.0,
            origination_level: self.origination_level.get(),
        }
        .encode()
    }
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
/// (`cut_at_level`). A pre-image reveal proof gives its data; a metadata or DAL-parameters
/// proof gives what the L1 derives from `rollup` (the prover supplies no data). DAL page
/// proofs need the KZG verification of the page against its slot's commitment, which this
/// adjudicator does not do: [`GameError::Unsupported`].
fn proof_input(
    input_proof: Option<&InputProof>,
    inbox_snapshot: &InboxHistoryCell,
    rollup: &RollupContext,
    commit_inbox_level: Level,
) -> Result<Option<StepInput>, InputError> {
    let origination_level = rollup.origination_level;
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
        Some(InputProof::RevealProof {
            reveal_proof: RevealProof::MetadataProof,
        }) => Some(StepInput::Reveal(rollup.metadata_bytes().to_vec())),
        Some(InputProof::RevealProof {
            reveal_proof: RevealProof::DalParametersProof,
        }) => Some(StepInput::Reveal(rollup.dal_parameters.encode().to_vec())),
        Some(InputProof::RevealProof {
            reveal_proof: RevealProof::DalPageProof { .. },
        }) => {
            return Err(InputError::Unsupported(GameError::Unsupported(
                "DAL page reveal proofs (which need the KZG check of the page against its \
                 slot's commitment) are not verified by this adjudicator yet: the move was \
                 not applied; end the game by timeout"
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
        // the request's scheme (only Blake2B, tag 0, exists); bytes that do not decode ask for
        // the well-known hash's pre-image, the empty string (`sc_rollup_wasm.ml`
        // `decode_reveal`). `Metadata_proof` answers `Reveal_metadata` and
        // `Dal_parameters_proof` `Reveal_dal_parameters`. Not modelled: `get_status` also
        // turns a kind not yet enabled (`is_reveal_enabled`) into the well-known request;
        // every kind is taken as enabled (the sandbox's default, all at level 0).
        (Some(InputProof::RevealProof { reveal_proof }), InputRequest::NeedsReveal(request)) => {
            match (reveal_proof, RevealRequest::decode(request)) {
                (RevealProof::RawDataProof { raw_data }, RevealRequest::RawData(hash)) => {
                    hash.matches(raw_data)
                }
                (RevealProof::RawDataProof { raw_data }, RevealRequest::Malformed) => {
                    RevealHash::well_known().matches(raw_data)
                }
                (RevealProof::MetadataProof, RevealRequest::Metadata)
                | (RevealProof::DalParametersProof, RevealRequest::DalParameters) => true,
                _ => false,
            }
        }
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
    rollup: &RollupContext,
    commit_inbox_level: Level,
) -> Result<bool, GameError> {
    let input = match proof_input(
        proof.input_proof,
        inbox_snapshot,
        rollup,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rollup() -> RollupContext {
        RollupContext {
            address: SmartRollupAddress([0xab; 20]),
            origination_level: Level::new(0x0102_0304).unwrap(),
            dal_parameters: DalParameters {
                number_of_slots: 32,
                attestation_lag: 8,
                slot_size: 126_944,
                page_size: 3967,
            },
        }
    }

    fn reveal(reveal_proof: RevealProof) -> InputProof {
        InputProof::RevealProof { reveal_proof }
    }

    #[test]
    fn revealed_bytes() {
        let r = rollup();
        let m = r.metadata_bytes();
        assert_eq!(&m[..20], &[0xab; 20]);
        assert_eq!(&m[20..], &[1, 2, 3, 4]);
        let p = r.dal_parameters.encode();
        assert_eq!(&p[..8], &32_i64.to_be_bytes());
        assert_eq!(&p[8..16], &8_i64.to_be_bytes());
        assert_eq!(&p[16..24], &126_944_i64.to_be_bytes());
        assert_eq!(&p[24..], &3967_i64.to_be_bytes());
    }

    #[test]
    fn reveal_inputs_come_from_the_rollup() {
        let cell = InboxHistoryCell {
            witness: tezos_types::MerkelizedPayloadHashesHash([0; 32]),
            level: Level::new(0x0102_0304).unwrap(),
            index: 0,
            back_pointers: vec![],
        };
        let r = rollup();
        let commit = Level::new(0x0102_0310).unwrap();
        let input = |p: InputProof| match proof_input(Some(&p), &cell, &r, commit) {
            Ok(i) => Ok(i),
            Err(InputError::Invalid) => Err(None),
            Err(InputError::Unsupported(e)) => Err(Some(e)),
        };
        assert_eq!(
            input(reveal(RevealProof::MetadataProof)),
            Ok(Some(StepInput::Reveal(r.metadata_bytes().to_vec())))
        );
        assert_eq!(
            input(reveal(RevealProof::DalParametersProof)),
            Ok(Some(StepInput::Reveal(r.dal_parameters.encode().to_vec())))
        );
        let page = reveal(RevealProof::DalPageProof {
            dal_page_id: tezos_types::operation::DalPageId {
                published_level: Level::new(7).unwrap(),
                slot_index: 0,
                page_index: 0,
            },
            dal_proof: vec![],
        });
        assert!(matches!(input(page), Err(Some(GameError::Unsupported(_)))));
    }

    #[test]
    fn reveal_proofs_match_their_request() {
        let request = |b: &[u8]| InputRequest::NeedsReveal(b.to_vec());
        let metadata = reveal(RevealProof::MetadataProof);
        let dal = reveal(RevealProof::DalParametersProof);
        let raw = |d: &[u8]| {
            reveal(RevealProof::RawDataProof {
                raw_data: d.to_vec(),
            })
        };
        let mut hash_req = vec![0, 0];
        hash_req.extend(tezos_types::hash::blake2b::<32>(&[b"data"]));
        assert!(input_matches_request(Some(&metadata), &request(&[1])));
        assert!(input_matches_request(Some(&dal), &request(&[3])));
        assert!(input_matches_request(
            Some(&raw(b"data")),
            &request(&hash_req)
        ));
        // A metadata proof for a raw-data request, and the other mismatches.
        assert!(!input_matches_request(Some(&metadata), &request(&hash_req)));
        assert!(!input_matches_request(Some(&metadata), &request(&[3])));
        assert!(!input_matches_request(Some(&dal), &request(&[1])));
        assert!(!input_matches_request(Some(&raw(b"data")), &request(&[1])));
        assert!(!input_matches_request(
            Some(&raw(b"other")),
            &request(&hash_req)
        ));
        assert!(!input_matches_request(
            Some(&metadata),
            &InputRequest::NoInputRequired
        ));
        assert!(!input_matches_request(None, &request(&[1])));
        // A malformed request asks for the well-known hash's pre-image: the empty string.
        assert!(input_matches_request(Some(&raw(b"")), &request(&[1, 0])));
        assert!(!input_matches_request(Some(&metadata), &request(&[1, 0])));
    }
}
