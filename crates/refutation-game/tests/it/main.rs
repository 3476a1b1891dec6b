//! Integration tests of the refutation game rules. Cases follow the protocol's tests
//! (`src/proto_alpha/lib_protocol/test/unit/test_sc_rollup_game.ml`: poorly distributed
//! dissection, single valid move; `test/integration/operations/test_sc_rollup.ml`: timeouts,
//! draws, final moves) with made-up state hashes.

mod dissection;
mod game;
mod inbox_proof;

use refutation_game::{InputRequest, StepInput, StepVerifier, VerifiedStep, VerifyError};
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

/// A verifier for tests: a proof is `[start byte, stop byte, request]` (request 0: no input,
/// 1: initial); `ff` is a proof it refuses, `fe` one it cannot judge.
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
                let request = match req {
                    0 => InputRequest::NoInputRequired,
                    // A reveal of the pre-image `b"preimage"` (`0x00 ‖ blake2b`).
                    2 => {
                        let mut r = vec![0];
                        r.extend(tezos_types::hash::blake2b::<32>(&[b"preimage"]));
                        InputRequest::NeedsReveal(r)
                    }
                    _ => InputRequest::Initial,
                };
                // An input tick without its input leaves the state unchanged.
                let stop = if request != InputRequest::NoInputRequired && input.is_none() {
                    *start
                } else {
                    *stop
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
}
