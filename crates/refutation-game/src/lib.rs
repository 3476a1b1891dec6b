//! The protocol side of the smart rollup refutation game, as the L1 plays it
//! (`src/proto_alpha/lib_protocol/sc_rollup_game_repr.ml`, `sc_rollup_refutation_storage.ml`,
//! `sc_rollup_proof_repr.ml`, `sc_rollup_dissection_chunk_repr.ml`; node side and constants in
//! `docs/reference/octez-rollup-node.md` §6.4–§6.5, operation encodings in
//! `docs/reference/l1-and-signer.md` §2.7–§2.8).
//!
//! Pure rules, no storage, clock or network: [`Game`] and its encodings, [`check_dissection`],
//! [`find_choice`], [`Game::play`] (dissections and final moves, the PVM step checked by a
//! [`StepVerifier`]), the outcome ([`GameResult`]), the clocks ([`Timeout`],
//! [`timeout_result`]) and conflicts ([`conflict_point`], [`conflicting_stakers`]). Errors carry
//! Octez's ids and texts ([`GameError`]).
//!
//! Input proofs: none, `first_input`, inbox proofs ([`verify_inbox_proof`]), the reveal
//! proofs of raw data, metadata and DAL parameters (answered from the [`RollupContext`]) and
//! DAL page proofs ([`dal_proof`], judged with a [`DalProofContext`] by
//! [`PlayContext::dal`]; the KZG check of an attested slot's page goes through a
//! [`PageVerifier`], without which such a proof gives [`GameError::Unsupported`]) are checked.
#![deny(clippy::arithmetic_side_effects, clippy::cast_possible_wrap)]

mod conflict;
pub mod dal_proof;
mod dissection;
mod error;
mod game;
mod inbox_proof;
mod proof;
mod strategy;

pub use conflict::{
    Conflict, Point, StakeView, check_conflict_point, check_start_level, conflict_point,
    conflicting_stakers,
};
pub use dal_proof::{DalCell, DalCellContent, DalProof, PageVerifier};
pub use dissection::{
    DEFAULT_NUMBER_OF_SECTIONS, DissectionRule, WASM_TICKS_PER_SNAPSHOT, check_dissection,
    distance, find_choice,
};
pub use error::{Category, GameError};
pub use game::{
    DalSnapshot, Game, GameResult, GameState, Index, MoveOutcome, PlayContext, Player, Reason,
    Timeout, history_proof_json, timeout_result,
};
pub use inbox_proof::{
    InboxProof, ProduceError as InboxProofProduceError, ProducedInboxProof,
    ProofError as InboxProofError, produce as produce_inbox_proof,
    produce_input_proof as produce_inbox_input_proof, verify as verify_inbox_proof,
};
pub use proof::{
    DalParameters, DalProofContext, FinalMove, InputRequest, RollupContext, StepInput,
    StepVerifier, VerifiedStep, VerifyError, final_move_is_valid,
};
pub use strategy::{NextMove, StateOracle, StrategyError, new_dissection_ticks, next_move};

/// `max_number_of_parallel_games` (32 on every network, octez-rollup-node.md §6.5).
pub const MAX_NUMBER_OF_PARALLEL_GAMES: usize = 32;
