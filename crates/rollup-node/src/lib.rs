//! Smart rollup node binary shell (octez-rollup-node.md §1–§3, §8): the Octez CLI grammar
//! ([`cli`]) and the daemon wiring ([`daemon`]) that opens the store (`node-store`) and the
//! context (`pvm-store`), starts the L1 follower (`node-follower`) and the RPC and metrics
//! servers (`node-rpc`) over the shared state of `node-context`, and joins them on shutdown.
//! The configuration is `node-config`.

pub mod cli;
pub mod daemon;
pub mod durable_cmd;
pub mod offline;
pub mod recompute;
pub mod replay;
pub mod simulation;
pub mod snapshot_cmd;
