//! The PVM state machine and driver (`src/lib_scoru_wasm/wasm_vm.ml`, `fast/vm.ml`;
//! `wasm-pvm.md` §3).
//!
//! Ticks: every input is 1 tick; every window (collect window and each `kernel_run` window)
//! lasts exactly `max_nb_ticks` (M). A `kernel_run` is executed in one go by a
//! [`KernelEngine`] from `Snapshot` (tick L), then the state is set to `Padding` at tick
//! `L + M - 1` and the window-end tick is computed as the reference PVM does (Octez's fast
//! execution, `fast/vm.ml` `compute_fast`).

use durable_tree::durable::{Durable, Key};
use durable_tree::{Hash, TreeError};

use crate::buffers::{InputMessage, OutputError};
use crate::engine::{EngineError, KernelEngine, RunOutcome};
use crate::host::{DebugSink, HostState, RevealHandler};
use crate::loser::LoserMode;
use crate::state::{
    InputInfo, KERNEL_FALLBACK_KEY, KERNEL_KEY, PvmState, REBOOT_COUNTER_KEY, REBOOT_FLAG_KEY,
    STUCK_FLAG_KEY, StuckError, TOO_MANY_REBOOT_FLAG_KEY, TickState, UPGRADE_ERROR_FLAG_KEY,
    VERSION_KEY, key,
};
use crate::version::PvmVersion;

/// Operational failures of the driver: the state is left as before the failing call (except
/// [`PvmState::process_level_owned`], which drops it: its caller reloads the stored state).
#[derive(Debug, thiserror::Error)]
pub enum PvmError {
    /// Tree access failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The engine failed operationally (I/O, unanswerable reveal, cancellation, engine panic).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// `/readonly/wasm_version` is missing or unknown (impossible after genesis).
    #[error("invalid or missing /readonly/wasm_version")]
    Version,
    /// A tick or level counter overflowed.
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    /// The state tree of an exact replay ([`KernelEngine::exact_window`]) does not decode.
    #[error("the state after an exact replay of the window does not decode: {0}")]
    State(#[from] crate::state::DecodeError),
}

/// What the PVM needs next (`input_request`; protocol `get_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the next inbox message (`Collect`, or a permanent stuck state).
    InputRequired,
    /// More ticks to compute.
    Computing,
}

/// What [`PvmState::process_level_with`] reports while it evaluates a level.
pub enum LevelEvent<'a> {
    /// The state after an input tick or after a window (or a recovery) was computed.
    State(&'a PvmState),
    /// A loser-mode failure marker takes effect at this tick (absolute): every state from
    /// this tick on carries one more marker.
    Failure(u128),
}

/// Outcome of the window-end tick (`Reboot`, `Yielding`, `Forcing_yield`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowEnd {
    Reboot,
    Yielding,
    ForcingYield,
}

/// Who brings back a state that an operational failure left half-evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restore {
    /// The call itself: it keeps a copy of the state it starts from (the public methods).
    Backup,
    /// The caller, which drops the state on failure and has the level's starting state stored
    /// ([`PvmState::process_level_owned`]): no copy, so the nodes the kernel writes are not
    /// shared and are updated in place.
    Caller,
}

/// Why an evaluation stopped early.
#[derive(Debug)]
enum Halt {
    /// An operational failure.
    Error(PvmError),
    /// A window's outcome needs the `Snapshot` state it started from
    /// ([`KernelEngine::exact_window`]), which [`Restore::Caller`] did not keep.
    NeedsSnapshot,
}

impl From<PvmError> for Halt {
    fn from(e: PvmError) -> Self {
        Halt::Error(e)
    }
}

impl From<TreeError> for Halt {
    fn from(e: TreeError) -> Self {
        Halt::Error(e.into())
    }
}

impl Halt {
    /// The error of a [`Restore::Backup`] evaluation (which never needs a snapshot: it keeps it).
    fn into_error(self) -> PvmError {
        match self {
            Halt::Error(e) => e,
            Halt::NeedsSnapshot => PvmError::Engine(EngineError::Panic(
                "a window's snapshot was not kept".into(),
            )),
        }
    }
}

/// A debug sink that passes messages on after the first `skip` ([`PvmState::process_level_owned`]:
/// a level started again does not repeat what its first attempt wrote); `given` counts them.
struct Skip<'a> {
    inner: &'a mut dyn DebugSink,
    skip: u64,
    given: u64,
}

impl DebugSink for Skip<'_> {
    fn debug(&mut self, bytes: &[u8]) {
        if let Some(n) = self.skip.checked_sub(1) {
            self.skip = n;
        } else {
            self.given = self.given.saturating_add(1);
            self.inner.debug(bytes);
        }
    }
}

/// `write_value_exn ~edit_readonly:true durable k 0L ""`: creates an empty value if absent.
fn write_flag(d: &mut Durable, k: &str) -> Result<(), TreeError> {
    d.write(&key(k), 0, &[])
}

fn has_value(d: &Durable, k: &str) -> Result<bool, TreeError> {
    d.has_value(&key(k))
}

fn add(a: u128, b: u128, what: &'static str) -> Result<u128, PvmError> {
    a.checked_add(b).ok_or(PvmError::Overflow(what))
}

fn sub(a: u128, b: u128, what: &'static str) -> Result<u128, PvmError> {
    a.checked_sub(b).ok_or(PvmError::Overflow(what))
}

impl PvmState {
    /// Durable storage.
    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    /// Mutable durable storage (debugger, installer set-up). Mutations bypass readonly rules.
    pub fn durable_mut(&mut self) -> &mut Durable {
        &mut self.durable
    }

    /// Ticks executed since genesis.
    pub fn current_tick(&self) -> u128 {
        self.current_tick
    }

    /// First tick of the current window.
    pub fn last_top_level_call(&self) -> u128 {
        self.last_top_level_call
    }

    /// Ticks per window.
    pub fn max_nb_ticks(&self) -> u128 {
        self.max_nb_ticks
    }

    /// The unsafe patch `increase_max_nb_tick` (Octez `Wasm_pvm.Unsafe.set_max_nb_ticks`,
    /// applied by the rollup node to a genesis state only): a smaller value is refused.
    ///
    /// # Errors
    /// The refusal, with both values.
    pub fn increase_max_nb_ticks(&mut self, n: u128) -> Result<(), String> {
        if n < self.max_nb_ticks {
            return Err(format!(
                "Decreasing tick limit of WASM PVM from {} to {n} is not allowed",
                self.max_nb_ticks
            ));
        }
        self.max_nb_ticks = n;
        Ok(())
    }

    /// Remaining `kernel_run` calls in this level.
    pub fn reboot_counter(&self) -> u128 {
        self.reboot_counter
    }

    /// Tick state.
    pub fn tick_state(&self) -> &TickState {
        &self.tick_state
    }

    /// Last input read.
    pub fn last_input(&self) -> Option<InputInfo> {
        self.last_input
    }

    /// Input buffer.
    pub fn input_buffer(&self) -> &crate::buffers::InputBuffer {
        &self.input
    }

    /// Output buffer.
    pub fn output_buffer(&self) -> &crate::buffers::OutputBuffer {
        &self.output
    }

    /// Messages of outbox `level` (must be inside the validity window).
    pub fn outbox(&self, level: u32) -> Result<&[Vec<u8>], OutputError> {
        self.output.outbox(level)
    }

    /// PVM version from `/readonly/wasm_version` (read at every step, like Octez).
    pub fn version(&self) -> Result<PvmVersion, PvmError> {
        let v = self
            .durable
            .read_all(&key(VERSION_KEY))?
            .ok_or(PvmError::Version)?;
        PvmVersion::parse(&v).ok_or(PvmError::Version)
    }

    /// What the PVM needs next.
    pub fn status(&self) -> Status {
        match &self.tick_state {
            TickState::Collect => Status::InputRequired,
            TickState::Stuck(e) if !e.is_recoverable() => Status::InputRequired,
            _ => Status::Computing,
        }
    }

    /// The last tick of the current window, `L + M - 1` (`ticks_to_snapshot = 0` there;
    /// `M = max_nb_ticks >= 1` is checked when the state is built or decoded).
    fn window_last(&self) -> Result<u128, PvmError> {
        add(
            self.last_top_level_call,
            sub(self.max_nb_ticks, 1, "max_nb_ticks")?,
            "window end",
        )
    }

    /// `maximum_reboots_per_input + 1`, the reboot counter at the start of an input (checked
    /// below `u128::MAX` when the state is built or decoded).
    fn full_reboot_counter(&self) -> Result<u128, PvmError> {
        add(self.maximum_reboots_per_input, 1, "reboot_counter")
    }

    /// One inbox message (`set_input_step`): 1 tick. In `Collect` the message is enqueued and
    /// `Start_of_level`, `End_of_level` and `Protocol_migration` are interpreted; permanent
    /// stuck states only consume the tick; any other state becomes stuck (no input expected).
    pub fn set_input(&mut self, level: u32, counter: u64, payload: &[u8]) -> Result<(), PvmError> {
        let next_tick = add(self.current_tick, 1, "current_tick")?;
        match &self.tick_state {
            TickState::Collect => {
                let msg = InputMessage {
                    level,
                    counter,
                    payload: payload.to_vec(),
                };
                if let Err(e) = self.input.enqueue(msg) {
                    self.tick_state = TickState::Stuck(StuckError::Unknown(format!(
                        "Tezos_webassembly_interpreter.Input_buffer.{}",
                        match e {
                            crate::buffers::InputError::EarlierMessage => {
                                "Cannot_store_an_earlier_message"
                            }
                            crate::buffers::InputError::Overflow => "SizeOverflow",
                        }
                    )));
                } else {
                    match payload {
                        [0, 2] => self.tick_state = TickState::Padding,
                        [0, 1] => {
                            if let Err(e) = self.output.start_level(level) {
                                self.tick_state =
                                    TickState::Stuck(StuckError::Unknown(e.to_string()));
                            }
                        }
                        [0, 4, rest @ ..] => {
                            if let Some(v) = protocol_migration(rest) {
                                self.durable.set(&key(VERSION_KEY), v.as_str().as_bytes())?;
                                self.apply_migration(v);
                            }
                        }
                        _ => {}
                    }
                }
            }
            TickState::Stuck(e) if !e.is_recoverable() => {}
            other => {
                let name = match other {
                    TickState::Snapshot => "start",
                    TickState::Padding => "padding",
                    _ => "evaluation",
                };
                self.tick_state = TickState::Stuck(StuckError::InvalidState(format!(
                    "No input required during {name}"
                )));
            }
        }
        self.current_tick = next_tick;
        self.last_input = Some(InputInfo { level, counter });
        Ok(())
    }

    /// `apply_migration`: only V4 changes parameters (50T ticks, validity 241 920 in the buffer).
    fn apply_migration(&mut self, v: PvmVersion) {
        if v == PvmVersion::V4 {
            self.max_nb_ticks = 50_000_000_000_000;
            self.output.validity_period = 241_920;
        }
    }

    /// Complete the current window (or the pending recoverable stuck state) and stop at the next
    /// window start (`Snapshot`) or when input is required. Returns the ticks executed.
    /// From `Snapshot` this runs one `kernel_run` with `engine`.
    pub fn step_kernel_run(
        &mut self,
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        debug: Option<&mut dyn DebugSink>,
    ) -> Result<u128, PvmError> {
        self.step(engine, reveal, debug, Restore::Backup)
            .map_err(Halt::into_error)
    }

    /// [`Self::step_kernel_run`], restoring the state on failure as `restore` says.
    fn step(
        &mut self,
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        debug: Option<&mut dyn DebugSink>,
        restore: Restore,
    ) -> Result<u128, Halt> {
        let start = self.current_tick;
        match self.tick_state.clone() {
            TickState::Collect => return Ok(0),
            TickState::Stuck(e) if !e.is_recoverable() => return Ok(0),
            TickState::Stuck(e) => {
                self.recover_from(e)?;
                if matches!(self.tick_state, TickState::Padding) {
                    self.finish_window()?;
                }
            }
            TickState::Snapshot => {
                self.run_kernel_in(engine, reveal, debug, restore)?;
                // A decode/link/init failure stops at its (recoverable) stuck state; the next
                // tick restores the fallback kernel or gets stuck for good.
                if let TickState::Stuck(e) = &self.tick_state
                    && e.is_recoverable()
                {
                    let e = e.clone();
                    self.recover_from(e)?;
                }
                if matches!(self.tick_state, TickState::Padding) {
                    self.finish_window()?;
                }
            }
            TickState::Padding => self.finish_window()?,
        }
        Ok(sub(self.current_tick, start, "ticks executed")?)
    }

    /// Compute until input is required; returns the ticks executed.
    pub fn eval_until_input(
        &mut self,
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        debug: Option<&mut dyn DebugSink>,
    ) -> Result<u128, PvmError> {
        self.eval_observed(engine, reveal, debug, &mut None, Restore::Backup)
            .map_err(Halt::into_error)
    }

    fn eval_observed(
        &mut self,
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        mut debug: Option<&mut dyn DebugSink>,
        observe: &mut Option<&mut dyn FnMut(LevelEvent<'_>)>,
        restore: Restore,
    ) -> Result<u128, Halt> {
        let start = self.current_tick;
        while self.status() == Status::Computing {
            let d: Option<&mut dyn DebugSink> = match debug {
                Some(ref mut d) => Some(&mut **d),
                None => None,
            };
            self.step(engine, reveal, d, restore)?;
            if let Some(o) = observe {
                o(LevelEvent::State(self));
            }
        }
        Ok(sub(self.current_tick, start, "ticks executed")?)
    }

    /// Feed one inbox level (`messages` are complete inbox messages, `Start_of_level` …
    /// `End_of_level`, with counters 0, 1, …) then compute until input is required.
    /// Returns the ticks executed (inputs included).
    pub fn process_level(
        &mut self,
        level: u32,
        messages: &[Vec<u8>],
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        debug: Option<&mut dyn DebugSink>,
    ) -> Result<u128, PvmError> {
        self.process_level_with(
            level,
            messages,
            engine,
            reveal,
            debug,
            &LoserMode::honest(),
            None,
        )
    }

    /// [`Self::process_level`] with the failures of `loser` ([`crate::loser`]), reporting to
    /// `observe` the state after every input tick and every window, and the tick at which
    /// each failure marker takes effect (the refutation game replays a level from these).
    #[allow(
        clippy::too_many_arguments,
        reason = "process_level's arguments plus the loser mode and the observer"
    )]
    pub fn process_level_with(
        &mut self,
        level: u32,
        messages: &[Vec<u8>],
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        debug: Option<&mut dyn DebugSink>,
        loser: &LoserMode,
        mut observe: Option<&mut dyn FnMut(LevelEvent<'_>)>,
    ) -> Result<u128, PvmError> {
        let start = self.current_tick;
        let backup = self.clone();
        match self.level(
            level,
            messages,
            engine,
            reveal,
            debug,
            loser,
            &mut observe,
            Restore::Backup,
        ) {
            Ok(()) => sub(self.current_tick, start, "ticks executed"),
            Err(e) => {
                *self = backup;
                Err(e.into_error())
            }
        }
    }

    /// [`Self::process_level_with`] (no observer) for a caller that drops the state when the
    /// level fails and has the state the level starts from stored (the node: the predecessor's
    /// committed state). No copy of the state is kept while the kernel runs, so the tree nodes
    /// it writes are not shared and are updated in place (issue 15, P7: the copy-on-write of
    /// every written path and the copy's release cost ~5% of a level's instructions). Returns
    /// the state after the level and the ticks executed.
    ///
    /// A window whose outcome needs its starting state (an exact replay,
    /// [`KernelEngine::exact_window`]: a stuck, undecodable or ambiguous run, rare) makes the
    /// level start again from `start()` ([`Self::process_level_with`]): same result; the level's
    /// reveals are asked for again, and the debug messages the first attempt gave `debug` are
    /// not given again (the kernel is deterministic: the second attempt writes them first).
    ///
    /// # Errors
    /// Operational failures ([`PvmError`]), or `start`'s: the state is dropped; a retry starts
    /// from the stored state.
    #[allow(
        clippy::too_many_arguments,
        reason = "process_level's arguments plus the loser mode and the starting state"
    )]
    pub fn process_level_owned<E: From<PvmError>>(
        mut self,
        level: u32,
        messages: &[Vec<u8>],
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        debug: Option<&mut dyn DebugSink>,
        loser: &LoserMode,
        start: impl FnOnce() -> Result<PvmState, E>,
    ) -> Result<(PvmState, u128), E> {
        let first = self.current_tick;
        let mut debug = debug.map(|inner| Skip {
            inner,
            skip: 0,
            given: 0,
        });
        let d = debug.as_mut().map(|d| d as &mut dyn DebugSink);
        match self.level(
            level,
            messages,
            engine,
            reveal,
            d,
            loser,
            &mut None,
            Restore::Caller,
        ) {
            Ok(()) => {
                let ticks = sub(self.current_tick, first, "ticks executed")?;
                Ok((self, ticks))
            }
            Err(Halt::Error(e)) => Err(e.into()),
            Err(Halt::NeedsSnapshot) => {
                drop(self);
                let mut s = start()?;
                let d: Option<&mut dyn DebugSink> = match debug {
                    Some(ref mut d) => {
                        d.skip = d.given;
                        Some(d)
                    }
                    None => None,
                };
                let ticks =
                    s.process_level_with(level, messages, engine, reveal, d, loser, None)?;
                Ok((s, ticks))
            }
        }
    }

    /// The body of [`Self::process_level_with`]: on failure the state is half-evaluated.
    #[allow(
        clippy::too_many_arguments,
        reason = "process_level_with's arguments plus who restores the state"
    )]
    fn level(
        &mut self,
        level: u32,
        messages: &[Vec<u8>],
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        mut debug: Option<&mut dyn DebugSink>,
        loser: &LoserMode,
        observe: &mut Option<&mut dyn FnMut(LevelEvent<'_>)>,
        restore: Restore,
    ) -> Result<(), Halt> {
        reveal.set_inbox_level(level);
        for (i, m) in messages.iter().enumerate() {
            let d: Option<&mut dyn DebugSink> = match debug {
                Some(ref mut d) => Some(&mut **d),
                None => None,
            };
            // A level's messages arrive while the PVM waits for input (the previous
            // message was evaluated to its end).
            self.eval_observed(engine, reveal, d, observe, restore)?;
            let index = u64::try_from(i).map_err(|_| PvmError::Overflow("message index"))?;
            let message_start = self.current_tick;
            let failing: Vec<u64> = loser.failing_ticks(level, index).collect();
            let payload = if failing.contains(&0) {
                crate::loser::MUTATED_PAYLOAD
            } else {
                m.as_slice()
            };
            self.set_input(level, index, payload)?;
            if let Some(o) = observe {
                o(LevelEvent::State(self));
            }
            if failing.iter().all(|&t| t == 0) {
                continue;
            }
            let d: Option<&mut dyn DebugSink> = match debug {
                Some(ref mut d) => Some(&mut **d),
                None => None,
            };
            self.eval_observed(engine, reveal, d, observe, restore)?;
            let message_end = self.current_tick;
            for t in failing.into_iter().filter(|&t| t > 0) {
                let at = add(message_start, u128::from(t), "failure tick")?.min(message_end);
                self.failures = self
                    .failures
                    .checked_add(1)
                    .ok_or(PvmError::Overflow("failures"))?;
                if let Some(o) = observe {
                    o(LevelEvent::Failure(at));
                }
            }
        }
        self.eval_observed(engine, reveal, debug, observe, restore)?;
        self.output.refresh_tree()?;
        Ok(())
    }

    /// Loser-mode failure markers in the state ([`crate::loser`]).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The same state without its failure markers (what an honest node computes).
    #[must_use]
    pub fn without_failures(&self) -> Self {
        let mut s = self.clone();
        s.failures = 0;
        s
    }

    /// The same `Padding` state at another tick of its window: padding states of a window differ
    /// only by `current_tick` (Octez's fast execution and bulk padding rely on it). `None` if
    /// the state is not `Padding` or `tick` is outside `L + 1 ..= L + M - 1`.
    pub fn at_padding_tick(&self, tick: u128) -> Option<PvmState> {
        let last = self
            .last_top_level_call
            .checked_add(self.max_nb_ticks.checked_sub(1)?)?;
        if self.tick_state != TickState::Padding || tick <= self.last_top_level_call || tick > last
        {
            return None;
        }
        let mut s = self.clone();
        s.current_tick = tick;
        Some(s)
    }

    /// Padding: jump to the last tick of the window (`L + M - 1`) and compute the window-end
    /// tick (reboot → `Snapshot`, yield → `Collect`). No-op in other states.
    pub fn finish_window(&mut self) -> Result<(), PvmError> {
        if self.tick_state != TickState::Padding {
            return Ok(());
        }
        let last = self.window_last()?;
        if self.current_tick < last {
            self.current_tick = last;
        }
        self.window_end_tick()
    }

    /// The `Padding` tick with `ticks_to_snapshot <= 0`: reboot or yield (`wasm_vm.ml`
    /// `mark_for_reboot`, `patch_*`, `clean_up_input_buffer`). NDS is never activated (the NDS
    /// feature gate is treated as closed).
    fn window_end_tick(&mut self) -> Result<(), PvmError> {
        debug_assert!(
            self.window_last()
                .is_ok_and(|last| self.current_tick >= last)
        );
        let has_flag = has_value(&self.durable, REBOOT_FLAG_KEY)?;
        let end = if !has_flag {
            WindowEnd::Yielding
        } else if self.reboot_counter == 0 {
            WindowEnd::ForcingYield
        } else {
            WindowEnd::Reboot
        };
        let next_tick = add(self.current_tick, 1, "current_tick")?;
        let counter = match end {
            WindowEnd::Reboot => sub(self.reboot_counter, 1, "reboot_counter")?,
            _ => self.full_reboot_counter()?,
        };
        let d = &mut self.durable;
        match end {
            WindowEnd::Yielding => d.delete(&key(TOO_MANY_REBOOT_FLAG_KEY))?,
            WindowEnd::ForcingYield => write_flag(d, TOO_MANY_REBOOT_FLAG_KEY)?,
            WindowEnd::Reboot => {}
        }
        match end {
            WindowEnd::Reboot => d.delete(&key(REBOOT_FLAG_KEY))?,
            _ => write_flag(d, REBOOT_FLAG_KEY)?,
        }
        d.delete(&key(REBOOT_COUNTER_KEY))?;
        // `Z.to_int32`: the counter is at most max_reboots + 1.
        let c = i32::try_from(counter).map_err(|_| PvmError::Overflow("reboot_counter"))?;
        d.write(&key(REBOOT_COUNTER_KEY), 0, &c.to_le_bytes())?;
        if end != WindowEnd::Reboot {
            self.input.reset();
        }
        self.tick_state = if end == WindowEnd::Reboot {
            TickState::Snapshot
        } else {
            TickState::Collect
        };
        self.reboot_counter = counter;
        self.last_top_level_call = next_tick;
        self.current_tick = next_tick;
        Ok(())
    }

    /// Recoverable stuck state (decode/link/init error): restore the fallback kernel and pad, or
    /// get stuck for good (`No_fallback_kernel`). One tick.
    fn recover_from(&mut self, e: StuckError) -> Result<(), PvmError> {
        let next_tick = add(self.current_tick, 1, "current_tick")?;
        let (k, f) = (key(KERNEL_KEY), key(KERNEL_FALLBACK_KEY));
        let fallback = self.durable.value_hash(&f)?;
        if fallback.is_some() && fallback != self.durable.value_hash(&k)? {
            self.durable.copy(&f, &k)?;
            write_flag(&mut self.durable, UPGRADE_ERROR_FLAG_KEY)?;
            self.tick_state = TickState::Padding;
        } else {
            self.tick_state = TickState::Stuck(StuckError::NoFallbackKernel(Box::new(e)));
            self.reboot_counter = self.full_reboot_counter()?;
        }
        self.current_tick = next_tick;
        Ok(())
    }

    /// From `Snapshot`: run `kernel_run` with the engine and land on the last `Padding` tick
    /// of the window (`L + M - 1`), or in a stuck state: permanent, or a decode/link/init error
    /// that the next tick recovers from (see [`PvmState::step_kernel_run`]). A link error is at
    /// the tick where Octez's link phase reaches the import ([`crate::LinkFailure`]). No-op in
    /// other states. On an operational error the state is unchanged.
    pub fn run_kernel(
        &mut self,
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        debug: Option<&mut dyn DebugSink>,
    ) -> Result<(), PvmError> {
        self.run_kernel_in(engine, reveal, debug, Restore::Backup)
            .map_err(Halt::into_error)
    }

    /// [`Self::run_kernel`]; with [`Restore::Caller`] no copy of the `Snapshot` state is kept:
    /// an operational failure leaves the state half-evaluated, and an outcome that needs the
    /// `Snapshot` state (an exact replay) stops with [`Halt::NeedsSnapshot`].
    fn run_kernel_in(
        &mut self,
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        debug: Option<&mut dyn DebugSink>,
        restore: Restore,
    ) -> Result<(), Halt> {
        if self.tick_state != TickState::Snapshot {
            return Ok(());
        }
        let version = self.version()?;
        let k = key(KERNEL_KEY);
        let kernel = self.durable.read_all(&k)?;
        let kernel_hash = self.durable.value_hash(&k)?;
        let (Some(kernel), Some(kernel_hash)) = (kernel, kernel_hash) else {
            return Ok(self.after_run(
                RunOutcome::DecodeError("Value not found".into()),
                None,
                &[],
            )?);
        };
        let backup = (restore == Restore::Backup).then(|| self.clone());
        let kernel_tree = self.durable.tree().get(&["kernel", "boot.wasm"])?;
        let outcome = {
            let debug = debug.map(|d| d as &mut dyn DebugSink);
            let mut host = HostState::new(
                version,
                &mut self.durable,
                &mut self.input,
                &mut self.output,
                &mut *reveal,
                debug,
            );
            let r = engine.run(&kernel, &kernel_hash, &mut host);
            // Apply the host's pending durable changes, observing storage failures.
            let r = r.and_then(|o| host.flush().map(|()| o).map_err(EngineError::Host));
            r.map(|o| (o, host.was_instantiated()))
        };
        let failed = |s: &mut Self, backup: Option<PvmState>, e: PvmError| {
            if let Some(b) = backup {
                *s = b;
            }
            Halt::Error(e)
        };
        match outcome {
            Err(e) => Err(failed(self, backup, e.into())),
            Ok((o, instantiated)) => {
                let inexact = matches!(
                    o,
                    RunOutcome::Stuck(_)
                        | RunOutcome::DecodeError(_)
                        | RunOutcome::InitError(_)
                        | RunOutcome::Ambiguous(_)
                );
                if inexact {
                    // Octez's result of this window is its small-step interpreter's: take it
                    // when the engine can compute it, from the `Snapshot` state.
                    let Some(snapshot) = &backup else {
                        return Err(Halt::NeedsSnapshot);
                    };
                    let exact = snapshot
                        .to_tree()
                        .map_err(PvmError::from)
                        .map(|snapshot| engine.exact_window(&snapshot, reveal));
                    match exact {
                        Ok(None) => {}
                        Ok(Some(r)) => {
                            let r = r
                                .map_err(PvmError::from)
                                .and_then(|tree| Ok(PvmState::from_tree(&tree)?));
                            return match r {
                                Ok(s) => {
                                    *self = s;
                                    Ok(())
                                }
                                Err(e) => Err(failed(self, backup, e)),
                            };
                        }
                        Err(e) => return Err(failed(self, backup, e)),
                    }
                }
                let pre = (!instantiated).then_some(kernel_tree).flatten();
                match self.after_run(o, pre, &kernel) {
                    Ok(()) => Ok(()),
                    Err(e) => Err(failed(self, backup, e)),
                }
            }
        }
    }

    fn after_run(
        &mut self,
        outcome: RunOutcome,
        pre_run_kernel: Option<durable_tree::Tree>,
        kernel: &[u8],
    ) -> Result<(), PvmError> {
        let window_last = self.window_last()?;
        let fix_fallback = |d: &mut Durable| -> Result<(), TreeError> {
            // The engine did not call `kernel_instantiated`: use the kernel as it was loaded.
            if let Some(t) = pre_run_kernel {
                let mut tmp = durable_tree::Tree::empty();
                tmp.set_tree(&["k"], t.clone())?;
                let h = Durable::new(tmp).value_hash(&key("/k"))?;
                if h != d.value_hash(&key(KERNEL_FALLBACK_KEY))? {
                    let mut root = d.tree().clone();
                    root.set_tree(&["readonly", "kernel", "boot.wasm"], t)?;
                    *d = Durable::new(root);
                }
            }
            Ok(())
        };
        match outcome {
            RunOutcome::Returned => {
                fix_fallback(&mut self.durable)?;
                // patch_flags_on_eval_successful
                self.durable.delete(&key(STUCK_FLAG_KEY))?;
                self.durable.delete(&key(UPGRADE_ERROR_FLAG_KEY))?;
                self.tick_state = TickState::Padding;
                self.current_tick = window_last;
            }
            // Without an exact replay, an ambiguous trap is taken as a trap.
            RunOutcome::Trapped(_) | RunOutcome::Ambiguous(_) => {
                fix_fallback(&mut self.durable)?;
                write_flag(&mut self.durable, STUCK_FLAG_KEY)?;
                self.tick_state = TickState::Padding;
                self.current_tick = window_last;
            }
            RunOutcome::DecodeError(m) => self.fail_load(StuckError::Decode(m, None))?,
            RunOutcome::LinkError(m) => self.fail_link(kernel, m)?,
            RunOutcome::InitError(m) => self.fail_load(StuckError::Init(m, None))?,
            RunOutcome::Stuck(m) => {
                // Permanent. The tick at which the reference interpreter gets stuck depends on
                // its own tick model; we account one tick.
                self.tick_state = TickState::Stuck(StuckError::from_engine_stuck(&m));
                self.reboot_counter = self.full_reboot_counter()?;
                self.current_tick = add(self.current_tick, 1, "current_tick")?;
            }
        }
        Ok(())
    }

    /// Decode/init failure: stuck at the next tick (Octez gets stuck later, after the decoding
    /// or instantiation ticks of its small-step interpreter; not modelled). The tick after is
    /// the fallback tick ([`PvmState::step_kernel_run`]).
    fn fail_load(&mut self, e: StuckError) -> Result<(), PvmError> {
        self.reboot_counter = self.full_reboot_counter()?;
        self.current_tick = add(self.current_tick, 1, "current_tick")?;
        self.tick_state = TickState::Stuck(e);
        Ok(())
    }

    /// Link failure, from the `Snapshot` tick `L` (`wasm_vm.ml`, `Link` state;
    /// `wasm-pvm.md` §3.5): `Link_error` with Octez's message at `L + D + k + 3`, `D` the
    /// decoding ticks and `k` the index of the import ([`crate::LinkFailure`]). Every `Decode` and
    /// `Link` step from a tick `t` with `t - L >= M - 1` gets `Too_many_ticks` instead
    /// (permanent), at tick `L + max(1, M - 1) + 1`. If the kernel cannot be walked (the
    /// engine's decoder accepted what Octez's rejects), the engine's message is kept, one tick
    /// after `L`.
    fn fail_link(&mut self, kernel: &[u8], engine_message: String) -> Result<(), PvmError> {
        let version = self.version()?;
        let failure = match crate::link::first_link_failure(kernel, version) {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => return self.fail_load(StuckError::Link(engine_message)),
        };
        let steps = failure
            .ticks_from_snapshot()
            .ok_or(PvmError::Overflow("link tick"))?;
        // The last step, from a `Link` state, starts at tick `L + steps - 1`.
        let limit = self.max_nb_ticks.saturating_sub(1).max(1);
        let (e, after) = if steps.saturating_sub(1) >= limit {
            (StuckError::TooManyTicks, add(limit, 1, "link tick")?)
        } else {
            (StuckError::Link(failure.message), steps)
        };
        self.reboot_counter = self.full_reboot_counter()?;
        self.current_tick = add(self.current_tick, after, "current_tick")?;
        self.tick_state = TickState::Stuck(e);
        Ok(())
    }

    /// Hash of `/kernel/boot.wasm`'s value, if any.
    pub fn kernel_hash(&self) -> Result<Option<Hash>, TreeError> {
        self.durable.value_hash(&key(KERNEL_KEY))
    }

    /// Parse a user key (debugger helper).
    pub fn parse_key(s: &str) -> Option<Key> {
        Key::parse(s.as_bytes()).ok()
    }
}

/// Decode the protocol name of a `Protocol_migration` payload (after `00 04`): a
/// Data_encoding `string`; unknown or malformed names are ignored.
fn protocol_migration(rest: &[u8]) -> Option<PvmVersion> {
    PvmVersion::for_protocol(crate::enc::de_string(rest)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::RevealError;
    use crate::state::GenesisParams;
    use crate::version::PvmVersion;

    use crate::host::test_memory::Mem;

    struct NoReveal;

    impl RevealHandler for NoReveal {
        fn reveal(&mut self, _: &[u8]) -> Result<Vec<u8>, RevealError> {
            Err(RevealError("no reveal".into()))
        }
    }

    /// A kernel writing `/x` and a debug message, then ending with `outcome`; its exact replay of a window records the snapshot's hash and
    /// gets stuck for good one tick later.
    struct Kernel {
        outcome: fn() -> Result<RunOutcome, EngineError>,
        runs: u32,
        snapshots: Vec<Hash>,
    }

    fn kernel(outcome: fn() -> Result<RunOutcome, EngineError>) -> Kernel {
        Kernel {
            outcome,
            runs: 0,
            snapshots: Vec::new(),
        }
    }

    impl KernelEngine for Kernel {
        fn run(
            &mut self,
            _: &[u8],
            _: &Hash,
            h: &mut HostState<'_>,
        ) -> Result<RunOutcome, EngineError> {
            self.runs = self.runs.saturating_add(1);
            h.kernel_instantiated()?;
            let mut m = Mem(vec![0; 16]);
            m.0[..2].copy_from_slice(b"/x");
            m.0[8..16].copy_from_slice(b"abcdefgh");
            assert_eq!(h.store_write(&mut m, 0, 2, 0, 8, 8)?, 0);
            h.write_debug(&mut m, 8, 8);
            (self.outcome)()
        }

        fn exact_window(
            &mut self,
            snapshot: &durable_tree::Tree,
            _: &mut dyn RevealHandler,
        ) -> Option<Result<durable_tree::Tree, EngineError>> {
            self.snapshots.push(snapshot.hash().ok()?);
            let mut s = PvmState::from_tree(snapshot).ok()?;
            s.tick_state = TickState::Stuck(StuckError::TooManyTicks);
            s.current_tick = s.current_tick.checked_add(1)?;
            Some(Ok(s.to_tree().ok()?))
        }
    }

    fn genesis() -> PvmState {
        let params = GenesisParams {
            ticks_per_snapshot: 1000,
            outbox_validity_period: 3,
            outbox_message_limit: 100,
            maximum_reboots_per_input: 1000,
        };
        PvmState::genesis(PvmVersion::V6, b"k", &params).unwrap()
    }

    fn messages() -> Vec<Vec<u8>> {
        let mut ipl = vec![0, 3];
        ipl.extend([0; 40]);
        vec![vec![0, 1], ipl, b"\x01ext".to_vec(), vec![0, 2]]
    }

    #[derive(Default)]
    struct Log(Vec<Vec<u8>>);

    impl DebugSink for Log {
        fn debug(&mut self, bytes: &[u8]) {
            self.0.push(bytes.to_vec());
        }
    }

    /// The level without a backup, with a `start` that counts its calls.
    fn owned(
        s: PvmState,
        e: &mut Kernel,
        starts: &mut u32,
        log: &mut Log,
    ) -> Result<(PvmState, u128), PvmError> {
        let from = s.clone();
        s.process_level_owned(
            0,
            &messages(),
            e,
            &mut NoReveal,
            Some(log),
            &LoserMode::honest(),
            || {
                *starts = starts.saturating_add(1);
                Ok::<_, PvmError>(from)
            },
        )
    }

    #[test]
    fn a_level_without_a_backup_ends_as_with_one() {
        let (mut guarded, mut e) = (genesis(), kernel(|| Ok(RunOutcome::Returned)));
        let mut log = Log::default();
        let ticks = guarded
            .process_level(0, &messages(), &mut e, &mut NoReveal, Some(&mut log))
            .unwrap();
        let (mut starts, mut log2) = (0, Log::default());
        let mut e2 = kernel(|| Ok(RunOutcome::Returned));
        let (s, ticks2) = owned(genesis(), &mut e2, &mut starts, &mut log2).unwrap();
        assert_eq!(
            (s.hash().unwrap(), ticks2),
            (guarded.hash().unwrap(), ticks)
        );
        assert_eq!((starts, e2.runs), (0, e.runs));
        assert!(e.runs > 0);
        assert_eq!(log2.0, log.0);
    }

    #[test]
    fn an_operational_failure_without_a_backup_is_an_error() {
        let mut starts = 0;
        let mut e = kernel(|| Err(EngineError::Cancelled));
        let r = owned(genesis(), &mut e, &mut starts, &mut Log::default());
        assert!(matches!(r, Err(PvmError::Engine(EngineError::Cancelled))));
        // The caller reloads the state; the level was not started again here.
        assert_eq!((starts, e.runs), (0, 1));
    }

    #[test]
    fn an_exact_window_without_a_backup_starts_the_level_again() {
        let stuck = || Ok(RunOutcome::Stuck("too many ticks".into()));
        let mut guarded = genesis();
        let mut e = kernel(stuck);
        let mut log = Log::default();
        let ticks = guarded
            .process_level(0, &messages(), &mut e, &mut NoReveal, Some(&mut log))
            .unwrap();
        assert_eq!(
            guarded.tick_state(),
            &TickState::Stuck(StuckError::TooManyTicks)
        );
        let (mut starts, mut log2) = (0, Log::default());
        let mut e2 = kernel(stuck);
        let (s, ticks2) = owned(genesis(), &mut e2, &mut starts, &mut log2).unwrap();
        assert_eq!(
            (s.hash().unwrap(), ticks2),
            (guarded.hash().unwrap(), ticks)
        );
        // The same snapshot was replayed, after one run without a backup and one with.
        assert_eq!(e2.snapshots, e.snapshots);
        assert_eq!(e.snapshots.len(), 1);
        assert_eq!((starts, e2.runs), (1, 2));
        // The debug output is not repeated by the second attempt.
        assert_eq!(log.0, vec![b"abcdefgh".to_vec()]);
        assert_eq!(log2.0, log.0);
    }
}
