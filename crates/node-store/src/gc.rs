//! The pure GC policy (octez-rollup-node.md §5.3–§5.4, Octez `node_context.ml`
//! `check_and_set_history_mode`, `gc`): the history mode recorded in the store
//! ([`resolve_history_mode`]), when a GC is due and its target ([`gc_target`],
//! [`gc_frequency`], [`splitting_period`]), and `GET /local/gc_info` ([`gc_info`]). Running
//! a GC (the SQL part and the background context GC) is the follower's job.

use node_config::HistoryMode;
use serde_json::{Value, json};
use tezos_types::Level;

use crate::{LevelKey, Store, StoreError};

/// Full → archive refused (§5.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Cannot transform a full rollup node into an archive one.")]
pub struct FullToArchive;

/// The effective history mode from the stored and configured ones (§5.4, Octez
/// `Node_context.check_and_set_history_mode`): the configured mode wins, else the stored
/// one, else `full`. Archive → full is a conversion (the data goes at the next GC).
pub fn resolve_history_mode(
    stored: Option<HistoryMode>,
    configured: Option<HistoryMode>,
) -> Result<HistoryMode, FullToArchive> {
    match (stored, configured) {
        (Some(HistoryMode::Full), Some(HistoryMode::Archive)) => Err(FullToArchive),
        (Some(HistoryMode::Archive), Some(HistoryMode::Full)) => {
            tracing::info!(
                "Converting history mode from archive to full; old data is removed at the next GC"
            );
            Ok(HistoryMode::Full)
        }
        (_, Some(m)) | (Some(m), None) => Ok(m),
        (None, None) => Ok(HistoryMode::Full),
    }
}

/// Resolves the history mode against the store and records it there (daemon startup).
pub fn check_and_set_history_mode(
    store: &mut Store,
    configured: Option<HistoryMode>,
) -> Result<HistoryMode, HistoryModeError> {
    let mode = resolve_history_mode(store.history_mode()?, configured)?;
    store.transaction(|w| w.set_history_mode(mode))?;
    Ok(mode)
}

/// Errors of [`check_and_set_history_mode`].
#[derive(Debug, thiserror::Error)]
pub enum HistoryModeError {
    /// Full → archive.
    #[error(transparent)]
    FullToArchive(#[from] FullToArchive),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The context splitting period: `challenge_window / 5`, or the window itself when ≤ 5
/// (Octez `Node_context.splitting_period`; 40 320 blocks on mainnet).
pub fn splitting_period(challenge_window: u32) -> i32 {
    let p = if challenge_window <= 5 {
        challenge_window
    } else {
        (challenge_window / 5).max(1)
    };
    i32::try_from(p).unwrap_or(i32::MAX)
}

/// GC frequency in blocks: `gc-parameters.frequency`, else the splitting period.
pub fn gc_frequency(configured: Option<i32>, challenge_window: u32) -> i32 {
    configured.unwrap_or_else(|| splitting_period(challenge_window))
}

/// The GC target if a GC is due (§5.4): none in archive mode or without an LCC; the LCC
/// level when `lcc − last_gc_target ≥ frequency`. The LCC block must be processed (during
/// a catch-up the L1's LCC can be ahead of the L2 head: no GC then).
pub fn gc_target(
    mode: HistoryMode,
    lcc_level: Option<Level>,
    head_level: Option<Level>,
    last_gc_target: Level,
    frequency: i32,
) -> Option<Level> {
    if mode == HistoryMode::Archive {
        return None;
    }
    let lcc = lcc_level?;
    if head_level? < lcc {
        return None;
    }
    // `None` when the last target is above the LCC (nothing to collect).
    let since = lcc.distance_from(last_gc_target)?;
    (i64::from(since) >= i64::from(frequency) && since > 0).then_some(lcc)
}

/// `GET /local/gc_info` (§4.3): `{"first_available_level","last_gc_level"?,
/// "last_context_split_level"?,"last_successful_gc_target"?}`. Before any GC the first
/// available level is the genesis level (`genesis_level`, else the lowest stored level).
pub fn gc_info(store: &Store, genesis_level: Option<Level>) -> Result<Value, StoreError> {
    let target = store.level_state(LevelKey::LastGcTarget)?;
    let first = match target {
        Some(t) => t,
        None => match genesis_level {
            Some(g) => g,
            None => store.first_stored_level()?.unwrap_or(Level::ZERO),
        },
    };
    let mut o = serde_json::Map::new();
    o.insert("first_available_level".into(), json!(first));
    if let Some(l) = store.level_state(LevelKey::LastGcTriggeredAt)? {
        o.insert("last_gc_level".into(), json!(l));
    }
    if let Some(l) = store.level_state(LevelKey::LastContextSplit)? {
        o.insert("last_context_split_level".into(), json!(l));
    }
    if let Some(l) = store.level_state(LevelKey::LastContextGcTarget)? {
        o.insert("last_successful_gc_target".into(), json!(l));
    }
    Ok(Value::Object(o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use HistoryMode::{Archive, Full};

    #[test]
    fn history_mode_resolution() {
        assert_eq!(resolve_history_mode(None, None), Ok(Full));
        assert_eq!(resolve_history_mode(None, Some(Archive)), Ok(Archive));
        assert_eq!(resolve_history_mode(Some(Archive), None), Ok(Archive));
        assert_eq!(resolve_history_mode(Some(Full), None), Ok(Full));
        assert_eq!(resolve_history_mode(Some(Archive), Some(Full)), Ok(Full));
        assert_eq!(resolve_history_mode(Some(Full), Some(Full)), Ok(Full));
        let e = resolve_history_mode(Some(Full), Some(Archive)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot transform a full rollup node into an archive one."
        );
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(check_and_set_history_mode(&mut s, None).unwrap(), Full);
        assert_eq!(s.history_mode().unwrap(), Some(Full));
        assert!(check_and_set_history_mode(&mut s, Some(Archive)).is_err());
        assert_eq!(s.history_mode().unwrap(), Some(Full));
    }

    #[test]
    fn frequency_is_the_splitting_period_by_default() {
        assert_eq!(splitting_period(201_600), 40_320);
        assert_eq!(splitting_period(10), 2);
        assert_eq!(splitting_period(6), 1);
        assert_eq!(splitting_period(5), 5);
        assert_eq!(splitting_period(1), 1);
        assert_eq!(gc_frequency(None, 201_600), 40_320);
        assert_eq!(gc_frequency(Some(7), 201_600), 7);
        assert_eq!(
            splitting_period(u32::MAX),
            i32::try_from(u32::MAX / 5).unwrap()
        );
    }

    #[test]
    fn target_rule() {
        let l = |v: i32| Level::new(v).unwrap();
        // Due when lcc − last ≥ frequency.
        assert_eq!(
            gc_target(Full, Some(l(20)), Some(l(30)), l(10), 10),
            Some(l(20))
        );
        assert_eq!(gc_target(Full, Some(l(19)), Some(l(30)), l(10), 10), None);
        assert_eq!(
            gc_target(Full, Some(l(25)), Some(l(30)), l(10), 3),
            Some(l(25))
        );
        // Never in archive mode, nor without LCC or head, nor beyond the head.
        assert_eq!(gc_target(Archive, Some(l(20)), Some(l(30)), l(10), 1), None);
        assert_eq!(gc_target(Full, None, Some(l(30)), l(10), 1), None);
        assert_eq!(gc_target(Full, Some(l(20)), None, l(10), 1), None);
        assert_eq!(gc_target(Full, Some(l(31)), Some(l(30)), l(10), 1), None);
        // Never twice for the same target, and no overflow.
        assert_eq!(gc_target(Full, Some(l(20)), Some(l(30)), l(20), 0), None);
        assert_eq!(
            gc_target(Full, Some(l(i32::MAX)), Some(l(i32::MAX)), Level::ZERO, 1),
            Some(l(i32::MAX))
        );
        assert_eq!(gc_target(Full, Some(l(5)), Some(l(30)), l(10), -1), None);
        assert_eq!(gc_target(Full, Some(l(5)), Some(l(30)), l(10), 1), None);
    }
}
