//! The game (`sc_rollup_game_repr.ml`): players, the index of a game, its state and encodings,
//! the initial state, `play`, the outcome; and the players' clocks
//! (`sc_rollup_refutation_storage.ml` `initial_timeout`, `update_timeout`, `timeout`).
//! JSON as the L1 RPCs answer it: `docs/reference/l1-and-signer.md` §1.5 (`game` object).

use serde_json::{Value, json};
use tezos_types::inbox::InboxHistoryCell;
use tezos_types::operation::{Commitment, DissectionChunk, RefutationStep, Stakers};
use tezos_types::{BinEncode, Level, PublicKeyHash, Tick, Writer};

use crate::GameError;
use crate::dissection::{DissectionRule, check_dissection, find_choice};
use crate::proof::{DalProofContext, FinalMove, RollupContext, StepVerifier, final_move_is_valid};

/// A player of a game: `alice` is the smaller staker of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Player {
    /// The smaller staker (`Index.alice`).
    Alice,
    /// The other one.
    Bob,
}

impl Player {
    /// The other player.
    pub fn opponent(self) -> Self {
        match self {
            Self::Alice => Self::Bob,
            Self::Bob => Self::Alice,
        }
    }

    /// `"alice"` / `"bob"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Alice => "alice",
            Self::Bob => "bob",
        }
    }
}

/// The index of a game: the two stakers, ordered (`Index.make`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    /// The smaller staker.
    pub alice: PublicKeyHash,
    /// The greater staker.
    pub bob: PublicKeyHash,
}

impl Index {
    /// The index of the game between `a` and `b`, in either order.
    pub fn new(a: PublicKeyHash, b: PublicKeyHash) -> Self {
        let Stakers { alice, bob } = Stakers::ordered(a, b);
        Self { alice, bob }
    }

    /// The staker playing as `p`.
    pub fn staker(&self, p: Player) -> PublicKeyHash {
        match p {
            Player::Alice => self.alice,
            Player::Bob => self.bob,
        }
    }

    /// The player `staker` is, if it is one of the two.
    pub fn player(&self, staker: &PublicKeyHash) -> Option<Player> {
        if *staker == self.alice {
            Some(Player::Alice)
        } else if *staker == self.bob {
            Some(Player::Bob)
        } else {
            None
        }
    }

    /// The other staker of the pair.
    pub fn other(&self, staker: &PublicKeyHash) -> PublicKeyHash {
        if *staker == self.alice {
            self.bob
        } else {
            self.alice
        }
    }
}

/// The state of the dissection (`game_state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GameState {
    /// Dissecting: the last dissection played.
    Dissecting {
        /// The chunks.
        dissection: Vec<DissectionChunk>,
        /// `number_of_sections_in_dissection` at the start of the game.
        default_number_of_sections: u8,
    },
    /// A first final move was played with an invalid proof: the opponent must prove the
    /// refuted section.
    FinalMove {
        /// The section's start.
        agreed_start_chunk: DissectionChunk,
        /// The section's stop.
        refuted_stop_chunk: DissectionChunk,
    },
}

/// The DAL skip-list cell taken when the game started, as the L1 encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DalSnapshot {
    /// `Dal_slot_repr.History.encoding`, JSON.
    pub json: Value,
    /// The same, binary (empty when only the JSON is known).
    pub bin: Vec<u8>,
}

impl DalSnapshot {
    /// The cell: from the binary, else from the JSON.
    ///
    /// # Errors
    /// Neither decodes.
    pub fn cell(&self) -> Result<crate::dal_proof::DalCell, String> {
        if self.bin.is_empty() {
            crate::dal_proof::DalCell::from_json(&self.json)
        } else {
            <crate::dal_proof::DalCell as tezos_types::BinDecode>::from_bin(&self.bin)
                .map_err(|e| format!("the binary DAL snapshot does not decode: {e}"))
        }
    }
}

/// A refutation game (`Sc_rollup_game_repr.V1.t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Game {
    /// Whose move it is.
    pub turn: Player,
    /// The inbox history cell when the game started (`take_snapshot`).
    pub inbox_snapshot: InboxHistoryCell,
    /// The DAL history when the game started.
    pub dal_snapshot: DalSnapshot,
    /// Level the game started at.
    pub start_level: Level,
    /// Inbox level of the commitments in conflict.
    pub inbox_level: Level,
    /// The dissection state.
    pub game_state: GameState,
}

fn chunk_json(c: &DissectionChunk) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

fn write_chunk(w: &mut Writer, c: &DissectionChunk) {
    w.opt_field(c.state.as_ref(), |w, s| s.bin_write(w));
    c.tick.bin_write(w);
}

/// JSON of an inbox history proof (`Sc_rollup_inbox_repr.history_proof_encoding`).
pub fn history_proof_json(c: &InboxHistoryCell) -> Value {
    json!({
        "index": c.index.to_string(),
        "content": {"hash": c.witness.to_b58check(), "level": c.level},
        "back_pointers": c.back_pointers.iter().map(|h| h.to_b58check()).collect::<Vec<_>>(),
    })
}

impl GameState {
    /// `game_state_encoding`, JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Dissecting {
                dissection,
                default_number_of_sections,
            } => json!({
                "kind": "Dissecting",
                "dissection": dissection.iter().map(chunk_json).collect::<Vec<_>>(),
                "default_number_of_sections": default_number_of_sections,
            }),
            Self::FinalMove {
                agreed_start_chunk,
                refuted_stop_chunk,
            } => json!({
                "kind": "Final_move",
                "agreed_start_chunk": chunk_json(agreed_start_chunk),
                "refuted_stop_chunk": chunk_json(refuted_stop_chunk),
            }),
        }
    }

    fn bin_write(&self, w: &mut Writer) {
        match self {
            Self::Dissecting {
                dissection,
                default_number_of_sections,
            } => {
                w.u8(0);
                w.dyn_list(dissection, write_chunk);
                w.u8(*default_number_of_sections);
            }
            Self::FinalMove {
                agreed_start_chunk,
                refuted_stop_chunk,
            } => {
                w.u8(1);
                write_chunk(w, agreed_start_chunk);
                write_chunk(w, refuted_stop_chunk);
            }
        }
    }
}

/// Why a game ended (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A final move settled it, or a player was no longer staked.
    ConflictResolved,
    /// A player ran out of time.
    Timeout,
}

/// The result of a game (`game_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GameResult {
    /// One staker lost.
    Loser {
        /// Why.
        reason: Reason,
        /// Who.
        loser: PublicKeyHash,
    },
    /// Both lost.
    Draw,
}

impl GameResult {
    /// `game_result_encoding`, JSON: `{"kind":"loser","reason":…,"player":…}` / `{"kind":"draw"}`.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Loser { reason, loser } => json!({
                "kind": "loser",
                "reason": match reason {
                    Reason::ConflictResolved => "conflict_resolved",
                    Reason::Timeout => "timeout",
                },
                "player": loser.to_b58check(),
            }),
            Self::Draw => json!({"kind": "draw"}),
        }
    }

    /// `status_encoding` of an ended game: `{"result": …}`.
    pub fn status_json(&self) -> Value {
        json!({"result": self.to_json()})
    }
}

/// The outcome of a move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The game goes on with this state.
    Ongoing(Box<Game>),
    /// The game is over.
    Ended(GameResult),
}

/// What `play` needs besides the game.
pub struct PlayContext<'a, V: StepVerifier> {
    /// The PVM's dissection predicate.
    pub rule: DissectionRule,
    /// The PVM step verifier.
    pub verifier: &'a V,
    /// The rollup's metadata and the protocol's DAL parameters (what the reveals of the
    /// metadata and of the DAL parameters answer, and the origination level).
    pub rollup: RollupContext,
    /// What DAL page proofs are judged with (`dal_activation_level`, the validity lag and
    /// lags, the page verifier); without it they are refused ([`GameError::Unsupported`]).
    pub dal: Option<&'a DalProofContext>,
}

impl Game {
    /// `initial`: the game the refuter starts against the defender's commitment. The first
    /// dissection is `[(parent state, 0), (defender state, n), (None, n + 1)]`; the refuter
    /// moves first.
    #[allow(
        clippy::too_many_arguments,
        reason = "the protocol's `initial` takes exactly these"
    )]
    pub fn initial(
        inbox_snapshot: InboxHistoryCell,
        dal_snapshot: DalSnapshot,
        start_level: Level,
        parent_commitment: &Commitment,
        defender_commitment: &Commitment,
        refuter: PublicKeyHash,
        defender: PublicKeyHash,
        default_number_of_sections: u8,
    ) -> Result<Self, GameError> {
        let index = Index::new(refuter, defender);
        let turn = if index.alice == refuter {
            Player::Alice
        } else {
            Player::Bob
        };
        let ticks = Tick::try_from(defender_commitment.number_of_ticks)
            .map_err(|_| GameError::Overflow("negative number of ticks"))?;
        let next = ticks
            .checked_add(Tick::ONE)
            .ok_or(GameError::Overflow("number of ticks"))?;
        Ok(Self {
            turn,
            inbox_snapshot,
            dal_snapshot,
            start_level,
            inbox_level: defender_commitment.inbox_level,
            game_state: GameState::Dissecting {
                dissection: vec![
                    DissectionChunk {
                        state: Some(parent_commitment.compressed_state),
                        tick: Tick::ZERO,
                    },
                    DissectionChunk {
                        state: Some(defender_commitment.compressed_state),
                        tick: ticks,
                    },
                    DissectionChunk {
                        state: None,
                        tick: next,
                    },
                ],
                default_number_of_sections,
            },
        })
    }

    /// Reads [`Self::to_json`]'s shape (the `game` of `…/staker/<pkh>/games`). The DAL
    /// snapshot keeps its JSON only (its binary form is the L1's business).
    pub fn from_json(v: &Value) -> Option<Self> {
        let turn = match v.get("turn")?.as_str()? {
            "alice" => Player::Alice,
            "bob" => Player::Bob,
            _ => return None,
        };
        let s = v.get("inbox_snapshot")?;
        let content = s.get("content")?;
        let inbox_snapshot = InboxHistoryCell {
            witness: serde_json::from_value(content.get("hash")?.clone()).ok()?,
            level: serde_json::from_value(content.get("level")?.clone()).ok()?,
            index: s.get("index")?.as_str()?.parse().ok()?,
            back_pointers: serde_json::from_value(s.get("back_pointers")?.clone()).ok()?,
        };
        let chunks =
            |x: &Value| -> Option<Vec<DissectionChunk>> { serde_json::from_value(x.clone()).ok() };
        let chunk =
            |x: &Value| -> Option<DissectionChunk> { serde_json::from_value(x.clone()).ok() };
        let st = v.get("game_state")?;
        let game_state = match st.get("kind")?.as_str()? {
            "Dissecting" => GameState::Dissecting {
                dissection: chunks(st.get("dissection")?)?,
                default_number_of_sections: u8::try_from(
                    st.get("default_number_of_sections")?.as_u64()?,
                )
                .ok()?,
            },
            "Final_move" => GameState::FinalMove {
                agreed_start_chunk: chunk(st.get("agreed_start_chunk")?)?,
                refuted_stop_chunk: chunk(st.get("refuted_stop_chunk")?)?,
            },
            _ => return None,
        };
        Some(Self {
            turn,
            inbox_snapshot,
            dal_snapshot: DalSnapshot {
                json: v.get("dal_snapshot").cloned().unwrap_or(Value::Null),
                bin: Vec::new(),
            },
            start_level: serde_json::from_value(v.get("start_level")?.clone()).ok()?,
            inbox_level: serde_json::from_value(v.get("inbox_level")?.clone()).ok()?,
            game_state,
        })
    }

    /// `Sc_rollup_game_repr.encoding`, JSON (the `game` of `…/staker/<pkh>/games`).
    pub fn to_json(&self) -> Value {
        json!({
            "turn": self.turn.name(),
            "inbox_snapshot": history_proof_json(&self.inbox_snapshot),
            "dal_snapshot": self.dal_snapshot.json,
            "start_level": self.start_level,
            "inbox_level": self.inbox_level,
            "game_state": self.game_state.to_json(),
        })
    }

    /// `Sc_rollup_game_repr.encoding`, binary.
    pub fn to_bin(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(match self.turn {
            Player::Alice => 0,
            Player::Bob => 1,
        });
        let c = &self.inbox_snapshot;
        w.n_u64(c.index);
        c.witness.bin_write(&mut w);
        c.level.bin_write(&mut w);
        w.dyn_list(&c.back_pointers, |w, h| h.bin_write(w));
        w.bytes(&self.dal_snapshot.bin);
        self.start_level.bin_write(&mut w);
        self.inbox_level.bin_write(&mut w);
        self.game_state.bin_write(&mut w);
        w.into_bytes()
    }

    fn next(&self, game_state: GameState) -> Self {
        Self {
            turn: self.turn.opponent(),
            game_state,
            ..self.clone()
        }
    }

    /// `play`: the move of the player whose turn it is (the caller checked the turn). A
    /// dissection refines the chosen section; a proof on a dissection ends the game if valid
    /// (the opponent loses) and otherwise starts the final move; a proof on a final move ends
    /// the game: the opponent loses if valid, else a draw. DAL page proofs are judged with
    /// `ctx.dal` and refused without it ([`GameError::Unsupported`]).
    pub fn play<V: StepVerifier>(
        &self,
        stakers: &Index,
        choice: Tick,
        step: &RefutationStep,
        ctx: &PlayContext<'_, V>,
    ) -> Result<MoveOutcome, GameError> {
        let dal = ctx.dal;
        let opponent_loses = MoveOutcome::Ended(GameResult::Loser {
            reason: Reason::ConflictResolved,
            loser: stakers.staker(self.turn.opponent()),
        });
        match (step, &self.game_state) {
            (
                RefutationStep::Dissection(states),
                GameState::Dissecting {
                    dissection,
                    default_number_of_sections,
                },
            ) => {
                let (start, stop) = find_choice(dissection, choice)?;
                check_dissection(ctx.rule, *default_number_of_sections, &start, &stop, states)?;
                Ok(MoveOutcome::Ongoing(Box::new(self.next(
                    GameState::Dissecting {
                        dissection: states.clone(),
                        default_number_of_sections: *default_number_of_sections,
                    },
                ))))
            }
            (RefutationStep::Dissection(_), GameState::FinalMove { .. }) => {
                Err(GameError::DissectingDuringFinalMove)
            }
            (
                RefutationStep::Proof {
                    pvm_step,
                    input_proof,
                },
                GameState::Dissecting { dissection, .. },
            ) => {
                let (start, stop) = find_choice(dissection, choice)?;
                let proof = FinalMove {
                    pvm_step,
                    input_proof: input_proof.as_ref(),
                };
                if final_move_is_valid(
                    ctx.verifier,
                    true,
                    &proof,
                    &start,
                    &stop,
                    &self.inbox_snapshot,
                    &self.dal_snapshot,
                    &ctx.rollup,
                    dal,
                    self.inbox_level,
                )? {
                    Ok(opponent_loses)
                } else {
                    Ok(MoveOutcome::Ongoing(Box::new(self.next(
                        GameState::FinalMove {
                            agreed_start_chunk: start,
                            refuted_stop_chunk: stop,
                        },
                    ))))
                }
            }
            (
                RefutationStep::Proof {
                    pvm_step,
                    input_proof,
                },
                GameState::FinalMove {
                    agreed_start_chunk,
                    refuted_stop_chunk,
                },
            ) => {
                let proof = FinalMove {
                    pvm_step,
                    input_proof: input_proof.as_ref(),
                };
                if final_move_is_valid(
                    ctx.verifier,
                    false,
                    &proof,
                    agreed_start_chunk,
                    refuted_stop_chunk,
                    &self.inbox_snapshot,
                    &self.dal_snapshot,
                    &ctx.rollup,
                    dal,
                    self.inbox_level,
                )? {
                    Ok(opponent_loses)
                } else {
                    Ok(MoveOutcome::Ended(GameResult::Draw))
                }
            }
        }
    }
}

/// The players' clocks (`Sc_rollup_game_repr.timeout`): blocks left to each, counted from
/// `last_turn_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// Blocks left to alice.
    pub alice: i32,
    /// Blocks left to bob.
    pub bob: i32,
    /// Level of the last move.
    pub last_turn_level: Level,
}

impl Timeout {
    /// `initial_timeout`: `timeout_period_in_blocks` each, from the current level.
    pub fn initial(level: Level, timeout_period_in_blocks: i32) -> Self {
        Self {
            alice: timeout_period_in_blocks,
            bob: timeout_period_in_blocks,
            last_turn_level: level,
        }
    }

    /// `update_timeout`: `mover` played at `level`; its clock loses the blocks it used.
    pub fn update(&self, mover: Player, level: Level) -> Result<Self, GameError> {
        let used = i32::from(level)
            .checked_sub(self.last_turn_level.into())
            .ok_or(GameError::Overflow("timeout levels"))?;
        let sub = |left: i32| {
            left.checked_sub(used)
                .ok_or(GameError::Overflow("timeout blocks left"))
        };
        Ok(match mover {
            Player::Alice => Self {
                alice: sub(self.alice)?,
                last_turn_level: level,
                ..*self
            },
            Player::Bob => Self {
                bob: sub(self.bob)?,
                last_turn_level: level,
                ..*self
            },
        })
    }

    /// JSON `{"alice","bob","last_turn_level"}`.
    pub fn to_json(&self) -> Value {
        json!({"alice": self.alice, "bob": self.bob, "last_turn_level": self.last_turn_level})
    }
}

/// `Refutation_storage.timeout`: at `level`, has the player to move run out of time? If so the
/// result: it loses while dissecting, a draw during the final move (the opponent's proof was
/// invalid and so is the silence).
pub fn timeout_result(
    game: &Game,
    timeout: &Timeout,
    stakers: &Index,
    level: Level,
) -> Result<GameResult, GameError> {
    let left = match game.turn {
        Player::Alice => timeout.alice,
        Player::Bob => timeout.bob,
    };
    // Blocks left may be negative (a player may move late when nobody claimed the timeout).
    let level = i32::from(level);
    let level_of_timeout = i32::from(timeout.last_turn_level)
        .checked_add(left)
        .ok_or(GameError::Overflow("level of timeout"))?;
    if level <= level_of_timeout {
        let blocks_left = level_of_timeout
            .checked_sub(level)
            .ok_or(GameError::Overflow("blocks left"))?;
        return Err(GameError::TimeoutLevelNotReached(
            blocks_left,
            stakers.staker(game.turn),
        ));
    }
    Ok(match game.game_state {
        GameState::Dissecting { .. } => GameResult::Loser {
            reason: Reason::Timeout,
            loser: stakers.staker(game.turn),
        },
        GameState::FinalMove { .. } => GameResult::Draw,
    })
}
