//! What the signer does with a request, whatever the transport (Octez `src/bin_signer/handler.ml`;
//! docs/reference/l1-and-signer.md §5.4–§5.6): authentication, magic bytes, high watermark,
//! signing, public keys, deterministic nonces. Every request and its verdict is logged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tezos_types::{PublicKey, PublicKeyHash, SecretKey, Signature};

use crate::hwm::{HighWatermarks, HwmError, Verdict, mark_of};
use crate::protocol::{Answer, AuthenticatedRequest, Request, authentication_bytes};
use crate::wallet::{Wallet, WalletError};

/// Options of the `launch … signer` commands.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-M/--magic-bytes`: allowed first bytes (`None`: all).
    pub magic_bytes: Option<Vec<u8>>,
    /// `-W/--check-high-watermark`.
    pub check_high_watermark: bool,
    /// `--allow-list-known-keys`.
    pub allow_list_known_keys: bool,
    /// `--allow-to-prove-possession`.
    pub allow_to_prove_possession: bool,
    /// `-A/--require-authentication`.
    pub require_authentication: bool,
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The signer holds no key for this address.
    #[error(
        "no key for {0} in this signer (generate or import it with the signer's wallet commands)"
    )]
    UnknownKey(PublicKeyHash),
    /// `-M`: the first byte is not allowed.
    #[error("magic byte 0x{0:02x} not allowed")]
    MagicByte(u8),
    /// `-M`: empty data.
    #[error("cannot sign empty data: no magic byte")]
    Empty,
    /// `-A` and no signature.
    #[error("missing authentication signature field")]
    MissingAuthentication,
    /// `-A` and a signature no authorized key made.
    #[error("invalid authentication signature")]
    InvalidAuthentication,
    /// `-W`.
    #[error(transparent)]
    HighWatermark(#[from] HwmError),
    /// A request this signer was not launched to answer.
    #[error("request {0} is not allowed by this signer (see its launch options)")]
    NotAllowed(&'static str),
    /// A proof of possession for a non-BLS key.
    #[error("{0} is not a BLS (tz4) key: no proof of possession")]
    NotBls(PublicKeyHash),
}

impl HandlerError {
    /// Whether an HTTP server answers 404 (unknown key) rather than 500.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::UnknownKey(_))
    }
}

/// The keys and rules of a launched signer.
#[derive(Debug)]
pub struct Handler {
    keys: BTreeMap<PublicKeyHash, SecretKey>,
    authorized: Vec<PublicKey>,
    options: Options,
    hwm: HighWatermarks,
    /// Serialises check, signing and record of the high watermark.
    hwm_lock: Mutex<()>,
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

impl Handler {
    /// A handler over the local keys of `wallet` (its `unencrypted:` secret keys and its
    /// `encrypted:` ones, opened with `passwords` once at launch) and, with `-A`, its
    /// `authorized_keys`.
    ///
    /// # Errors
    /// [`WalletError`] when the wallet cannot be read or a key cannot be opened.
    pub fn from_wallet(
        wallet: &Wallet,
        options: Options,
        passwords: &[Vec<u8>],
    ) -> Result<Self, WalletError> {
        let keys = wallet
            .secret_keys_with(passwords)?
            .into_iter()
            .map(|(_, sk)| sk)
            .collect();
        let authorized = wallet
            .authorized_keys()?
            .into_iter()
            .map(|(_, pk)| pk)
            .collect();
        Ok(Self::new(
            keys,
            authorized,
            options,
            wallet.base_dir().to_owned(),
        ))
    }

    /// A handler over explicit keys; marks live in `base_dir`.
    pub fn new(
        keys: Vec<SecretKey>,
        authorized: Vec<PublicKey>,
        options: Options,
        base_dir: PathBuf,
    ) -> Self {
        Self {
            keys: keys.into_iter().map(|k| (k.public_key_hash(), k)).collect(),
            authorized,
            options,
            hwm: HighWatermarks::new(base_dir),
            hwm_lock: Mutex::new(()),
        }
    }

    /// The launch options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The addresses this signer holds.
    pub fn known_keys(&self) -> Vec<PublicKeyHash> {
        self.keys.keys().copied().collect()
    }

    /// `Authorized_keys`: `None` without `-A`.
    pub fn authorized_keys(&self) -> Option<Vec<PublicKeyHash>> {
        self.options
            .require_authentication
            .then(|| self.authorized.iter().map(PublicKey::hash).collect())
    }

    fn key(&self, pkh: &PublicKeyHash) -> Result<&SecretKey, HandlerError> {
        self.keys.get(pkh).ok_or(HandlerError::UnknownKey(*pkh))
    }

    /// `Public_key`.
    ///
    /// # Errors
    /// [`HandlerError::UnknownKey`].
    pub fn public_key(&self, pkh: &PublicKeyHash) -> Result<PublicKey, HandlerError> {
        self.key(pkh).map(SecretKey::public_key)
    }

    fn authenticate(&self, r: &AuthenticatedRequest) -> Result<(), HandlerError> {
        if !self.options.require_authentication {
            return Ok(());
        }
        let sig = r
            .signature
            .as_ref()
            .ok_or(HandlerError::MissingAuthentication)?;
        let bytes = authentication_bytes(&r.pkh, &r.data);
        if self.authorized.iter().any(|pk| {
            let s = sig.with_curve(pk.curve());
            pk.verify_raw(&bytes, &s)
        }) {
            Ok(())
        } else {
            Err(HandlerError::InvalidAuthentication)
        }
    }

    /// `Sign`: authentication, magic byte, high watermark, then the signature of exactly the
    /// data (§5.5).
    ///
    /// # Errors
    /// [`HandlerError`] when refused.
    pub fn sign(&self, r: &AuthenticatedRequest) -> Result<Signature, HandlerError> {
        self.authenticate(r)?;
        let sk = self.key(&r.pkh)?;
        if let Some(allowed) = &self.options.magic_bytes {
            let first = *r.data.first().ok_or(HandlerError::Empty)?;
            if !allowed.contains(&first) {
                return Err(HandlerError::MagicByte(first));
            }
        }
        if !self.options.check_high_watermark {
            return Ok(sk.sign_raw(&r.data));
        }
        let Some(mark) = mark_of(&r.data, &r.pkh)? else {
            return Ok(sk.sign_raw(&r.data));
        };
        let _guard = self.hwm_lock.lock();
        match self.hwm.check(&mark, &r.pkh, &r.data)? {
            Verdict::AlreadySigned(sig) => Ok(sig),
            Verdict::Sign => {
                let sig = sk.sign_raw(&r.data);
                self.hwm.record(&mark, &r.pkh, &r.data, &sig)?;
                Ok(sig)
            }
        }
    }

    /// `Deterministic_nonce`: HMAC-SHA256 of the data keyed by the secret key.
    ///
    /// # Errors
    /// [`HandlerError`] when refused.
    pub fn deterministic_nonce(&self, r: &AuthenticatedRequest) -> Result<Vec<u8>, HandlerError> {
        self.authenticate(r)?;
        let sk = self.key(&r.pkh)?;
        Ok(hmac_sha256(&sk.to_bytes(), &r.data).to_vec())
    }

    /// Answers one request of the binary protocol, logging it and its verdict.
    ///
    /// # Errors
    /// [`HandlerError`] when refused.
    pub fn handle(&self, req: &Request) -> Result<Answer, HandlerError> {
        let r = self.answer(req);
        let key = match req {
            Request::Sign(a)
            | Request::DeterministicNonce(a)
            | Request::DeterministicNonceHash(a) => {
                format!(
                    " for {} ({} bytes, magic 0x{:02x})",
                    a.pkh,
                    a.data.len(),
                    a.data.first().copied().unwrap_or(0)
                )
            }
            Request::PublicKey(p)
            | Request::SupportsDeterministicNonces(p)
            | Request::BlsProvePossession(p, _) => format!(" for {p}"),
            Request::AuthorizedKeys | Request::KnownKeys => String::new(),
        };
        match &r {
            Ok(_) => tracing::info!("request {}{key}: accepted", req.name()),
            Err(e) => tracing::warn!("request {}{key}: refused: {e}", req.name()),
        }
        r
    }

    fn answer(&self, req: &Request) -> Result<Answer, HandlerError> {
        Ok(match req {
            Request::Sign(r) => Answer::Signature(self.sign(r)?),
            Request::PublicKey(p) => Answer::PublicKey(self.public_key(p)?),
            Request::AuthorizedKeys => Answer::AuthorizedKeys(self.authorized_keys()),
            Request::DeterministicNonce(r) => Answer::Bytes(self.deterministic_nonce(r)?),
            Request::DeterministicNonceHash(r) => {
                let n = self.deterministic_nonce(r)?;
                Answer::Bytes(
                    blake2b_simd::Params::new()
                        .hash_length(32)
                        .hash(&n)
                        .as_bytes()
                        .to_vec(),
                )
            }
            Request::SupportsDeterministicNonces(p) => {
                self.key(p)?;
                Answer::Bool(true)
            }
            Request::KnownKeys => {
                if !self.options.allow_list_known_keys {
                    return Err(HandlerError::NotAllowed("known_keys"));
                }
                Answer::KnownKeys(self.known_keys())
            }
            Request::BlsProvePossession(p, _) => {
                if !self.options.allow_to_prove_possession {
                    return Err(HandlerError::NotAllowed("bls_prove_possession"));
                }
                let sk = self.key(p)?;
                Answer::Signature(
                    sk.bls_proof_of_possession()
                        .ok_or(HandlerError::NotBls(*p))?,
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
