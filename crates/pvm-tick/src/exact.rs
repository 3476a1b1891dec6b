//! One semantics over two backends: a fast engine (wasmtime) for whole windows, and this
//! crate's tick-level PVM for the windows whose result only the small-step semantics gives
//! (`wasm_pvm::KernelEngine::exact_window`): a permanent stuck state (its tick and message),
//! a decoding or initialisation failure (its tick), an indirect call to a null element (an
//! exception in Octez, not a trap). Octez's node does the same: its fast execution falls back
//! to the slow one for such a window (`src/lib_scoru_wasm/fast/vm.ml`).

use durable_tree::Tree;
use wasm_pvm::{EngineError, HostFatal, HostState, KernelEngine, RevealHandler, RunOutcome};

use crate::driver::{compute_step, set_input, tick_tag};
use crate::{Input, TickError, TickTag};

/// A fast engine `E` whose inexact outcomes are replayed tick by tick ([`window_from_snapshot`]).
#[derive(Debug)]
pub struct Exact<E>(pub E);

impl<E: KernelEngine> KernelEngine for Exact<E> {
    fn run(
        &mut self,
        kernel: &[u8],
        kernel_hash: &context_hash::Hash,
        host: &mut HostState<'_>,
    ) -> Result<RunOutcome, EngineError> {
        self.0.run(kernel, kernel_hash, host)
    }

    /// `None` when the interpreter does not step some tick of the window yet (the PVM then
    /// keeps the fast engine's approximation).
    fn exact_window(
        &mut self,
        snapshot: &Tree,
        reveal: &mut dyn RevealHandler,
    ) -> Option<Result<Tree, EngineError>> {
        match window_from_snapshot(snapshot, reveal) {
            Ok(t) => Some(Ok(t)),
            Err(WindowError::Reveal(e)) => Some(Err(EngineError::Host(e))),
            Err(WindowError::Tick(e)) if e.is_unsupported() => None,
            Err(WindowError::Tick(e)) => Some(Err(EngineError::Panic(format!(
                "exact replay of the window: {e}"
            )))),
        }
    }
}

/// Why [`window_from_snapshot`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// A tick failed (malformed state, or a tick the interpreter does not step yet).
    #[error(transparent)]
    Tick(#[from] TickError),
    /// A reveal the kernel asked for could not be answered (operational).
    #[error(transparent)]
    Reveal(HostFatal),
}

/// From a `Snapshot` state, every tick until the window's first `Padding` or `Stuck` state
/// (or `Collect`, for a window that ends in a yield without padding), answering reveal ticks
/// with `reveal`.
pub fn window_from_snapshot(
    snapshot: &Tree,
    reveal: &mut dyn RevealHandler,
) -> Result<Tree, WindowError> {
    let mut t = compute_step(snapshot)?;
    loop {
        match tick_tag(&t)? {
            TickTag::Padding | TickTag::Stuck | TickTag::Collect | TickTag::Snapshot => {
                return Ok(t);
            }
            _ => {}
        }
        t = step_answering_reveals(&t, reveal)?;
    }
}

/// One tick from `tree`; a reveal tick is answered by `reveal`.
pub fn step_answering_reveals(
    tree: &Tree,
    reveal: &mut dyn RevealHandler,
) -> Result<Tree, WindowError> {
    match compute_step(tree) {
        Err(TickError::RevealRequired(request)) => {
            let answer = reveal
                .reveal(&request)
                .map_err(|e| WindowError::Reveal(HostFatal::Reveal(e)))?;
            Ok(set_input(tree, &Input::Reveal(answer))?)
        }
        r => Ok(r?),
    }
}
