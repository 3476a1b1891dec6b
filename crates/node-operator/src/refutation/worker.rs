//! The background workers computing our moves: a fixed pool of [`WORKERS`] threads shared by
//! all games, each with its own engine and the replay of one commitment period. Replaying a
//! period and stepping the small-step PVM take hours on a busy rollup, so they run off the
//! follower thread.
//!
//! Octez runs one `refutation_player.ml` worker per opponent, all on one Lwt thread, and has
//! no option bounding them; one thread and one replay per opponent would let every staker
//! that disputes us cost a thread and a period's states. Here the number of threads is fixed
//! and the replay of a period ([`PeriodKey`]) is shared: a job goes to a worker holding its
//! period's replay, or waits for the worker replaying it, and only otherwise to another free
//! worker, which replays the period ([`Pool::dispatch`]). Two opponents disputing the same
//! commitment of ours thus share one replay.
//!
//! On our turn the coordinator makes a [`Job`] of the game state and submits it
//! ([`Pool::submit`]); the period's start state, messages and our commitment
//! ([`PeriodInput`]) are read from the store on the follower thread when the job is handed
//! to a worker that does not hold the period. The worker builds or reuses the
//! [`PeriodReplay`] and runs [`refutation_game::next_move`]; the [`JobResult`] is collected
//! at a following head ([`Pool::poll`]) and kept by the opponent's [`Player`]. A job whose
//! answer is no longer wanted (the game ended, or its state or our commitment changed:
//! [`Pool::retain`]) is dropped from the queue, or cancelled while it runs ([`Cancel`]: the
//! `kernel_run` in progress is interrupted, else the replay stops at its next tick). A failed job is retried after
//! [`super::RESEND_AFTER_LEVELS`], unless its failure is deterministic.

use std::collections::VecDeque;
use std::sync::mpsc;

use durable_tree::Tree;
use refutation_game::{DissectionRule, GameState, NextMove, StateOracle, StrategyError};
use tezos_types::operation::DissectionChunk;
use tezos_types::{CommitmentHash, Level, PublicKeyHash, StateHash, Tick};
use wasm_pvm::loser::LoserMode;
use wasm_pvm::{KernelEngine, PvmState, RevealHandler};

use super::replay::{Cancel, Interruptible, PeriodReplay, ReplayError};
use super::resend_due;

/// Worker threads computing moves, for all games (Octez has no equivalent option).
pub(super) const WORKERS: usize = 2;

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

/// One move to compute, for the game against `owner`.
pub(super) struct Job {
    pub(super) owner: PublicKeyHash,
    pub(super) id: JobId,
    pub(super) state: GameState,
    /// Present when the worker may not hold the period's replay (set at dispatch).
    pub(super) input: Option<PeriodInput>,
    /// Set when the answer is no longer wanted.
    pub(super) cancel: Cancel,
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
    pub(super) owner: PublicKeyHash,
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

impl<E: KernelEngine + Interruptible, R: RevealHandler> Replayer<E, R> {
    /// Computes the move of `job` (a job cancelled before it starts is not computed). While
    /// it runs, cancelling the job also interrupts the engine's `kernel_run` in progress; the
    /// engine is released (its interrupt cleared) before the next job.
    pub(super) fn run(&mut self, job: Job) -> JobResult {
        let outcome = if job.cancel.is_cancelled() {
            Err(StrategyError::Oracle(ReplayError::Cancelled))
        } else {
            let interrupt = self.engine.as_ref().ok().and_then(E::interrupt_handle);
            let _armed = job.cancel.arm(interrupt);
            let start = std::time::Instant::now();
            let r = self.compute(&job);
            if r.is_ok() {
                tracing::info!(
                    "Refutation game against {}: move computed in {:.2} s",
                    job.owner,
                    start.elapsed().as_secs_f64()
                );
            }
            r
        };
        JobResult {
            owner: job.owner,
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
            let replay = self
                .build(period.0, input, &job.cancel)
                .map_err(StrategyError::Oracle)?;
            self.replay = Some((period, replay));
        }
        let Some((_, replay)) = self.replay.as_mut() else {
            return Err(StrategyError::Oracle(ReplayError::Inconsistent(
                "no replay".into(),
            )));
        };
        replay.watch(job.cancel.clone());
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
        cancel: &Cancel,
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
            cancel,
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

/// One worker of the pool, started when first needed.
#[derive(Default)]
struct Slot {
    worker: Option<Worker>,
    /// The job handed to it and not collected yet.
    running: Option<(PublicKeyHash, JobId, Cancel)>,
    /// The period whose replay it holds (as of its last result).
    holds: Option<PeriodKey>,
}

impl Slot {
    /// The period it is replaying for a job not cancelled, else (idle) the one it holds: a
    /// busy worker replaying another period will not hold this one afterwards.
    fn has(&self, period: &PeriodKey) -> bool {
        match &self.running {
            Some((_, id, c)) => id.period == *period && !c.is_cancelled(),
            None => self.holds.as_ref() == Some(period),
        }
    }
}

/// What [`Pool::poll`] collected.
pub(super) enum Polled {
    /// A job's result.
    Done(JobResult),
    /// The worker running the job of `owner` for `id` ended (it panicked); another is started
    /// when needed.
    Gone { owner: PublicKeyHash, id: JobId },
}

/// A job that could not be handed to a worker (its period's input could not be read, or
/// no worker could be started): retried by its [`Player`] after a while.
pub(super) struct NotDispatched<E> {
    pub(super) owner: PublicKeyHash,
    pub(super) id: JobId,
    pub(super) error: E,
}

/// The pool of workers and the jobs waiting for one (at most one job per opponent).
pub(super) struct Pool {
    slots: Vec<Slot>,
    queue: VecDeque<Job>,
}

impl Default for Pool {
    fn default() -> Self {
        Self::new(WORKERS)
    }
}

impl Pool {
    /// A pool of `size` workers (at least one).
    pub(super) fn new(size: usize) -> Self {
        Self {
            slots: (0..size.max(1)).map(|_| Slot::default()).collect(),
            queue: VecDeque::new(),
        }
    }

    /// The job of `owner` queued or running, if any.
    pub(super) fn pending(&self, owner: &PublicKeyHash) -> Option<&JobId> {
        self.queue
            .iter()
            .find(|j| j.owner == *owner)
            .map(|j| &j.id)
            .or_else(|| {
                self.slots.iter().find_map(|s| match &s.running {
                    Some((o, id, c)) if o == owner && !c.is_cancelled() => Some(id),
                    _ => None,
                })
            })
    }

    /// Queues `job`, replacing the job of its owner for another game state (dropped if
    /// queued, cancelled if running).
    pub(super) fn submit(&mut self, job: Job) {
        let (owner, id) = (job.owner, job.id.clone());
        self.retain(|o, i| *o != owner || *i == id);
        self.queue.push_back(job);
    }

    /// Keeps the jobs `keep` wants (by owner and game state): the others are dropped from the
    /// queue, or cancelled while they run.
    pub(super) fn retain(&mut self, keep: impl Fn(&PublicKeyHash, &JobId) -> bool) {
        self.queue.retain(|j| {
            let k = keep(&j.owner, &j.id);
            if !k {
                tracing::debug!("Refutation game: dropping a queued move no longer wanted");
            }
            k
        });
        for (owner, id, cancel) in self.slots.iter().filter_map(|s| s.running.as_ref()) {
            if !keep(owner, id) && !cancel.is_cancelled() {
                tracing::info!(
                    "Refutation game against {owner}: cancelling a move no longer wanted"
                );
                cancel.cancel();
            }
        }
    }

    /// Hands queued jobs to free workers, oldest first: to a free worker holding the job's
    /// period; none while a busy worker replays it (its replay will be shared); else to
    /// another free worker, preferring one holding no replay that a queued job needs, with
    /// the period's input (`input`). Workers are started (`spawn`) when first needed.
    pub(super) fn dispatch<E>(
        &mut self,
        mut spawn: impl FnMut(usize) -> Result<Worker, E>,
        mut input: impl FnMut(&PeriodKey) -> Result<PeriodInput, E>,
    ) -> Vec<NotDispatched<E>> {
        let mut failed = Vec::new();
        let mut waiting = VecDeque::new();
        while let Some(mut job) = self.queue.pop_front() {
            let period = job.id.period;
            let free = |s: &Slot| s.running.is_none();
            let slot = if let Some(i) = self.slots.iter().position(|s| free(s) && s.has(&period)) {
                Some(i)
            } else if self.slots.iter().any(|s| s.has(&period)) {
                None
            } else {
                let wanted = |s: &Slot| {
                    s.holds.is_some_and(|h| {
                        self.queue
                            .iter()
                            .chain(waiting.iter())
                            .any(|j: &Job| j.id.period == h)
                    })
                };
                self.slots
                    .iter()
                    .position(|s| free(s) && !wanted(s))
                    .or_else(|| self.slots.iter().position(free))
            };
            let Some(i) = slot else {
                waiting.push_back(job);
                continue;
            };
            let s = &mut self.slots[i];
            if s.holds != Some(period) {
                match input(&period) {
                    Ok(x) => job.input = Some(x),
                    Err(error) => {
                        failed.push(NotDispatched {
                            owner: job.owner,
                            id: job.id,
                            error,
                        });
                        continue;
                    }
                }
            }
            let worker = match s.worker.take() {
                Some(w) => w,
                None => match spawn(i) {
                    Ok(w) => w,
                    Err(error) => {
                        failed.push(NotDispatched {
                            owner: job.owner,
                            id: job.id,
                            error,
                        });
                        continue;
                    }
                },
            };
            let running = (job.owner, job.id.clone(), job.cancel.clone());
            if let Err(mpsc::SendError(job)) = worker.jobs.send(job) {
                // The thread ended: forgotten, the job waits for a new one.
                *s = Slot::default();
                waiting.push_back(job);
            } else {
                s.worker = Some(worker);
                s.running = Some(running);
            }
        }
        self.queue = waiting;
        failed
    }

    /// The results of the workers so far (without waiting).
    pub(super) fn poll(&mut self) -> Vec<Polled> {
        let mut out = Vec::new();
        for s in &mut self.slots {
            loop {
                let r = match s.worker.as_ref().map(|w| w.results.try_recv()) {
                    None | Some(Err(mpsc::TryRecvError::Empty)) => break,
                    Some(Ok(r)) => r,
                    Some(Err(mpsc::TryRecvError::Disconnected)) => {
                        if let Some((owner, id, _)) = s.running.take() {
                            out.push(Polled::Gone { owner, id });
                        }
                        *s = Slot::default();
                        break;
                    }
                };
                // One job at a time per worker: this is the result of the running one.
                s.running = None;
                s.holds = r.holds;
                out.push(Polled::Done(r));
            }
        }
        out
    }

    /// Waits for the next result of any worker (tests).
    #[cfg(test)]
    fn wait(&mut self) -> Polled {
        loop {
            if let Some(p) = self.poll().into_iter().next() {
                return p;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// What the coordinator knows of the moves computed against one opponent.
#[derive(Default)]
pub(super) struct Player {
    /// The last failed job and the head level it failed at (retried after
    /// [`super::RESEND_AFTER_LEVELS`]).
    failed: Option<(JobId, Level)>,
    /// The failure of a job, not reported yet.
    error: Option<(JobId, JobError)>,
    /// A move computed for the job, not sent yet (its proof failed: retried at each head).
    ready: Option<(JobId, Computed)>,
    /// The job whose failure is deterministic (another try would replay the period again for
    /// the same error): not submitted again; a new game state is.
    dead_end: Option<JobId>,
}

impl Player {
    /// Whether a job for `id` is to be submitted at head `level`, given the job `pending`
    /// for this opponent: not already pending, no move for it waiting, not a dead end, and
    /// its last failure old enough.
    pub(super) fn job_due(&self, id: &JobId, pending: Option<&JobId>, level: Level) -> bool {
        pending != Some(id)
            && self.ready.as_ref().is_none_or(|(r, _)| r != id)
            && self.dead_end.as_ref() != Some(id)
            && self
                .failed
                .as_ref()
                .is_none_or(|(f, at)| f != id || resend_due(Some(*at), level))
    }

    /// Takes one result in at head `level`. A cancelled job left nothing to know.
    pub(super) fn accept(&mut self, r: JobResult, level: Level) {
        match r.outcome {
            Ok(c) => {
                self.failed = None;
                self.ready = Some((r.id, c));
            }
            Err(StrategyError::Oracle(e)) if e.is_cancelled() => {}
            Err(e) => {
                let operational = matches!(&e, StrategyError::Oracle(r) if r.is_operational());
                if !operational {
                    self.dead_end = Some(r.id.clone());
                }
                self.failed = Some((r.id.clone(), level));
                self.error = Some((r.id, e));
            }
        }
    }

    /// The failure of the job for `current` not reported yet (others are dropped).
    pub(super) fn take_error(&mut self, current: &JobId) -> Option<JobError> {
        match self.error.take() {
            Some((id, e)) if id == *current => Some(e),
            _ => None,
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

    /// Records a failure of the job for `id` outside the worker (reading its inputs, the
    /// worker stopping): retried after a while.
    pub(super) fn failed(&mut self, id: JobId, level: Level) {
        self.failed = Some((id, level));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn level(l: i32) -> Level {
        Level::new(l).unwrap()
    }

    fn owner(b: u8) -> PublicKeyHash {
        PublicKeyHash::Ed25519([b; 20])
    }

    fn period(l: i32) -> PeriodKey {
        (level(l), CommitmentHash([7; 32]))
    }

    fn id(game: &str) -> JobId {
        id_at(game, 3)
    }

    fn id_at(game: &str, l: i32) -> JobId {
        JobId {
            game: game.into(),
            period: period(l),
        }
    }

    fn job(game: &str) -> Job {
        job_of(1, game, 3)
    }

    fn job_of(o: u8, game: &str, l: i32) -> Job {
        Job {
            owner: owner(o),
            id: id_at(game, l),
            state: GameState::Dissecting {
                dissection: Vec::new(),
                default_number_of_sections: 32,
            },
            input: None,
            cancel: Cancel::default(),
        }
    }

    fn input() -> PeriodInput {
        PeriodInput {
            start: crate::refutation::replay::tests::genesis(),
            parent_level: level(0),
            levels: Vec::new(),
            state: StateHash([0; 32]),
            ticks: 0,
        }
    }

    /// Test workers: worker `i` runs a job once it gets a token from `gates[i]` (or sees the
    /// job cancelled), then succeeds with a dissection whose choice tells whether the job came
    /// with the period's input (1) or not (0); it fails for the game states "fail" and
    /// "unavailable", and panics for "panic".
    struct Gated {
        gates: Vec<mpsc::Sender<()>>,
        rxs: Arc<Mutex<Vec<Option<mpsc::Receiver<()>>>>>,
        spawned: Arc<Mutex<usize>>,
        inputs: usize,
    }

    impl Gated {
        fn new(n: usize) -> Self {
            let (gates, rxs): (Vec<_>, Vec<_>) = (0..n)
                .map(|_| {
                    let (tx, rx) = mpsc::channel();
                    (tx, Some(rx))
                })
                .unzip();
            Self {
                gates,
                rxs: Arc::new(Mutex::new(rxs)),
                spawned: Arc::new(Mutex::new(0)),
                inputs: 0,
            }
        }

        fn spawned(&self) -> usize {
            *self.spawned.lock().unwrap()
        }

        fn dispatch(&mut self, pool: &mut Pool) -> Vec<NotDispatched<String>> {
            let (rxs, spawned) = (self.rxs.clone(), self.spawned.clone());
            let inputs = &mut self.inputs;
            pool.dispatch(
                move |i| {
                    *spawned.lock().unwrap() += 1;
                    let wait = rxs.lock().unwrap()[i].take().ok_or("gate taken")?;
                    Worker::spawn(format!("test-worker-{i}"), move || {
                        move |job: Job| run_gated(&wait, job)
                    })
                    .map_err(|e| e.to_string())
                },
                |_| {
                    *inputs += 1;
                    Ok(input())
                },
            )
        }
    }

    fn run_gated(wait: &mpsc::Receiver<()>, job: Job) -> JobResult {
        let outcome = loop {
            if job.cancel.is_cancelled() {
                break Err(StrategyError::Oracle(ReplayError::Cancelled));
            }
            if wait
                .recv_timeout(std::time::Duration::from_millis(5))
                .is_ok()
            {
                break match job.id.game.as_str() {
                    "fail" => Err(StrategyError::InconsistentGame("test")),
                    "unavailable" => Err(StrategyError::Oracle(ReplayError::Engine("test".into()))),
                    "panic" => panic!("worker bug"),
                    _ => Ok(Computed::Dissection {
                        choice: Tick::new(u128::from(job.input.is_some())),
                        dissection: Vec::new(),
                    }),
                };
            }
        };
        JobResult {
            owner: job.owner,
            holds: Some(job.id.period),
            id: job.id,
            outcome,
        }
    }

    fn done(p: Polled) -> JobResult {
        match p {
            Polled::Done(r) => r,
            Polled::Gone { .. } => panic!("a result expected"),
        }
    }

    fn with_input(r: &JobResult) -> bool {
        match &r.outcome {
            Ok(Computed::Dissection { choice, .. }) => *choice == Tick::new(1),
            _ => panic!("a dissection expected"),
        }
    }

    /// Three games on three periods, two workers: the third job waits for a free worker,
    /// which replays its period; no third worker is started.
    #[test]
    fn the_pool_never_runs_more_workers_than_its_size() {
        let mut g = Gated::new(2);
        let mut pool = Pool::new(2);
        for (o, l) in [(1, 3), (2, 5), (3, 7)] {
            pool.submit(job_of(o, "a", l));
        }
        assert!(g.dispatch(&mut pool).is_empty());
        assert_eq!(g.spawned(), 2);
        assert_eq!(pool.queue.len(), 1);
        assert_eq!(pool.pending(&owner(3)), Some(&id_at("a", 7)));
        g.gates[0].send(()).unwrap();
        let r = done(pool.wait());
        assert_eq!((r.owner, with_input(&r)), (owner(1), true));
        assert_eq!(pool.pending(&owner(1)), None);
        g.dispatch(&mut pool);
        assert_eq!(g.spawned(), 2);
        assert!(pool.queue.is_empty());
        g.gates[0].send(()).unwrap();
        let r = done(pool.wait());
        assert_eq!((r.owner, with_input(&r)), (owner(3), true));
        assert_eq!(g.inputs, 3);
    }

    /// Two opponents disputing the same commitment: the second job waits for the worker
    /// replaying the period, then reuses its replay (no input read, no second worker).
    #[test]
    fn opponents_disputing_the_same_commitment_share_its_replay() {
        let mut g = Gated::new(2);
        let mut pool = Pool::new(2);
        pool.submit(job_of(1, "a", 3));
        g.dispatch(&mut pool);
        pool.submit(job_of(2, "b", 3));
        g.dispatch(&mut pool);
        assert_eq!((g.spawned(), g.inputs, pool.queue.len()), (1, 1, 1));
        g.gates[0].send(()).unwrap();
        assert!(with_input(&done(pool.wait())));
        g.dispatch(&mut pool);
        assert!(pool.queue.is_empty());
        g.gates[0].send(()).unwrap();
        let r = done(pool.wait());
        assert_eq!((r.owner, with_input(&r)), (owner(2), false));
        assert_eq!((g.spawned(), g.inputs), (1, 1));
    }

    /// A job no longer wanted (its game ended) is dropped from the queue, or cancelled while
    /// it runs; a new game state of the same opponent replaces its job. A cancelled job
    /// leaves no failure behind.
    #[test]
    fn stale_jobs_are_cancelled_or_dropped() {
        let mut g = Gated::new(1);
        let mut pool = Pool::new(1);
        let a = job_of(1, "a", 3);
        let cancel_a = a.cancel.clone();
        pool.submit(a);
        pool.submit(job_of(2, "b", 5));
        g.dispatch(&mut pool);
        assert_eq!(pool.queue.len(), 1);
        // Both games ended.
        pool.retain(|_, _| false);
        assert!(cancel_a.is_cancelled());
        assert!(pool.queue.is_empty());
        assert_eq!(
            (pool.pending(&owner(1)), pool.pending(&owner(2))),
            (None, None)
        );
        let r = done(pool.wait());
        assert!(matches!(&r.outcome, Err(StrategyError::Oracle(e)) if e.is_cancelled()));
        let mut p = Player::default();
        p.accept(r, level(10));
        let a = id_at("a", 3);
        assert!(p.take_error(&a).is_none());
        assert!(p.job_due(&a, None, level(10)));
        // A new game state replaces the running job of the same opponent.
        let a = job_of(1, "a", 3);
        let cancel_a = a.cancel.clone();
        pool.submit(a);
        g.dispatch(&mut pool);
        pool.submit(job_of(1, "a2", 3));
        assert!(cancel_a.is_cancelled());
        assert_eq!(pool.pending(&owner(1)), Some(&id_at("a2", 3)));
        assert!(
            matches!(&done(pool.wait()).outcome, Err(StrategyError::Oracle(e)) if e.is_cancelled())
        );
        g.dispatch(&mut pool);
        g.gates[0].send(()).unwrap();
        let r = done(pool.wait());
        // The worker still holds the period: its replay is reused.
        assert_eq!((r.id.game.as_str(), with_input(&r)), ("a2", false));
    }

    #[test]
    fn a_pending_job_is_not_submitted_again() {
        let mut g = Gated::new(1);
        let mut pool = Pool::new(1);
        let mut p = Player::default();
        let a = id("a");
        assert!(p.job_due(&a, pool.pending(&owner(1)), level(10)));
        pool.submit(job("a"));
        assert!(!p.job_due(&a, pool.pending(&owner(1)), level(11)));
        g.dispatch(&mut pool);
        assert!(!p.job_due(&a, pool.pending(&owner(1)), level(30)));
        // Nothing yet: polling does not wait.
        assert!(pool.poll().is_empty());
        g.gates[0].send(()).unwrap();
        p.accept(done(pool.wait()), level(12));
        assert!(p.take_ready(&a).is_some());
        assert!(p.job_due(&a, pool.pending(&owner(1)), level(12)));
    }

    #[test]
    fn an_operational_failure_is_retried_after_a_while() {
        let mut p = Player::default();
        let f = id("unavailable");
        let mut g = Gated::new(1);
        let mut pool = Pool::new(1);
        pool.submit(job("unavailable"));
        g.dispatch(&mut pool);
        g.gates[0].send(()).unwrap();
        p.accept(done(pool.wait()), level(10));
        assert!(matches!(
            p.take_error(&f),
            Some(StrategyError::Oracle(ReplayError::Engine(_)))
        ));
        assert!(!p.job_due(&f, None, level(15)));
        assert!(p.job_due(&f, None, level(16)));
        // The failure of another game state does not hold the next one back.
        assert!(p.job_due(&id("next"), None, level(11)));
    }

    /// A deterministic failure would fail again: the same game state is not replayed again,
    /// the next one is.
    #[test]
    fn a_deterministic_failure_is_not_retried() {
        let mut p = Player::default();
        let f = id("fail");
        let mut g = Gated::new(1);
        let mut pool = Pool::new(1);
        pool.submit(job("fail"));
        g.dispatch(&mut pool);
        g.gates[0].send(()).unwrap();
        p.accept(done(pool.wait()), level(10));
        assert!(matches!(
            p.take_error(&f),
            Some(StrategyError::InconsistentGame(_))
        ));
        assert!(!p.job_due(&f, None, level(100)));
        assert!(p.job_due(&id("next"), None, level(16)));
    }

    #[test]
    fn a_dead_worker_is_replaced() {
        let mut g = Gated::new(2);
        let mut pool = Pool::new(1);
        pool.submit(job("panic"));
        g.dispatch(&mut pool);
        g.gates[0].send(()).unwrap();
        // The thread panics on the job: its result channel closes.
        assert!(
            matches!(pool.wait(), Polled::Gone { owner: o, id: i } if o == owner(1) && i == id("panic"))
        );
        assert_eq!(pool.pending(&owner(1)), None);
        pool.submit(job("a"));
        // Slot 0's gate is gone with its thread: the new worker takes gate 1.
        g.rxs.lock().unwrap().swap(0, 1);
        g.dispatch(&mut pool);
        assert_eq!(g.spawned(), 2);
        g.gates[1].send(()).unwrap();
        assert!(with_input(&done(pool.wait())));
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
                &Cancel::default(),
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

        /// A job cancelled before it runs is not computed; the next one is.
        #[test]
        fn a_cancelled_job_is_not_computed() {
            let (mut sync, end, ticks) = reference();
            let n = sync.ticks();
            let mut w = replayer();
            let mut j = job("a");
            j.state = disagreeing(&mut sync, 0, n);
            j.input = Some(input(end, ticks));
            j.cancel.cancel();
            let r = w.run(j);
            assert_eq!(r.holds, None);
            assert!(matches!(r.outcome, Err(StrategyError::Oracle(e)) if e.is_cancelled()));
            let mut j = job("a");
            j.state = disagreeing(&mut sync, 0, n);
            j.input = Some(input(end, ticks));
            assert!(matches!(w.run(j).outcome, Ok(Computed::Dissection { .. })));
        }

        /// Calls the host forever: its first `kernel_run` never returns by itself.
        const LOOPING: &str = r#"(module
  (import "smart_rollup_core" "store_has" (func $has (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "kernel_run")
    (loop $l (drop (call $has (i32.const 0) (i32.const 0))) (br $l))))"#;

        /// Cancelling a job stops the `kernel_run` in progress (here one that would never
        /// end): the job is cancelled, not failed, and keeps no replay. The worker's next job
        /// runs normally on the same engine, and cancelling a finished job does not reach the
        /// engine any more.
        #[test]
        fn cancelling_a_job_interrupts_its_running_kernel() {
            use std::sync::atomic::{AtomicBool, Ordering};
            use std::time::{Duration, Instant};

            let (mut sync, end, ticks) = reference();
            let n = sync.ticks();
            let mut w = replayer();
            let engine_interrupt = w.engine.as_ref().unwrap().0.interrupt_handle();
            let kernel = wat::parse_str(LOOPING).unwrap();
            let start = PvmState::genesis(
                wasm_pvm::PvmVersion::V6,
                &kernel,
                &wasm_pvm::GenesisParams::default(),
            )
            .unwrap();
            let mut j = job("looping");
            j.state = disagreeing(&mut sync, 0, n);
            j.input = Some(PeriodInput {
                start,
                ..input(end, ticks)
            });
            let cancel = j.cancel.clone();
            let began = Instant::now();
            let canceller = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                cancel.cancel();
            });
            // Fails the test instead of hanging it if the job is not interrupted.
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let watchdog_fired = Arc::new(AtomicBool::new(false));
            let watchdog = std::thread::spawn({
                let fired = watchdog_fired.clone();
                let interrupt = engine_interrupt.clone();
                move || {
                    if done_rx.recv_timeout(Duration::from_secs(60)).is_err() {
                        fired.store(true, Ordering::SeqCst);
                        interrupt.interrupt();
                    }
                }
            });
            let r = w.run(j);
            let took = began.elapsed();
            done_tx.send(()).unwrap();
            canceller.join().unwrap();
            watchdog.join().unwrap();
            assert!(!watchdog_fired.load(Ordering::SeqCst), "not interrupted");
            assert!(took >= Duration::from_millis(300), "{took:?}");
            assert_eq!(r.holds, None);
            let Err(StrategyError::Oracle(e)) = r.outcome else {
                panic!("a cancelled job expected")
            };
            assert!(e.is_cancelled() && !e.is_operational(), "{e}");
            assert!(!engine_interrupt.is_interrupted());

            // The next job on the same worker runs normally.
            let mut j = job("a");
            j.state = disagreeing(&mut sync, 0, n);
            j.input = Some(input(end, ticks));
            let late = j.cancel.clone();
            assert!(matches!(w.run(j).outcome, Ok(Computed::Dissection { .. })));
            // A late cancel of that finished job leaves the engine alone.
            late.cancel();
            assert!(!engine_interrupt.is_interrupted());
            let mut j = job("b");
            j.state = disagreeing(&mut sync, n / 2, n / 2 + 1);
            assert!(matches!(w.run(j).outcome, Ok(Computed::Proof { .. })));
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
