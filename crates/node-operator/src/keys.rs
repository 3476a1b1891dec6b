//! Operator keys: each key of `config.operators` resolved in the client wallet
//! (`-d/--base-dir`), local, encrypted (`-f/--password-filename`) or held by a remote signer
//! (`-R/--remote-signer`), through the one resolution of [`signer::keys`].

use std::collections::BTreeMap;
use std::path::Path;

use node_config::{Config, Purpose};
use signer::keys::{KeyOptions, SigningKey};
use signer::wallet::Wallet;
use tezos_types::PublicKeyHash;

/// A configured operator key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "Cannot use the {purpose} operator key {pkh} of the wallet {wallet} (another wallet is given \
     with -d/--base-dir): {source}"
)]
pub struct KeyError {
    /// Purpose of the key.
    pub purpose: &'static str,
    /// The key.
    pub pkh: PublicKeyHash,
    /// The wallet directory.
    pub wallet: String,
    /// Why.
    #[source]
    pub source: Box<signer::keys::KeyError>,
}

/// The signing keys of every configured purpose (Octez checks at startup that every operator
/// key is in the wallet).
///
/// # Errors
/// [`KeyError`] for the first key that is missing or cannot be opened.
pub fn operator_keys(
    config: &Config,
    base_dir: &Path,
    opts: &KeyOptions,
) -> Result<BTreeMap<PublicKeyHash, SigningKey>, KeyError> {
    let wallet = Wallet::new(base_dir);
    let mut out = BTreeMap::new();
    for (purpose, keys) in &config.operators {
        for pkh in keys {
            if out.contains_key(pkh) {
                continue;
            }
            let key =
                signer::keys::signing_key(&wallet, &pkh.to_b58check(), opts).map_err(|source| {
                    KeyError {
                        purpose: purpose_name(*purpose),
                        pkh: *pkh,
                        wallet: base_dir.display().to_string(),
                        source: Box::new(source),
                    }
                })?;
            out.insert(*pkh, key);
        }
    }
    Ok(out)
}

fn purpose_name(p: Purpose) -> &'static str {
    p.as_str()
}

/// The injector's workers: one per key, injecting the kinds of the purposes that key serves
/// and the mode allows (purposes sharing a key share a worker, octez-rollup-node.md §9).
pub fn workers(
    config: &Config,
    keys: &BTreeMap<PublicKeyHash, SigningKey>,
) -> Vec<injector::WorkerSpec> {
    let mut out: Vec<injector::WorkerSpec> = Vec::new();
    for (purpose, pkhs) in &config.operators {
        let kinds: Vec<_> = purpose
            .operation_kinds()
            .iter()
            .copied()
            .filter(|k| config.mode.can_inject(*k))
            .collect();
        if kinds.is_empty() {
            continue;
        }
        for pkh in pkhs {
            let Some(key) = keys.get(pkh) else { continue };
            out.push(injector::WorkerSpec {
                signer: key.signer.clone(),
                kinds: kinds.clone(),
            });
        }
    }
    out
}
