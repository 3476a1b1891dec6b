//! The node's own PVM states at any tick of a commitment period, for its refutation games
//! (Octez `Interpreter.state_of_tick` with its per-game cache;
//! `docs/reference/octez-rollup-node.md` §6.4).
//!
//! The period's levels are evaluated once with the fast path, keeping the state after every
//! input tick and every window ([`wasm_pvm::LevelEvent`]). A state between two of these is
//! then either a `Padding` state of the window (the same state at another tick) or reached
//! tick by tick from the window's `Snapshot` with the small-step PVM (`pvm_tick`). The first
//! `Padding` state found in a window, the states stepped to and about a hundred states on
//! the way of each stepping run are kept, so each move steps from the closest state below the
//! ticks it asks for (a kernel run is stepped through once, not once per move).
//! A loser-mode node ([`wasm_pvm::loser`]) carries its failure markers from the tick they
//! take effect: its states are the honest ones plus the markers.
//!
//! A replay can be cancelled ([`Cancel`]): the flag is seen before every `kernel_run` of
//! the fast path and before every small-step tick, and, once armed with the engine's
//! [`Interrupt`] ([`Cancel::arm`]), also stops the `kernel_run` in progress; the computation
//! ends in [`ReplayError::Cancelled`] (neither a retry nor a dead end: nobody wants the
//! answer).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use durable_tree::{Tree, TreeError};
use pvm_wasmtime::Interrupt;
use wasm_pvm::loser::{LoserMode, set_failures};
use wasm_pvm::{
    EngineError, HostFatal, HostState, KernelEngine, LevelEvent, PvmError, PvmState, RevealHandler,
    RunOutcome, TickState,
};

/// States stepped tick by tick kept for the next moves (each shares most of its tree with
/// the others).
const MAX_STEPPED: usize = 1024;

/// A state stepped through `d` ticks after the start of a stepping run is kept if it is
/// `d / KEPT_SPACING` ticks past the last one kept (at least [`MIN_KEPT_GAP`]): about
/// `KEPT_SPACING · ln(run / MIN_KEPT_GAP)` states per run, each next move's tick within a
/// sixty-fourth of its distance from the run's start of one.
const KEPT_SPACING: u128 = 64;

/// The fewest ticks between two states kept on the way (stepping that far is cheap).
const MIN_KEPT_GAP: u128 = 64;

/// Interpreter ticks taken in one run at most ([`pvm_tick::run_steps`]) between two checks of
/// the cancel flag (~0.1 s in a release build).
const EVAL_RUN: u64 = 10_000;

/// Why a state could not be computed. Operational failures ([`ReplayError::is_operational`]:
/// I/O, a reveal not fetched, the node store, the engine) may go away on a retry; the others
/// are deterministic: the same inputs fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The fast path failed (operational when the engine or the store did).
    #[error("PVM: {0}")]
    Pvm(#[from] PvmError),
    /// A state tree operation failed (operational when the store did).
    #[error(transparent)]
    Tree(#[from] durable_tree::TreeError),
    /// A reveal the kernel asked for could not be answered (operational).
    #[error("reveal: {0}")]
    Reveal(HostFatal),
    /// The PVM engine could not be built (operational).
    #[error("cannot build the PVM engine: {0}")]
    Engine(String),
    /// A tick of the small-step PVM failed: a stuck or malformed state, or a tick it does not
    /// step yet (deterministic).
    #[error("small-step PVM: {0}")]
    Tick(#[from] pvm_tick::TickError),
    /// A state did not decode (deterministic).
    #[error(transparent)]
    Decode(#[from] wasm_pvm::DecodeError),
    /// The replay does not end in the state the node committed, or a tick is out of the
    /// period (deterministic).
    #[error("{0}")]
    Inconsistent(String),
    /// The computation was cancelled ([`Cancel`]): its answer is no longer wanted. Neither
    /// operational (not retried) nor deterministic (not a dead end).
    #[error("cancelled")]
    Cancelled,
}

/// Whether a host function failure may go away on a retry: a storage or reveal failure may,
/// a host function this node does not implement (`Unsupported`) fails the same way for the
/// same state (deterministic).
fn host_operational(h: &HostFatal) -> bool {
    match h {
        HostFatal::Storage(_) | HostFatal::Reveal(_) => true,
        HostFatal::Unsupported(_) => false,
    }
}

impl ReplayError {
    /// Whether a retry may succeed: the failure came from outside the computation (I/O, the
    /// network, the node store).
    pub fn is_operational(&self) -> bool {
        match self {
            Self::Pvm(PvmError::Engine(EngineError::Host(h))) | Self::Reveal(h) => {
                host_operational(h)
            }
            Self::Pvm(PvmError::Tree(TreeError::Store(_)))
            | Self::Tree(TreeError::Store(_))
            | Self::Engine(_) => true,
            Self::Pvm(_)
            | Self::Tree(_)
            | Self::Tick(_)
            | Self::Decode(_)
            | Self::Inconsistent(_)
            | Self::Cancelled => false,
        }
    }

    /// Whether the computation was cancelled (see [`Cancel`]).
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            Self::Cancelled | Self::Pvm(PvmError::Engine(EngineError::Cancelled))
        )
    }
}

/// The cancellation flag of one computation, shared between the coordinator (which sets it
/// when the answer is no longer wanted) and the worker running it. While the worker runs the
/// computation it arms the flag with its engine's [`Interrupt`] ([`Cancel::arm`]), so that
/// cancelling also stops the `kernel_run` in progress (at its next host call,
/// `crates/pvm-wasmtime/src/engine.rs`), not only the next one.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    /// The interrupt of the engine running the computation, while it runs it.
    interrupt: Mutex<Option<Interrupt>>,
}

impl CancelInner {
    fn interrupt(&self) -> MutexGuard<'_, Option<Interrupt>> {
        // A poisoned lock only means a panic elsewhere; the slot itself is always valid.
        self.interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Cancel {
    /// Asks the computation to stop: the `kernel_run` in progress if the flag is armed, else
    /// at its next `kernel_run` or tick.
    pub fn cancel(&self) {
        // Set before taking the lock: an `arm` after it sees the flag and interrupts.
        self.0.cancelled.store(true, Ordering::SeqCst);
        if let Some(i) = self.0.interrupt().as_ref() {
            i.interrupt();
        }
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Makes [`Self::cancel`] also interrupt the runs of the engine of `interrupt` until the
    /// returned guard is dropped. The engine must run this computation only while armed (one
    /// computation at a time): arming clears a previous request, and disarming clears the
    /// request of this computation, so that the engine's next computation runs normally and a
    /// late [`Self::cancel`] never reaches it. An engine without an interrupt (`None`) is only
    /// stopped between runs.
    pub fn arm(&self, interrupt: Option<Interrupt>) -> Armed {
        let mut slot = self.0.interrupt();
        if let Some(i) = &interrupt {
            i.clear();
            if self.is_cancelled() {
                i.interrupt();
            }
        }
        *slot = interrupt;
        Armed(self.clone())
    }

    fn check(&self) -> Result<(), ReplayError> {
        if self.is_cancelled() {
            Err(ReplayError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A [`Cancel`] armed with an engine's interrupt ([`Cancel::arm`]); dropping it disarms.
#[must_use = "the flag is disarmed when the guard is dropped"]
pub struct Armed(Cancel);

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some(i) = self.0.0.interrupt().take() {
            i.clear();
        }
    }
}

/// An engine whose running `kernel_run` can be stopped from another thread.
pub trait Interruptible {
    /// The handle interrupting this engine's runs, if it has one.
    fn interrupt_handle(&self) -> Option<Interrupt>;
}

impl Interruptible for pvm_wasmtime::WasmtimeEngine {
    fn interrupt_handle(&self) -> Option<Interrupt> {
        Some(pvm_wasmtime::WasmtimeEngine::interrupt_handle(self))
    }
}

impl<E: Interruptible> Interruptible for pvm_tick::Exact<E> {
    fn interrupt_handle(&self) -> Option<Interrupt> {
        self.0.interrupt_handle()
    }
}

/// An engine whose runs stop once `cancel` is set (before each `kernel_run` and each exact
/// window): [`EngineError::Cancelled`], the PVM state not advanced.
struct Cancellable<'a> {
    engine: &'a mut dyn KernelEngine,
    cancel: &'a Cancel,
}

impl KernelEngine for Cancellable<'_> {
    fn run(
        &mut self,
        kernel: &[u8],
        kernel_hash: &durable_tree::Hash,
        host: &mut HostState<'_>,
    ) -> Result<RunOutcome, EngineError> {
        if self.cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        self.engine.run(kernel, kernel_hash, host)
    }

    fn exact_window(
        &mut self,
        snapshot: &Tree,
        reveal: &mut dyn RevealHandler,
    ) -> Option<Result<Tree, EngineError>> {
        if self.cancel.is_cancelled() {
            return Some(Err(EngineError::Cancelled));
        }
        self.engine.exact_window(snapshot, reveal)
    }
}

/// The states of one commitment period.
pub struct PeriodReplay {
    /// Absolute tick of the period's start (game tick 0).
    offset: u128,
    /// Absolute tick of the period's end.
    last: u128,
    /// Honest states (no failure markers) at the ticks the fast path stops at.
    checkpoints: BTreeMap<u128, PvmState>,
    /// Failure markers of the start state.
    base_failures: u32,
    /// Absolute ticks from which each further failure marker is in the state, ascending.
    failures: Vec<u128>,
    /// States stepped tick by tick (honest), by tick: a dissection asks for increasing ticks
    /// from the last agreed one, which is among them, so each section is stepped once.
    stepped: BTreeMap<u128, Tree>,
    /// The cancellation flag of the computation using the replay ([`Self::watch`]).
    cancel: Cancel,
}

impl PeriodReplay {
    /// Evaluates `levels` from `start` (the state at the end of the parent commitment's
    /// level) as the node did, with `loser`'s failures; stops once `cancel` is set.
    ///
    /// # Errors
    /// [`ReplayError`]; [`ReplayError::Cancelled`] once `cancel` is set.
    pub fn build(
        start: &PvmState,
        levels: &[(u32, Vec<Vec<u8>>)],
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        loser: &LoserMode,
        cancel: &Cancel,
    ) -> Result<(Self, PvmState), ReplayError> {
        let mut engine = Cancellable { engine, cancel };
        let offset = start.current_tick();
        let mut checkpoints = BTreeMap::new();
        checkpoints.insert(offset, start.without_failures());
        let mut failures = Vec::new();
        let mut state = start.clone();
        for (level, messages) in levels {
            cancel.check()?;
            let mut observe = |e: LevelEvent<'_>| match e {
                LevelEvent::State(s) => {
                    checkpoints.insert(s.current_tick(), s.without_failures());
                }
                LevelEvent::Failure(t) => failures.push(t),
            };
            state
                .process_level_with(
                    *level,
                    messages,
                    &mut engine,
                    reveal,
                    None,
                    loser,
                    Some(&mut observe),
                )
                .map_err(|e| match e {
                    PvmError::Engine(EngineError::Cancelled) => ReplayError::Cancelled,
                    e => e.into(),
                })?;
        }
        failures.sort_unstable();
        let replay = Self {
            offset,
            last: state.current_tick(),
            checkpoints,
            base_failures: start.failures(),
            failures,
            stepped: BTreeMap::new(),
            cancel: cancel.clone(),
        };
        Ok((replay, state))
    }

    /// Makes the following [`Self::state_at`] calls stop once `cancel` is set (the replay
    /// itself stays valid: a state is kept only once reached).
    pub fn watch(&mut self, cancel: Cancel) {
        self.cancel = cancel;
    }

    /// Absolute tick of game tick 0.
    pub fn offset(&self) -> u128 {
        self.offset
    }

    /// Ticks of the period.
    pub fn ticks(&self) -> u128 {
        self.last.saturating_sub(self.offset)
    }

    /// The state at game tick `tick`, `None` beyond the period.
    ///
    /// # Errors
    /// [`ReplayError`]; [`ReplayError::Cancelled`] once the watched flag is set.
    pub fn state_at(
        &mut self,
        tick: u128,
        reveal: &mut dyn RevealHandler,
    ) -> Result<Option<Tree>, ReplayError> {
        let Some(abs) = self.offset.checked_add(tick) else {
            return Ok(None);
        };
        if abs > self.last {
            return Ok(None);
        }
        let mut tree = self.honest_at(abs, reveal)?;
        let markers = self.failures.iter().filter(|&&f| f <= abs).count();
        let n = u32::try_from(markers)
            .ok()
            .and_then(|m| m.checked_add(self.base_failures))
            .ok_or_else(|| ReplayError::Inconsistent("too many failure markers".into()))?;
        if n > 0 {
            set_failures(&mut tree, n)?;
        }
        Ok(Some(tree))
    }

    fn honest_at(
        &mut self,
        abs: u128,
        reveal: &mut dyn RevealHandler,
    ) -> Result<Tree, ReplayError> {
        let Some((&at, cp)) = self.checkpoints.range(..=abs).next_back() else {
            return Err(ReplayError::Inconsistent(format!(
                "tick {abs} is before the period"
            )));
        };
        if at == abs {
            return Ok(cp.to_tree()?);
        }
        if *cp.tick_state() == TickState::Padding
            && let Some(s) = cp.at_padding_tick(abs)
        {
            return Ok(s.to_tree()?);
        }
        // Tick by tick from the checkpoint, or from the last state stepped if it is on the way.
        let (mut t, mut tree) = match self.stepped.range(at..=abs).next_back() {
            Some((st, tree)) => (*st, tree.clone()),
            None => (at, cp.to_tree()?),
        };
        // States on the way are kept too, so that the next moves (whose ticks lie between
        // the ones asked now) step from close by rather than from the `Snapshot` again: the
        // farther from where this run started, the sparser (the run's end is not known
        // before a `Padding` state is met).
        let from = t;
        let mut next_kept = t.saturating_add(MIN_KEPT_GAP);
        while t < abs {
            self.cancel.check()?;
            if t >= next_kept {
                self.keep_stepped(t, tree.clone());
                let gap = (t.saturating_sub(from) / KEPT_SPACING).max(MIN_KEPT_GAP);
                next_kept = t.saturating_add(gap);
            }
            if pvm_tick::tick_tag(&tree)? == pvm_tick::TickTag::Padding {
                let s = PvmState::from_tree(&tree)?;
                self.checkpoints.insert(t, s.clone());
                if let Some(p) = s.at_padding_tick(abs) {
                    tree = p.to_tree()?;
                    t = abs;
                    break;
                }
            }
            // Interpreter ticks in runs (its state kept decoded), up to the next
            // state to keep and at most `EVAL_RUN` ticks between two cancel checks.
            let run = abs
                .min(next_kept.max(t.saturating_add(1)))
                .saturating_sub(t);
            let run = u64::try_from(run).unwrap_or(u64::MAX).min(EVAL_RUN);
            if let Some((next, n)) = pvm_tick::run_steps(&tree, run)? {
                tree = next;
                t = t
                    .checked_add(u128::from(n))
                    .ok_or_else(|| ReplayError::Inconsistent("tick overflow".into()))?;
                continue;
            }
            tree = pvm_tick::step_answering_reveals(&tree, reveal).map_err(|e| match e {
                pvm_tick::WindowError::Tick(e) => ReplayError::Tick(e),
                pvm_tick::WindowError::Reveal(e) => ReplayError::Reveal(e),
            })?;
            t = t
                .checked_add(1)
                .ok_or_else(|| ReplayError::Inconsistent("tick overflow".into()))?;
        }
        let reached = pvm_tick::current_tick(&tree)?;
        if reached != abs {
            return Err(ReplayError::Inconsistent(format!(
                "stepping to tick {abs} reached tick {reached}"
            )));
        }
        self.keep_stepped(t, tree.clone());
        Ok(tree)
    }

    /// Keeps a state stepped to, forgetting the lowest one beyond [`MAX_STEPPED`].
    fn keep_stepped(&mut self, tick: u128, tree: Tree) {
        if self.stepped.len() >= MAX_STEPPED
            && let Some(&first) = self.stepped.keys().next()
        {
            self.stepped.remove(&first);
        }
        self.stepped.insert(tick, tree);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use wasm_pvm::{GenesisParams, PvmVersion, RevealError};

    /// Reads its inputs, writes one durable value per input and one output.
    const KERNEL: &str = r#"(module
  (import "smart_rollup_core" "read_input" (func $read (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write"
    (func $w (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "write_output" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "/last")
  (func (export "kernel_run") (local $n i32)
    (block $done
      (loop $next
        (local.set $n (call $read (i32.const 100) (i32.const 200) (i32.const 4096)))
        (br_if $done (i32.eqz (local.get $n)))
        (drop (call $w (i32.const 0) (i32.const 5) (i32.const 0) (i32.const 200)
          (local.get $n)))
        (br $next)))
    (drop (call $out (i32.const 0) (i32.const 5)))))"#;

    pub(crate) struct NoReveal;
    impl RevealHandler for NoReveal {
        fn reveal(&mut self, _: &[u8]) -> Result<Vec<u8>, RevealError> {
            Err(RevealError("no reveal in this test".into()))
        }
    }

    /// Windows of `WINDOW` ticks, so that every tick of two levels can be stepped.
    const WINDOW: u128 = 10_000;

    pub(crate) fn genesis() -> PvmState {
        let kernel = wat::parse_str(KERNEL).unwrap();
        let params = GenesisParams {
            ticks_per_snapshot: WINDOW,
            ..GenesisParams::default()
        };
        PvmState::genesis(PvmVersion::V6, &kernel, &params).unwrap()
    }

    pub(crate) fn levels() -> Vec<(u32, Vec<Vec<u8>>)> {
        (1..=2)
            .map(|l| (l, vec![vec![0, 1], b"\x01hello".to_vec(), vec![0, 2]]))
            .collect()
    }

    pub(crate) fn engine() -> pvm_tick::Exact<pvm_wasmtime::WasmtimeEngine> {
        pvm_tick::Exact(pvm_wasmtime::WasmtimeEngine::new().unwrap())
    }

    /// The honest replay of [`levels`] from [`genesis`], and the state it ends in.
    fn honest_replay() -> (PeriodReplay, PvmState) {
        PeriodReplay::build(
            &genesis(),
            &levels(),
            &mut engine(),
            &mut NoReveal,
            &LoserMode::honest(),
            &Cancel::default(),
        )
        .unwrap()
    }

    /// Every state of the replay is the state the small-step PVM reaches tick by tick from
    /// the start, inputs given at the input ticks; the replay ends where the fast path does.
    #[test]
    fn every_tick_is_the_small_step_state() {
        let start = genesis();
        let (mut replay, end) = honest_replay();
        assert_eq!(replay.offset(), 0);
        assert_eq!(replay.ticks(), end.current_tick());
        let inputs: Vec<(u32, u64, Vec<u8>)> = levels()
            .into_iter()
            .flat_map(|(l, ms)| {
                ms.into_iter()
                    .enumerate()
                    .map(move |(i, m)| (l, i as u64, m))
            })
            .collect();
        let mut next_input = inputs.iter();
        let mut tree = start.to_tree().unwrap();
        let mut checked = 0u32;
        let mut tick = 0;
        while tick < replay.ticks() {
            let ours = replay.state_at(tick, &mut NoReveal).unwrap().unwrap();
            assert_eq!(ours.hash().unwrap(), tree.hash().unwrap(), "tick {tick}");
            checked += 1;
            tree = if pvm_tick::is_input_state(&tree).unwrap() {
                let (level, counter, payload) = next_input.next().unwrap().clone();
                let input = pvm_tick::Input::Message {
                    level,
                    counter,
                    payload,
                };
                pvm_tick::set_input(&tree, &input).unwrap()
            } else if pvm_tick::tick_tag(&tree).unwrap() == pvm_tick::TickTag::Padding {
                // Padding states differ only by their tick (pvm-tick's conformance tests): a
                // few of them, then on from the window's last one.
                let s = PvmState::from_tree(&tree).unwrap();
                let Some(last) = (tick + 1..=tick + WINDOW)
                    .rev()
                    .find(|&t| s.at_padding_tick(t).is_some())
                else {
                    // The window's last padding tick: the window-end tick comes next.
                    tree = pvm_tick::compute_step(&tree).unwrap();
                    tick += 1;
                    continue;
                };
                for t in [tick + 1, (tick + last) / 2, last] {
                    let ours = replay.state_at(t, &mut NoReveal).unwrap().unwrap();
                    let expected = s.at_padding_tick(t).unwrap().hash().unwrap();
                    assert_eq!(ours.hash().unwrap(), expected, "padding tick {t}");
                    checked += 1;
                }
                tick = last;
                tree = s.at_padding_tick(last).unwrap().to_tree().unwrap();
                continue;
            } else {
                pvm_tick::compute_step(&tree).unwrap()
            };
            tick += 1;
        }
        assert_eq!(
            replay
                .state_at(tick, &mut NoReveal)
                .unwrap()
                .unwrap()
                .hash()
                .unwrap(),
            tree.hash().unwrap()
        );
        assert!(checked > 1000, "{checked}");
        assert_eq!(tree.hash().unwrap(), end.hash().unwrap());
        assert!(
            replay
                .state_at(replay.ticks() + 1, &mut NoReveal)
                .unwrap()
                .is_none()
        );
    }

    /// Stepping through a kernel run keeps states on the way, sparser farther from its
    /// start; a later tick between them steps from the closest one and reaches the same state
    /// as a replay that never stepped.
    #[test]
    fn states_on_the_way_are_kept_and_right() {
        let (mut replay, _) = honest_replay();
        let snapshot = *replay
            .checkpoints
            .iter()
            .find(|(_, s)| *s.tick_state() == TickState::Snapshot)
            .unwrap()
            .0;
        // Past the run's end: the run is stepped through to its first `Padding` state.
        let far = snapshot + WINDOW / 2;
        replay.state_at(far, &mut NoReveal).unwrap().unwrap();
        let kept: Vec<u128> = replay.stepped.keys().copied().collect();
        assert!(kept.len() > 10, "{kept:?}");
        assert_eq!(kept.last(), Some(&far), "the state asked for is kept");
        let mut last = snapshot;
        for &k in &kept[..kept.len() - 1] {
            let gap = k - last;
            let allowed = ((last - snapshot) / KEPT_SPACING).max(MIN_KEPT_GAP) + 1;
            assert!(gap <= allowed, "{k} after {last}: {kept:?}");
            last = k;
        }
        let mid = (kept[kept.len() / 2] + kept[kept.len() / 2 + 1]) / 2;
        let got = replay.state_at(mid, &mut NoReveal).unwrap().unwrap();
        let fresh = honest_replay()
            .0
            .state_at(mid, &mut NoReveal)
            .unwrap()
            .unwrap();
        assert_eq!(got.hash().unwrap(), fresh.hash().unwrap());
    }

    /// A loser's states carry a failure marker from the tick the failure takes effect: here,
    /// 5 ticks after the `End_of_level` input of level 2, inside the kernel's run.
    #[test]
    fn loser_states_carry_their_marker_from_its_tick() {
        let start = genesis();
        let (mut honest, honest_end) = honest_replay();
        let message_tick = u64::try_from(WINDOW).unwrap() + 3;
        let loser = LoserMode::parse(&format!("2 2 {message_tick}")).unwrap();
        let (mut lost, lost_end) = PeriodReplay::build(
            &start,
            &levels(),
            &mut engine(),
            &mut NoReveal,
            &loser,
            &Cancel::default(),
        )
        .unwrap();
        assert_eq!(lost_end.failures(), 1);
        assert_ne!(lost_end.hash().unwrap(), honest_end.hash().unwrap());
        assert_eq!(lost.ticks(), honest.ticks());
        // The End_of_level input tick of level 2: after level 1 and two inputs of level 2.
        let mut s = start;
        s.process_level(1, &levels()[0].1, &mut engine(), &mut NoReveal, None)
            .unwrap();
        s.set_input(2, 0, &[0, 1]).unwrap();
        s.set_input(2, 1, b"\x01hello").unwrap();
        let eol = s.current_tick();
        let at = eol + u128::from(message_tick);
        for t in [at - 2, at - 1, at, at + 1, honest.ticks()] {
            let h = honest.state_at(t, &mut NoReveal).unwrap().unwrap();
            let l = lost.state_at(t, &mut NoReveal).unwrap().unwrap();
            assert_eq!(h.hash().unwrap() == l.hash().unwrap(), t < at, "tick {t}");
        }
    }

    /// A host function this node does not implement fails the same way for the same state:
    /// a dead end, not retried; storage and reveal failures are retried.
    #[test]
    fn an_unsupported_host_function_is_deterministic() {
        let host = |h| ReplayError::Pvm(PvmError::Engine(EngineError::Host(h)));
        assert!(!host(HostFatal::Unsupported("nds_create")).is_operational());
        assert!(!ReplayError::Reveal(HostFatal::Unsupported("nds_create")).is_operational());
        assert!(host(HostFatal::Storage("gone".into())).is_operational());
        let reveal = || HostFatal::Reveal(RevealError("unreachable".into()));
        assert!(host(reveal()).is_operational());
        assert!(ReplayError::Reveal(reveal()).is_operational());
    }

    /// An armed flag interrupts its engine when cancelled, also if cancelled before being
    /// armed; disarming clears the engine's interrupt, and a later cancel leaves it alone.
    #[test]
    fn an_armed_flag_interrupts_its_engine_until_disarmed() {
        let engine = pvm_wasmtime::WasmtimeEngine::new().unwrap();
        let interrupt = Interruptible::interrupt_handle(&engine).unwrap();
        let cancel = Cancel::default();
        let armed = cancel.arm(Some(interrupt.clone()));
        assert!(!interrupt.is_interrupted());
        cancel.cancel();
        assert!(interrupt.is_interrupted());
        drop(armed);
        assert!(!interrupt.is_interrupted());
        cancel.cancel();
        assert!(!interrupt.is_interrupted());

        let early = Cancel::default();
        early.cancel();
        let armed = early.arm(Some(interrupt.clone()));
        assert!(interrupt.is_interrupted());
        drop(armed);
        assert!(!interrupt.is_interrupted());
        // Without an interrupt the flag alone is kept.
        let plain = Cancel::default();
        let _armed = plain.arm(None);
        plain.cancel();
        assert!(plain.is_cancelled() && !interrupt.is_interrupted());
    }

    /// A cancelled build stops before its first `kernel_run`, and a cancelled replay stops
    /// stepping: [`ReplayError::Cancelled`], neither retried nor a dead end. The replay stays
    /// usable under another flag.
    #[test]
    fn a_cancelled_replay_stops() {
        let cancel = Cancel::default();
        cancel.cancel();
        let r = PeriodReplay::build(
            &genesis(),
            &levels(),
            &mut engine(),
            &mut NoReveal,
            &LoserMode::honest(),
            &cancel,
        );
        let Err(e) = r else {
            panic!("a cancelled build expected")
        };
        assert!(matches!(e, ReplayError::Cancelled), "{e}");
        assert!(e.is_cancelled() && !e.is_operational());
        // An engine cancelled mid-level (its own interrupt) is a cancellation too.
        assert!(ReplayError::Pvm(PvmError::Engine(EngineError::Cancelled)).is_cancelled());

        let cancel = Cancel::default();
        let (mut replay, _) = PeriodReplay::build(
            &genesis(),
            &levels(),
            &mut engine(),
            &mut NoReveal,
            &LoserMode::honest(),
            &cancel,
        )
        .unwrap();
        // A tick stepped to from the checkpoint below it (not a padding state).
        let stepped = (1..replay.ticks())
            .find(|t| {
                replay
                    .checkpoints
                    .range(..=*t)
                    .next_back()
                    .is_some_and(|(at, cp)| at != t && *cp.tick_state() != TickState::Padding)
            })
            .unwrap();
        cancel.cancel();
        assert!(matches!(
            replay.state_at(stepped, &mut NoReveal),
            Err(ReplayError::Cancelled)
        ));
        replay.watch(Cancel::default());
        assert!(replay.state_at(stepped, &mut NoReveal).unwrap().is_some());
    }
}
