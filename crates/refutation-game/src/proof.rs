//! The final move: a one-tick proof judged as `Sc_rollup_proof_repr.valid` and
//! `Sc_rollup_game_repr.validity_final_move` do (`src/proto_alpha/lib_protocol/`; the proof
//! format is in `docs/reference/l1-and-signer.md` §2.7). The PVM step itself is checked by a
//! [`StepVerifier`] (the WASM PVM's is `pvm_tick`).

use std::sync::Arc;

use tezos_types::operation::{DalPageId, DissectionChunk, InputProof, RevealProof};
pub use tezos_types::reveal::DalParameters;
use tezos_types::reveal::{RevealHash, RevealRequest, RollupMetadata};
use tezos_types::{BinEncode, InboxMessage, Level, SmartRollupAddress, StateHash, Tick};

use tezos_types::inbox::InboxHistoryCell;

use crate::GameError;
use crate::dal_proof::{self, DalProof, DalProofError, LagCheck, PageValidity, PageVerifier};
use crate::dissection::distance;
use crate::game::DalSnapshot;
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

/// What the L1 reads to judge a DAL page proof besides the rollup and the DAL parameters
/// (`Sc_rollup_refutation_storage.play`: from the current constants; `valid`:
/// `find_dal_parameters` of the page's published level for its lags).
#[derive(Clone)]
pub struct DalProofContext {
    /// `dal_activation_level`: `reveal_activation_level.dal_parameters` when
    /// `dal_parametric.feature_enable`, else `None` (every page id is then invalid).
    pub activation_level: Option<Level>,
    /// `reveal_activation_level.dal_attested_slots_validity_lag`.
    pub attested_slots_validity_lag: i32,
    /// `dal_parametric.attestation_lags` (the precheck's lag interval).
    pub attestation_lags: Vec<u8>,
    /// The KZG check of a confirmed page against its slot's commitment; without one, a
    /// proof of an attested slot's page is refused ([`GameError::Unsupported`]) while the
    /// other DAL page proofs are fully verified.
    pub page_verifier: Option<Arc<dyn PageVerifier + Send + Sync>>,
}

impl std::fmt::Debug for DalProofContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DalProofContext")
            .field("activation_level", &self.activation_level)
            .field(
                "attested_slots_validity_lag",
                &self.attested_slots_validity_lag,
            )
            .field("attestation_lags", &self.attestation_lags)
            .field("page_verifier", &self.page_verifier.is_some())
            .finish()
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

    /// The inbox level of the proof's start state (`PVM.get_proof_state_level`: for the
    /// WASM PVM, the level of `/wasm/input`, which every step proof holds; `None` before
    /// the first input), the importing level of a DAL page proof. A verifier that cannot
    /// read it refuses DAL page proofs.
    ///
    /// # Errors
    /// [`VerifyError::Invalid`] for a proof that does not decode.
    fn proof_state_level(&self, pvm_step: &[u8]) -> Result<Option<Level>, VerifyError> {
        let _ = pvm_step;
        Err(VerifyError::Unsupported(
            "this step verifier does not read the level of a proof's state".into(),
        ))
    }
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

/// What a final move's input proof is read against: the game's snapshots, the rollup, the
/// commitments' inbox level, and the DAL page proofs' context.
struct InputContext<'a, V: StepVerifier + ?Sized> {
    verifier: &'a V,
    pvm_step: &'a [u8],
    inbox_snapshot: &'a InboxHistoryCell,
    dal_snapshot: &'a DalSnapshot,
    rollup: &'a RollupContext,
    dal: Option<&'a DalProofContext>,
    commit_inbox_level: Level,
}

fn unsupported(why: &str) -> InputError {
    InputError::Unsupported(GameError::Unsupported(format!(
        "{why}: the move was not applied; end the game by timeout"
    )))
}

/// The page a DAL page proof gives (`Dal_helpers.verify` in `valid`; `None`: the empty
/// page), read against the game's DAL snapshot. The importing level is the proof's state
/// level (the origination level before any input); the page id's validity uses the one set
/// of DAL parameters of `rollup` (the sandbox has one protocol) and `dal`.
fn dal_page_input<V: StepVerifier + ?Sized>(
    c: &InputContext<'_, V>,
    page: &DalPageId,
    proof: &[u8],
) -> Result<Vec<u8>, InputError> {
    let dal = c
        .dal
        .ok_or_else(|| unsupported("no DAL context is configured to verify DAL page proofs"))?;
    let proof = DalProof::decode(proof).ok_or(InputError::Invalid)?;
    let snapshot = c
        .dal_snapshot
        .cell()
        .map_err(|_| unsupported("the game's DAL snapshot does not decode"))?;
    let import_inbox_level = match c.verifier.proof_state_level(c.pvm_step) {
        Ok(l) => l.unwrap_or(c.rollup.origination_level),
        Err(VerifyError::Invalid(_)) => return Err(InputError::Invalid),
        Err(VerifyError::Unsupported(why)) => {
            return Err(unsupported(&format!(
                "the level of a DAL page proof's state cannot be read ({why})"
            )));
        }
    };
    let p = &c.rollup.dal_parameters;
    let validity = PageValidity {
        number_of_slots: u16::try_from(p.number_of_slots).unwrap_or(u16::MAX),
        pages_per_slot: p.slot_size.checked_div(p.page_size).unwrap_or(0),
        activation_level: dal.activation_level,
        origination_level: c.rollup.origination_level,
        import_inbox_level,
        validity_lag: Some(i64::from(dal.attested_slots_validity_lag)),
    };
    let verifier = dal.page_verifier.as_deref().map(|v| v as &dyn PageVerifier);
    match dal_proof::verify(
        &proof,
        page,
        &snapshot,
        &validity,
        LagCheck::interval(&dal.attestation_lags),
        p,
        verifier,
    ) {
        Ok(page) => Ok(page.unwrap_or_default()),
        Err(DalProofError::Invalid(_)) => Err(InputError::Invalid),
        Err(DalProofError::NoPageVerifier) => Err(unsupported(
            "DAL page proofs of attested slots need the KZG check of the page against its \
             slot's commitment, and no page verifier is configured",
        )),
    }
}

/// The input an input proof gives (`valid`, first half), cut at the commitment's level
/// (`cut_at_level`). A pre-image reveal proof gives its data; a metadata or DAL-parameters
/// proof gives what the L1 derives from `rollup` (the prover supplies no data); a DAL page
/// proof the page it proves ([`dal_page_input`]).
fn proof_input<V: StepVerifier + ?Sized>(
    input_proof: Option<&InputProof>,
    c: &InputContext<'_, V>,
) -> Result<Option<StepInput>, InputError> {
    let (inbox_snapshot, rollup, commit_inbox_level) =
        (c.inbox_snapshot, c.rollup, c.commit_inbox_level);
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
            reveal_proof:
                RevealProof::DalPageProof {
                    dal_page_id,
                    dal_proof,
                },
        }) => Some(StepInput::Reveal(dal_page_input(
            c,
            dal_page_id,
            dal_proof,
        )?)),
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
                // `validate_dal_input_request`: the same page id, and no Adjustable DAL
                // parameters in the proof (`Request_dal_page` has none).
                (
                    RevealProof::DalPageProof {
                        dal_page_id,
                        dal_proof,
                    },
                    RevealRequest::DalPage {
                        published_level,
                        slot_index,
                        page_index,
                    },
                ) => {
                    dal_page_id.published_level.get() == published_level
                        && dal_page_id.slot_index == slot_index
                        && dal_page_id.page_index == page_index
                        && DalProof::decode(dal_proof)
                            .is_some_and(|p| p.adal_parameters() == (None, None))
                }
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
/// verifier cannot judge is an error. DAL page proofs are read against `dal_snapshot` with
/// `dal` (`None`: they are refused, [`GameError::Unsupported`]).
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
    dal_snapshot: &DalSnapshot,
    rollup: &RollupContext,
    dal: Option<&DalProofContext>,
    commit_inbox_level: Level,
) -> Result<bool, GameError> {
    let ctx = InputContext {
        verifier,
        pvm_step: proof.pvm_step,
        inbox_snapshot,
        dal_snapshot,
        rollup,
        dal,
        commit_inbox_level,
    };
    let input = match proof_input(proof.input_proof, &ctx) {
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

    /// A step verifier reading the state level from the first proof byte (`0`: no input yet).
    struct LevelVerifier(bool);

    impl StepVerifier for LevelVerifier {
        fn verify(&self, _: &[u8], _: Option<&StepInput>) -> Result<VerifiedStep, VerifyError> {
            Err(VerifyError::Invalid("not used".into()))
        }

        fn proof_state_level(&self, pvm_step: &[u8]) -> Result<Option<Level>, VerifyError> {
            if !self.0 {
                return Err(VerifyError::Unsupported("no level".into()));
            }
            match pvm_step {
                [0] => Ok(None),
                [l] => Ok(Level::new(i32::from(*l))),
                _ => Err(VerifyError::Invalid("bad proof".into())),
            }
        }
    }

    fn invalid_page_id_proof() -> Vec<u8> {
        DalProof::InvalidPageId {
            target_cell_and_inc_proof: None,
            attestation_threshold_percent: None,
            restricted_commitments_publishers: None,
        }
        .encode()
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
        let dal_snapshot = DalSnapshot {
            json: dal_proof::DalCell::genesis().to_json(),
            bin: Vec::new(),
        };
        let dal = DalProofContext {
            activation_level: Some(Level::new(1).unwrap()),
            attested_slots_validity_lag: 100,
            attestation_lags: vec![8],
            page_verifier: None,
        };
        let run =
            |p: &InputProof, v: &LevelVerifier, step: &[u8], dal: Option<&DalProofContext>| {
                let ctx = InputContext {
                    verifier: v,
                    pvm_step: step,
                    inbox_snapshot: &cell,
                    dal_snapshot: &dal_snapshot,
                    rollup: &r,
                    dal,
                    commit_inbox_level: commit,
                };
                match proof_input(Some(p), &ctx) {
                    Ok(i) => Ok(i),
                    Err(InputError::Invalid) => Err(None),
                    Err(InputError::Unsupported(e)) => Err(Some(e)),
                }
            };
        let input = |p: InputProof| run(&p, &LevelVerifier(true), &[0], Some(&dal));
        assert_eq!(
            input(reveal(RevealProof::MetadataProof)),
            Ok(Some(StepInput::Reveal(r.metadata_bytes().to_vec())))
        );
        assert_eq!(
            input(reveal(RevealProof::DalParametersProof)),
            Ok(Some(StepInput::Reveal(r.dal_parameters.encode().to_vec())))
        );
        let page = |dal_proof: Vec<u8>| {
            reveal(RevealProof::DalPageProof {
                dal_page_id: DalPageId {
                    published_level: Level::new(7).unwrap(),
                    slot_index: 0,
                    page_index: 0,
                },
                dal_proof,
            })
        };
        // Level 7 is before the origination: the page id is invalid, the page empty.
        assert_eq!(
            input(page(invalid_page_id_proof())),
            Ok(Some(StepInput::Reveal(vec![])))
        );
        assert_eq!(input(page(vec![])), Err(None));
        assert_eq!(
            run(
                &page(invalid_page_id_proof()),
                &LevelVerifier(true),
                &[1, 2],
                Some(&dal)
            ),
            Err(None)
        );
        // No DAL context, or no level from the verifier: refused, not judged.
        for (v, d) in [
            (LevelVerifier(true), None),
            (LevelVerifier(false), Some(&dal)),
        ] {
            assert!(matches!(
                run(&page(invalid_page_id_proof()), &v, &[0], d),
                Err(Some(GameError::Unsupported(_)))
            ));
        }
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
        // A DAL page proof answers the request of its page id.
        let page = |slot_index, dal_proof| {
            reveal(RevealProof::DalPageProof {
                dal_page_id: DalPageId {
                    published_level: Level::new(7).unwrap(),
                    slot_index,
                    page_index: 1,
                },
                dal_proof,
            })
        };
        let page_req = request(&[2, 0, 0, 0, 7, 3, 0, 1]);
        assert!(input_matches_request(
            Some(&page(3, invalid_page_id_proof())),
            &page_req
        ));
        assert!(!input_matches_request(
            Some(&page(2, invalid_page_id_proof())),
            &page_req
        ));
        let adal = DalProof::InvalidPageId {
            target_cell_and_inc_proof: None,
            attestation_threshold_percent: Some(50),
            restricted_commitments_publishers: None,
        };
        assert!(!input_matches_request(
            Some(&page(3, adal.encode())),
            &page_req
        ));
        assert!(!input_matches_request(Some(&page(3, vec![])), &page_req));
        assert!(!input_matches_request(Some(&metadata), &page_req));
        // A malformed request asks for the well-known hash's pre-image: the empty string.
        assert!(input_matches_request(Some(&raw(b"")), &request(&[1, 0])));
        assert!(!input_matches_request(Some(&metadata), &request(&[1, 0])));
    }
}
