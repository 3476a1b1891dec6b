//! The node's side of the refutation game (Octez `refutation_coordinator.ml`,
//! `refutation_player.ml`, `refutation_game.ml`; `docs/reference/octez-rollup-node.md` §6.4).
//!
//! At each L1 head, for the operating key: the conflicts of our staker start games (opening
//! move `start`), and every game of ours is played: on our turn the next move
//! ([`refutation_game::next_move`] over our own states, [`replay::PeriodReplay`]), a
//! dissection or the final move with its one-tick proof and input proof; on theirs, a
//! `timeout` once their clock ran out. A move is sent again only when the game changed or
//! five levels passed (its operation may have been lost). A game that disappears while we are
//! no longer staked was lost: fatal (the follower also stops on the receipt of a lost game,
//! Octez `Lost_game`).

mod proof;
pub mod replay;

use std::collections::{HashMap, HashSet};

use inbox::BlockHeader;
use l1_operation::L1Operation;
use node_follower::follower::{FollowError, Processor};
use refutation_game::{
    Conflict, DissectionRule, Game, Index, NextMove, StateOracle, StrategyError,
};
use serde_json::Value;
use tezos_types::operation::{InputProof, Refutation, RefutationStep, Stakers};
use tezos_types::{BlockHash, CommitmentHash, Level, PublicKeyHash, StateHash, Tick};

use crate::operator::OperationSink;
use crate::startup::{self, Stake};
use replay::{PeriodReplay, ReplayError};

/// Levels after which a move still unanswered is sent again (Octez `refutation_player.ml`).
const RESEND_AFTER_LEVELS: u32 = 5;

/// What we know of the game against one opponent.
#[derive(Default)]
struct PlayerState {
    /// Our states over the game's commitment period, by its inbox level and our commitment
    /// there (a reorganisation that changes our commitment rebuilds them).
    replay: Option<(Level, CommitmentHash, PeriodReplay)>,
    /// Head level of the last failed replay (retried after [`RESEND_AFTER_LEVELS`]).
    replay_failed_at: Option<Level>,
    /// The game state we last answered (its JSON), the head level we answered at and the
    /// move, sent again as is when unanswered.
    last_move: Option<(String, Level, Refutation)>,
    /// Head level of our last opening move or timeout claim.
    last_opening: Option<Level>,
    last_timeout: Option<Level>,
    /// Whether a game with this opponent was seen.
    in_game: bool,
}

/// The refutation coordinator of one operating key.
pub struct Coordinator {
    me: PublicKeyHash,
    players: HashMap<PublicKeyHash, PlayerState>,
}

/// A rollup RPC at the head being processed (not `head`, which may have moved on).
fn get(p: &Processor, block: &BlockHash, rest: &str) -> Result<Value, FollowError> {
    let path = format!(
        "/chains/main/blocks/{block}/context/smart_rollups/smart_rollup/{}/{rest}",
        p.rollup.address
    );
    p.l1.call(p.l1.client.get_json::<Value>(&path))
}

fn resend_due(last: Option<Level>, now: Level) -> bool {
    last.is_none_or(|l| now.distance_from(l).is_none_or(|d| d > RESEND_AFTER_LEVELS))
}

/// Logs a failure of one game's work and goes on with the others; only `Lost_game` (fatal)
/// stops the node.
fn isolate(what: &str, r: Result<(), FollowError>) -> Result<(), FollowError> {
    match r {
        Err(e @ FollowError::Fatal(_)) => Err(e),
        Err(e) => {
            tracing::warn!("Refutation game, {what}: {e}; retrying at a next head");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

impl Coordinator {
    /// The coordinator of staker `me`.
    pub fn new(me: PublicKeyHash) -> Self {
        Self {
            me,
            players: HashMap::new(),
        }
    }

    /// One L1 head: start, play and claim what is due. A failure in one game does not hold
    /// the others back.
    ///
    /// # Errors
    /// Operational errors reading the games (retried at the next head), and fatal `Lost_game`.
    pub fn on_head<S: OperationSink>(
        &mut self,
        p: &mut Processor,
        sink: &mut S,
        head: &BlockHeader,
    ) -> Result<(), FollowError> {
        let (me, level, block) = (self.me, head.shell.level, head.hash);
        let games = get(p, &block, &format!("staker/{me}/games"))?;
        let conflicts = get(p, &block, &format!("staker/{me}/conflicts"))?;
        let mut playing = HashSet::new();
        for g in games.as_array().map(Vec::as_slice).unwrap_or_default() {
            let (Some(game), Some(alice), Some(bob)) = (
                g.get("game").and_then(Game::from_json),
                g.get("alice")
                    .and_then(|v| serde_json::from_value::<PublicKeyHash>(v.clone()).ok()),
                g.get("bob")
                    .and_then(|v| serde_json::from_value::<PublicKeyHash>(v.clone()).ok()),
            ) else {
                tracing::warn!("The L1 node returned a game this node cannot read: {g}");
                continue;
            };
            let index = Index::new(alice, bob);
            let Some(role) = index.player(&me) else {
                continue;
            };
            let opponent = index.other(&me);
            playing.insert(opponent);
            let st = self.players.entry(opponent).or_default();
            st.in_game = true;
            let r = if game.turn == role {
                play_our_turn(p, sink, st, &game, opponent, level)
            } else {
                claim_timeout(p, sink, st, &block, index, opponent, level)
            };
            isolate(&format!("against {opponent}"), r)?;
        }
        // Conflicts without a game: the opening move, once the level of their commitment is
        // a commitment period old (Octez `filter_conflicts_ready_to_start`).
        for c in conflicts.as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(c) = Conflict::from_json(c) else {
                tracing::warn!("The L1 node returned a conflict this node cannot read: {c}");
                continue;
            };
            let ready = c
                .their_commitment
                .inbox_level
                .checked_add(p.rollup.commitment_period)
                .is_some_and(|l| level >= l);
            if playing.contains(&c.other) || !ready {
                continue;
            }
            let st = self.players.entry(c.other).or_default();
            if !resend_due(st.last_opening, level) {
                continue;
            }
            tracing::warn!(
                "Conflict with {} on inbox level {}: our commitment {}, theirs {}; starting a \
                 refutation game",
                c.other,
                c.our_commitment.inbox_level,
                c.our_commitment.hash(),
                c.their_commitment.hash()
            );
            let r = sink.add(L1Operation::Refute {
                rollup: p.rollup.address,
                opponent: c.other,
                refutation: Refutation::Start {
                    player_commitment_hash: c.our_commitment.hash(),
                    opponent_commitment_hash: c.their_commitment.hash(),
                },
            });
            if r.is_ok() {
                st.last_opening = Some(level);
            }
            isolate(&format!("opening against {}", c.other), r)?;
        }
        // Games that ended: lost if we are no longer staked (the follower also stops on the
        // receipt of a lost game). A game is forgotten once that is known.
        let ended: Vec<PublicKeyHash> = self
            .players
            .iter()
            .filter(|(o, st)| st.in_game && !playing.contains(*o))
            .map(|(o, _)| *o)
            .collect();
        for opponent in ended {
            if startup::stake_of(&p.l1, &p.rollup.address, &me)? == Stake::NotStaked {
                return Err(FollowError::Fatal(format!(
                    "Lost_game: the refutation game against {opponent} was lost and the stake \
                     of {me} slashed; the node stops."
                )));
            }
            self.players.remove(&opponent);
            tracing::info!("Refutation game against {opponent} is over; {me} is still staked");
        }
        Ok(())
    }
}

/// Their turn: claim the timeout once their clock ran out (`timeout_reached` names them).
fn claim_timeout<S: OperationSink>(
    p: &Processor,
    sink: &mut S,
    st: &mut PlayerState,
    block: &BlockHash,
    index: Index,
    opponent: PublicKeyHash,
    level: Level,
) -> Result<(), FollowError> {
    if !resend_due(st.last_timeout, level) {
        return Ok(());
    }
    let (alice, bob) = (index.alice, index.bob);
    let reached = get(
        p,
        block,
        &format!("staker1/{alice}/staker2/{bob}/timeout_reached"),
    )?;
    let loser = reached
        .get("player")
        .and_then(|v| serde_json::from_value::<PublicKeyHash>(v.clone()).ok());
    if loser == Some(opponent) {
        tracing::info!("Refutation game with {opponent}: its clock ran out, claiming the timeout");
        sink.add(L1Operation::Timeout {
            rollup: p.rollup.address,
            stakers: Stakers::ordered(alice, bob),
        })?;
        st.last_timeout = Some(level);
    }
    Ok(())
}

/// Our states as the strategy asks for them.
struct Oracle<'a> {
    replay: &'a mut PeriodReplay,
    reveal: &'a mut dyn wasm_pvm::RevealHandler,
}

impl StateOracle for Oracle<'_> {
    type Error = ReplayError;

    fn state_hash(&mut self, tick: Tick) -> Result<Option<StateHash>, ReplayError> {
        self.replay
            .state_at(tick.get(), self.reveal)?
            .map(|t| Ok(StateHash(t.hash()?.0)))
            .transpose()
    }
}

fn replay_error(e: ReplayError) -> FollowError {
    FollowError::Inconsistent(format!("refutation game: {e}"))
}

/// The replay of the commitment period of inbox level `inbox_level`, checked against our
/// commitment.
fn build_replay(p: &mut Processor, inbox_level: Level) -> Result<PeriodReplay, FollowError> {
    let missing = |what: String| FollowError::Inconsistent(format!("refutation game: {what}"));
    let block = p
        .store
        .block_by_level(inbox_level)?
        .ok_or_else(|| missing(format!("no processed block at level {inbox_level}")))?;
    let ours = block
        .commitment_hash
        .and_then(|h| p.store.commitment(&h).transpose())
        .transpose()?
        .ok_or_else(|| missing(format!("no commitment of ours at level {inbox_level}")))?;
    let parent = p
        .store
        .commitment(&ours.predecessor)?
        .ok_or_else(|| missing(format!("missing commitment {}", ours.predecessor)))?;
    let start_block = p
        .store
        .block_by_level(parent.inbox_level)?
        .ok_or_else(|| missing(format!("no block at level {}", parent.inbox_level)))?;
    let start = p.ctx.state_of(&start_block)?;
    let mut levels = Vec::new();
    let mut l = parent.inbox_level;
    while l < inbox_level {
        l = l.succ().ok_or(FollowError::Overflow("level"))?;
        let b = p
            .store
            .block_by_level(l)?
            .ok_or_else(|| missing(format!("no block at level {l}")))?;
        let messages = p
            .store
            .messages(&b.inbox_witness)?
            .ok_or_else(|| missing(format!("no messages for level {l}")))?;
        levels.push((l.to_u32(), messages));
    }
    tracing::info!(
        "Refutation game: replaying levels {} to {inbox_level} for our states",
        parent.inbox_level
    );
    let (replay, end) =
        PeriodReplay::build(&start, &levels, &mut p.engine, &mut p.reveal, &p.loser)
            .map_err(replay_error)?;
    let end_hash = StateHash(end.hash().map_err(|e| replay_error(e.into()))?.0);
    let ticks = i64::try_from(replay.ticks()).ok();
    if end_hash != ours.compressed_state || ticks != Some(ours.number_of_ticks) {
        return Err(missing(format!(
            "the replay of levels {}..={inbox_level} ends in {end_hash} after {} ticks, our \
             commitment says {} after {}",
            parent.inbox_level,
            replay.ticks(),
            ours.compressed_state,
            ours.number_of_ticks
        )));
    }
    Ok(replay)
}

fn play_our_turn<S: OperationSink>(
    p: &mut Processor,
    sink: &mut S,
    st: &mut PlayerState,
    game: &Game,
    opponent: PublicKeyHash,
    level: Level,
) -> Result<(), FollowError> {
    let fingerprint = game.game_state.to_json().to_string();
    // The same game state: the move we computed stands; sent again only after a while.
    if let Some((f, at, refutation)) = &st.last_move
        && *f == fingerprint
    {
        if resend_due(Some(*at), level) {
            sink.add(L1Operation::Refute {
                rollup: p.rollup.address,
                opponent,
                refutation: refutation.clone(),
            })?;
            st.last_move = Some((fingerprint, level, refutation.clone()));
        }
        return Ok(());
    }
    let ours = our_commitment_at(p, game.inbox_level)?;
    if st
        .replay
        .as_ref()
        .is_none_or(|(l, h, _)| (*l, *h) != (game.inbox_level, ours))
    {
        if !resend_due(st.replay_failed_at, level) {
            return Ok(());
        }
        match build_replay(p, game.inbox_level) {
            Ok(r) => {
                st.replay = Some((game.inbox_level, ours, r));
                st.replay_failed_at = None;
            }
            Err(e) => {
                st.replay_failed_at = Some(level);
                return Err(e);
            }
        }
    }
    let Some((_, _, replay)) = st.replay.as_mut() else {
        return Ok(());
    };
    let mut oracle = Oracle {
        replay,
        reveal: &mut p.reveal,
    };
    let mv = refutation_game::next_move(&game.game_state, DissectionRule::Wasm, &mut oracle)
        .map_err(|e| match e {
            StrategyError::Oracle(e) => replay_error(e),
            e @ StrategyError::InconsistentGame(_) => FollowError::Inconsistent(e.to_string()),
            StrategyError::Overflow(w) => FollowError::Overflow(w),
        })?;
    let refutation = match mv {
        NextMove::Dissection { choice, dissection } => {
            tracing::info!(
                "Refutation game with {opponent}: dissecting from tick {choice} in {} sections",
                dissection.len().saturating_sub(1)
            );
            Refutation::Move {
                choice,
                step: RefutationStep::Dissection(dissection),
            }
        }
        NextMove::Proof { choice } => {
            let tree = replay
                .state_at(choice.get(), &mut p.reveal)
                .map_err(replay_error)?
                .ok_or_else(|| {
                    FollowError::Inconsistent(format!(
                        "refutation game: tick {choice} is beyond our commitment"
                    ))
                })?;
            let (pvm_step, input_proof, tag) = proof::final_proof(p, game, choice, &tree)?;
            tracing::info!(
                "Refutation game with {opponent}: final move at tick {choice} (a {tag} tick, \
                 {} byte proof{})",
                pvm_step.len(),
                match &input_proof {
                    Some(InputProof::FirstInput) => ", with the first-input proof",
                    Some(InputProof::InboxProof { .. }) => ", with an inbox proof",
                    Some(InputProof::RevealProof { .. }) => ", with a reveal proof",
                    None => "",
                }
            );
            Refutation::Move {
                choice,
                step: RefutationStep::Proof {
                    pvm_step,
                    input_proof,
                },
            }
        }
    };
    sink.add(L1Operation::Refute {
        rollup: p.rollup.address,
        opponent,
        refutation: refutation.clone(),
    })?;
    st.last_move = Some((fingerprint, level, refutation));
    Ok(())
}

/// Our commitment for inbox level `inbox_level`.
fn our_commitment_at(p: &Processor, inbox_level: Level) -> Result<CommitmentHash, FollowError> {
    p.store
        .block_by_level(inbox_level)?
        .and_then(|b| b.commitment_hash)
        .ok_or_else(|| {
            FollowError::Inconsistent(format!(
                "refutation game: no commitment of ours at level {inbox_level}"
            ))
        })
}
