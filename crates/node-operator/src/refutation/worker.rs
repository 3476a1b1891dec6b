//! One background worker per opponent computing our moves (Octez runs one
//! `refutation_player.ml` worker per game): replaying a commitment period and stepping the
//! small-step PVM take hours on a busy rollup, so they run off the follower thread.
//!
//! On our turn the coordinator gathers on the follower thread what a move needs (the game
//! state and, when the worker does not hold the period's replay yet, the period's start state
//! and messages with our commitment) into a [`Job`]; the worker builds or reuses the
//! [`PeriodReplay`] (one per player, kept across the moves of a game) and runs
//! [`refutation_game::next_move`]. Its [`JobResult`] is collected at a following head
//! ([`Player::poll`]): a result for a game state that changed meanwhile is dropped; while a
//! job runs, no other is submitted ([`Player::job_due`]); a failed job is retried after
//! [`super::RESEND_AFTER_LEVELS`].

use std::sync::mpsc;

use durable_tree::Tree;
use refutation_game::{DissectionRule, GameState, NextMove, StateOracle, StrategyError};
use tezos_types::operation::DissectionChunk;
use tezos_types::{CommitmentHash, Level, StateHash, Tick};
use wasm_pvm::loser::LoserMode;
use wasm_pvm::{KernelEngine, PvmState, RevealHandler};

use super::replay::{PeriodReplay, ReplayError};
use super::resend_due;

/// A commitment period: its inbox level and our commitment there (a reorganisation that
/// changes our commitment needs another replay).
pub(super) type PeriodKey = (Level, CommitmentHash);

/// What one move is computed for: the game state (its JSON) over the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JobId {
    pub(super) game: String,
    pub(super) period: PeriodKey,
}

/// What the replay of a period needs, read from the store on the follower thread.
pub(super) struct PeriodInput {
    /// The state at the end of the parent commitment's level.
    pub(super) start: PvmState,
    /// Inbox level of the parent commitment.
    pub(super) parent_level: Level,
    /// The period's levels and their messages.
    pub(super) levels: Vec<(u32, Vec<Vec<u8>>)>,
    /// Our commitment's state and ticks, which the replay must end in.
    pub(super) state: StateHash,
    pub(super) ticks: i64,
}

/// One move to compute.
pub(super) struct Job {
    pub(super) id: JobId,
    pub(super) state: GameState,
    /// Present when the worker may not hold the period's replay.
    pub(super) input: Option<PeriodInput>,
}

/// A move computed: the dissection, or the final move's tick and our state tree there (its
/// proof is built on the follower thread, from the store).
pub(super) enum Computed {
    Dissection {
        choice: Tick,
        dissection: Vec<DissectionChunk>,
    },
    Proof {
        choice: Tick,
        tree: Tree,
    },
}

/// Why a job failed (the replay's errors are the oracle's).
pub(super) type JobError = StrategyError<ReplayError>;

/// A job's outcome, with the period whose replay the worker holds after it.
pub(super) struct JobResult {
    pub(super) id: JobId,
    pub(super) holds: Option<PeriodKey>,
    pub(super) outcome: Result<Computed, JobError>,
}

/// A worker thread: jobs in, results out. Dropping it closes the job channel and detaches
/// the thread, which ends after its current job (never waited for).
pub(super) struct Worker {
    jobs: mpsc::Sender<Job>,
    results: mpsc::Receiver<JobResult>,
}

impl Worker {
    /// Starts a thread named `name`; `make` builds the job runner on it (the PVM engine need
    /// not be `Send`).
    pub(super) fn spawn<M, F>(name: String, make: M) -> std::io::Result<Self>
    where
        M: FnOnce() -> F + Send + 'static,
        F: FnMut(Job) -> JobResult,
    {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (result_tx, results) = mpsc::channel();
        std::thread::Builder::new().name(name).spawn(move || {
            let mut run = make();
            for job in job_rx {
                if result_tx.send(run(job)).is_err() {
                    break;
                }
            }
        })?;
        Ok(Self { jobs, results })
    }

    /// The next result, waiting for it (tests).
    #[cfg(test)]
    pub(super) fn wait(&self) -> Option<JobResult> {
        self.results.recv().ok()
    }
}

/// The worker's side: the engine, the reveal handler and the replay it keeps.
pub(super) struct Replayer<E, R> {
    /// The engine, or why it could not be built (each job then fails, operationally).
    pub(super) engine: Result<E, String>,
    pub(super) reveal: R,
    pub(super) loser: LoserMode,
    pub(super) replay: Option<(PeriodKey, PeriodReplay)>,
}

/// Our states as the strategy asks for them.
struct Oracle<'a> {
    replay: &'a mut PeriodReplay,
    reveal: &'a mut dyn RevealHandler,
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

impl<E: KernelEngine, R: RevealHandler> Replayer<E, R> {
    /// Computes the move of `job`.
    pub(super) fn run(&mut self, job: Job) -> JobResult {
        let outcome = self.compute(&job);
        JobResult {
            id: job.id,
            holds: self.replay.as_ref().map(|(k, _)| *k),
            outcome,
        }
    }

    fn compute(&mut self, job: &Job) -> Result<Computed, JobError> {
        let period = job.id.period;
        if self.replay.as_ref().is_none_or(|(k, _)| *k != period) {
            self.replay = None;
            let input = job.input.as_ref().ok_or_else(|| {
                StrategyError::Oracle(ReplayError::Inconsistent(format!(
                    "no replay of the period of level {} to play from",
                    period.0
                )))
            })?;
            let replay = self.build(period.0, input).map_err(StrategyError::Oracle)?;
            self.replay = Some((period, replay));
        }
        let Some((_, replay)) = self.replay.as_mut() else {
            return Err(StrategyError::Oracle(ReplayError::Inconsistent(
                "no replay".into(),
            )));
        };
        let mut oracle = Oracle {
            replay,
            reveal: &mut self.reveal,
        };
        match refutation_game::next_move(&job.state, DissectionRule::Wasm, &mut oracle)? {
            NextMove::Proof { choice } => {
                let tree = replay
                    .state_at(choice.get(), &mut self.reveal)
                    .map_err(StrategyError::Oracle)?
                    .ok_or_else(|| {
                        StrategyError::Oracle(ReplayError::Inconsistent(format!(
                            "tick {choice} is beyond our commitment"
                        )))
                    })?;
                Ok(Computed::Proof { choice, tree })
            }
            NextMove::Dissection { choice, dissection } => {
                Ok(Computed::Dissection { choice, dissection })
            }
        }
    }

    /// The replay of the period ending at `inbox_level`, checked against our commitment.
    fn build(
        &mut self,
        inbox_level: Level,
        input: &PeriodInput,
    ) -> Result<PeriodReplay, ReplayError> {
        let engine = self
            .engine
            .as_mut()
            .map_err(|e| ReplayError::Engine(e.clone()))?;
        tracing::info!(
            "Refutation game: replaying levels {} to {inbox_level} for our states",
            input.parent_level
        );
        let (replay, end) = PeriodReplay::build(
            &input.start,
            &input.levels,
            engine,
            &mut self.reveal,
            &self.loser,
        )?;
        let end_hash = StateHash(end.hash()?.0);
        let ticks = i64::try_from(replay.ticks()).ok();
        if end_hash != input.state || ticks != Some(input.ticks) {
            return Err(ReplayError::Inconsistent(format!(
                "the replay of levels {}..={inbox_level} ends in {end_hash} after {} ticks, our \
                 commitment says {} after {}",
                input.parent_level,
                replay.ticks(),
                input.state,
                input.ticks
            )));
        }
        Ok(replay)
    }
}

/// The coordinator's side of one player's worker.
#[derive(Default)]
pub(super) struct Player {
    worker: Option<Worker>,
    /// The job submitted and not collected yet.
    running: Option<JobId>,
    /// The period whose replay the worker holds (as of its last result).
    holds: Option<PeriodKey>,
    /// Head level of the last failed job (retried after [`super::RESEND_AFTER_LEVELS`]).
    failed_at: Option<Level>,
    /// A move computed for the job, not sent yet (its proof failed: retried at each head).
    ready: Option<(JobId, Computed)>,
    /// The job whose failure is deterministic (another try would replay the period again for
    /// the same error): not submitted again; a new game state is.
    dead_end: Option<JobId>,
}

impl Player {
    /// Whether a job for `id` is to be submitted at head `level`: none is running (a job for
    /// another state is waited for: its result will be dropped), no move for it is waiting,
    /// and the last failure is old enough.
    pub(super) fn job_due(&self, id: &JobId, level: Level) -> bool {
        self.running.is_none()
            && self.ready.as_ref().is_none_or(|(r, _)| r != id)
            && self.dead_end.as_ref() != Some(id)
            && resend_due(self.failed_at, level)
    }

    /// Whether the worker holds the replay of `period` (the job then needs no input).
    pub(super) fn holds(&self, period: &PeriodKey) -> bool {
        self.holds.as_ref() == Some(period)
    }

    /// Whether a worker was started.
    pub(super) fn has_worker(&self) -> bool {
        self.worker.is_some()
    }

    /// Installs the worker.
    pub(super) fn set_worker(&mut self, w: Worker) {
        self.worker = Some(w);
    }

    /// Hands `job` to the worker.
    ///
    /// # Errors
    /// The worker is gone (it is forgotten: a new one is started at the next try).
    pub(super) fn submit(&mut self, job: Job, level: Level) -> Result<(), String> {
        let id = job.id.clone();
        let sent = self
            .worker
            .as_ref()
            .is_some_and(|w| w.jobs.send(job).is_ok());
        if sent {
            self.running = Some(id);
            Ok(())
        } else {
            self.lost_worker(level);
            Err("the refutation worker stopped".into())
        }
    }

    /// Collects the worker's results (without waiting) for the game state `current`: the
    /// move, or the job's error.
    ///
    /// # Errors
    /// The current job failed (retried after [`super::RESEND_AFTER_LEVELS`]), or the worker died.
    pub(super) fn poll(&mut self, current: &JobId, level: Level) -> Result<(), PollError> {
        loop {
            let r = match self.worker.as_ref().map(|w| w.results.try_recv()) {
                None | Some(Err(mpsc::TryRecvError::Empty)) => return Ok(()),
                Some(Ok(r)) => r,
                Some(Err(mpsc::TryRecvError::Disconnected)) => {
                    self.lost_worker(level);
                    return Err(PollError::WorkerGone);
                }
            };
            self.accept(r, current, level)?;
        }
    }

    /// Takes one result in: a result for another game state is dropped.
    fn accept(&mut self, r: JobResult, current: &JobId, level: Level) -> Result<(), PollError> {
        if self.running.as_ref() == Some(&r.id) {
            self.running = None;
        }
        self.holds = r.holds;
        if r.id != *current {
            tracing::debug!(
                "Refutation game: dropping a move computed for a game state that changed"
            );
            return Ok(());
        }
        match r.outcome {
            Ok(c) => {
                self.failed_at = None;
                self.ready = Some((r.id, c));
                Ok(())
            }
            Err(e) => {
                self.failed_at = Some(level);
                let operational = matches!(&e, StrategyError::Oracle(r) if r.is_operational());
                if !operational {
                    self.dead_end = Some(r.id);
                }
                Err(PollError::Job(e))
            }
        }
    }

    /// The move computed for `current`, if any (others are dropped).
    pub(super) fn take_ready(&mut self, current: &JobId) -> Option<Computed> {
        match self.ready.take() {
            Some((id, c)) if id == *current => Some(c),
            _ => None,
        }
    }

    /// Puts a move back (its proof failed: tried again at the next head).
    pub(super) fn put_back(&mut self, id: JobId, c: Computed) {
        self.ready = Some((id, c));
    }

    /// Records a failure before any job ran (reading the period's inputs).
    pub(super) fn failed(&mut self, level: Level) {
        self.failed_at = Some(level);
    }

    fn lost_worker(&mut self, level: Level) {
        self.worker = None;
        self.running = None;
        self.holds = None;
        self.failed_at = Some(level);
    }
}

/// Why [`Player::poll`] failed.
#[derive(Debug)]
pub(super) enum PollError {
    /// The job for the current game state failed.
    Job(JobError),
    /// The worker thread ended (it panicked).
    WorkerGone,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(l: i32) -> Level {
        Level::new(l).unwrap()
    }

    fn id(game: &str) -> JobId {
        JobId {
            game: game.into(),
            period: (level(3), CommitmentHash([7; 32])),
        }
    }

    fn job(game: &str) -> Job {
        Job {
            id: id(game),
            state: GameState::Dissecting {
                dissection: Vec::new(),
                default_number_of_sections: 32,
            },
            input: None,
        }
    }

    /// A worker whose jobs wait for a token from `gate`, then succeed with an empty dissection
    /// (or fail for the game state "fail").
    fn gated() -> (Worker, mpsc::Sender<()>) {
        let (gate, wait) = mpsc::channel::<()>();
        let w = Worker::spawn("test-worker".into(), move || {
            move |job: Job| {
                wait.recv().unwrap();
                let outcome = if job.id.game == "fail" {
                    Err(StrategyError::InconsistentGame("test"))
                } else if job.id.game == "unavailable" {
                    Err(StrategyError::Oracle(ReplayError::Engine("test".into())))
                } else {
                    Ok(Computed::Dissection {
                        choice: Tick::new(0),
                        dissection: Vec::new(),
                    })
                };
                JobResult {
                    holds: Some(job.id.period),
                    id: job.id,
                    outcome,
                }
            }
        })
        .unwrap();
        (w, gate)
    }

    /// Collects the next result of `p`'s worker as [`Player::poll`] does, waiting for it.
    fn collect(p: &mut Player, current: &JobId, l: i32) -> Result<(), PollError> {
        let r = p.worker.as_ref().unwrap().wait().unwrap();
        p.accept(r, current, level(l))
    }

    #[test]
    fn a_running_job_is_not_submitted_again() {
        let (w, gate) = gated();
        let mut p = Player::default();
        p.set_worker(w);
        let a = id("a");
        assert!(p.job_due(&a, level(10)));
        p.submit(job("a"), level(10)).unwrap();
        assert!(!p.job_due(&a, level(11)));
        assert!(!p.job_due(&a, level(30)));
        // Nothing yet: polling does not wait.
        p.poll(&a, level(11)).unwrap();
        assert!(p.take_ready(&a).is_none());
        gate.send(()).unwrap();
        collect(&mut p, &a, 12).unwrap();
        assert!(p.holds(&a.period));
        assert!(p.take_ready(&a).is_some());
        assert!(p.job_due(&a, level(12)));
    }

    #[test]
    fn a_result_for_a_changed_game_state_is_dropped() {
        let (w, gate) = gated();
        let mut p = Player::default();
        p.set_worker(w);
        p.submit(job("a"), level(10)).unwrap();
        let b = id("b");
        // Another state while the job for "a" runs: waited for.
        assert!(!p.job_due(&b, level(11)));
        gate.send(()).unwrap();
        collect(&mut p, &b, 11).unwrap();
        assert!(p.take_ready(&b).is_none());
        assert!(p.take_ready(&id("a")).is_none());
        assert!(p.job_due(&b, level(11)));
        p.submit(job("b"), level(11)).unwrap();
        gate.send(()).unwrap();
        collect(&mut p, &b, 12).unwrap();
        assert!(p.take_ready(&b).is_some());
    }

    #[test]
    fn an_operational_failure_is_retried_after_a_while() {
        let (w, gate) = gated();
        let mut p = Player::default();
        p.set_worker(w);
        let f = id("unavailable");
        p.submit(job("unavailable"), level(10)).unwrap();
        gate.send(()).unwrap();
        assert!(matches!(
            collect(&mut p, &f, 10),
            Err(PollError::Job(StrategyError::Oracle(ReplayError::Engine(
                _
            ))))
        ));
        assert!(!p.job_due(&f, level(15)));
        assert!(p.job_due(&f, level(16)));
    }

    /// A deterministic failure would fail again: the same game state is not replayed again,
    /// the next one is.
    #[test]
    fn a_deterministic_failure_is_not_retried() {
        let (w, gate) = gated();
        let mut p = Player::default();
        p.set_worker(w);
        let f = id("fail");
        p.submit(job("fail"), level(10)).unwrap();
        gate.send(()).unwrap();
        assert!(matches!(
            collect(&mut p, &f, 10),
            Err(PollError::Job(StrategyError::InconsistentGame(_)))
        ));
        assert!(!p.job_due(&f, level(100)));
        assert!(p.job_due(&id("next"), level(16)));
    }

    #[test]
    fn a_dead_worker_is_forgotten() {
        let w = Worker::spawn("test-worker".into(), || {
            |_: Job| -> JobResult { panic!("worker bug") }
        })
        .unwrap();
        let mut p = Player::default();
        p.set_worker(w);
        let a = id("a");
        p.submit(job("a"), level(10)).unwrap();
        // The thread panics on the job: its result channel closes.
        assert!(p.worker.as_ref().unwrap().wait().is_none());
        assert!(matches!(p.poll(&a, level(11)), Err(PollError::WorkerGone)));
        assert!(!p.has_worker());
        assert!(!p.job_due(&a, level(12)));
        assert!(p.job_due(&a, level(17)));
    }

    mod replayer {
        use super::*;
        use crate::refutation::replay::tests::{NoReveal, engine, genesis, levels};

        /// Synchronously, over a replay of its own: what the coordinator used to compute.
        fn reference() -> (PeriodReplay, StateHash, i64) {
            let (replay, end) = PeriodReplay::build(
                &genesis(),
                &levels(),
                &mut engine(),
                &mut NoReveal,
                &LoserMode::honest(),
            )
            .unwrap();
            let ticks = i64::try_from(replay.ticks()).unwrap();
            (replay, StateHash(end.hash().unwrap().0), ticks)
        }

        fn hash_at(r: &mut PeriodReplay, t: u128) -> StateHash {
            StateHash(
                r.state_at(t, &mut NoReveal)
                    .unwrap()
                    .unwrap()
                    .hash()
                    .unwrap()
                    .0,
            )
        }

        /// The opponent's dissection `[ours at start, wrong at stop]`.
        fn disagreeing(r: &mut PeriodReplay, start: u128, stop: u128) -> GameState {
            GameState::Dissecting {
                dissection: vec![
                    DissectionChunk {
                        state: Some(hash_at(r, start)),
                        tick: Tick::new(start),
                    },
                    DissectionChunk {
                        state: Some(StateHash([9; 32])),
                        tick: Tick::new(stop),
                    },
                ],
                default_number_of_sections: 32,
            }
        }

        fn replayer() -> Replayer<pvm_tick::Exact<pvm_wasmtime::WasmtimeEngine>, NoReveal> {
            Replayer {
                engine: Ok(engine()),
                reveal: NoReveal,
                loser: LoserMode::honest(),
                replay: None,
            }
        }

        fn input(state: StateHash, ticks: i64) -> PeriodInput {
            PeriodInput {
                start: genesis(),
                parent_level: level(0),
                levels: levels(),
                state,
                ticks,
            }
        }

        /// The worker's moves are the synchronous ones; its replay is built once and kept for
        /// the next moves of the game.
        #[test]
        fn the_worker_plays_the_synchronous_moves() {
            let (mut sync, end, ticks) = reference();
            let n = sync.ticks();
            let mut w = replayer();
            let first = disagreeing(&mut sync, 0, n);
            let expected = refutation_game::next_move(
                &first,
                DissectionRule::Wasm,
                &mut Oracle {
                    replay: &mut sync,
                    reveal: &mut NoReveal,
                },
            )
            .unwrap();
            let mut j = job("first");
            j.state = first;
            j.input = Some(input(end, ticks));
            let r = w.run(j);
            assert_eq!(r.holds, Some(id("first").period));
            let Ok(Computed::Dissection { choice, dissection }) = r.outcome else {
                panic!("a dissection expected")
            };
            assert!(dissection.len() > 2);
            assert_eq!(NextMove::Dissection { choice, dissection }, expected);
            // The final move, from the replay kept (no input this time).
            let t = n / 2;
            let mut j = job("second");
            j.state = disagreeing(&mut sync, t, t + 1);
            let r = w.run(j);
            let Ok(Computed::Proof { choice, tree }) = r.outcome else {
                panic!("a final move expected")
            };
            assert_eq!(choice, Tick::new(t));
            assert_eq!(StateHash(tree.hash().unwrap().0), hash_at(&mut sync, t));
        }

        /// A replay that does not end in our commitment is a deterministic failure, and no
        /// replay is kept.
        #[test]
        fn a_replay_not_ending_in_our_commitment_is_inconsistent() {
            let (_, end, ticks) = reference();
            let mut w = replayer();
            let mut j = job("a");
            j.input = Some(input(end, ticks + 1));
            let r = w.run(j);
            assert_eq!(r.holds, None);
            let Err(StrategyError::Oracle(e)) = r.outcome else {
                panic!("a replay error expected")
            };
            assert!(matches!(e, ReplayError::Inconsistent(_)), "{e}");
            assert!(!e.is_operational());
        }

        /// No engine: an operational failure.
        #[test]
        fn a_missing_engine_is_operational() {
            let (_, end, ticks) = reference();
            let mut w = replayer();
            w.engine = Err("test".into());
            let mut j = job("a");
            j.input = Some(input(end, ticks));
            let Err(StrategyError::Oracle(e)) = w.run(j).outcome else {
                panic!("a replay error expected")
            };
            assert!(e.is_operational(), "{e}");
        }
    }
}
