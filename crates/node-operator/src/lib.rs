//! The operator side of the smart rollup node (docs/reference/octez-rollup-node.md §1.4, §3,
//! §6.2, §9): the operator keys from the client wallet, the startup checks of Octez's daemon
//! (stake, private-rollup whitelist, bailout staker), and after each L1 head the decisions of
//! the [`publisher`] crate turned into operations for the injector, and the refutation games of
//! the operating key ([`refutation`]).
//!
//! Runs on the follower thread through [`node_follower::main_loop::Operator`]; L1 calls go
//! through the follower's client.

pub mod dal;
pub mod keys;
pub mod operator;
pub mod outbox;
pub mod refutation;
pub mod sink;
pub mod startup;
pub mod store;
