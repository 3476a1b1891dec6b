//! The tick-level WASM PVM (issue 13): one `compute_step` of the PVM on its state tree, done
//! the way Octez's tree-encoding decodes and encodes the state, so that the one-tick proof
//! holds exactly what Octez's holds (`docs/reference/wasm-ticks.md` §1.1, §2.2, §4).
//!
//! Covered (no interpreter needed): `Snapshot` (→ the initial `Decode` state), `Padding`
//! (incl. the window end: reboot / yield / forced yield), `Stuck` (incl. `No_fallback_kernel`),
//! `Collect` (a computation tick there is an error; the input tick is [`Input::Message`], with
//! `Start_of_level` moving the outbox and `End_of_level` starting the padding), the refusal
//! of a reveal outside `Eval`, and the protocol's proof step
//! (`src/proto_alpha/lib_protocol/sc_rollup_wasm.ml` `step_transition`: `get_current_level`,
//! `is_input_state`, then `eval` or `set_input`), and the fallback to the saved kernel from a
//! decoding, link or initialisation error. `Decode`, `Link`, `Init` and `Eval` ticks run
//! `wasm_interp::tick::step_tree` on the same partial tree (issue 13; sizes checked against
//! Octez's on `link_reveal`, the known differences listed in `tests/it/interp_proofs.rs`);
//! host functions run there too (`wasm_interp::host`: one implementation over plain and
//! partial trees), and so does the answer to a reveal tick ([`step_transition_request`]:
//! `Needs_reveal`, then `reveal_step` with [`Input::Reveal`]; proofs of every tick of the echo
//! and `link_store_create` traces: `tests/it/host_proofs.rs`); protocol-migration inputs give
//! [`TickError::Unsupported`].
//!
//! The proof is `Merkle_proof_encoding.V2.Tree2` of the step ([`produce_proof`],
//! [`verify_proof`]); the refutation's input-proof wrapper is not handled here.
//!
//! On a plain tree (no proof), [`compute_step`], [`compute_step_many`], [`set_input`] and
//! [`reveal_step`] run every state: the ticks above are this crate's, those inside `Decode`,
//! `Link`, `Init` and `Eval` are `wasm_interp::step`'s (this crate is the driver above the
//! interpreter; the window end of an interpreter state, `Too_many_ticks`, is this crate's).

use durable_tree::proof::partial::{StepTree, produce_step_proof, verify_step_proof};
use durable_tree::proof::{ProofError, encoding};
use durable_tree::{Hash, Tree};

mod driver;
mod exact;
mod inspect;
mod share;
mod state;
mod step;

pub use driver::{
    compute_step, compute_step_many, compute_step_many_until, compute_step_many_until_with_debug,
    compute_step_with_debug, current_tick, is_input_state, reveal_request, reveal_step, run_steps,
    set_input, tick_tag,
};
pub use exact::{Exact, WindowError, step_answering_reveals, window_from_snapshot};
pub use inspect::{EvalEnd, MemoryError, eval_end, read_memory};
pub use state::{Buffers, Decoded, InputInfo, Message, TickTag};
pub use step::{Request, StepRequest, step_transition, step_transition_request};

/// An input given to the input tick (`Sc_rollup_PVM_sig.input`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// An inbox message (`Inbox_message {inbox_level; message_counter; payload}`).
    Message {
        /// Inbox level.
        level: u32,
        /// Index of the message in its level.
        counter: u64,
        /// The serialized message (internal: `00 …`, external: `01 …`).
        payload: Vec<u8>,
    },
    /// A reveal answer (`Reveal`), as bytes (`reveal_response_to_bytes`).
    Reveal(Vec<u8>),
}

/// Errors of one tick.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The proof or the partial tree is wrong (decoding, blinded part reached, hashes).
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The tick needs the small-step interpreter (crate `wasm-interp`), not there yet.
    #[error(
        "the tick from a `{0}` state needs the WASM interpreter (not implemented in pvm-tick yet)"
    )]
    NeedsInterpreter(&'static str),
    /// The small-step interpreter's error on a tick of `Decode`, `Link`, `Init` or `Eval`
    /// (`wasm_interp::Error::Unsupported`: a state it does not step yet).
    #[error("interpreter: {0}")]
    Interpreter(#[from] wasm_interp::Error),
    /// A case of a non-interpreter tick not implemented yet.
    #[error("not implemented in pvm-tick yet: {0}")]
    Unsupported(&'static str),
    /// A value of the state tree is not what Octez writes there.
    #[error("malformed PVM state at /{path}: {reason}")]
    Malformed {
        /// Where in the state tree.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A computation tick was asked while the PVM waits for a reveal (`Reveal_required`,
    /// whose request bytes this holds): give the answer as an input ([`Input::Reveal`]).
    #[error("the PVM waits for a reveal: give it as an input (Input::Reveal)")]
    RevealRequired(Vec<u8>),
    /// The tick was asked for a state it cannot run on (e.g. a reveal while not in `Eval`
    /// is handled, but an input tick with no input given is refused here).
    #[error("invalid tick: {0}")]
    Invalid(&'static str),
}

impl TickError {
    /// Whether the tick is one not implemented yet (by this crate or by the interpreter), as
    /// opposed to a malformed state or a broken proof: the caller may keep its state and say
    /// so.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            TickError::Unsupported(_)
                | TickError::NeedsInterpreter(_)
                | TickError::Interpreter(wasm_interp::Error::Unsupported(_))
        )
    }
}

/// Produce the one-tick proof (Octez `produce_proof` of `sc_rollup_wasm.ml`) of the step
/// from `state` with `input`: the proof bytes (`Merkle_proof_encoding.V2.Tree2` tree proof)
/// and the state after the step. What the step loaded is shown at every path of the `before`
/// tree holding an object of the same hash, as Irmin serialises it (`share`).
pub fn produce_proof(state: &Tree, input: Option<&Input>) -> Result<(Vec<u8>, Tree), TickError> {
    let (mut proof, _request, new) =
        produce_step_proof(state, |t| step_transition_request(t, input))?;
    proof.state = share::share(&proof.state)?;
    Ok((encoding::encode(&proof)?, new))
}

/// Verify a one-tick proof (Octez `verify_proof`): decode it, check the partial tree hashes
/// to `before`, replay the step with `input` and check the result hashes to `after`. Returns
/// `(before, after)`.
pub fn verify_proof(bytes: &[u8], input: Option<&Input>) -> Result<(Hash, Hash), TickError> {
    let proof = encoding::decode(bytes)?;
    verify_step_proof(&proof, |t| step_transition_request(t, input))?;
    Ok((proof.before.hash(), proof.after.hash()))
}

/// Replay the step on a proof's partial tree and produce the proof of the replay again (the
/// producer running on a partial tree): equal to `bytes` when the proof holds exactly what
/// the step reads.
pub fn reproduce_proof(bytes: &[u8], input: Option<&Input>) -> Result<Vec<u8>, TickError> {
    let proof = encoding::decode(bytes)?;
    let (_, st): (StepRequest, StepTree) =
        verify_step_proof(&proof, |t| step_transition_request(t, input))?;
    let again = durable_tree::proof::TreeProof {
        state: share::share(&st.proof_state()?)?,
        ..proof
    };
    Ok(encoding::encode(&again)?)
}
