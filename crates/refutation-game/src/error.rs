//! The protocol's errors of the refutation game, with Octez's ids, categories, fields and
//! messages (`sc_rollup_dissection_chunk_repr.ml`, `sc_rollup_game_repr.ml`,
//! `sc_rollup_errors.ml`, `sc_rollup_wasm.ml`, `validate_errors.ml`; see
//! `docs/reference/l1-and-signer.md` §2.7–§2.8).

use serde_json::{Map, Value, json};
use tezos_types::{CommitmentHash, Level, PublicKeyHash, StateHash, Tick};

/// Category of an error (the `"kind"` of its JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Will never succeed.
    Permanent,
    /// May succeed later.
    Temporary,
}

/// An error of the game rules. [`GameError::id`] is the Octez id without the
/// `proto.<protocol>.` prefix, [`GameError::fields`] its JSON fields, and `Display` the text
/// Octez prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GameError {
    /// `Dissection_number_of_sections_mismatch`.
    #[error("The number of sections must be equal to {expected} instead of {given}")]
    NumberOfSectionsMismatch {
        /// Expected number of sections.
        expected: u64,
        /// Number given.
        given: u64,
    },
    /// `Dissection_invalid_number_of_sections`.
    #[error("A dissection with {0} sections can never be valid")]
    InvalidNumberOfSections(u64),
    /// `Dissection_start_hash_mismatch`.
    #[error("{}", start_hash_text(.expected, .given))]
    StartHashMismatch {
        /// The agreed start state.
        expected: Option<StateHash>,
        /// The dissection's first state.
        given: Option<StateHash>,
    },
    /// `Dissection_stop_hash_mismatch`: the dissection agrees with the refuted stop state.
    #[error("The stop hash should not be equal to {}", hash_text(.0))]
    StopHashMismatch(Option<StateHash>),
    /// `Dissection_edge_ticks_mismatch`.
    #[error(
        "We should have dissection_start_tick({dissection_start_tick}) = {chunk_start_tick} and \
         dissection_stop_tick({dissection_stop_tick}) = {chunk_stop_tick}"
    )]
    EdgeTicksMismatch {
        /// First tick of the dissection.
        dissection_start_tick: Tick,
        /// Last tick of the dissection.
        dissection_stop_tick: Tick,
        /// Start tick of the chosen section.
        chunk_start_tick: Tick,
        /// Stop tick of the chosen section.
        chunk_stop_tick: Tick,
    },
    /// `Dissection_ticks_not_increasing`.
    #[error("Ticks should only increase in dissection")]
    TicksNotIncreasing,
    /// `Dissection_invalid_distribution`.
    #[error("Maximum tick increment in a section cannot be more than {0} ticks")]
    InvalidDistribution(Tick),
    /// `Dissection_invalid_successive_states_shape`: a state after a `None` one.
    #[error("Cannot recover from a blocked state in a dissection")]
    InvalidSuccessiveStatesShape,
    /// `WASM_invalid_dissection_distribution` (`sc_rollup_wasm.ml`).
    #[error(
        "Invalid dissection distribution: not all ticks are a multiplier of the maximum number \
         of ticks of a snapshot"
    )]
    WasmInvalidDissectionDistribution,
    /// `Dissection_choice_not_found`.
    #[error("No section starting with tick {0} found")]
    ChoiceNotFound(Tick),
    /// `Dissecting_during_final_move`.
    #[error("Tried to play a dissecting when the final move started")]
    DissectingDuringFinalMove,
    /// `Sc_rollup_wrong_turn`.
    #[error("Attempt to play move but not staker's turn")]
    WrongTurn,
    /// `Sc_rollup_no_game` (also what a move on a game that ended gets: the game is removed).
    #[error("Refutation game does not exist")]
    NoGame,
    /// `Sc_rollup_game_already_started`.
    #[error("Refutation game already started, must play with is_opening_move = false.")]
    GameAlreadyStarted,
    /// `Sc_rollup_not_staked`.
    #[error("This implicit account is not a staker of this smart rollup.")]
    NotStaked,
    /// `Sc_rollup_no_conflict`.
    #[error("No conflict.")]
    NoConflict,
    /// `Sc_rollup_max_number_of_parallel_games_reached`.
    #[error("{0} has reached the limit for number of parallel games")]
    MaxParallelGamesReached(PublicKeyHash),
    /// `Sc_rollup_not_valid_commitments_conflict`.
    #[error(
        "The two commitments {0}, staked by {short1}, and {2}, staked by {short2}, does not have a \
         common predecessor. Two commitments are in conflict when there direct predecessor is the \
         same.",
        short1 = short(.1),
        short2 = short(.3)
    )]
    NotValidCommitmentsConflict(CommitmentHash, PublicKeyHash, CommitmentHash, PublicKeyHash),
    /// `Sc_rollup_wrong_staker_for_conflict_commitment`.
    #[error("The staker {0} has not staked commitment {1}")]
    WrongStakerForConflictCommitment(PublicKeyHash, CommitmentHash),
    /// `Sc_rollup_timeout_level_not_reached`.
    #[error(
        "Attempt to timeout game too early. The player {short} has {0} left blocks to play.",
        short = short(.1)
    )]
    TimeoutLevelNotReached(i32, PublicKeyHash),
    /// `Sc_rollup_refutation_game_start_too_early` (validation).
    #[error(
        "Cannot start refutation game at level {current_level}. Earliest start level is \
         {earliest_start_level} (= conflict inbox level {conflict_inbox_level} + commitment period \
         {commitment_period_in_blocks})."
    )]
    StartTooEarly {
        /// Level of the operation.
        current_level: Level,
        /// First level a game on this conflict can start.
        earliest_start_level: Level,
        /// Inbox level of the commitments in conflict.
        conflict_inbox_level: Level,
        /// `commitment_period_in_blocks`.
        commitment_period_in_blocks: u32,
    },
    /// A tick or level computation left its range (refused rather than wrapped).
    #[error("arithmetic overflow in the refutation game: {0}")]
    Overflow(&'static str),
    /// A proof the adjudicator cannot judge yet (not a protocol error: judging it as invalid
    /// could punish an honest player). The operation should be refused and retried later.
    #[error("{0}")]
    Unsupported(String),
}

fn hash_text(h: &Option<StateHash>) -> String {
    h.map_or_else(|| "None".to_string(), |h| h.to_b58check())
}

fn start_hash_text(expected: &Option<StateHash>, given: &Option<StateHash>) -> String {
    match given {
        None => "The start hash must not be None".to_string(),
        Some(_) => format!(
            "The start hash should be equal to {}, but the provided hash is {}",
            hash_text(expected),
            hash_text(given)
        ),
    }
}

/// `Signature.Public_key_hash.pp_short`: the first 12 characters of the base58 form.
fn short(p: &PublicKeyHash) -> String {
    p.to_b58check().chars().take(12).collect()
}

fn opt_hash_json(h: &Option<StateHash>) -> Value {
    h.map_or(Value::Null, |h| json!(h.to_b58check()))
}

impl GameError {
    /// The Octez error id, without the `proto.<protocol>.` prefix.
    pub fn id(&self) -> &'static str {
        match self {
            Self::NumberOfSectionsMismatch { .. } => {
                "smart_rollup_dissection_number_of_sections_mismatch"
            }
            Self::InvalidNumberOfSections(_) => {
                "smart_rollup_dissection_invalid_number_of_sections"
            }
            Self::StartHashMismatch { .. } => "smart_rollup_dissection_start_hash_mismatch",
            Self::StopHashMismatch(_) => "smart_rollup_dissection_stop_hash_mismatch",
            Self::EdgeTicksMismatch { .. } => "smart_rollup_dissection_edge_ticks_mismatch",
            Self::TicksNotIncreasing => "smart_rollup_dissection_ticks_not_increasing",
            Self::InvalidDistribution(_) => "smart_rollup_dissection_invalid_distribution",
            Self::InvalidSuccessiveStatesShape => {
                "smart_rollup_dissection_invalid_successive_states_shape"
            }
            Self::WasmInvalidDissectionDistribution => {
                "smart_rollup_wasm_invalid_dissection_distribution"
            }
            Self::ChoiceNotFound(_) => "Dissection_choice_not_found",
            Self::DissectingDuringFinalMove => "Dissecting_during_final_move",
            Self::WrongTurn => "smart_rollup_wrong_turn",
            Self::NoGame => "smart_rollup_no_game",
            Self::GameAlreadyStarted => "smart_rollup_game_already_started",
            Self::NotStaked => "smart_rollup_not_staked",
            Self::NoConflict => "smart_rollup_no_conflict",
            Self::MaxParallelGamesReached(_) => {
                "smart_rollup_maximal_number_of_parallel_games_reached"
            }
            Self::NotValidCommitmentsConflict(..) => "smart_rollup_not_valid_commitments_conflict",
            Self::WrongStakerForConflictCommitment(..) => {
                "smart_rollup_wrong_staker_for_conflict_commitment"
            }
            Self::TimeoutLevelNotReached(..) => "smart_rollup_timeout_level_not_reached",
            Self::StartTooEarly { .. } => {
                "validate.operation.sc_rollup_refutation_game_start_too_early"
            }
            Self::Overflow(_) => "smart_rollup_refutation_arithmetic_overflow",
            Self::Unsupported(_) => "smart_rollup_refutation_proof_not_supported",
        }
    }

    /// The error's category, as Octez registers it.
    pub fn category(&self) -> Category {
        match self {
            Self::InvalidNumberOfSections(_)
            | Self::TicksNotIncreasing
            | Self::InvalidDistribution(_)
            | Self::InvalidSuccessiveStatesShape
            | Self::WasmInvalidDissectionDistribution
            | Self::NotValidCommitmentsConflict(..)
            | Self::WrongStakerForConflictCommitment(..)
            | Self::Overflow(_) => Category::Permanent,
            _ => Category::Temporary,
        }
    }

    /// The error's JSON fields (its registered encoding; `n` values as decimal strings).
    pub fn fields(&self) -> Map<String, Value> {
        let v = match self {
            Self::NumberOfSectionsMismatch { expected, given } => {
                json!({"expected": expected.to_string(), "given": given.to_string()})
            }
            Self::InvalidNumberOfSections(n) => json!({"value": n.to_string()}),
            Self::StartHashMismatch { expected, given } => {
                json!({"expected": opt_hash_json(expected), "given": opt_hash_json(given)})
            }
            Self::StopHashMismatch(h) => json!({"hash": opt_hash_json(h)}),
            Self::EdgeTicksMismatch {
                dissection_start_tick,
                dissection_stop_tick,
                chunk_start_tick,
                chunk_stop_tick,
            } => json!({
                "dissection_start_tick": dissection_start_tick.to_string(),
                "dissection_stop_tick": dissection_stop_tick.to_string(),
                "chunk_start_tick": chunk_start_tick.to_string(),
                "chunk_stop_tick": chunk_stop_tick.to_string(),
            }),
            Self::InvalidDistribution(max) => json!({"section_max_size": max.to_string()}),
            Self::ChoiceNotFound(t) => json!({"choice": t.to_string()}),
            Self::MaxParallelGamesReached(s) => json!({"staker": s.to_b58check()}),
            Self::NotValidCommitmentsConflict(c1, s1, c2, s2) => json!({
                "commitment": c1.to_b58check(), "player": s1.to_b58check(),
                "opponent_commitment": c2.to_b58check(), "opponent": s2.to_b58check(),
            }),
            Self::WrongStakerForConflictCommitment(s, c) => {
                json!({"player": s.to_b58check(), "commitment": c.to_b58check()})
            }
            Self::TimeoutLevelNotReached(left, s) => {
                json!({"level_timeout": left, "staker": s.to_b58check()})
            }
            Self::StartTooEarly {
                current_level,
                earliest_start_level,
                conflict_inbox_level,
                commitment_period_in_blocks,
            } => json!({
                "current_level": current_level,
                "earliest_start_level": earliest_start_level,
                "conflict_inbox_level": conflict_inbox_level,
                "commitment_period_in_blocks": commitment_period_in_blocks,
            }),
            Self::Overflow(_) | Self::Unsupported(_) => json!({"msg": self.to_string()}),
            _ => json!({}),
        };
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}
