//! What an applied rollup operation of an L1 block means for the node (Octez
//! `daemon_helpers.ml` `process_included_l1_operation`, `check_other_commitment`;
//! docs/reference/octez-rollup-node.md §3, §6.2). Applied while processing each block, during
//! catch-up too.

use tezos_types::{Commitment, CommitmentHash, Level, PublicKeyHash};

/// The node's own commitment at an inbox level disagrees with the one cemented on L1 (Octez
/// `Disagree_with_cemented`): fatal, the node's state cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Disagree with cemented commitment: our commitment for inbox level {inbox_level} is {}, \
     but commitment {on_l1} is cemented on L1. This node computed a different state than the \
     one cemented: check the kernel, the pre-images and the L1 node, then restart from a \
     snapshot or a fresh data directory.",
    ours.map_or_else(|| "[None]".to_owned(), |h| h.to_string())
)]
pub struct DisagreeWithCemented {
    /// Inbox level of the cemented commitment.
    pub inbox_level: Level,
    /// Our commitment at that level, if any.
    pub ours: Option<CommitmentHash>,
    /// The cemented commitment.
    pub on_l1: CommitmentHash,
}

/// A cementation seen on L1 must be of our commitment for that level.
///
/// # Errors
/// [`DisagreeWithCemented`] when ours differs (or is missing).
pub fn check_cemented(
    inbox_level: Level,
    ours: Option<CommitmentHash>,
    on_l1: CommitmentHash,
) -> Result<(), DisagreeWithCemented> {
    if ours == Some(on_l1) {
        Ok(())
    } else {
        Err(DisagreeWithCemented {
            inbox_level,
            ours,
            on_l1,
        })
    }
}

/// A commitment of another staker this node can refute: same inbox level and predecessor as
/// ours, different hash (Octez `is_refutable_commitment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Inbox level of both commitments.
    pub inbox_level: Level,
    /// Our commitment.
    pub ours: (CommitmentHash, Commitment),
    /// Theirs.
    pub theirs: CommitmentHash,
    /// The staker who published theirs.
    pub other: PublicKeyHash,
}

/// Whether `theirs`, published by `other`, conflicts with `ours` (our commitment at the same
/// inbox level, if the node computed one).
pub fn conflict(
    ours: Option<(CommitmentHash, Commitment)>,
    theirs_hash: CommitmentHash,
    theirs: &Commitment,
    other: PublicKeyHash,
) -> Option<Conflict> {
    let (our_hash, our) = ours?;
    (our_hash != theirs_hash && our.predecessor == theirs.predecessor).then_some(Conflict {
        inbox_level: theirs.inbox_level,
        ours: (our_hash, our),
        theirs: theirs_hash,
        other,
    })
}

/// What the node does about a conflict, by role (Octez `check_other_commitment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictAction {
    /// Accuser: publish our commitment for that level (the refutation game follows).
    PublishOurs,
    /// A publishing node (maintenance, operator, bailout, custom with publish): it publishes
    /// its own commitments anyway; report the conflict.
    Report,
    /// Observer with `--bail-on-disagree`: stop (`Disagree_with_commitment`).
    Stop,
}

/// The action for a conflict given the node's role.
pub fn conflict_action(accuser: bool, publishes: bool, bail_on_disagree: bool) -> ConflictAction {
    if accuser {
        ConflictAction::PublishOurs
    } else if publishes || !bail_on_disagree {
        ConflictAction::Report
    } else {
        ConflictAction::Stop
    }
}

/// Bailout ends when the operator's own `recover` is included (Octez
/// `Exit_bond_recovered_bailout_mode`, event `smart_rollup_node_daemon_exit_bailout_mode`).
pub fn bailout_done(
    bailout: bool,
    operator: Option<&PublicKeyHash>,
    recovered: &PublicKeyHash,
) -> bool {
    bailout && operator == Some(recovered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tezos_types::StateHash;

    fn c(level: i32, pred: u8, state: u8) -> Commitment {
        Commitment {
            compressed_state: StateHash([state; 32]),
            inbox_level: Level::new(level).unwrap(),
            predecessor: CommitmentHash([pred; 32]),
            number_of_ticks: 1,
        }
    }

    #[test]
    fn cementation_of_another_commitment_is_fatal() {
        let a = c(5, 0, 1).hash();
        let b = c(5, 0, 2).hash();
        let l5 = Level::new(5).unwrap();
        assert!(check_cemented(l5, Some(a), a).is_ok());
        let e = check_cemented(l5, Some(a), b).unwrap_err();
        assert!(e.to_string().contains("inbox level 5"), "{e}");
        let e = check_cemented(l5, None, b).unwrap_err();
        assert!(e.to_string().contains("[None]"), "{e}");
    }

    #[test]
    fn conflicts_need_the_same_predecessor() {
        let other = PublicKeyHash::Ed25519([7; 20]);
        let ours = c(5, 0, 1);
        let theirs = c(5, 0, 2);
        let found = conflict(Some((ours.hash(), ours)), theirs.hash(), &theirs, other).unwrap();
        assert_eq!(found.theirs, theirs.hash());
        assert_eq!(found.inbox_level, Level::new(5).unwrap());
        // Same commitment: no conflict.
        assert!(conflict(Some((ours.hash(), ours)), ours.hash(), &ours, other).is_none());
        // Another predecessor: a different branch, not refutable here.
        let other_branch = c(5, 9, 2);
        assert!(
            conflict(
                Some((ours.hash(), ours)),
                other_branch.hash(),
                &other_branch,
                other
            )
            .is_none()
        );
        // Nothing computed at that level.
        assert!(conflict(None, theirs.hash(), &theirs, other).is_none());
    }

    #[test]
    fn roles() {
        assert_eq!(
            conflict_action(true, false, true),
            ConflictAction::PublishOurs
        );
        assert_eq!(conflict_action(false, true, true), ConflictAction::Report);
        assert_eq!(conflict_action(false, false, false), ConflictAction::Report);
        assert_eq!(conflict_action(false, false, true), ConflictAction::Stop);
        let op = PublicKeyHash::Ed25519([1; 20]);
        let other = PublicKeyHash::Ed25519([2; 20]);
        assert!(bailout_done(true, Some(&op), &op));
        assert!(!bailout_done(true, Some(&op), &other));
        assert!(!bailout_done(false, Some(&op), &op));
    }
}
