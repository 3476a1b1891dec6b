//! Reorganisation arithmetic (octez-rollup-node.md §5.2 steps 1–3; l1-and-signer.md §1.2,
//! §1.3 `blocks?head=&length=`).
//!
//! Given the processed chain (hash by level) and a new head, walk the head's predecessors until
//! a processed block is met (the common ancestor) or the rollup's first level is passed
//! (catch-up from origination). The blocks walked are the ones to (re)process, oldest first.
//! Processed blocks above the ancestor are abandoned (no rollback: the canonical chain
//! overwrites them).

use crate::block::BlockHeader;
use std::collections::BTreeMap;
use tezos_types::{BlockHash, Level};

/// The L1 chain data the walk needs for one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainBlock {
    /// Block hash.
    pub hash: BlockHash,
    /// Block level.
    pub level: Level,
    /// Predecessor hash.
    pub predecessor: BlockHash,
}

impl From<&BlockHeader> for ChainBlock {
    fn from(h: &BlockHeader) -> Self {
        Self {
            hash: h.hash,
            level: h.shell.level,
            predecessor: h.shell.predecessor,
        }
    }
}

/// Why an update cannot be planned (deterministic, given the ancestry provided).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReorgError {
    /// An ancestor is not in the ancestry provided: fetch more (`blocks?head=<hash>&length=n`),
    /// or the L1 node has pruned it.
    #[error(
        "missing L1 block {hash} (level {level}); use an L1 node in archive mode or with more \
         history (e.g. --history-mode full:50)"
    )]
    MissingBlock {
        /// The missing block.
        hash: BlockHash,
        /// Its expected level.
        level: Level,
    },
    /// The ancestry is inconsistent: a predecessor is not one level below its successor.
    #[error("L1 block {hash} is at level {found}, expected {expected}")]
    InconsistentLevel {
        /// The block.
        hash: BlockHash,
        /// Expected level.
        expected: Level,
        /// Level found.
        found: Level,
    },
}

/// What changed, as the daemon reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// The head is the last processed block (or below the rollup's first level).
    Nothing,
    /// The head is an already-processed block below the last processed one (L1 behind): Octez
    /// does nothing (event `smart_rollup_node_daemon_l1_behind`).
    Behind,
    /// New blocks on top of the processed chain (catch-up when more than one).
    Extend,
    /// Some processed blocks are no longer on the chain.
    Reorg,
}

/// The plan for a new head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainUpdate {
    /// Last processed block still on the chain (`None` when the walk reached the first level
    /// without meeting one).
    pub ancestor: Option<(Level, BlockHash)>,
    /// Blocks to process, oldest first, ending with the head.
    pub to_process: Vec<ChainBlock>,
    /// Processed blocks above the ancestor that are not on the new chain, oldest first.
    pub abandoned: Vec<(Level, BlockHash)>,
    /// Classification.
    pub kind: UpdateKind,
}

/// Plans the processing of `head`.
///
/// `processed` maps each processed level to its block hash; `first_level` is the first level the
/// node processes (the rollup's origination level: catch-up starts there); `lookup` gives the
/// chain data of a block by hash (predecessor cache, filled from the heads stream and
/// `blocks?head=&length=`).
pub fn plan_update(
    processed: &BTreeMap<Level, BlockHash>,
    first_level: Level,
    head: &ChainBlock,
    lookup: impl Fn(&BlockHash) -> Option<ChainBlock>,
) -> Result<ChainUpdate, ReorgError> {
    let mut to_process = Vec::new();
    let mut ancestor = None;
    let mut cur = *head;
    loop {
        if cur.level < first_level {
            break;
        }
        if processed.get(&cur.level) == Some(&cur.hash) {
            ancestor = Some((cur.level, cur.hash));
            break;
        }
        to_process.push(cur);
        if cur.level == first_level {
            break;
        }
        // `cur.level > first_level`: never `None`.
        let Some(expected) = cur.level.pred() else {
            break;
        };
        let pred = lookup(&cur.predecessor).ok_or(ReorgError::MissingBlock {
            hash: cur.predecessor,
            level: expected,
        })?;
        if pred.level != expected || pred.hash != cur.predecessor {
            return Err(ReorgError::InconsistentLevel {
                hash: cur.predecessor,
                expected,
                found: pred.level,
            });
        }
        cur = pred;
    }
    to_process.reverse();
    let last_processed = processed.last_key_value().map(|(l, _)| *l);
    if to_process.is_empty() {
        let kind = match (ancestor, last_processed) {
            (Some((l, _)), Some(last)) if l < last => UpdateKind::Behind,
            _ => UpdateKind::Nothing,
        };
        return Ok(ChainUpdate {
            ancestor,
            to_process,
            abandoned: Vec::new(),
            kind,
        });
    }
    // Above the ancestor, or every processed level without one.
    let above = |l: Level| ancestor.is_none_or(|(a, _)| l > a);
    let abandoned: Vec<_> = processed
        .iter()
        .filter(|(l, h)| above(**l) && !to_process.iter().any(|b| b.level == **l && b.hash == **h))
        .map(|(l, h)| (*l, *h))
        .collect();
    let kind = if abandoned.is_empty() {
        UpdateKind::Extend
    } else {
        UpdateKind::Reorg
    };
    Ok(ChainUpdate {
        ancestor,
        to_process,
        abandoned,
        kind,
    })
}

/// How many blocks to ask `blocks?head=<head>&length=<n>` for so that the walk from a head at
/// `head_level` reaches the last processed level (or the level below `first_level` when nothing
/// is processed), clamped to the RPC's bounds `[2, 65536]` (§1.3).
pub fn ancestry_fetch_length(
    head_level: Level,
    last_processed: Option<Level>,
    first_level: Level,
) -> u32 {
    // `int32` levels in `i64`: the saturating operations never saturate.
    let below_first = i64::from(first_level).saturating_sub(1);
    let floor = last_processed.map_or(below_first, |l| i64::from(l).max(below_first));
    let n = i64::from(head_level)
        .saturating_sub(floor)
        .saturating_add(1);
    u32::try_from(n.clamp(2, 65_536)).unwrap_or(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lv(l: i32) -> Level {
        Level::new(l).unwrap()
    }

    fn h(tag: &str, level: i32) -> BlockHash {
        let mut b = [0u8; 32];
        b[0] = tag.as_bytes()[0];
        b[1..5].copy_from_slice(&level.to_be_bytes());
        BlockHash(b)
    }

    /// A chain of blocks on branch `tag` from `from` to `to`, forking off branch `base` at
    /// level `from − 1`.
    #[expect(
        clippy::arithmetic_side_effects,
        reason = "test chains start above level 0"
    )]
    fn branch(map: &mut HashMap<BlockHash, ChainBlock>, base: &str, tag: &str, from: i32, to: i32) {
        for l in from..=to {
            let pred = if l == from {
                h(base, l - 1)
            } else {
                h(tag, l - 1)
            };
            map.insert(
                h(tag, l),
                ChainBlock {
                    hash: h(tag, l),
                    level: lv(l),
                    predecessor: pred,
                },
            );
        }
    }

    fn processed(tag: &str, from: i32, to: i32) -> BTreeMap<Level, BlockHash> {
        (from..=to).map(|l| (lv(l), h(tag, l))).collect()
    }

    #[test]
    fn catch_up_from_origination() {
        let mut m = HashMap::new();
        branch(&mut m, "a", "a", 0, 10);
        let head = m[&h("a", 10)];
        let u = plan_update(&BTreeMap::new(), lv(5), &head, |x| m.get(x).copied()).unwrap();
        assert_eq!(u.ancestor, None);
        assert_eq!(
            u.to_process.iter().map(|b| b.level).collect::<Vec<_>>(),
            (5..=10).map(lv).collect::<Vec<_>>()
        );
        assert_eq!(u.kind, UpdateKind::Extend);
    }

    #[test]
    fn extend_by_one_and_nothing_and_behind() {
        let mut m = HashMap::new();
        branch(&mut m, "a", "a", 0, 10);
        let p = processed("a", 5, 9);
        let u = plan_update(&p, lv(5), &m[&h("a", 10)], |x| m.get(x).copied()).unwrap();
        assert_eq!(u.ancestor, Some((lv(9), h("a", 9))));
        assert_eq!(u.to_process, vec![m[&h("a", 10)]]);
        assert_eq!(u.kind, UpdateKind::Extend);
        let u = plan_update(&p, lv(5), &m[&h("a", 9)], |_| None).unwrap();
        assert_eq!(u.kind, UpdateKind::Nothing);
        let u = plan_update(&p, lv(5), &m[&h("a", 7)], |_| None).unwrap();
        assert_eq!(u.kind, UpdateKind::Behind);
        assert!(u.to_process.is_empty() && u.abandoned.is_empty());
    }

    #[test]
    fn reorg_to_other_branch() {
        let mut m = HashMap::new();
        branch(&mut m, "a", "a", 0, 10);
        branch(&mut m, "a", "b", 8, 11);
        let p = processed("a", 5, 10);
        let u = plan_update(&p, lv(5), &m[&h("b", 11)], |x| m.get(x).copied()).unwrap();
        assert_eq!(u.ancestor, Some((lv(7), h("a", 7))));
        assert_eq!(
            u.to_process.iter().map(|b| b.hash).collect::<Vec<_>>(),
            vec![h("b", 8), h("b", 9), h("b", 10), h("b", 11)]
        );
        assert_eq!(
            u.abandoned,
            vec![(lv(8), h("a", 8)), (lv(9), h("a", 9)), (lv(10), h("a", 10))]
        );
        assert_eq!(u.kind, UpdateKind::Reorg);
    }

    #[test]
    fn same_level_reproposal_and_shorter_branch() {
        let mut m = HashMap::new();
        branch(&mut m, "a", "a", 0, 10);
        branch(&mut m, "a", "b", 10, 10);
        let p = processed("a", 5, 10);
        let u = plan_update(&p, lv(5), &m[&h("b", 10)], |x| m.get(x).copied()).unwrap();
        assert_eq!(u.to_process, vec![m[&h("b", 10)]]);
        assert_eq!(u.abandoned, vec![(lv(10), h("a", 10))]);
        branch(&mut m, "a", "c", 9, 9);
        let u = plan_update(&p, lv(5), &m[&h("c", 9)], |x| m.get(x).copied()).unwrap();
        assert_eq!(u.abandoned, vec![(lv(9), h("a", 9)), (lv(10), h("a", 10))]);
        assert_eq!(u.kind, UpdateKind::Reorg);
    }

    #[test]
    fn reorg_below_everything_processed() {
        let mut m = HashMap::new();
        branch(&mut m, "a", "a", 0, 10);
        branch(&mut m, "a", "b", 5, 10);
        let p = processed("a", 5, 10);
        let u = plan_update(&p, lv(5), &m[&h("b", 10)], |x| m.get(x).copied()).unwrap();
        assert_eq!(u.ancestor, None);
        assert_eq!(u.to_process.len(), 6);
        assert_eq!(u.abandoned.len(), 6);
    }

    #[test]
    fn missing_and_inconsistent_ancestry() {
        let mut m = HashMap::new();
        branch(&mut m, "a", "a", 0, 10);
        m.remove(&h("a", 8));
        let p = processed("a", 5, 6);
        let e = plan_update(&p, lv(5), &m[&h("a", 10)], |x| m.get(x).copied()).unwrap_err();
        assert_eq!(
            e,
            ReorgError::MissingBlock {
                hash: h("a", 8),
                level: lv(8)
            }
        );
        m.insert(
            h("a", 8),
            ChainBlock {
                hash: h("a", 8),
                level: lv(3),
                predecessor: h("a", 7),
            },
        );
        let e = plan_update(&p, lv(5), &m[&h("a", 10)], |x| m.get(x).copied()).unwrap_err();
        assert!(matches!(e, ReorgError::InconsistentLevel { found, .. } if found == lv(3)));
    }

    #[test]
    fn head_below_first_level() {
        let mut m = HashMap::new();
        branch(&mut m, "a", "a", 0, 3);
        let u = plan_update(&BTreeMap::new(), lv(5), &m[&h("a", 3)], |_| None).unwrap();
        assert!(u.to_process.is_empty());
        assert_eq!(u.kind, UpdateKind::Nothing);
    }

    #[test]
    fn fetch_length() {
        assert_eq!(ancestry_fetch_length(lv(10), Some(lv(9)), lv(5)), 2);
        assert_eq!(ancestry_fetch_length(lv(10), None, lv(5)), 7);
        assert_eq!(ancestry_fetch_length(lv(10), Some(lv(20)), lv(5)), 2);
        assert_eq!(ancestry_fetch_length(Level::MAX, None, Level::ZERO), 65_536);
    }
}
