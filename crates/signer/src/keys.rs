//! From a wallet key to something that signs: the one resolution shared by `smart-rollup-client`
//! and `smart-rollup-node` (docs/reference/l1-and-signer.md §5.7; Octez `Client_keys.get_key`).
//!
//! A name is an alias of the wallet (optionally `alias:`-prefixed) or an address with a secret
//! key in the wallet. Its secret key URI decides the signer:
//! * `unencrypted:<edsk…|spsk…|p2sk…|BLsk…>`: a [`LocalSigner`];
//! * `encrypted:<edesk…|spesk…|p2esk…>`: a [`LocalSigner`] once opened with a password of the
//!   `-f/--password-filename` file (one per line, tried in order, as octez-client); there is no
//!   prompt, so without the file the resolution fails and says to give it;
//! * `remote:<pkh>` (the signer's address from `-R/--remote-signer` or the `TEZOS_SIGNER_*`
//!   variables), `tcp://host:port/<pkh>`, `unix:/path?pkh=<pkh>`, `http(s)://host:port/<pkh>`:
//!   a [`RemoteSigner`], which authenticates its requests (§5.4) with the wallet's local keys.
//!
//! Resolution does not contact a remote signer: a signer that is down shows only when signing,
//! as [`SignerError::Unreachable`] ([`SignerError::is_retryable`]).

use std::path::PathBuf;
use std::sync::Arc;

use tezos_types::{PublicKey, PublicKeyHash, SecretKey, Signature};

use crate::encrypted::{self, EncryptedError};
use crate::remote::{LocalSigner, RemoteSigner, Signer, SignerError, parse_key_uri};
use crate::wallet::{Wallet, WalletError};

/// Options of the command line that key resolution needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyOptions {
    /// `-R/--remote-signer`: where `remote:` keys are.
    pub remote_signer: Option<String>,
    /// `-f/--password-filename`: the passwords of `encrypted:` keys, one per line.
    pub password_file: Option<PathBuf>,
}

/// A key of the wallet, ready to sign.
#[derive(Clone)]
pub struct SigningKey {
    /// The wallet alias (or the address when the wallet has no alias for it).
    pub alias: String,
    /// The key's address.
    pub pkh: PublicKeyHash,
    /// The public key when known without asking a remote signer.
    pub pk: Option<PublicKey>,
    /// Signs bytes exactly as given (the caller adds the watermark, §5.5).
    pub signer: Arc<dyn Signer + Send + Sync>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret key.
        f.debug_struct("SigningKey")
            .field("alias", &self.alias)
            .field("pkh", &self.pkh.to_b58check())
            .field("pk", &self.pk.as_ref().map(PublicKey::to_b58check))
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key held in memory, named `alias`.
    pub fn local(alias: impl Into<String>, sk: SecretKey) -> Self {
        Self {
            alias: alias.into(),
            pkh: sk.public_key_hash(),
            pk: Some(sk.public_key()),
            signer: Arc::new(LocalSigner(sk)),
        }
    }

    /// The public key: the known one, else the remote signer's.
    ///
    /// # Errors
    /// [`SignerError`] when the remote signer fails (retryable when it is unreachable).
    pub fn public_key(&self) -> Result<PublicKey, SignerError> {
        match &self.pk {
            Some(pk) => Ok(*pk),
            None => self.signer.public_key(),
        }
    }

    /// Signs exactly `data` (watermark included).
    ///
    /// # Errors
    /// [`SignerError`] when the remote signer fails or refuses.
    pub fn sign(&self, data: &[u8]) -> Result<Signature, SignerError> {
        self.signer.sign(data)
    }
}

/// Why a name does not resolve to a signing key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The wallet files cannot be read.
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// No secret key for this name.
    #[error(
        "no secret key for {name} in the wallet {}; import it with `smart-rollup-client -d {} \
         import secret key <alias> <unencrypted:…|encrypted:…|remote:tz…>`",
        base_dir.display(), base_dir.display()
    )]
    Unknown {
        /// The alias or address asked for.
        name: String,
        /// The wallet's base directory.
        base_dir: PathBuf,
    },
    /// An `unencrypted:` key that does not parse.
    #[error("the unencrypted secret key of {alias} in the wallet {} cannot be parsed: {source}", base_dir.display())]
    BadSecretKey {
        /// The alias.
        alias: String,
        /// The wallet's base directory.
        base_dir: PathBuf,
        /// The parse error.
        #[source]
        source: tezos_types::KeyError,
    },
    /// An `encrypted:` key and no password file.
    #[error(
        "the secret key of {alias} is encrypted: give its password in a file with \
         -f/--password-filename <file> (one password per line); it cannot be asked interactively"
    )]
    NoPasswordFile {
        /// The alias.
        alias: String,
    },
    /// The password file cannot be read.
    #[error("cannot read the password file {} (-f/--password-filename): {source}", path.display())]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An `encrypted:` key that no password opens, or that is malformed.
    #[error("cannot open the encrypted secret key of {alias}: {source}")]
    Encrypted {
        /// The alias.
        alias: String,
        /// Why.
        #[source]
        source: EncryptedError,
    },
    /// A remote key URI (or `-R/--remote-signer`) that cannot be used.
    #[error("the secret key of {alias} is held by a signer that cannot be used: {source}")]
    Remote {
        /// The alias.
        alias: String,
        /// The URI error.
        #[source]
        source: SignerError,
    },
    /// A secret key URI scheme this implementation does not know.
    #[error(
        "the secret key of {alias} has the unsupported scheme {scheme:?}; supported: \
         unencrypted:, encrypted:, remote:, tcp://, unix:, http://, https://"
    )]
    UnsupportedScheme {
        /// The alias.
        alias: String,
        /// The URI's scheme (never the whole URI: it may hold a secret).
        scheme: String,
    },
    /// The secret key's address is not the one the wallet records for the alias.
    #[error(
        "the secret key of {alias} is for {actual}, but the wallet records {recorded}; \
         re-import the key with --force"
    )]
    Mismatch {
        /// The alias.
        alias: String,
        /// The address of `public_key_hashs`.
        recorded: PublicKeyHash,
        /// The address of the secret key.
        actual: PublicKeyHash,
    },
}

/// The passwords of `-f/--password-filename`, or `None` without the option.
///
/// # Errors
/// [`KeyError::PasswordFile`].
pub fn passwords(opts: &KeyOptions) -> Result<Option<Vec<Vec<u8>>>, KeyError> {
    let Some(path) = &opts.password_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::PasswordFile {
        path: path.clone(),
        source,
    })?;
    Ok(Some(encrypted::passwords_of(&text)))
}

/// The signer of an alias or address of `wallet` (module documentation for the URI forms).
///
/// # Errors
/// [`KeyError`] naming the key and what to do: unknown name, unreadable wallet, missing or
/// wrong password file, bad URI.
pub fn signing_key(
    wallet: &Wallet,
    name_or_pkh: &str,
    opts: &KeyOptions,
) -> Result<SigningKey, KeyError> {
    let base_dir = wallet.base_dir().to_path_buf();
    let unknown = || KeyError::Unknown {
        name: name_or_pkh.to_owned(),
        base_dir: base_dir.clone(),
    };
    let alias = match name_or_pkh.parse::<PublicKeyHash>() {
        Ok(pkh) if !name_or_pkh.starts_with("alias:") => {
            wallet.alias_of(&pkh)?.ok_or_else(unknown)?
        }
        _ => name_or_pkh
            .strip_prefix("alias:")
            .unwrap_or(name_or_pkh)
            .to_owned(),
    };
    let uri = match wallet.secret_key_uri(&alias) {
        Ok(u) => u,
        Err(WalletError::UnknownAlias { .. }) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    let recorded = match wallet.resolve_pkh(&format!("alias:{alias}")) {
        Ok(p) => Some(p),
        Err(WalletError::UnknownAlias { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let scheme = uri.split(':').next().unwrap_or_default();
    let key = match scheme {
        "unencrypted" => {
            let sk = SecretKey::from_uri(&uri).map_err(|source| KeyError::BadSecretKey {
                alias: alias.clone(),
                base_dir: base_dir.clone(),
                source,
            })?;
            SigningKey::local(alias.clone(), sk)
        }
        "encrypted" => {
            let pw = passwords(opts)?.ok_or_else(|| KeyError::NoPasswordFile {
                alias: alias.clone(),
            })?;
            let sk = encrypted::decrypt(&uri, &pw).map_err(|source| KeyError::Encrypted {
                alias: alias.clone(),
                source,
            })?;
            SigningKey::local(alias.clone(), sk)
        }
        "remote" | "tcp" | "unix" | "http" | "https" => {
            let (location, pkh) =
                parse_key_uri(&uri, opts.remote_signer.as_deref()).map_err(|source| {
                    KeyError::Remote {
                        alias: alias.clone(),
                        source,
                    }
                })?;
            let auth = authentication_keys(wallet, opts)?;
            SigningKey {
                pk: wallet.public_key(&alias)?.filter(|pk| pk.hash() == pkh),
                alias: alias.clone(),
                pkh,
                signer: Arc::new(RemoteSigner::new(location, pkh, auth)),
            }
        }
        other => {
            return Err(KeyError::UnsupportedScheme {
                alias,
                scheme: other.to_owned(),
            });
        }
    };
    match recorded {
        Some(recorded) if recorded != key.pkh => Err(KeyError::Mismatch {
            alias,
            recorded,
            actual: key.pkh,
        }),
        _ => Ok(key),
    }
}

/// The wallet keys a remote signer's authentication may use (§5.4): the `unencrypted:` ones,
/// and the `encrypted:` ones a password of `-f` opens (the others are skipped).
///
/// # Errors
/// [`KeyError`] when the wallet or the password file cannot be read.
pub fn authentication_keys(wallet: &Wallet, opts: &KeyOptions) -> Result<Vec<SecretKey>, KeyError> {
    let mut keys: Vec<SecretKey> = wallet
        .local_secret_keys()?
        .into_iter()
        .map(|(_, sk)| sk)
        .collect();
    if let Some(pw) = passwords(opts)? {
        for (_, uri) in wallet.secret_key_uris()? {
            if uri.starts_with("encrypted:")
                && let Ok(sk) = encrypted::decrypt(&uri, &pw)
            {
                keys.push(sk);
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B1_SK: &str = "edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh";
    const B1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";
    /// `octez-client sign bytes 0x03 for bootstrap1` (docs/reference/l1-and-signer.md §5.5).
    const SIG_03: &str = "edsigtzxo2Q7wFiEjausSp7pKUXLK9PnPqf8rHEKdc18HtNVbZSg5WJyFJwk14w7mykCsq3nV5iB6Eo4gTX3y8Dv8tkn1EadRj7";

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn signers_are_send_and_sync() {
        assert_send_sync::<RemoteSigner>();
        assert_send_sync::<LocalSigner>();
        assert_send_sync::<SigningKey>();
        assert_send_sync::<KeyError>();
    }

    fn wallet() -> (tempfile::TempDir, Wallet) {
        let d = tempfile::tempdir().unwrap();
        let w = Wallet::new(d.path());
        (d, w)
    }

    fn opts(remote: Option<&str>, pw: Option<PathBuf>) -> KeyOptions {
        KeyOptions {
            remote_signer: remote.map(str::to_owned),
            password_file: pw,
        }
    }

    #[test]
    fn unencrypted_keys_sign_by_alias_and_by_address() {
        let (_d, w) = wallet();
        let sk: SecretKey = B1_SK.parse().unwrap();
        w.add_key("b1", &sk, false).unwrap();
        for name in ["b1", "alias:b1", B1] {
            let k = signing_key(&w, name, &KeyOptions::default()).unwrap();
            assert_eq!(k.alias, "b1");
            assert_eq!(k.pkh.to_b58check(), B1);
            assert_eq!(k.sign(&[3]).unwrap().to_string(), SIG_03, "{name}");
        }
        let dbg = format!(
            "{:?}",
            signing_key(&w, "b1", &KeyOptions::default()).unwrap()
        );
        assert!(!dbg.contains("edsk"), "{dbg}");
    }

    #[test]
    fn unknown_names_name_the_wallet_and_the_import_command() {
        let (d, w) = wallet();
        for name in ["nobody", "tz1faswCTDciRzE4oJ9jn2Vm2dvjeyA9fUzU"] {
            let e = signing_key(&w, name, &KeyOptions::default()).unwrap_err();
            assert!(matches!(e, KeyError::Unknown { .. }), "{e:?}");
            let t = e.to_string();
            assert!(t.contains(name), "{t}");
            assert!(t.contains(&d.path().display().to_string()), "{t}");
            assert!(t.contains("import secret key"), "{t}");
        }
        // A public key hash without a secret key is not a signing key either.
        let sk: SecretKey = B1_SK.parse().unwrap();
        w.add_remote_key("watch", "remote:x", &sk.public_key_hash(), None, false)
            .unwrap();
        let e = signing_key(&w, "watch", &KeyOptions::default()).unwrap_err();
        assert!(matches!(e, KeyError::Remote { .. }), "{e:?}");
    }

    #[test]
    fn encrypted_keys_need_the_password_file() {
        let (d, w) = wallet();
        let sk: SecretKey = B1_SK.parse().unwrap();
        let uri = encrypted::encrypt(&sk, b"secret", [7; 8]).unwrap();
        w.add_key_with_uri("enc", &sk, &uri, false).unwrap();
        let e = signing_key(&w, "enc", &KeyOptions::default()).unwrap_err();
        assert!(matches!(e, KeyError::NoPasswordFile { .. }), "{e:?}");
        assert!(e.to_string().contains("-f/--password-filename"), "{e}");
        let pw = d.path().join("pw");
        std::fs::write(&pw, "wrong\nalso wrong\n").unwrap();
        let e = signing_key(&w, "enc", &opts(None, Some(pw.clone()))).unwrap_err();
        assert!(
            matches!(
                e,
                KeyError::Encrypted {
                    source: EncryptedError::WrongPassword(_),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("enc"), "{e}");
        std::fs::write(&pw, "wrong\nsecret\n").unwrap();
        let k = signing_key(&w, B1, &opts(None, Some(pw))).unwrap();
        assert_eq!(k.sign(&[3]).unwrap().to_string(), SIG_03);
        let missing = d.path().join("nope");
        let e = signing_key(&w, "enc", &opts(None, Some(missing.clone()))).unwrap_err();
        assert!(matches!(e, KeyError::PasswordFile { .. }), "{e:?}");
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
    }

    #[test]
    fn remote_keys_resolve_without_contacting_the_signer() {
        let (_d, w) = wallet();
        let pkh: PublicKeyHash = B1.parse().unwrap();
        w.add_remote_key("r", &format!("remote:{B1}"), &pkh, None, false)
            .unwrap();
        w.add_remote_key("t", &format!("tcp://127.0.0.1:1/{B1}"), &pkh, None, true)
            .unwrap();
        // remote: without -R nor TEZOS_SIGNER_*: the option is named.
        if std::env::vars().all(|(k, _)| !k.starts_with("TEZOS_SIGNER_")) {
            let e = signing_key(&w, "r", &KeyOptions::default()).unwrap_err();
            assert!(e.to_string().contains("-R/--remote-signer"), "{e}");
        }
        let k = signing_key(&w, "r", &opts(Some("tcp://127.0.0.1:1"), None)).unwrap();
        assert_eq!((k.alias.as_str(), k.pkh), ("r", pkh));
        // Nothing listens on port 1: a typed, retryable error when signing.
        let k = signing_key(&w, "t", &KeyOptions::default()).unwrap();
        let e = k.sign(&[3]).unwrap_err();
        assert!(matches!(e, SignerError::Unreachable { .. }), "{e:?}");
        assert!(e.is_retryable());
        assert!(k.public_key().unwrap_err().is_retryable());
    }

    #[test]
    fn a_key_for_another_address_and_unknown_schemes_are_refused() {
        let (_d, w) = wallet();
        let other: PublicKeyHash = "tz1faswCTDciRzE4oJ9jn2Vm2dvjeyA9fUzU".parse().unwrap();
        w.add_remote_key("x", &format!("tcp://h:1/{B1}"), &other, None, false)
            .unwrap();
        let e = signing_key(&w, "x", &KeyOptions::default()).unwrap_err();
        assert!(matches!(e, KeyError::Mismatch { .. }), "{e:?}");
        w.add_remote_key("l", "ledger://a-b-c-d/ed25519/0h/0h", &other, None, false)
            .unwrap();
        let e = signing_key(&w, "l", &KeyOptions::default()).unwrap_err();
        assert!(matches!(e, KeyError::UnsupportedScheme { .. }), "{e:?}");
        assert!(!e.to_string().contains("a-b-c-d"), "{e}");
    }
}
