//! Client settings (l1-and-signer.md §1.1, §1.2; Octez `configuration.ml`, `layer_1.ml`).

use std::time::Duration;

/// Settings of the L1 client and head monitor. [`Default`] gives Octez's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Config {
    /// Base URL of the L1 node RPC server, e.g. `http://localhost:8732` or
    /// `https://host/mainnet` (the path is kept as a prefix of every RPC).
    pub endpoint: String,
    /// The option that gave [`Self::endpoint`], named in configuration errors (`--endpoint`).
    pub endpoint_option: &'static str,
    /// Timeout of one RPC attempt (`l1_rpc_timeout`, 60 s); also the connect timeout of the
    /// heads stream.
    pub rpc_timeout: Duration,
    /// Base delay of the backoff (`reconnection_delay`, 2 s).
    pub reconnection_delay: Duration,
    /// Cap of the (pre-randomisation) backoff delay for RPCs (30 s).
    pub rpc_max_delay: Duration,
    /// Cap of the (pre-randomisation) backoff delay for the heads stream (3600 s).
    pub stream_max_delay: Duration,
    /// Attempts per RPC before the last operational error is returned (≥ 1).
    pub rpc_max_attempts: u32,
    /// Stall timeout of the heads stream before any inter-arrival time is known (300 s).
    pub stream_initial_timeout: Duration,
    /// The stall timeout is this many times the last inter-arrival time of heads (10)…
    pub stream_timeout_factor: u32,
    /// …but never below this (10 s).
    pub stream_min_timeout: Duration,
    /// Deliver the last seen head again after a reconnection (§1.2).
    pub replay_last_head: bool,
}

impl Default for L1Config {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:8732".to_owned(),
            endpoint_option: "--endpoint",
            rpc_timeout: Duration::from_secs(60),
            reconnection_delay: Duration::from_secs(2),
            rpc_max_delay: Duration::from_secs(30),
            stream_max_delay: Duration::from_secs(3600),
            rpc_max_attempts: 5,
            stream_initial_timeout: Duration::from_secs(300),
            stream_timeout_factor: 10,
            stream_min_timeout: Duration::from_secs(10),
            replay_last_head: true,
        }
    }
}

impl L1Config {
    /// Default settings for `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            ..Self::default()
        }
    }
}
