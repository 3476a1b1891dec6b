//! The part of Octez's DAL cryptobox (`src/lib_crypto_dal/cryptobox.ml`) that a sandbox DAL
//! node and the refutation game need: parameters and their derived sizes
//! ([`Parameters`]), an insecure SRS from a known secret matching Octez's test mode
//! ([`Setup`]), slot polynomials, KZG commitments (48-byte compressed G1, the protocol's
//! `sh1…`), commitment (degree) proofs (96-byte compressed G2), page proofs and their
//! verification ([`Prover`], [`Verifier`]). Shards are not implemented.
//!
//! Pure: no I/O, no clock. Group and field arithmetic come from `blst`, the library Octez's
//! `Bls12_381` binds, so the compressed encodings are the same.

mod bls;
mod cryptobox;
mod fft;
mod parameters;
mod srs;

pub use cryptobox::{
    COMMITMENT_PROOF_SIZE, COMMITMENT_SIZE, PAGE_PROOF_SIZE, Polynomial, Prover, Verifier,
};
pub use parameters::{Parameters, SCALAR_BYTES, select_fft_domain};
pub use srs::{MOCK_SRS_SECRET, OCTEZ_TEST_SRS_SIZE, Setup};

/// Why a cryptobox operation failed. Every variant is deterministic: a given input always
/// gives the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Parameters Octez refuses (message as Octez's `parameters_check.ml`).
    #[error("invalid DAL parameters: {0}")]
    InvalidParameters(String),
    /// Parameters Octez accepts but this crate does not (non-power-of-two domains).
    #[error("unsupported DAL parameters: {0}")]
    Unsupported(String),
    /// `Slot_wrong_size`: a slot must be exactly `slot_size` bytes.
    #[error("slot wrong size: message must be {expected} bytes long, got {got}")]
    SlotWrongSize {
        /// `slot_size`.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// `Page_index_out_of_range`.
    #[error("page index {index} out of range: a slot has {pages} pages")]
    PageIndexOutOfRange {
        /// Given index.
        index: usize,
        /// `pages_per_slot`.
        pages: usize,
    },
    /// `Page_length_mismatch`: a page must be exactly `page_size` bytes.
    #[error("page length mismatch: expected {expected} bytes, got {got}")]
    PageLengthMismatch {
        /// `page_size`.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// The bytes are not the compressed encoding of a point of the group (G1 for commitments
    /// and page proofs, G2 for commitment proofs); Octez refuses them when decoding.
    #[error("invalid {0}: not a compressed point of the BLS12-381 subgroup")]
    InvalidPoint(&'static str),
    /// `Invalid_page`: the pairing check of the page proof fails.
    #[error("invalid page: the proof does not open the commitment to this page")]
    InvalidPage,
    /// The degree proof does not verify (`verify_commitment` is false).
    #[error("invalid commitment proof")]
    InvalidCommitmentProof,
}
