//! `smart-rollup-signer`: the `octez-signer` commands (docs/reference/l1-and-signer.md §5):
//! wallet commands, `add authorized key`, and `launch socket|local|http|https signer`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use signer::grammar::{self, OptionName, Scanned};
use signer::handler::{Handler, Options};
use signer::server;
use signer::wallet::Wallet;
use tezos_types::{Curve, PublicKey, SecretKey};

const USAGE: &str = "Usage: smart-rollup-signer [-d <base-dir>] [-A] [-f <password-file>] <command>
Commands:
  gen keys <alias> [--sig ed25519|secp256k1|p256|bls] [--encrypted] [--force]
  import secret key <alias> <unencrypted:…|encrypted:…> [--force]
  list known addresses
  show address <alias> [-S]
  add authorized key <public key> [--name <name>]
  launch socket signer [-a <host>] [-p <port>] [-t <seconds>]
  launch local signer [-s <socket path>]
  launch http signer [-a <host>] [-p <port>]
  launch https signer <cert.pem> <key.pem> [-a <host>] [-p <port>]
Launch options: -M/--magic-bytes 0x03,0x11,…  -W/--check-high-watermark  --allow-list-known-keys
  --allow-to-prove-possession  -P/--pidfile <file>
Global: -d/--base-dir (default $TEZOS_SIGNER_DIR or ~/.tezos-signer), -A/--require-authentication,
  -f/--password-filename";

/// Options with a value: (long, short).
const VALUE_OPTIONS: &[OptionName] = &[
    ("base-dir", Some("-d")),
    ("password-filename", Some("-f")),
    ("sig", None),
    ("name", None),
    ("address", Some("-a")),
    ("port", Some("-p")),
    ("timeout", Some("-t")),
    ("socket", None),
    ("magic-bytes", Some("-M")),
    ("pidfile", Some("-P")),
    // `-s` is `--sig` for `gen keys` and `--socket` for `launch local signer`.
    ("s", Some("-s")),
];

const FLAGS: &[OptionName] = &[
    ("require-authentication", Some("-A")),
    ("check-high-watermark", Some("-W")),
    ("allow-list-known-keys", None),
    ("allow-to-prove-possession", None),
    ("show-secret", Some("-S")),
    ("force", None),
    ("encrypted", None),
    ("help", Some("-h")),
];

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error("{0}")]
    Bad(String),
    #[error(transparent)]
    Wallet(#[from] signer::wallet::WalletError),
    #[error(transparent)]
    Server(#[from] server::ServerError),
}

/// The Octez rule for options ([`grammar::is_option`]), with the usage text on errors.
fn parse(args: &[String]) -> Result<Scanned, CliError> {
    grammar::scan(args, VALUE_OPTIONS, FLAGS, grammar::is_option)
        .map_err(|e| CliError::Usage(e.to_string()))
}

fn base_dir(a: &Scanned) -> PathBuf {
    a.opt("base-dir")
        .map_or_else(signer::wallet::default_signer_dir, PathBuf::from)
}

/// `-M 0x03,0x11`: the allowed first bytes.
fn magic_bytes(text: &str) -> Result<Vec<u8>, CliError> {
    text.split(',')
        .map(|b| {
            let t = b.trim();
            let h = t.strip_prefix("0x").unwrap_or(t);
            u8::from_str_radix(h, 16).map_err(|_| {
                CliError::Bad(format!(
                    "-M/--magic-bytes: {t:?} is not a byte; give a comma-separated list like 0x03,0x11"
                ))
            })
        })
        .collect()
}

fn launch_options(a: &Scanned) -> Result<Options, CliError> {
    Ok(Options {
        magic_bytes: a.opt("magic-bytes").map(magic_bytes).transpose()?,
        check_high_watermark: a.flag("check-high-watermark"),
        allow_list_known_keys: a.flag("allow-list-known-keys"),
        allow_to_prove_possession: a.flag("allow-to-prove-possession"),
        require_authentication: a.flag("require-authentication"),
    })
}

fn port(a: &Scanned, default: u16) -> Result<u16, CliError> {
    a.opt("port").map_or(Ok(default), |p| {
        p.parse()
            .map_err(|_| CliError::Bad(format!("-p/--port: {p:?} is not a port number (1-65535)")))
    })
}

/// The passwords of `-f/--password-filename` (one per line), none without it.
fn passwords(a: &Scanned) -> Result<Vec<Vec<u8>>, CliError> {
    match a.opt("password-filename") {
        None => Ok(vec![]),
        Some(p) => std::fs::read_to_string(p)
            .map(|t| signer::encrypted::passwords_of(&t))
            .map_err(|e| {
                CliError::Bad(format!(
                    "cannot read the password file {p} (-f/--password-filename): {e}"
                ))
            }),
    }
}

fn handler(a: &Scanned, wallet: &Wallet) -> Result<Arc<Handler>, CliError> {
    for (alias, uri) in wallet.secret_key_uris()? {
        if !uri.starts_with("unencrypted:") && !uri.starts_with("encrypted:") {
            let scheme = uri.split(':').next().unwrap_or_default();
            return Err(CliError::Bad(format!(
                "the key {alias} of {} is a {scheme}: key; this signer holds unencrypted: and \
                 encrypted: keys only: remove it or use another base directory",
                wallet.base_dir().display()
            )));
        }
    }
    let options = launch_options(a)?;
    let h = Handler::from_wallet(wallet, options, &passwords(a)?)?;
    if h.options().require_authentication && h.authorized_keys().is_some_and(|l| l.is_empty()) {
        tracing::warn!(
            "authentication is required but no key is authorized: every request will be \
             refused (add one with `add authorized key <public key>`)"
        );
    }
    if let Some(p) = a.opt("pidfile") {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(|e| CliError::Bad(format!("cannot write the pidfile {p}: {e}")))?;
    }
    Ok(Arc::new(h))
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Bad(format!("cannot start the async runtime: {e}")))
}

async fn bind(host: &str, port: u16) -> Result<tokio::net::TcpListener, CliError> {
    tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| {
            CliError::Bad(format!(
                "cannot listen on {host}:{port} ({e}); choose another -a/--address or -p/--port"
            ))
        })
}

fn run(args: &[String]) -> Result<(), CliError> {
    let a = parse(args)?;
    if a.flag("help") || a.words.is_empty() {
        println!("{USAGE}");
        return Ok(());
    }
    let wallet = Wallet::new(base_dir(&a));
    let w: Vec<&str> = a.words.iter().map(String::as_str).collect();
    let host = a.opt("address").unwrap_or("localhost").to_owned();
    match w.as_slice() {
        ["gen", "keys", alias] => {
            let curve: Curve = a
                .opt("sig")
                .or(a.opt("s"))
                .unwrap_or("ed25519")
                .parse()
                .map_err(|e| {
                    CliError::Bad(format!("--sig: {e}; use ed25519, secp256k1, p256 or bls"))
                })?;
            let sk = SecretKey::generate(curve).map_err(|e| CliError::Bad(e.to_string()))?;
            if a.flag("encrypted") {
                let pw = passwords(&a)?.into_iter().next().ok_or_else(|| {
                    CliError::Bad(
                        "--encrypted needs a password: give -f/--password-filename <file> \
                         (its first line is used)"
                            .into(),
                    )
                })?;
                let mut salt = [0u8; 8];
                getrandom::fill(&mut salt)
                    .map_err(|e| CliError::Bad(format!("no randomness for the salt: {e}")))?;
                let uri = signer::encrypted::encrypt(&sk, &pw, salt)
                    .map_err(|e| CliError::Bad(e.to_string()))?;
                wallet.add_key_with_uri(alias, &sk, &uri, a.flag("force"))?;
            } else {
                wallet.add_key(alias, &sk, a.flag("force"))?;
            }
            Ok(())
        }
        ["import", "secret", "key", alias, uri] if uri.starts_with("encrypted:") => {
            let sk = signer::encrypted::decrypt(uri, &passwords(&a)?)
                .map_err(|e| CliError::Bad(e.to_string()))?;
            wallet.add_key_with_uri(alias, &sk, uri, a.flag("force"))?;
            println!("Tezos address added: {}", sk.public_key_hash());
            Ok(())
        }
        ["import", "secret", "key", alias, uri] => {
            let sk = SecretKey::from_uri(uri).map_err(|e| {
                CliError::Bad(format!(
                    "cannot parse secret key {uri:?}: {e}; this signer imports unencrypted:<key> \
                     and encrypted:<key> URIs"
                ))
            })?;
            wallet.add_key(alias, &sk, a.flag("force"))?;
            println!("Tezos address added: {}", sk.public_key_hash());
            Ok(())
        }
        ["list", "known", "addresses"] => {
            for k in wallet.known_addresses()? {
                let extra = match (&k.sk_scheme, k.pk_known) {
                    (Some(s), _) => format!(" ({s} sk known)"),
                    (None, true) => " (public key known)".to_owned(),
                    (None, false) => String::new(),
                };
                println!("{}: {}{extra}", k.alias, k.pkh);
            }
            Ok(())
        }
        ["show", "address", alias] => {
            println!("Hash: {}", wallet.resolve_pkh(alias)?);
            if let Some(pk) = wallet.public_key(alias)? {
                println!("Public Key: {pk}");
            }
            if a.flag("show-secret") {
                println!("Secret Key: {}", wallet.secret_key_uri(alias)?);
            }
            Ok(())
        }
        ["add", "authorized", "key", pk] => {
            let key: PublicKey = pk.parse().map_err(|e| {
                CliError::Bad(format!(
                    "{pk:?} is not a public key ({e}); give edpk…, sppk…, p2pk… or BLpk…"
                ))
            })?;
            let name = a
                .opt("name")
                .map_or_else(|| key.hash().to_b58check(), str::to_owned);
            wallet.add_authorized_key(&name, &key)?;
            Ok(())
        }
        ["launch", "socket", "signer"] => {
            let h = handler(&a, &wallet)?;
            let port = port(&a, 7732)?;
            let timeout = a
                .opt("timeout")
                .map(|t| {
                    t.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                        CliError::Bad(format!("-t/--timeout: {t:?} is not a number of seconds"))
                    })
                })
                .transpose()?;
            runtime()?.block_on(async {
                let l = bind(&host, port).await?;
                announce("TCP", &l);
                server::serve_tcp(l, h, timeout).await?;
                Ok(())
            })
        }
        ["launch", "local", "signer"] => {
            let h = handler(&a, &wallet)?;
            let path = a
                .opt("socket")
                .or(a.opt("s"))
                .map_or_else(|| wallet.base_dir().join("socket"), PathBuf::from);
            runtime()?.block_on(async {
                let _ = std::fs::remove_file(&path);
                let l = tokio::net::UnixListener::bind(&path).map_err(|e| {
                    CliError::Bad(format!(
                        "cannot listen on the Unix socket {} ({e}); choose another -s/--socket",
                        path.display()
                    ))
                })?;
                tracing::info!("Accepting UNIX requests on {}", path.display());
                println!("Accepting UNIX requests on {}", path.display());
                server::serve_unix(l, h, None).await?;
                Ok(())
            })
        }
        ["launch", "http", "signer"] => {
            let h = handler(&a, &wallet)?;
            let port = port(&a, 6732)?;
            runtime()?.block_on(async {
                let l = bind(&host, port).await?;
                announce("HTTP", &l);
                server::serve_http(l, h).await?;
                Ok(())
            })
        }
        ["launch", "https", "signer", cert, key] => {
            let tls = server::tls_config(cert.as_ref(), key.as_ref())?;
            let h = handler(&a, &wallet)?;
            let port = port(&a, 443)?;
            runtime()?.block_on(async {
                let l = bind(&host, port).await?;
                announce("HTTPS", &l);
                server::serve_https(l, h, tls).await?;
                Ok(())
            })
        }
        _ => Err(CliError::Usage(format!(
            "Unrecognized command: {}",
            a.words.join(" ")
        ))),
    }
}

fn announce(what: &str, l: &tokio::net::TcpListener) {
    let addr = l
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    tracing::info!("Accepting {what} requests on {addr}");
    println!("Accepting {what} requests on {addr}");
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error:\n  {e}");
            ExitCode::FAILURE
        }
    }
}
