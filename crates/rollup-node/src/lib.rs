//! Smart rollup node shell (octez-rollup-node.md §1–§5, §8): the Octez CLI grammar
//! ([`cli`]), `config.json` ([`config`], printed by [`json_pp`]), the SQLite store
//! ([`store`]), the RPC server ([`rpc`]) and the daemon wiring ([`daemon`]). The L1 follower
//! ([`main_loop`], [`follower`] over the `l1-client` crate) runs the PVM and commits states to the
//! [`context`]; the RPC server reads them through [`rpc::NodeView`].

pub mod cli;
pub mod config;
pub mod context;
pub mod daemon;
pub mod follower;
pub mod gc;
pub mod json_pp;
pub mod main_loop;
pub mod rpc;
pub mod store;

/// Version string reported by `GET /version` and `--version`.
pub const VERSION: &str = concat!("rust-smart-rollup-node ", env!("CARGO_PKG_VERSION"));
