//! The PVM's ticks on a plain state tree (no proof): `Wasm_vm.compute_step`,
//! `compute_step_many`, `set_input_step` and `reveal_step` (`src/lib_scoru_wasm/wasm_vm.ml`;
//! `docs/reference/wasm-ticks.md` §1.1).
//!
//! One semantics: the ticks that need no interpreter (`Snapshot`, `Padding` and the window
//! end, `Stuck`, `Collect`, the input ticks, the refusals) and the outer rule of the
//! interpreter states (`Too_many_ticks` at the window end) are pvm-tick's own step code, run on
//! a [`StepTree`] over the plain tree (the same code as the proofs); the ticks inside
//! `Decode`, `Link`, `Init` and `Eval` are `wasm_interp::step`'s.

use durable_tree::Tree;
use durable_tree::proof::partial::StepTree;
use wasm_pvm::DebugSink;

use crate::state::{TickTag, malformed, n_bytes, n_of, string_of};
use crate::step::{eval_tick, input_tick};
use crate::{Input, TickError};

/// The tick state's tag (`wasm/tag`; absent: `Collect`).
pub fn tick_tag(tree: &Tree) -> Result<TickTag, TickError> {
    let p = ["wasm", "tag"];
    match tree.get_contents(&p).map_err(tree_err)? {
        None => Ok(TickTag::Collect),
        Some(b) => {
            TickTag::parse(string_of(&p, &b)?).ok_or_else(|| malformed(&p, "unknown tick state"))
        }
    }
}

/// `wasm/current_tick` of the state.
pub fn current_tick(tree: &Tree) -> Result<u128, TickError> {
    nat(tree, &["wasm", "current_tick"], Some(0))
}

/// The reveal the PVM waits for (`Wasm_vm.input_request` = `Reveal_required`): `Some` with the
/// request's bytes (`0x00 ‖ hash` for a preimage, `0x01` for the metadata, the raw payload of
/// `reveal`) at an `Eval` reveal tick (`docs/reference/wasm-ticks.md` §1.5), `None` elsewhere.
pub fn reveal_request(tree: &Tree) -> Result<Option<Vec<u8>>, TickError> {
    if tick_tag(tree)? != TickTag::Eval {
        return Ok(None);
    }
    Ok(wasm_interp::tick::reveal_request(tree)?)
}

/// Whether the state takes an input rather than a computation tick (`Wasm_vm.input_request`
/// is `Input_required` or `Reveal_required`): `Collect`, `Stuck` on an error other than a
/// decoding, link or initialisation error (those fall back to the saved kernel at the next
/// computation tick), and an `Eval` reveal tick ([`reveal_request`]).
pub fn is_input_state(tree: &Tree) -> Result<bool, TickError> {
    Ok(match tick_tag(tree)? {
        TickTag::Eval => reveal_request(tree)?.is_some(),
        TickTag::Collect => true,
        TickTag::Stuck => {
            let p = ["wasm", "value"];
            let b = tree
                .get_contents(&p)
                .map_err(tree_err)?
                .ok_or_else(|| malformed(&p, "missing value"))?;
            let e = wasm_pvm::StuckError::decode(&b)
                .ok_or_else(|| malformed(&p, "not a Wasm_pvm_errors encoding"))?;
            !matches!(
                e,
                wasm_pvm::StuckError::Decode(..)
                    | wasm_pvm::StuckError::Link(_)
                    | wasm_pvm::StuckError::Init(..)
            )
        }
        _ => false,
    })
}

/// One computation tick (`Wasm_vm.compute_step`), whatever the state: in `Collect` it is an
/// error of the kernel's PVM (→ `Stuck Invalid_state`), as in Octez. A tick the interpreter
/// does not step yet is [`TickError::Interpreter`] with `wasm_interp::Error::Unsupported`
/// ([`TickError::is_unsupported`]).
pub fn compute_step(tree: &Tree) -> Result<Tree, TickError> {
    compute_step_debug(tree, None)
}

/// [`compute_step`] printing the kernel's `write_debug` messages to `debug`
/// (`Wasm.compute_step_with_debug`); the state reached is the same.
pub fn compute_step_with_debug(tree: &Tree, debug: &mut dyn DebugSink) -> Result<Tree, TickError> {
    compute_step_debug(tree, Some(debug))
}

fn compute_step_debug(
    tree: &Tree,
    debug: Option<&mut (dyn DebugSink + '_)>,
) -> Result<Tree, TickError> {
    let tag = tick_tag(tree)?;
    if is_interpreter(tag) && !window_over(tree)? {
        // At a reveal tick the interpreter answers `RevealRequired` (read from the state it
        // decodes for the tick anyway).
        let stepped = match debug {
            None => wasm_interp::step(tree),
            Some(sink) => wasm_interp::tick::step_with_debug(tree).map(|(t, messages)| {
                for m in &messages {
                    sink.debug(m);
                }
                t
            }),
        };
        return stepped.map_err(|e| match e {
            wasm_interp::Error::RevealRequired(request) => TickError::RevealRequired(request),
            e => e.into(),
        });
    }
    if tag == TickTag::Eval
        && let Some(request) = reveal_request(tree)?
    {
        // `Wasm_vm.compute_step` at `Reveal_required` (`Evaluation_step_error`), at the
        // window end too.
        return Err(TickError::RevealRequired(request));
    }
    let mut st = StepTree::of_tree(tree)?;
    eval_tick(&mut st)?;
    Ok(st.to_tree()?)
}

/// Up to `max_steps` computation ticks (`Wasm_vm.compute_step_many` without reveals): stops
/// early at a state that takes an input ([`is_input_state`]); at least one tick is done.
/// Top-level `Padding` is skipped in bulk up to the window end, as Octez does (only
/// `wasm/current_tick` changes there). Returns the state and the number of ticks done; an
/// error leaves nothing done (the caller keeps its state).
///
/// Runs of initialisation and evaluation ticks are taken with the interpreter's state kept
/// decoded between them (`wasm_interp::tick::run_many`: the same states, tick for tick): none
/// of the states inside such a run takes an input, so none would have stopped it.
pub fn compute_step_many(tree: &Tree, max_steps: u64) -> Result<(Tree, u64), TickError> {
    many(tree, max_steps, |t| Ok(!is_input_state(t)?), None, true)
}

/// Up to `max_steps` computation ticks while `should_continue` holds of the state reached
/// (`Wasm_vm.compute_step_many_until`): at least one tick; top-level `Padding` in bulk.
pub fn compute_step_many_until(
    tree: &Tree,
    max_steps: u64,
    should_continue: impl FnMut(&Tree) -> Result<bool, TickError>,
) -> Result<(Tree, u64), TickError> {
    compute_step_many_until_with_debug(tree, max_steps, should_continue, None)
}

/// [`compute_step_many_until`], printing the kernel's `write_debug` messages to `debug` if
/// given.
pub fn compute_step_many_until_with_debug(
    tree: &Tree,
    max_steps: u64,
    should_continue: impl FnMut(&Tree) -> Result<bool, TickError>,
    debug: Option<&mut (dyn DebugSink + '_)>,
) -> Result<(Tree, u64), TickError> {
    many(tree, max_steps, should_continue, debug, false)
}

/// [`compute_step_many_until_with_debug`]; with `eval_runs`, initialisation and evaluation
/// ticks in runs (`wasm_interp::tick::run_many`), for a `should_continue` that holds of every
/// `Init` and `Eval` state but a reveal tick.
fn many(
    tree: &Tree,
    max_steps: u64,
    mut should_continue: impl FnMut(&Tree) -> Result<bool, TickError>,
    mut debug: Option<&mut (dyn DebugSink + '_)>,
    eval_runs: bool,
) -> Result<(Tree, u64), TickError> {
    if max_steps == 0 {
        return Err(TickError::Invalid("compute_step_many of 0 steps"));
    }
    // The first tick is a real one: it writes every field of the state, so that a bulk
    // `current_tick` change afterwards gives the same tree as tick-by-tick stepping.
    let mut t = compute_step_debug(tree, debug.as_deref_mut())?;
    let mut done: u64 = 1;
    while done < max_steps && should_continue(&t)? {
        let left = max_steps
            .checked_sub(done)
            .ok_or(TickError::Invalid("tick count"))?;
        let to_snapshot = ticks_to_snapshot(&t)?;
        if tick_tag(&t)? == TickTag::Padding && to_snapshot > 0 {
            let bulk = u64::try_from(to_snapshot).unwrap_or(u64::MAX).min(left);
            let now = current_tick(&t)?
                .checked_add(u128::from(bulk))
                .ok_or_else(|| malformed(&["wasm", "current_tick"], "overflow"))?;
            t.set_contents(&["wasm", "current_tick"], n_bytes(now))
                .map_err(tree_err)?;
            done = done
                .checked_add(bulk)
                .ok_or(TickError::Invalid("tick count"))?;
        } else if let Some((next, n)) = eval_run(&t, left, eval_runs, debug.as_deref_mut())? {
            t = next;
            done = done
                .checked_add(n)
                .ok_or(TickError::Invalid("tick count"))?;
        } else {
            t = compute_step_debug(&t, debug.as_deref_mut())?;
            done = done
                .checked_add(1)
                .ok_or(TickError::Invalid("tick count"))?;
        }
    }
    Ok((t, done))
}

/// Up to `max` initialisation or evaluation ticks from `t` in one run, the interpreter's state
/// kept decoded between them (`wasm_interp::tick::run_many`: the states [`compute_step`]
/// reaches, tick for tick); `None` when `t` is not at such a tick (not `Init` or `Eval`, or the
/// end of the initialisation, a trap, a result, a reveal or the window's end comes first: take
/// one [`compute_step`]). Every state inside the run is an `Init` or `Eval` state that takes no
/// input; the last may be any.
pub fn run_steps(t: &Tree, max: u64) -> Result<Option<(Tree, u64)>, TickError> {
    eval_run(t, max, true, None)
}

/// [`run_steps`] when `enabled`, printing the `write_debug` messages to `debug`.
fn eval_run(
    t: &Tree,
    max: u64,
    enabled: bool,
    debug: Option<&mut (dyn DebugSink + '_)>,
) -> Result<Option<(Tree, u64)>, TickError> {
    if !enabled || !matches!(tick_tag(t)?, TickTag::Init | TickTag::Eval) {
        return Ok(None);
    }
    let Some((next, n, messages)) = wasm_interp::tick::run_many(t, max, debug.is_some())? else {
        return Ok(None);
    };
    if let Some(sink) = debug {
        for m in &messages {
            sink.debug(m);
        }
    }
    Ok(Some((next, n)))
}

/// The input tick (`Wasm_vm.set_input_step` for [`Input::Message`], `reveal_step` for
/// [`Input::Reveal`]). Outside the states that take one, the state becomes `Stuck
/// Invalid_state` (Octez's message), as in Octez; a reveal answered in `Eval` is the
/// interpreter's (`wasm_interp::tick::reveal_step`: the bytes written into memory 0).
pub fn set_input(tree: &Tree, input: &Input) -> Result<Tree, TickError> {
    if let Input::Reveal(payload) = input
        && tick_tag(tree)? == TickTag::Eval
    {
        return Ok(wasm_interp::tick::reveal_step(tree, payload)?);
    }
    let mut st = StepTree::of_tree(tree)?;
    input_tick(&mut st, input)?;
    Ok(st.to_tree()?)
}

/// `Wasm_vm.reveal_step payload` ([`set_input`] of [`Input::Reveal`]).
pub fn reveal_step(tree: &Tree, payload: &[u8]) -> Result<Tree, TickError> {
    set_input(tree, &Input::Reveal(payload.to_vec()))
}

fn is_interpreter(tag: TickTag) -> bool {
    matches!(
        tag,
        TickTag::Decode | TickTag::Link | TickTag::Init | TickTag::Eval
    )
}

fn tree_err(e: durable_tree::TreeError) -> TickError {
    TickError::Proof(e.into())
}

fn nat(tree: &Tree, p: &[&str], default: Option<u128>) -> Result<u128, TickError> {
    match (tree.get_contents(p).map_err(tree_err)?, default) {
        (Some(b), _) => n_of(p, &b),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(malformed(p, "missing value")),
    }
}

/// `ticks_to_snapshot = max_nb_ticks - 1 - (current_tick - last_top_level_call)`.
fn ticks_to_snapshot(tree: &Tree) -> Result<i128, TickError> {
    let now = current_tick(tree)?;
    let last = nat(tree, &["pvm", "last_top_level_call"], Some(0))?;
    let max = nat(tree, &["pvm", "max_nb_ticks"], None)?;
    i128::try_from(max)
        .ok()
        .and_then(|m| {
            let used = i128::try_from(now)
                .ok()?
                .checked_sub(i128::try_from(last).ok()?)?;
            m.checked_sub(1)?.checked_sub(used)
        })
        .ok_or_else(|| malformed(&["wasm", "current_tick"], "tick counters out of range"))
}

/// Whether the tick is the window end (`ticks_to_snapshot <= 0`): only the trigger is read
/// here; the tick itself is pvm-tick's step code.
fn window_over(tree: &Tree) -> Result<bool, TickError> {
    Ok(ticks_to_snapshot(tree)? <= 0)
}
