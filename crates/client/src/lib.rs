//! `smart-rollup-client`: the `octez-client` commands a smart rollup workflow needs.
//!
//! * [`cli`]: Octez-style command grammar (`transfer <amount> from <src> to <dst>`).
//! * [`wallet`]: the Octez wallet files of `--base-dir` (the `signer` crate's, shared with
//!   `smart-rollup-node` and `smart-rollup-signer`).
//! * [`inject`]: counter/branch, auto-reveal, simulation, fees, burn cap, signing,
//!   preapply, injection and waiting for inclusion.
//! * [`json`]: JSON laid out as octez-client prints RPC answers (`rpc get`).
//! * [`receipt`]: Octez-style receipts; [`rpc`]: blocking JSON RPC client; [`tez`]: amounts.

pub mod cli;
pub mod commands;
pub mod error;
pub mod inject;
pub mod json;
pub mod receipt;
pub mod rpc;
pub mod tez;
pub use signer::wallet;

pub use error::ClientError;
