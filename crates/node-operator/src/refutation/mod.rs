//! The node's side of the refutation game (Octez `refutation_coordinator.ml`,
//! `refutation_player.ml`, `refutation_game.ml`; `docs/reference/octez-rollup-node.md` §6.4).
//!
//! At each L1 head, for the operating key: the conflicts of our staker start games (opening
//! move `start`), and every game of ours is played: on our turn the next move
//! ([`refutation_game::next_move`] over our own states, [`replay::PeriodReplay`]), a
//! dissection or the final move with its one-tick proof and input proof; on theirs, a
//! `timeout` once their clock ran out. Our moves are computed by a fixed pool of background
//! workers shared by all games, one replay per disputed period ([`worker`]): the follower
//! thread only reads what a move needs from the store, hands it over and sends the move once
//! computed, at a later head; a move no longer wanted (the game ended, its state or our
//! commitment changed) is dropped or cancelled at each head. A move is sent again
//! only when the game changed or five levels passed (its operation may have been lost). A
//! game that disappears while we are no longer staked was lost: fatal (the follower also
//! stops on the receipt of a lost game, Octez `Lost_game`).

mod proof;
pub mod replay;
mod worker;

use std::collections::{HashMap, HashSet};

use inbox::BlockHeader;
use l1_operation::L1Operation;
use node_follower::follower::{FollowError, Processor};
use refutation_game::{Conflict, Game, Index, StrategyError};
use serde_json::Value;
use tezos_types::operation::{InputProof, Refutation, RefutationStep, Stakers};
use tezos_types::{BlockHash, CommitmentHash, Level, PublicKeyHash, Tick};

use crate::operator::OperationSink;
use crate::startup::{self, Stake};
use replay::{Cancel, ReplayError};
use worker::{
    Computed, Job, JobError, JobId, NotDispatched, PeriodInput, PeriodKey, Player, Polled, Pool,
    Replayer, Worker,
};

/// Levels after which a move still unanswered is sent again (Octez `refutation_player.ml`).
const RESEND_AFTER_LEVELS: u32 = 5;

/// What we know of the game against one opponent.
#[derive(Default)]
struct PlayerState {
    /// What the workers computed for this game.
    player: Player,
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
    /// The workers computing our moves, for all games.
    pool: Pool,
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
            pool: Pool::default(),
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
        for polled in self.pool.poll() {
            match polled {
                Polled::Done(r) => {
                    if let Some(st) = self.players.get_mut(&r.owner) {
                        st.player.accept(r, level);
                    }
                }
                Polled::Gone { owner, id } => {
                    tracing::warn!(
                        "Refutation game against {owner}: the worker computing our move \
                         stopped; retrying with another one"
                    );
                    if let Some(st) = self.players.get_mut(&owner) {
                        st.player.failed(id, level);
                    }
                }
            }
        }
        let games = get(p, &block, &format!("staker/{me}/games"))?;
        let conflicts = get(p, &block, &format!("staker/{me}/conflicts"))?;
        let mut playing = HashSet::new();
        // The move wanted from the workers in each game on our turn: any other is stale.
        let mut wanted: HashMap<PublicKeyHash, JobId> = HashMap::new();
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
                match job_id(p, &game) {
                    Ok(id) => {
                        wanted.insert(opponent, id.clone());
                        play_our_turn(p, sink, st, &mut self.pool, &game, id, opponent, level)
                    }
                    Err(e) => {
                        // A transient failure to name the move keeps its replay going.
                        if let Some(id) = self.pool.pending(&opponent) {
                            wanted.insert(opponent, id.clone());
                        }
                        Err(e)
                    }
                }
            } else {
                claim_timeout(p, sink, st, &block, index, opponent, level)
            };
            isolate(&format!("against {opponent}"), r)?;
        }
        // Moves no longer wanted are dropped or cancelled; the others go to free workers.
        self.pool
            .retain(|owner, id| wanted.get(owner).is_some_and(|w| w == id));
        let failed = self
            .pool
            .dispatch(|i| spawn_worker(p, i), |period| period_input(p, period));
        for NotDispatched { owner, id, error } in failed {
            if let Some(st) = self.players.get_mut(&owner) {
                st.player.failed(id, level);
            }
            isolate(&format!("against {owner}"), Err(error))?;
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

/// Maps a replay failure: operational ones (I/O, a reveal not fetched, the node store, the
/// engine) are retried as such, deterministic ones (a replay that does not end in our
/// commitment, a stuck or unsupported small-step PVM, a malformed state) are inconsistencies.
fn replay_error(e: ReplayError) -> FollowError {
    if e.is_operational() {
        FollowError::Operator(Box::new(Operational(e)))
    } else {
        FollowError::Inconsistent(format!("refutation game: {e}"))
    }
}

/// An operational failure computing our states (retried).
#[derive(Debug, thiserror::Error)]
#[error("refutation game: {0}")]
struct Operational(ReplayError);

/// The data a final move's step reveals could not be fetched (the pre-image endpoint or the
/// DAL node unreachable): operational, the move is tried again at the next head (Octez
/// `Sc_rollup_proof_repr.produce` fails the same way, as an error of the node, not of the
/// game).
fn reveal_fetch_error(choice: Tick, e: wasm_pvm::RevealError) -> FollowError {
    FollowError::Operator(Box::new(RevealFetch { choice, source: e }))
}

/// See [`reveal_fetch_error`].
#[derive(Debug, thiserror::Error)]
#[error("refutation game: the data the step at tick {choice} reveals: {source}")]
struct RevealFetch {
    choice: Tick,
    source: wasm_pvm::RevealError,
}

fn job_error(e: JobError) -> FollowError {
    match e {
        StrategyError::Oracle(e) => replay_error(e),
        e @ StrategyError::InconsistentGame(_) => FollowError::Inconsistent(e.to_string()),
        StrategyError::Overflow(w) => FollowError::Overflow(w),
    }
}

/// What the replay of the commitment `period` needs, from the store: its start state, its
/// messages and our commitment (still the one of `period`).
fn period_input(p: &Processor, period: &PeriodKey) -> Result<PeriodInput, FollowError> {
    let missing = |what: String| FollowError::Inconsistent(format!("refutation game: {what}"));
    let (inbox_level, hash) = *period;
    let block = p
        .store
        .block_by_level(inbox_level)?
        .ok_or_else(|| missing(format!("no processed block at level {inbox_level}")))?;
    if block.commitment_hash != Some(hash) {
        return Err(missing(format!(
            "our commitment at level {inbox_level} is no longer {hash}"
        )));
    }
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
    Ok(PeriodInput {
        start,
        parent_level: parent.inbox_level,
        levels,
        state: ours.compressed_state,
        ticks: ours.number_of_ticks,
    })
}

/// Worker `i` of the pool: its own engine (sharing the compiled-kernel cache), a reveal
/// handler of its own and `--loser-mode`'s failures, as the follower has.
fn spawn_worker(p: &Processor, i: usize) -> Result<Worker, FollowError> {
    let dir = p
        .engine
        .0
        .disk_cache_dir()
        .map(std::path::Path::to_path_buf);
    let reveal = p.reveal.fork();
    let loser = p.loser.clone();
    Worker::spawn(format!("refutation-{i}"), move || {
        let build = move || {
            pvm_wasmtime::WasmtimeEngine::new()
                .map(|e| match &dir {
                    Some(d) => e.with_disk_cache(d.clone()),
                    None => e,
                })
                .map(pvm_tick::Exact)
                .map_err(|e| e.to_string())
        };
        let mut replayer = Replayer {
            engine: build(),
            reveal,
            loser,
            replay: None,
        };
        move |job| {
            // An engine that could not be built is tried again with the next job.
            if replayer.engine.is_err() {
                replayer.engine = build();
            }
            replayer.run(job)
        }
    })
    .map_err(|e| FollowError::Operator(format!("cannot start the refutation worker: {e}").into()))
}

/// The job of our move in `game`: its state over the period of our commitment.
fn job_id(p: &Processor, game: &Game) -> Result<JobId, FollowError> {
    Ok(JobId {
        game: game.game_state.to_json().to_string(),
        period: (game.inbox_level, our_commitment_at(p, game.inbox_level)?),
    })
}

/// Our turn: the move computed by a worker is sent once ready; a job is submitted to the pool
/// when due. The same game state keeps its move, sent again only after a while.
#[expect(
    clippy::too_many_arguments,
    reason = "the game's context, all borrowed from the coordinator"
)]
fn play_our_turn<S: OperationSink>(
    p: &mut Processor,
    sink: &mut S,
    st: &mut PlayerState,
    pool: &mut Pool,
    game: &Game,
    id: JobId,
    opponent: PublicKeyHash,
    level: Level,
) -> Result<(), FollowError> {
    if let Some((f, at, refutation)) = &st.last_move
        && *f == id.game
    {
        if resend_due(Some(*at), level) {
            sink.add(L1Operation::Refute {
                rollup: p.rollup.address,
                opponent,
                refutation: refutation.clone(),
            })?;
            st.last_move = Some((id.game, level, refutation.clone()));
        }
        return Ok(());
    }
    if let Some(e) = st.player.take_error(&id) {
        return Err(job_error(e));
    }
    if let Some(computed) = st.player.take_ready(&id) {
        let refutation = match to_refutation(p, game, opponent, &computed) {
            Ok(r) => r,
            Err(e) => {
                st.player.put_back(id, computed);
                return Err(e);
            }
        };
        if let Err(e) = sink.add(L1Operation::Refute {
            rollup: p.rollup.address,
            opponent,
            refutation: refutation.clone(),
        }) {
            st.player.put_back(id, computed);
            return Err(e);
        }
        st.last_move = Some((id.game, level, refutation));
        return Ok(());
    }
    if st.player.job_due(&id, pool.pending(&opponent), level) {
        pool.submit(Job {
            owner: opponent,
            id,
            state: game.game_state.clone(),
            input: None,
            cancel: Cancel::default(),
        });
    }
    Ok(())
}

/// The move to send for what the worker computed: a final move gets its proof here, from
/// the store.
fn to_refutation(
    p: &mut Processor,
    game: &Game,
    opponent: PublicKeyHash,
    computed: &Computed,
) -> Result<Refutation, FollowError> {
    match computed {
        Computed::Dissection { choice, dissection } => {
            tracing::info!(
                "Refutation game with {opponent}: dissecting from tick {choice} in {} sections",
                dissection.len().saturating_sub(1)
            );
            Ok(Refutation::Move {
                choice: *choice,
                step: RefutationStep::Dissection(dissection.clone()),
            })
        }
        Computed::Proof { choice, tree } => {
            let (pvm_step, input_proof, tag) = proof::final_proof(p, game, *choice, tree)?;
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
            Ok(Refutation::Move {
                choice: *choice,
                step: RefutationStep::Proof {
                    pvm_step,
                    input_proof,
                },
            })
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A reveal the final move reads that could not be fetched is an operational failure of
    /// the node, not an inconsistency.
    #[test]
    fn an_unfetched_reveal_is_operational() {
        let e = reveal_fetch_error(
            Tick::new(42),
            wasm_pvm::RevealError("connection refused".into()),
        );
        assert!(matches!(e, FollowError::Operator(_)), "{e:?}");
        assert!(!e.is_fatal());
        let msg = e.to_string();
        assert!(
            msg.contains("tick 42") && msg.contains("connection refused"),
            "{msg}"
        );
    }
}
