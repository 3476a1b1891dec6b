//! `smart-rollup-signer`: a remote signer compatible with `octez-signer`, and its client side.
//!
//! * [`wallet`]: the Octez wallet files of a base directory (shared by the client, the node and
//!   the signer), and the default base directories.
//! * [`grammar`]: the Octez command-line grammar (words, parameters, options) of the client, the
//!   node and the signer.
//! * [`protocol`]: the binary protocol of the socket transports (docs/reference/l1-and-signer.md
//!   §5.2), with [`bson`] for its error traces.
//! * [`handler`]: authentication (§5.4), magic bytes (§5.5), high watermark ([`hwm`], §5.6).
//! * [`server`]: TCP, Unix, HTTP and HTTPS servers (§5.1–§5.3).
//! * [`remote`]: the [`remote::Signer`] trait, local and remote signers, key URIs and
//!   `-R/--remote-signer` (§5.7).
//! * [`keys`]: the one resolution of a wallet key into a [`keys::SigningKey`], shared by the
//!   client and the node (`unencrypted:`, `encrypted:` with `-f`, remote keys with `-R`).

pub mod bson;
pub mod encrypted;
pub mod grammar;
pub mod handler;
pub mod hwm;
pub mod keys;
pub mod protocol;
pub mod remote;
pub mod server;
pub mod wallet;

pub use keys::{KeyError, KeyOptions, SigningKey, signing_key};
pub use remote::{LocalSigner, RemoteSigner, Signer, SignerError};
