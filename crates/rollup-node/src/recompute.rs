//! `recompute outbox messages from <level> [--data-dir <dir>]`
//! (docs/reference/octez-rollup-node.md §1.3): registers again the outbox message indexes of
//! every level from `level` to the head (Octez `repair.ml`), each read from the PVM state of
//! `max(level, LCC)`. Messages already marked executed stay executed
//! (`Store::set_outbox_messages`); levels without messages are left as they are. The node
//! must be stopped: the context is opened (and locked) as the node opens it.

use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use node_store::OutboxLevel;
use tezos_types::Level;

/// What was recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recomputed {
    /// First level processed.
    pub from: Level,
    /// The head's level (last processed).
    pub to: Level,
    /// Levels whose outbox holds at least one message.
    pub with_messages: u32,
}

fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("Recomputing outbox messages [{bar:40}] {pos}/{len} ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Runs the command on `data_dir`.
///
/// # Errors
/// A message saying what is wrong and what to do (no store, node running, level out of the
/// stored range, a block without context).
pub fn run(data_dir: &Path, from: Level) -> Result<Recomputed, String> {
    let (context, mut store) = crate::offline::open(data_dir)?;
    let head = store
        .head()
        .map_err(|e| format!("Cannot read the head: {e}"))?
        .ok_or_else(|| "The node has no head yet: nothing to recompute.".to_string())?;
    if from > head.level {
        return Err(format!(
            "First level to recompute outbox messages is {from} but head is at {}.",
            head.level
        ));
    }
    // Octez reads the outbox of a level at or below the LCC in the LCC's state (blocks
    // below it may be pruned; the state keeps the outboxes of the active levels).
    let lcc = store
        .lcc()
        .map_err(|e| format!("Cannot read the store: {e}"))?
        .map_or(Level::ZERO, |(_, l)| l);
    let total = head
        .level
        .distance_from(from)
        .map_or(1, |d| u64::from(d).saturating_add(1));
    let progress = bar(total);
    let mut with_messages = 0u32;
    let mut cached: Option<(Level, wasm_pvm::PvmState)> = None;
    // Levels as `int32` to iterate; each is back in `from ..= head`, so non-negative.
    for level in (from.get()..=head.level.get()).filter_map(Level::new) {
        let ctxt_level = level.max(lcc);
        let state = match cached.take() {
            Some((l, state)) if l == ctxt_level => state,
            _ => {
                let block = store
                    .block_by_level(ctxt_level)
                    .map_err(|e| format!("Cannot read the block at level {ctxt_level}: {e}"))?
                    .ok_or_else(|| {
                        format!(
                            "No L2 block at level {ctxt_level} in the store: give a level the \
                         node has processed."
                        )
                    })?;
                context.state_of(&block).map_err(|e| {
                    format!(
                        "No PVM state for level {ctxt_level} ({e}): the context was pruned; give \
                     a level at or above the oldest kept context."
                    )
                })?
            }
        };
        let count = state.outbox(level.to_u32()).map(<[_]>::len).unwrap_or(0);
        let count = u32::try_from(count).map_err(|_| format!("Bad outbox at {level}"))?;
        if count > 0 {
            progress.suspend(|| eprintln!("{level} : {count} outbox messages"));
            // Registering keeps the executed marks of a stored level (Octez
            // `register_outbox_messages`).
            store
                .transaction(|w| {
                    w.set_outbox_messages(&OutboxLevel {
                        outbox_level: level,
                        messages: (0..count).collect(),
                        executed: vec![],
                    })
                })
                .map_err(|e| format!("Cannot write the store: {e}"))?;
            with_messages += 1;
        }
        cached = Some((ctxt_level, state));
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(Recomputed {
        from,
        to: head.level,
        with_messages,
    })
}
