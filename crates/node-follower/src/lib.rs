//! The L1 follower of the smart rollup node (octez-rollup-node.md §3 common startup, §5.2
//! main loop, §5.4 GC): [`main_loop`] follows the L1 heads, [`follower`] processes each level
//! (inbox, PVM, commitments, one store transaction), and [`gc`] runs the garbage collection
//! the store's policy (`node_store::gc`) calls for. It reads and writes the shared state of
//! `node-context`, the store (`node-store`) and the context (`pvm-store`), never the RPC
//! server.

pub mod dal;
pub mod dal_node;
pub mod follower;
pub mod gc;
pub mod main_loop;

pub use follower::FollowError;
pub use main_loop::{LoopConfig, run};
