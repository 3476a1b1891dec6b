//! Integration tests of the refutation game rules. Cases follow the protocol's tests
//! (`src/proto_alpha/lib_protocol/test/unit/test_sc_rollup_game.ml`: poorly distributed
//! dissection, single valid move; `test/integration/operations/test_sc_rollup.ml`: timeouts,
//! draws, final moves) with made-up state hashes.

mod dal_proof;
mod dissection;
mod game;
mod inbox_proof;

use refutation_game::{
    DalParameters, InputRequest, RollupContext, StepInput, StepVerifier, VerifiedStep, VerifyError,
};
use tezos_types::operation::DissectionChunk;
use tezos_types::{Level, PublicKeyHash, StateHash, Tick};

/// A state hash made of one repeated byte.
pub fn h(b: u8) -> StateHash {
    StateHash([b; 32])
}

/// A chunk.
pub fn c(state: Option<u8>, tick: u64) -> DissectionChunk {
    DissectionChunk {
        state: state.map(h),
        tick: Tick::from(tick),
    }
}

/// The level `l`.
pub fn lvl(l: i32) -> Level {
    Level::new(l).unwrap()
}

/// bootstrap1 and bootstrap2.
pub fn stakers() -> (PublicKeyHash, PublicKeyHash) {
    (
        "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap(),
        "tz1gjaF81ZRRvdzjobyfVNsAeSC6PScjfQwN".parse().unwrap(),
    )
}

/// The rollup of the tests: its metadata and DAL parameters answer the reveals.
pub fn rollup() -> RollupContext {
    RollupContext {
        address: "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap(),
        origination_level: lvl(2),
        dal_parameters: DalParameters {
            number_of_slots: 32,
            attestation_lag: 8,
            slot_size: 126_944,
            page_size: 3967,
        },
    }
}

/// A verifier for tests: a proof is `[start byte, stop byte, request]` (request 0: no input,
/// 1: initial, 2: the pre-image of `b"preimage"`, 3: the metadata, 4: the DAL parameters,
/// 5: a DAL page, 6: page 0 of slot 0 published at level 7, which reads nothing, 7: page 0
/// of slot 1 published at level 7, [`dal_proof::PAGE`]); `ff` is a proof it refuses, `fe` one it cannot judge. A reveal step is
/// verified only with the right answer ([`rollup`]'s for the metadata and DAL parameters).
pub struct FakeVerifier;

impl StepVerifier for FakeVerifier {
    fn verify(
        &self,
        pvm_step: &[u8],
        input: Option<&StepInput>,
    ) -> Result<VerifiedStep, VerifyError> {
        match pvm_step {
            [0xff, ..] => Err(VerifyError::Invalid("bad proof".into())),
            [0xfe, ..] => Err(VerifyError::Unsupported("interpreter tick".into())),
            [start, stop, req] => {
                // The request bytes and the answer a reveal expects.
                let (request, answer) = match req {
                    0 => (InputRequest::NoInputRequired, None),
                    // `0x00 ‖ reveal hash` (`0x00 ‖ blake2b`).
                    2 => {
                        let mut r = vec![0, 0];
                        r.extend(tezos_types::hash::blake2b::<32>(&[b"preimage"]));
                        (InputRequest::NeedsReveal(r), Some(b"preimage".to_vec()))
                    }
                    3 => (
                        InputRequest::NeedsReveal(vec![1]),
                        Some(rollup().metadata_bytes().to_vec()),
                    ),
                    4 => (
                        InputRequest::NeedsReveal(vec![3]),
                        Some(rollup().dal_parameters.encode().to_vec()),
                    ),
                    5 => (
                        InputRequest::NeedsReveal(vec![2, 0, 0, 0, 7, 0, 0, 0]),
                        None,
                    ),
                    6 => (
                        InputRequest::NeedsReveal(vec![2, 0, 0, 0, 7, 0, 0, 0]),
                        Some(vec![]),
                    ),
                    7 => (
                        InputRequest::NeedsReveal(vec![2, 0, 0, 0, 7, 1, 0, 0]),
                        Some(dal_proof::PAGE.to_vec()),
                    ),
                    _ => (InputRequest::Initial, None),
                };
                // An input tick without its input leaves the state unchanged; with other data
                // than the answer the step does not reach the proof's stop state.
                let stop = match (input, answer) {
                    _ if request == InputRequest::NoInputRequired => *stop,
                    (None, _) => *start,
                    (Some(StepInput::Reveal(d)), Some(a)) if *d != a => {
                        return Err(VerifyError::Invalid("not the proof's stop state".into()));
                    }
                    _ => *stop,
                };
                Ok(VerifiedStep {
                    start: h(*start),
                    stop: h(stop),
                    request,
                })
            }
            _ => Err(VerifyError::Invalid("proof of the wrong size".into())),
        }
    }

    /// Every proved state read its last input at level 20.
    fn proof_state_level(&self, _: &[u8]) -> Result<Option<Level>, VerifyError> {
        Ok(Some(lvl(20)))
    }
}
