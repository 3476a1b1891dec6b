//! Tezos L1 RPC client and head monitor for the smart rollup node (the I/O shell around the
//! pure `inbox` crate).
//!
//! Reference: l1-and-signer.md §1.1 (transport, timeouts, retries), §1.2 (head monitoring),
//! §1.3–§1.5 (block, chain, constants and smart rollup RPCs); octez-rollup-node.md §5.1.
//!
//! * [`L1Client`]: one method per RPC, JSON media type, `l1_rpc_timeout` per attempt, retries
//!   with randomized exponential backoff on operational errors ([`L1Error::is_retryable`]).
//! * [`HeadMonitor`]: `/monitor/heads/<chain>` as a newline-delimited JSON stream, reconnecting
//!   with backoff when the stream closes or stalls, with a [`MonitorStatus`] for `/health`.
//!
//! HTTP or HTTPS (rustls, roots from the system store or `SSL_CERT_FILE` / `SSL_CERT_DIR`, via
//! the shared `http-client` crate), the endpoint's base path kept, system proxies ignored.

mod backoff;
mod client;
mod config;
mod error;
mod monitor;
mod ndjson;
mod types;

pub use backoff::{backoff_delay, stall_timeout};
pub use client::L1Client;
pub use config::L1Config;
pub use error::{L1Error, RpcErrorItem};
pub use monitor::{Connection, HeadMonitor, MonitorStatus};
pub use ndjson::NdJsonSplitter;
pub use types::{
    BlockProtocols, Constants, DalParametric, GenesisInfo, HashWithLevel, ProtocolActivation,
    ResultStatus, SimulatedContent, Simulation, StakedCommitment,
};
