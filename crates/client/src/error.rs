//! Client errors. Each says what went wrong and what to do next.

use crate::rpc::RpcError;
use crate::tez::AmountError;
use crate::wallet::WalletError;

/// Any failure of a client command.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The command line does not match a known command.
    #[error("{0}")]
    Usage(String),
    /// Wallet files.
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// Node RPCs.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A bad tez amount.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// A bad key or URI.
    #[error("{0}")]
    Key(String),
    /// A wallet key that cannot sign (unknown, encrypted without `-f`, bad URI), from the
    /// shared resolution ([`signer::keys`]).
    #[error(transparent)]
    SigningKey(#[from] signer::KeyError),
    /// A bad argument value (messages, kernel, Michelson, numbers).
    #[error("{0}")]
    BadArgument(String),
    /// A file could not be read.
    #[error("cannot read {path}: {msg}")]
    File {
        /// The file named on the command line.
        path: String,
        /// The operating system's error.
        msg: String,
    },
    /// The node rejected the operation (simulation, preapply or injection).
    #[error("The node rejected the operation during {phase}:\n{errors}")]
    Rejected {
        /// `simulation`, `preapply` or `injection`.
        phase: &'static str,
        /// Error lines.
        errors: String,
    },
    /// The operation failed when applied (simulation or block).
    #[error("{phase}: the operation failed:\n{errors}")]
    Failed {
        /// Where (`simulation`, `operation ooX… in block B…`).
        phase: String,
        /// Error lines.
        errors: String,
    },
    /// `rpc get`: the node answered with errors (Octez prints them after `Command failed:`).
    #[error("Command failed:\n{0}")]
    CommandFailed(String),
    /// The burn exceeds `--burn-cap`.
    #[error(
        "The operation will burn ꜩ{burn} which is higher than the configured burn cap (ꜩ{cap}).\n  Use `--burn-cap {burn}` to emit this operation."
    )]
    BurnCap {
        /// Burn (tez text).
        burn: String,
        /// Cap (tez text).
        cap: String,
    },
    /// A remote signer failed or refused (docs/reference/l1-and-signer.md §5.7).
    #[error("cannot sign with the key of {name}: {source}")]
    RemoteSigner {
        /// Alias or address.
        name: String,
        /// The signer's failure.
        #[source]
        source: signer::SignerError,
    },
    /// `check that bytes … were signed by …`: the signature does not match.
    #[error("invalid signature")]
    InvalidSignature,
    /// Inclusion was not observed in time.
    #[error(
        "operation {hash} was injected but not seen in a block after {seconds} s; check later \
         with the node (it may still be in the mempool)"
    )]
    NotIncluded {
        /// Operation hash.
        hash: String,
        /// How long we waited.
        seconds: u64,
    },
}
