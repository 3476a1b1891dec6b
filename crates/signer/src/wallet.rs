//! The Octez client wallet files in the base directory: `secret_keys`, `public_keys`,
//! `public_key_hashs` and `smart_rollups`, each a JSON list of `{"name": alias, "value": …}`.
//!
//! Values: `secret_keys` holds the secret key URI (`unencrypted:edsk…`, `remote:tz1…`, …);
//! `public_keys` holds `{"locator": "unencrypted:edpk…", "key": "edpk…"}`; `public_key_hashs`
//! and `smart_rollups` hold the base58 address. `smart-rollup-node --base-dir` reads the same
//! files to resolve aliases. The signer keeps its keys in the same files, plus
//! `authorized_keys` (`[{"name": n, "value": "edpk…"}]`, docs/reference/l1-and-signer.md §5.4).
//!
//! Secret key URIs this wallet stores: `unencrypted:<b58 secret key>` and the remote forms
//! `remote:<pkh>`, `tcp://host:port/<pkh>`, `unix:/path?pkh=<pkh>`, `http(s)://host:port/<pkh>`
//! (docs/reference/l1-and-signer.md §5.7), and `encrypted:` keys ([`crate::encrypted`]), opened
//! with the passwords of a password file.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tezos_types::{PublicKey, PublicKeyHash, SecretKey, SmartRollupAddress};

/// Wallet errors.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// A file could not be read or written.
    #[error("cannot access wallet file {path}: {msg}; check the --base-dir directory")]
    Io {
        /// The wallet file.
        path: PathBuf,
        /// The operating system's error.
        msg: String,
    },
    /// A file is not a JSON list of `{"name","value"}`.
    #[error("wallet file {path} is malformed ({msg}); fix or remove it")]
    Malformed {
        /// The wallet file.
        path: PathBuf,
        /// The JSON error, or which entry is not a `{"name","value"}` pair.
        msg: String,
    },
    /// The alias exists already.
    #[error(
        "The {kind} alias {alias} already exists.\n  The current value is {current}.\n  Use --force to update"
    )]
    AliasExists {
        /// `secret_key`, `public_key`, …
        kind: &'static str,
        /// The alias given.
        alias: String,
        /// Its value in the file now.
        current: String,
    },
    /// Unknown alias or address.
    #[error("no {kind} alias named {alias}; list them with `list known addresses` or import one")]
    UnknownAlias {
        /// What was looked for.
        kind: &'static str,
        /// The alias (without its `alias:` prefix).
        alias: String,
    },
    /// A stored value cannot be parsed.
    #[error("the {kind} stored for {alias} is invalid: {msg}")]
    BadValue {
        /// What the value should be (`public key hash`, `smart rollup`, …).
        kind: &'static str,
        /// The alias whose value is invalid.
        alias: String,
        /// The stored value, as JSON.
        msg: String,
    },
}

/// The client's base directory when `-d/--base-dir` is not given: `$TEZOS_CLIENT_DIR` when set
/// and not empty, else `$HOME/.tezos-client` (docs/reference/octez-rollup-node.md §1.1).
/// The node reads the client's wallet there to resolve aliases.
pub fn default_client_dir() -> PathBuf {
    default_dir("TEZOS_CLIENT_DIR", ".tezos-client")
}

/// The signer's base directory when `-d/--base-dir` is not given: `$TEZOS_SIGNER_DIR` when set
/// and not empty, else `$HOME/.tezos-signer` (docs/reference/l1-and-signer.md §5.1).
pub fn default_signer_dir() -> PathBuf {
    default_dir("TEZOS_SIGNER_DIR", ".tezos-signer")
}

fn default_dir(var: &str, home_subdir: &str) -> PathBuf {
    match std::env::var(var) {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(home_subdir),
    }
}

/// The four alias files of a base directory.
#[derive(Debug, Clone)]
pub struct Wallet {
    base_dir: PathBuf,
}

const SECRET_KEYS: &str = "secret_keys";
const PUBLIC_KEYS: &str = "public_keys";
const PKHS: &str = "public_key_hashs";
const ROLLUPS: &str = "smart_rollups";
const AUTHORIZED: &str = "authorized_keys";

/// One entry of `list known addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownAddress {
    /// The alias, as in `public_key_hashs`.
    pub alias: String,
    /// Its public key hash (`tz1…`), in base58.
    pub pkh: String,
    /// Scheme of the secret key URI (`unencrypted`, `remote`, …) if one is known.
    pub sk_scheme: Option<String>,
    /// Whether a public key is known.
    pub pk_known: bool,
}

impl Wallet {
    /// The wallet in `base_dir` (created on first write).
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
        }
    }

    /// The base directory.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    fn load(&self, file: &str) -> Result<Vec<(String, Value)>, WalletError> {
        let path = self.base_dir.join(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => {
                return Err(WalletError::Io {
                    path,
                    msg: e.to_string(),
                });
            }
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| WalletError::Malformed {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        let malformed = |msg: &str| WalletError::Malformed {
            path: path.clone(),
            msg: msg.to_owned(),
        };
        let list = v.as_array().ok_or_else(|| malformed("not a JSON list"))?;
        list.iter()
            .map(|e| {
                let name = e
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed("entry without a string \"name\""))?;
                let value = e
                    .get("value")
                    .cloned()
                    .ok_or_else(|| malformed("entry without \"value\""))?;
                Ok((name.to_owned(), value))
            })
            .collect()
    }

    fn save(&self, file: &str, entries: &[(String, Value)]) -> Result<(), WalletError> {
        let path = self.base_dir.join(file);
        let io = |e: std::io::Error| WalletError::Io {
            path: path.clone(),
            msg: e.to_string(),
        };
        std::fs::create_dir_all(&self.base_dir).map_err(io)?;
        let list: Vec<Value> = entries
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect();
        let text = serde_json::to_string_pretty(&Value::Array(list)).unwrap_or_default();
        if file == SECRET_KEYS {
            atomic_file::write_private(&path, text.as_bytes()).map_err(io)
        } else {
            atomic_file::write(&path, text.as_bytes()).map_err(io)
        }
    }

    fn set(
        &self,
        file: &str,
        kind: &'static str,
        alias: &str,
        value: Value,
        force: bool,
    ) -> Result<(), WalletError> {
        let mut entries = self.load(file)?;
        match entries.iter_mut().find(|(n, _)| n == alias) {
            Some((_, v)) if *v == value => {}
            Some((_, v)) if force => *v = value,
            Some((_, v)) => {
                return Err(WalletError::AliasExists {
                    kind,
                    alias: alias.to_owned(),
                    current: v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                });
            }
            None => entries.push((alias.to_owned(), value)),
        }
        self.save(file, &entries)
    }

    fn get(&self, file: &str, alias: &str) -> Result<Option<Value>, WalletError> {
        Ok(self
            .load(file)?
            .into_iter()
            .find(|(n, _)| n == alias)
            .map(|(_, v)| v))
    }

    /// Stores a full key triple (`gen keys`, `import secret key unencrypted:`).
    pub fn add_key(&self, alias: &str, sk: &SecretKey, force: bool) -> Result<(), WalletError> {
        self.add_key_with_uri(alias, sk, &sk.to_uri(), force)
    }

    /// Stores a key triple whose secret key is kept as `uri` (e.g. `encrypted:edesk…`).
    pub fn add_key_with_uri(
        &self,
        alias: &str,
        sk: &SecretKey,
        uri: &str,
        force: bool,
    ) -> Result<(), WalletError> {
        let pk = sk.public_key();
        self.check_free(alias, force)?;
        self.set(
            PKHS,
            "public_key_hash",
            alias,
            json!(pk.hash().to_b58check()),
            true,
        )?;
        self.set(
            PUBLIC_KEYS,
            "public_key",
            alias,
            json!({"locator": format!("unencrypted:{}", pk.to_b58check()), "key": pk.to_b58check()}),
            true,
        )?;
        self.set(SECRET_KEYS, "secret_key", alias, json!(uri), true)
    }

    /// Stores a key held elsewhere (`remote:tz1…`, `tcp://…/tz1…`): its URI and address, and
    /// its public key with the URI as locator when the signer told it (§5.7).
    pub fn add_remote_key(
        &self,
        alias: &str,
        uri: &str,
        pkh: &PublicKeyHash,
        pk: Option<&PublicKey>,
        force: bool,
    ) -> Result<(), WalletError> {
        self.check_free(alias, force)?;
        self.set(
            PKHS,
            "public_key_hash",
            alias,
            json!(pkh.to_b58check()),
            true,
        )?;
        if let Some(pk) = pk {
            self.set(
                PUBLIC_KEYS,
                "public_key",
                alias,
                json!({"locator": uri, "key": pk.to_b58check()}),
                true,
            )?;
        }
        self.set(SECRET_KEYS, "secret_key", alias, json!(uri), true)
    }

    /// Every `(alias, secret key URI)` of `secret_keys`, in file order.
    pub fn secret_key_uris(&self) -> Result<Vec<(String, String)>, WalletError> {
        Ok(self
            .load(SECRET_KEYS)?
            .into_iter()
            .filter_map(|(n, v)| v.as_str().map(|u| (n, u.to_owned())))
            .collect())
    }

    /// The local (`unencrypted:`) secret keys, with their aliases.
    pub fn local_secret_keys(&self) -> Result<Vec<(String, SecretKey)>, WalletError> {
        self.secret_key_uris()?
            .into_iter()
            .filter(|(_, u)| u.starts_with("unencrypted:"))
            .map(|(alias, u)| {
                SecretKey::from_uri(&u)
                    .map(|sk| (alias.clone(), sk))
                    .map_err(|e| WalletError::BadValue {
                        kind: "secret key",
                        alias,
                        msg: e.to_string(),
                    })
            })
            .collect()
    }

    /// The local secret keys, `encrypted:` ones opened with `passwords`; keys held by a signer
    /// are skipped.
    pub fn secret_keys_with(
        &self,
        passwords: &[Vec<u8>],
    ) -> Result<Vec<(String, SecretKey)>, WalletError> {
        let mut out = self.local_secret_keys()?;
        for (alias, uri) in self.secret_key_uris()? {
            if uri.starts_with("encrypted:") {
                let sk = crate::encrypted::decrypt(&uri, passwords).map_err(|e| {
                    WalletError::BadValue {
                        kind: "encrypted secret key",
                        alias: alias.clone(),
                        msg: e.to_string(),
                    }
                })?;
                out.push((alias, sk));
            }
        }
        Ok(out)
    }

    /// Adds a key to `authorized_keys` (`add authorized key <pk> --name <n>`, §5.4).
    pub fn add_authorized_key(&self, name: &str, pk: &PublicKey) -> Result<(), WalletError> {
        self.set(
            AUTHORIZED,
            "authorized_key",
            name,
            json!(pk.to_b58check()),
            true,
        )
    }

    /// The keys of `authorized_keys` (§5.4).
    pub fn authorized_keys(&self) -> Result<Vec<(String, PublicKey)>, WalletError> {
        self.load(AUTHORIZED)?
            .into_iter()
            .map(|(name, v)| {
                v.as_str()
                    .and_then(|t| t.parse().ok())
                    .map(|pk| (name.clone(), pk))
                    .ok_or_else(|| WalletError::BadValue {
                        kind: "authorized key",
                        alias: name,
                        msg: v.to_string(),
                    })
            })
            .collect()
    }

    fn check_free(&self, alias: &str, force: bool) -> Result<(), WalletError> {
        if force {
            return Ok(());
        }
        // Report the address, never the secret key.
        let current = match self.get(PKHS, alias)? {
            Some(v) => Some(v.as_str().unwrap_or_default().to_owned()),
            None => self
                .get(SECRET_KEYS, alias)?
                .map(|_| "a secret key".to_owned()),
        };
        match current {
            Some(current) => Err(WalletError::AliasExists {
                kind: "secret_key",
                alias: alias.to_owned(),
                current,
            }),
            None => Ok(()),
        }
    }

    /// Stores a smart rollup alias.
    pub fn add_rollup(
        &self,
        alias: &str,
        addr: &SmartRollupAddress,
        force: bool,
    ) -> Result<(), WalletError> {
        self.set(
            ROLLUPS,
            "smart_rollup",
            alias,
            json!(addr.to_b58check()),
            force,
        )
    }

    /// Resolves an address or an alias (optionally `alias:`-prefixed) to a pkh.
    pub fn resolve_pkh(&self, s: &str) -> Result<PublicKeyHash, WalletError> {
        if !s.starts_with("alias:")
            && let Ok(p) = s.parse::<PublicKeyHash>()
        {
            return Ok(p);
        }
        let alias = s.strip_prefix("alias:").unwrap_or(s);
        let v = self
            .get(PKHS, alias)?
            .ok_or_else(|| WalletError::UnknownAlias {
                kind: "public key hash",
                alias: alias.to_owned(),
            })?;
        v.as_str()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| WalletError::BadValue {
                kind: "public key hash",
                alias: alias.to_owned(),
                msg: v.to_string(),
            })
    }

    /// Resolves a rollup address or alias.
    pub fn resolve_rollup(&self, s: &str) -> Result<SmartRollupAddress, WalletError> {
        if let Ok(a) = s.parse::<SmartRollupAddress>() {
            return Ok(a);
        }
        let alias = s.strip_prefix("alias:").unwrap_or(s);
        let v = self
            .get(ROLLUPS, alias)?
            .ok_or_else(|| WalletError::UnknownAlias {
                kind: "smart rollup",
                alias: alias.to_owned(),
            })?;
        v.as_str()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| WalletError::BadValue {
                kind: "smart rollup",
                alias: alias.to_owned(),
                msg: v.to_string(),
            })
    }

    /// The alias whose pkh is `pkh`.
    pub fn alias_of(&self, pkh: &PublicKeyHash) -> Result<Option<String>, WalletError> {
        let want = pkh.to_b58check();
        Ok(self
            .load(PKHS)?
            .into_iter()
            .find(|(_, v)| v.as_str() == Some(want.as_str()))
            .map(|(n, _)| n))
    }

    /// The secret key URI of an alias or address.
    pub fn secret_key_uri(&self, s: &str) -> Result<String, WalletError> {
        let alias = match s.parse::<PublicKeyHash>() {
            Ok(pkh) if !s.starts_with("alias:") => {
                self.alias_of(&pkh)?
                    .ok_or_else(|| WalletError::UnknownAlias {
                        kind: "secret key for address",
                        alias: s.to_owned(),
                    })?
            }
            _ => s.strip_prefix("alias:").unwrap_or(s).to_owned(),
        };
        let v = self
            .get(SECRET_KEYS, &alias)?
            .ok_or_else(|| WalletError::UnknownAlias {
                kind: "secret key",
                alias: alias.clone(),
            })?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| WalletError::BadValue {
                kind: "secret key",
                alias,
                msg: v.to_string(),
            })
    }

    /// The public key of an alias, if known.
    pub fn public_key(&self, alias: &str) -> Result<Option<PublicKey>, WalletError> {
        let Some(v) = self.get(PUBLIC_KEYS, alias)? else {
            return Ok(None);
        };
        // Either {"locator","key"} or a bare locator string (older wallets).
        let text = match &v {
            Value::Object(m) => m.get("key").and_then(Value::as_str).map(str::to_owned),
            Value::String(s) => s.strip_prefix("unencrypted:").map(str::to_owned),
            _ => None,
        };
        match text {
            None => Ok(None),
            Some(t) => {
                t.parse()
                    .map(Some)
                    .map_err(|e: tezos_types::KeyError| WalletError::BadValue {
                        kind: "public key",
                        alias: alias.to_owned(),
                        msg: e.to_string(),
                    })
            }
        }
    }

    /// All aliases of `public_key_hashs`, in file order.
    pub fn known_addresses(&self) -> Result<Vec<KnownAddress>, WalletError> {
        let sks = self.load(SECRET_KEYS)?;
        let pks = self.load(PUBLIC_KEYS)?;
        Ok(self
            .load(PKHS)?
            .into_iter()
            .map(|(alias, v)| {
                let sk_scheme = sks
                    .iter()
                    .find(|(n, _)| *n == alias)
                    .and_then(|(_, v)| v.as_str())
                    .map(|u| u.split(':').next().unwrap_or_default().to_owned());
                let pk_known = pks.iter().any(|(n, _)| *n == alias);
                KnownAddress {
                    pkh: v.as_str().unwrap_or_default().to_owned(),
                    alias,
                    sk_scheme,
                    pk_known,
                }
            })
            .collect())
    }
}
