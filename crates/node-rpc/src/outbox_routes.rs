//! `GET /local/outbox/pending`, `/local/outbox/pending/executable`,
//! `/local/outbox/pending/unexecutable` (docs/reference/octez-rollup-node.md §4.3, §6.3;
//! Octez `node_context.ml` `get_*_pending_outbox_messages`, `rpc_directory.ml`
//! `get_outbox_content`).
//!
//! A message is pending until an execution of it is included on L1. Its outbox level is
//! executable when `LCC - max_active_outbox_levels < level <= LCC`, lost at or below
//! `LCC - max_active_outbox_levels`, pending (not executable yet) above the LCC. Each level
//! answers `{"outbox_level", "messages": [{"message_index", "message"?}]}` (plus `"status"`
//! for `/pending`), `message` the outbox summary read from the PVM state at level
//! `max(LCC, outbox_level)`, absent when that state is not available.

use std::collections::HashMap;

use serde_json::{Value, json};
use tezos_types::Level;

use super::error::RpcError;
use super::routes::Call;
use super::{BlockId, RpcResult, ok};

/// The status of a pending message's outbox level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Can be executed on L1 now.
    Executable,
    /// Not cemented yet.
    Pending,
    /// Too old: L1 refuses its execution.
    Lost,
}

impl OutboxStatus {
    /// Octez's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Executable => "executable",
            Self::Pending => "pending",
            Self::Lost => "lost",
        }
    }
}

/// The last lost outbox level: `lcc - max_active_outbox_levels` (the protocol's
/// `validate_outbox_level` uses a strict inequality); `None` when no level is lost yet
/// (docs/reference/octez-rollup-node.md §6.3).
pub fn lost_level(lcc_level: Level, max_active_outbox_levels: i32) -> Option<Level> {
    match u32::try_from(max_active_outbox_levels) {
        Ok(n) => lcc_level.checked_sub(n),
        // A negative window: every level up to `lcc - max_active` (above the LCC) is lost.
        Err(_) => Some(lcc_level.saturating_add(max_active_outbox_levels.unsigned_abs())),
    }
}

/// The status of outbox level `level` with the LCC at `lcc_level`.
pub fn outbox_status(
    level: Level,
    lcc_level: Level,
    max_active_outbox_levels: i32,
) -> OutboxStatus {
    if lost_level(lcc_level, max_active_outbox_levels).is_some_and(|lost| level <= lost) {
        OutboxStatus::Lost
    } else if level <= lcc_level {
        OutboxStatus::Executable
    } else {
        OutboxStatus::Pending
    }
}

/// `[min, max]` narrowed to the single level `only` when given: `None` when `only` lies
/// outside (the answer is then empty).
fn narrow(min: Level, max: Level, only: Option<Level>) -> Option<(Level, Level)> {
    match only {
        None => (min <= max).then_some((min, max)),
        Some(l) if l < min || l > max => None,
        Some(l) => Some((l, l)),
    }
}

/// The executable range `(LCC - max_active, LCC]` as inclusive bounds (from level 0 while no
/// level is lost).
pub fn executable_range(lcc_level: Level, max_active_outbox_levels: i32) -> (Level, Level) {
    (
        lost_level(lcc_level, max_active_outbox_levels)
            .map_or(Level::ZERO, |l| l.saturating_add(1)),
        lcc_level,
    )
}

/// `?outbox_level=`: `Some(None)` when absent, `Some(Some(l))` for a level, `None` for a
/// negative one (no outbox level matches it: the answer is empty).
fn outbox_level_query(c: &Call) -> Result<Option<Option<Level>>, RpcError> {
    match c.query("outbox_level") {
        None => Ok(Some(None)),
        Some(s) => s
            .parse::<i32>()
            .map(|l| Level::new(l).map(Some))
            .map_err(|_| RpcError::BadArgument("outbox_level", s.to_owned())),
    }
}

fn lcc_level(c: &Call) -> Result<Option<Level>, RpcError> {
    Ok(c.view.lcc()?.map(|(_, l)| l))
}

fn max_active(c: &Call) -> Result<i32, RpcError> {
    c.view
        .status()
        .constants
        .map(|k| k.max_active_outbox_levels)
        .ok_or_else(|| {
            RpcError::Failed(
                "smart_rollup_node.constants_unknown",
                "The protocol constants are not known yet: retry once the rollup node has \
                 read them from the L1 node."
                    .into(),
            )
        })
}

fn head_level(c: &Call) -> Result<Level, RpcError> {
    c.view
        .block(&BlockId::Head)?
        .map(|b| b.level)
        .ok_or_else(|| RpcError::Failed("smart_rollup_node.no_l2_head", "No L2 head".into()))
}

/// `{"outbox_level", "messages": [{"message_index", "message"?}]}` of the pending `indexes`
/// of `level`, the messages read from the state at level `max(lcc, level)`.
fn level_content(
    c: &Call,
    lcc: Option<Level>,
    level: Level,
    indexes: &[u32],
) -> Result<Value, RpcError> {
    let at = lcc.map_or(level, |l| l.max(level));
    let mut by_index: HashMap<u64, Value> = HashMap::new();
    if let Some(block) = c.view.block(&BlockId::Level(at))? {
        let path = format!("outbox_summary/{level}");
        if let Some(r) = c.view.pvm_rpc(&block, &path, &HashMap::new()) {
            for mut item in r?.as_array().cloned().unwrap_or_default() {
                let Some(i) = item.get("message_index").and_then(Value::as_u64) else {
                    continue;
                };
                if let Some(o) = item.as_object_mut() {
                    o.remove("message_index");
                }
                by_index.insert(i, item);
            }
        }
    }
    let messages: Vec<Value> = indexes
        .iter()
        .map(|i| match by_index.remove(&u64::from(*i)) {
            Some(m) => json!({"message_index": i, "message": m}),
            None => json!({"message_index": i}),
        })
        .collect();
    Ok(json!({"outbox_level": level, "messages": messages}))
}

/// `GET /local/outbox/pending/executable?outbox_level=`.
pub(super) fn executable(c: &Call) -> RpcResult {
    let Some(only) = outbox_level_query(c)? else {
        return ok(json!([]));
    };
    let Some(lcc) = lcc_level(c)? else {
        return ok(json!([]));
    };
    let (min, max) = executable_range(lcc, max_active(c)?);
    let Some((min, max)) = narrow(min, max, only) else {
        return ok(json!([]));
    };
    let pending = c.view.pending_outbox_messages(min, max)?;
    let out = pending
        .iter()
        .map(|(l, ix)| level_content(c, Some(lcc), *l, ix))
        .collect::<Result<Vec<_>, _>>()?;
    ok(Value::Array(out))
}

/// `GET /local/outbox/pending/unexecutable?outbox_level=`: levels in `(LCC, head]`.
pub(super) fn unexecutable(c: &Call) -> RpcResult {
    let Some(only) = outbox_level_query(c)? else {
        return ok(json!([]));
    };
    let head = head_level(c)?;
    let lcc = lcc_level(c)?;
    let min = lcc.map_or(Level::ZERO, |l| l.saturating_add(1));
    let Some((min, max)) = narrow(min, head, only) else {
        return ok(json!([]));
    };
    let pending = c.view.pending_outbox_messages(min, max)?;
    let out = pending
        .iter()
        .map(|(l, ix)| level_content(c, lcc, *l, ix))
        .collect::<Result<Vec<_>, _>>()?;
    ok(Value::Array(out))
}

/// `GET /local/outbox/pending?outbox_level=`: every pending message up to the head, with its
/// status.
pub(super) fn pending(c: &Call) -> RpcResult {
    let Some(only) = outbox_level_query(c)? else {
        return ok(json!([]));
    };
    let head = head_level(c)?;
    let lcc = lcc_level(c)?;
    let active = max_active(c)?;
    let range = match only {
        None => Some((Level::ZERO, head)),
        Some(l) if l > head => None,
        Some(l) => Some((l, l)),
    };
    let Some((min, max)) = range else {
        return ok(json!([]));
    };
    let pending = c.view.pending_outbox_messages(min, max)?;
    let out = pending
        .iter()
        .map(|(l, ix)| {
            let status = match lcc {
                Some(lcc) => outbox_status(*l, lcc, active),
                None => OutboxStatus::Pending,
            };
            let mut v = level_content(c, lcc, *l, ix)?;
            v["status"] = json!(status.as_str());
            Ok(v)
        })
        .collect::<Result<Vec<_>, RpcError>>()?;
    ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: i32) -> Level {
        Level::new(v).unwrap()
    }

    #[test]
    fn statuses_follow_the_protocol_window() {
        // LCC 100, window 10: (90, 100] executable, <= 90 lost, > 100 pending.
        assert_eq!(outbox_status(l(90), l(100), 10), OutboxStatus::Lost);
        assert_eq!(outbox_status(l(91), l(100), 10), OutboxStatus::Executable);
        assert_eq!(outbox_status(l(100), l(100), 10), OutboxStatus::Executable);
        assert_eq!(outbox_status(l(101), l(100), 10), OutboxStatus::Pending);
        assert_eq!(executable_range(l(100), 10), (l(91), l(100)));
        // No overflow near the bounds; nothing lost while the LCC is below the window.
        assert_eq!(lost_level(l(5), 10), None);
        assert_eq!(
            outbox_status(Level::ZERO, l(5), 10),
            OutboxStatus::Executable
        );
        assert_eq!(executable_range(l(5), 10), (Level::ZERO, l(5)));
        assert_eq!(lost_level(l(5), 5), Some(Level::ZERO));
        assert_eq!(lost_level(Level::MAX, -10), Some(Level::MAX));
        assert_eq!(
            outbox_status(Level::ZERO, Level::ZERO, 0),
            OutboxStatus::Lost
        );
    }

    #[test]
    fn a_level_query_narrows_the_range() {
        assert_eq!(narrow(l(91), l(100), None), Some((l(91), l(100))));
        assert_eq!(narrow(l(91), l(100), Some(l(95))), Some((l(95), l(95))));
        assert_eq!(narrow(l(91), l(100), Some(l(90))), None);
        assert_eq!(narrow(l(91), l(100), Some(l(101))), None);
        assert_eq!(narrow(l(101), l(100), None), None);
    }
}
