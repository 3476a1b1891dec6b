//! Errors of the L1 client (l1-and-signer.md §1.1).
//!
//! Operational errors (connection, timeout, 5xx without an Octez error trace) are retried and
//! then returned; answers of the L1 node (HTTP 4xx, Octez error traces, undecodable JSON) are
//! returned at once. Configuration errors (an endpoint that is not an http(s) URL, unusable
//! `SSL_CERT_FILE`, a certificate the client rejects) are returned at once and are fatal
//! ([`L1Error::is_fatal_config`]): retrying cannot fix them (issue 18 §2).

use std::time::Duration;

/// One element of an Octez RPC error trace (`[{"kind":"permanent","id":"proto.…"}]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RpcErrorItem {
    /// `permanent`, `temporary`, `branch`…
    #[serde(default)]
    pub kind: String,
    /// Error id, e.g. `proto.025-PsUshuai.smart_rollup_not_staked`.
    pub id: String,
}

/// Errors of an L1 RPC.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// The endpoint is not a valid http(s) URL (the message names the option and the value).
    #[error(transparent)]
    Endpoint(#[from] http_client::EndpointError),
    /// The trusted certificates could not be loaded (`SSL_CERT_FILE`, `SSL_CERT_DIR`).
    #[error("cannot set up TLS for the L1 endpoint: {0}")]
    TlsSetup(#[from] http_client::TlsError),
    /// The TLS handshake failed for a configuration reason (certificate rejected, unknown
    /// issuer, no common protocol).
    #[error("the L1 node: {0}")]
    Tls(#[from] http_client::TlsRejected),
    /// The URL could not be built or the HTTP client could not be created.
    #[error("invalid L1 endpoint or request {url}: {message}")]
    Setup {
        /// URL.
        url: String,
        /// Details.
        message: String,
    },
    /// The L1 node could not be reached, or the connection broke.
    #[error("cannot reach the L1 node for {url}: {message}")]
    Connection {
        /// URL.
        url: String,
        /// Details.
        message: String,
    },
    /// No complete answer within the RPC timeout.
    #[error("L1 RPC {url} timed out after {timeout:?}")]
    Timeout {
        /// URL.
        url: String,
        /// Timeout.
        timeout: Duration,
    },
    /// The node answered with an Octez error trace.
    #[error("L1 RPC {url} failed with HTTP {status}: {}", ids(.errors))]
    Rpc {
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The error trace.
        errors: Vec<RpcErrorItem>,
    },
    /// Any other non-success HTTP status.
    #[error("L1 RPC {url} returned HTTP {status}: {snippet}")]
    Http {
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        snippet: String,
    },
    /// The body is not the expected JSON.
    #[error("cannot decode the answer of L1 RPC {url} at {path}: {message}; body: {snippet}")]
    Decode {
        /// URL.
        url: String,
        /// JSON path of the offending value (`.` for the root).
        path: String,
        /// Details.
        message: String,
        /// Start of the body.
        snippet: String,
    },
    /// A block could not be read (e.g. receipts pruned by the L1 node).
    #[error("cannot read L1 block from {url}: {source}")]
    Block {
        /// URL.
        url: String,
        /// Cause.
        #[source]
        source: inbox::BlockError,
    },
}

fn ids(errors: &[RpcErrorItem]) -> String {
    errors
        .iter()
        .map(|e| e.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl L1Error {
    /// Whether retrying may help: connection errors, timeouts, 5xx answers that are not an
    /// Octez error trace (proxies, node restarting), and 408/429 (a public endpoint's time-out or
    /// rate limit).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connection { .. } | Self::Timeout { .. } => true,
            Self::Http { status, .. } => *status >= 500 || matches!(*status, 408 | 429),
            Self::Endpoint(_)
            | Self::TlsSetup(_)
            | Self::Tls(_)
            | Self::Setup { .. }
            | Self::Rpc { .. }
            | Self::Decode { .. }
            | Self::Block { .. } => false,
        }
    }

    /// Whether this is a configuration error: the node must stop with this message instead of
    /// retrying (bad endpoint, unusable trusted certificates, certificate rejected).
    pub fn is_fatal_config(&self) -> bool {
        matches!(
            self,
            Self::Endpoint(_) | Self::TlsSetup(_) | Self::Tls(_) | Self::Setup { .. }
        )
    }

    /// Whether this is an Octez error trace containing an error whose id ends with `suffix`
    /// (e.g. `smart_rollup_not_staked`).
    pub fn has_rpc_error(&self, suffix: &str) -> bool {
        matches!(self, Self::Rpc { errors, .. } if errors.iter().any(|e| e.id.ends_with(suffix)))
    }

    /// HTTP status of an answered request.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Rpc { status, .. } | Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// First 300 characters of a body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let mut out: String = s.chars().take(300).collect();
    if s.chars().nth(300).is_some() {
        out.push('…');
    }
    out
}
