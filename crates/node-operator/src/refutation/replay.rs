//! The node's own PVM states at any tick of a commitment period, for its refutation games
//! (Octez `Interpreter.state_of_tick` with its per-game cache;
//! `docs/reference/octez-rollup-node.md` §6.4).
//!
//! The period's levels are evaluated once with the fast path, keeping the state after every
//! input tick and every window ([`wasm_pvm::LevelEvent`]). A state between two of these is
//! then either a `Padding` state of the window (the same state at another tick) or reached
//! tick by tick from the window's `Snapshot` with the small-step PVM (`pvm_tick`). The first
//! `Padding` state found in a window and the last state stepped are kept, so a dissection,
//! whose ticks only grow within a window, steps each tick of a window at most once.
//! A loser-mode node ([`wasm_pvm::loser`]) carries its failure markers from the tick they
//! take effect: its states are the honest ones plus the markers.

use std::collections::BTreeMap;

use durable_tree::Tree;
use wasm_pvm::loser::{LoserMode, set_failures};
use wasm_pvm::{KernelEngine, LevelEvent, PvmError, PvmState, RevealHandler, TickState};

/// Why a state could not be computed (operational: the game move is retried at the next
/// head).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The fast path failed.
    #[error(transparent)]
    Pvm(#[from] PvmError),
    /// A tick of the small-step PVM failed.
    #[error("small-step PVM: {0}")]
    Tick(#[from] pvm_tick::TickError),
    /// A state tree operation failed.
    #[error(transparent)]
    Tree(#[from] durable_tree::TreeError),
    /// A state did not decode.
    #[error(transparent)]
    Decode(#[from] wasm_pvm::DecodeError),
    /// A reveal the kernel asked for could not be answered.
    #[error("reveal: {0}")]
    Reveal(String),
    /// The replay does not end in the state the node committed.
    #[error("{0}")]
    Inconsistent(String),
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
    /// The last state stepped tick by tick (honest), with its tick.
    cursor: Option<(u128, Tree)>,
    /// The period's inbox: `(level, serialized messages)`.
    levels: Vec<(u32, Vec<Vec<u8>>)>,
}

impl PeriodReplay {
    /// Evaluates `levels` from `start` (the state at the end of the parent commitment's
    /// level) as the node did, with `loser`'s failures.
    ///
    /// # Errors
    /// [`ReplayError`].
    pub fn build(
        start: &PvmState,
        levels: Vec<(u32, Vec<Vec<u8>>)>,
        engine: &mut dyn KernelEngine,
        reveal: &mut dyn RevealHandler,
        loser: &LoserMode,
    ) -> Result<(Self, PvmState), ReplayError> {
        let offset = start.current_tick();
        let mut checkpoints = BTreeMap::new();
        checkpoints.insert(offset, start.without_failures());
        let mut failures = Vec::new();
        let mut state = start.clone();
        for (level, messages) in &levels {
            let mut observe = |e: LevelEvent<'_>| match e {
                LevelEvent::State(s) => {
                    checkpoints.insert(s.current_tick(), s.without_failures());
                }
                LevelEvent::Failure(t) => failures.push(t),
            };
            state.process_level_with(
                *level,
                messages,
                engine,
                reveal,
                None,
                loser,
                Some(&mut observe),
            )?;
        }
        failures.sort_unstable();
        let replay = Self {
            offset,
            last: state.current_tick(),
            checkpoints,
            base_failures: start.failures(),
            failures,
            cursor: None,
            levels,
        };
        Ok((replay, state))
    }

    /// Absolute tick of game tick 0.
    pub fn offset(&self) -> u128 {
        self.offset
    }

    /// Ticks of the period.
    pub fn ticks(&self) -> u128 {
        self.last.saturating_sub(self.offset)
    }

    /// The period's inbox.
    pub fn levels(&self) -> &[(u32, Vec<Vec<u8>>)] {
        &self.levels
    }

    /// The state at game tick `tick`, `None` beyond the period.
    ///
    /// # Errors
    /// [`ReplayError`].
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
        let (mut t, mut tree) = match &self.cursor {
            Some((ct, tree)) if *ct >= at && *ct <= abs => (*ct, tree.clone()),
            _ => (at, cp.to_tree()?),
        };
        while t < abs {
            if pvm_tick::tick_tag(&tree)? == pvm_tick::TickTag::Padding {
                let s = PvmState::from_tree(&tree)?;
                self.checkpoints.insert(t, s.clone());
                if let Some(p) = s.at_padding_tick(abs) {
                    tree = p.to_tree()?;
                    t = abs;
                    break;
                }
            }
            tree = match pvm_tick::compute_step(&tree) {
                Err(pvm_tick::TickError::RevealRequired(request)) => {
                    let answer = reveal
                        .reveal(&request)
                        .map_err(|e| ReplayError::Reveal(e.to_string()))?;
                    pvm_tick::set_input(&tree, &pvm_tick::Input::Reveal(answer))?
                }
                r => r?,
            };
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
        self.cursor = Some((t, tree.clone()));
        Ok(tree)
    }

    /// The message the PVM reads next after `(level, counter)` (or the period's first message
    /// for `None`): the next one of the level, else the first of the next level.
    pub fn message_after(&self, after: Option<(u32, u64)>) -> Option<(u32, u64, &[u8])> {
        let mut all = self
            .levels
            .iter()
            .flat_map(|(l, ms)| ms.iter().enumerate().map(move |(i, m)| (*l, i as u64, m)));
        let found = match after {
            None => all.next(),
            Some(p) => all.find(|(l, i, _)| (*l, *i) > p),
        };
        found.map(|(l, i, m)| (l, i, m.as_slice()))
    }
}
