//! Loser mode (`--loser-mode`, Octez `src/lib_smart_rollup_node/loser_mode.ml`): a node that
//! deliberately computes a wrong PVM state at given ticks, to test the refutation game
//! (`docs/reference/octez-rollup-node.md` §6.4). Never for production.
//!
//! A failure `<level> <message index> <message tick>` corrupts the evaluation of message
//! `message index` of inbox level `level`:
//! * tick 0: the message is replaced by [`MUTATED_PAYLOAD`] before the PVM reads it (Octez
//!   `mutate`);
//! * tick `t ≥ 1`: the failure marker `failures/<n>` (an empty value at the root of the state
//!   tree, Octez `Internal_for_tests.insert_failure`) is added to the state `t` ticks after the
//!   message's input tick started, or when the PVM next waits for input if that comes first.
//!   The marker is outside the durable storage: the kernel never sees it, the state hash does.

use durable_tree::{Tree, TreeError};

/// The payload a tick-0 failure substitutes (Octez `Fueled_pvm.mutate`): an external message.
pub const MUTATED_PAYLOAD: &[u8] = b"\x01to the cheater we promise pain and misery";

/// The root directory of failure markers.
pub const FAILURES_DIR: &str = "failures";

/// One planned failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Failure {
    /// Inbox level.
    pub level: u32,
    /// Index of the message in the level.
    pub message_index: u64,
    /// Ticks after the start of the message's input tick.
    pub message_tick: u64,
}

/// The failures of a loser-mode node, sorted (empty for an honest node).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoserMode {
    failures: Vec<Failure>,
}

/// A `--loser-mode` string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid loser mode {0:?}: expected \"<level> <message index> <message tick> …\" \
     (groups of three non-negative integers)"
)]
pub struct LoserModeError(pub String);

impl LoserMode {
    /// An honest node.
    pub fn honest() -> Self {
        Self::default()
    }

    /// `Loser_mode.make`: space-separated triples `level message_index message_tick`; the empty
    /// string is an honest node. The DAL variants (`reveal_dal_parameters …`,
    /// `reveal_dal_page …`) are refused as unsupported.
    pub fn parse(s: &str) -> Result<Self, LoserModeError> {
        let err = || LoserModeError(s.to_owned());
        let tokens: Vec<&str> = s.split(' ').filter(|t| !t.is_empty()).collect();
        if tokens.first().is_some_and(|t| t.starts_with("reveal_dal")) {
            return Err(LoserModeError(format!(
                "{s} (the DAL loser modes are not supported)"
            )));
        }
        if !tokens.len().is_multiple_of(3) {
            return Err(err());
        }
        let failures = tokens
            .chunks_exact(3)
            .map(|c| {
                Ok((
                    c[0].parse().map_err(|_| err())?,
                    c[1].parse().map_err(|_| err())?,
                    c[2].parse().map_err(|_| err())?,
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from_failures(failures))
    }

    /// The failures given as `(level, message index, message tick)` (the `config.json` form).
    pub fn from_failures(failures: impl IntoIterator<Item = (u32, u64, u64)>) -> Self {
        let mut failures: Vec<Failure> = failures
            .into_iter()
            .map(|(level, message_index, message_tick)| Failure {
                level,
                message_index,
                message_tick,
            })
            .collect();
        failures.sort();
        Self { failures }
    }

    /// Whether no failure is planned.
    pub fn is_honest(&self) -> bool {
        self.failures.is_empty()
    }

    /// The planned failures, sorted.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// The message ticks of the failures of message `index` of `level`, ascending
    /// (`Loser_mode.is_failure`).
    pub fn failing_ticks(&self, level: u32, index: u64) -> impl Iterator<Item = u64> + '_ {
        self.failures
            .iter()
            .filter(move |f| f.level == level && f.message_index == index)
            .map(|f| f.message_tick)
    }
}

/// The number of failure markers in a state tree.
pub fn failure_count(root: &Tree) -> Result<u32, TreeError> {
    let n = root.list(&[FAILURES_DIR])?.len();
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Makes the failure markers of `root` exactly `failures/0 … failures/<n-1>` (each an empty
/// value, as `insert_failure` adds them one by one).
pub fn set_failures(root: &mut Tree, n: u32) -> Result<(), TreeError> {
    root.remove(&[FAILURES_DIR])?;
    for i in 0..n {
        root.set_contents(&[FAILURES_DIR, &i.to_string()], Vec::new())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_triples_and_refuses_the_rest() {
        let m = LoserMode::parse("5 2 100  3 0 0").unwrap();
        assert_eq!(
            m.failures(),
            &[
                Failure {
                    level: 3,
                    message_index: 0,
                    message_tick: 0
                },
                Failure {
                    level: 5,
                    message_index: 2,
                    message_tick: 100
                }
            ]
        );
        assert_eq!(m.failing_ticks(5, 2).collect::<Vec<_>>(), vec![100]);
        assert!(LoserMode::parse("").unwrap().is_honest());
        for bad in ["1 2", "1 2 x", "-1 0 0", "reveal_dal_page strategy:flip"] {
            assert!(LoserMode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn failure_markers_change_the_hash_and_count_back() {
        let mut t = Tree::empty();
        t.set_contents(&["wasm", "tag"], b"x".to_vec()).unwrap();
        let honest = t.hash().unwrap();
        set_failures(&mut t, 2).unwrap();
        assert_eq!(failure_count(&t).unwrap(), 2);
        assert_ne!(t.hash().unwrap(), honest);
        set_failures(&mut t, 0).unwrap();
        assert_eq!(t.hash().unwrap(), honest);
    }
}
