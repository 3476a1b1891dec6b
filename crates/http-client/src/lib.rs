//! The one way to build an outgoing HTTP(S) client in this workspace (issue 18, "https
//! everywhere"): L1 RPC and head monitor (`l1-client`), pre-images endpoint (`preimages`), the
//! client's `-E` endpoint (`client`), and the test and bench harnesses.
//!
//! * [`Endpoint`]: a validated base URL (`http` or `https`, a host, no query), keeping its
//!   base path: `https://host/mainnet` joined with `/chains/main/chain_id` is
//!   `https://host/mainnet/chains/main/chain_id`. Errors name the option and the value.
//! * [`tls_config`]: one rustls client configuration per process (ring provider), trusting
//!   the system store, or the PEM bundle `SSL_CERT_FILE` / the directories `SSL_CERT_DIR` when
//!   set (so a private CA works), the same rule as OpenSSL and curl.
//! * [`async_client_builder`] (reqwest) and [`blocking_agent_config`] (ureq): builders with
//!   that TLS configuration and without proxies, to which callers add their timeouts.
//! * [`tls_rejection`] / [`ureq_tls_rejection`]: whether a failure is a TLS configuration
//!   error (certificate rejected, unknown issuer, no common protocol), which retrying cannot
//!   fix, as opposed to a transport failure (refused, reset, timeout).
//!
//! Reference: docs/reference/l1-and-signer.md §1.1 (L1 transport), docs/reference/octez-rollup-node.md
//! (`--endpoint`, `--pre-images-endpoint`).

mod classify;
mod endpoint;
mod tls;

pub use classify::{TLS_HINT, TlsRejected, error_chain, tls_rejection, ureq_tls_rejection};
pub use endpoint::{Endpoint, EndpointError};
pub use tls::{
    TlsError, async_client_builder, blocking_agent_config, blocking_agent_config_with_roots,
    tls_config,
};

/// The rustls version the clients use (its error type appears in [`tls_rejection`]).
pub use rustls;
