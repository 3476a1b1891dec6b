//! Command-line grammar: Octez-style word matching (`transfer <amount> from <src> to <dst>`)
//! plus options accepted anywhere on the line.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::error::ClientError;
use crate::inject::Wait;

/// Global options.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `-E/--endpoint`.
    pub endpoint: String,
    /// `-d/--base-dir`.
    pub base_dir: PathBuf,
    /// `-w/--wait`.
    pub wait: Wait,
    /// `-R/--remote-signer`: where `remote:` keys are (docs/reference/l1-and-signer.md §5.7).
    pub remote_signer: Option<String>,
}

/// A parsed command: its name, positional parameters and options.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Global options.
    pub globals: Globals,
    /// The matched command.
    pub command: CommandKind,
    /// Positional parameters by name.
    pub params: HashMap<&'static str, String>,
    /// Options with values (`--fee` → "0.1"), by long name.
    pub options: HashMap<&'static str, String>,
    /// Flags present (`force`, `show-secret`).
    pub flags: Vec<&'static str>,
}

impl Parsed {
    /// A positional parameter (always present after matching).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// An option value.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    /// Whether a flag is set.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }
}

/// The supported commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// `gen keys <alias>`.
    GenKeys,
    /// `import secret key <alias> <uri>`.
    ImportSecretKey,
    /// `list known addresses`.
    ListKnownAddresses,
    /// `show address <alias>`.
    ShowAddress,
    /// `get balance for <src>`.
    GetBalance,
    /// `transfer <amount> from <src> to <dst>`.
    Transfer,
    /// `originate smart rollup <alias> from <src> of kind <kind> of type <ty> with kernel <k>`.
    OriginateRollup,
    /// `send smart rollup message <msgs> from <src>`.
    SendMessages,
    /// `sign bytes <data> for <src>`.
    SignBytes,
    /// `check that bytes <data> were signed by <src> to produce <signature>`.
    CheckSignature,
    /// `recover bond of <staker> for smart rollup <rollup> from <src>`.
    RecoverBond,
    /// `help` / `--help`.
    Help,
}

const COMMANDS: &[(CommandKind, &str)] = &[
    (CommandKind::GenKeys, "gen keys <alias>"),
    (
        CommandKind::ImportSecretKey,
        "import secret key <alias> <uri>",
    ),
    (CommandKind::ListKnownAddresses, "list known addresses"),
    (CommandKind::ShowAddress, "show address <alias>"),
    (CommandKind::GetBalance, "get balance for <src>"),
    (
        CommandKind::Transfer,
        "transfer <amount> from <src> to <dst>",
    ),
    (
        CommandKind::OriginateRollup,
        "originate smart rollup <alias> from <src> of kind <kind> of type <ty> with kernel <kernel>",
    ),
    (
        CommandKind::SendMessages,
        "send smart rollup message <messages> from <src>",
    ),
    (CommandKind::SignBytes, "sign bytes <data> for <src>"),
    (
        CommandKind::CheckSignature,
        "check that bytes <data> were signed by <src> to produce <signature>",
    ),
    (
        CommandKind::RecoverBond,
        "recover bond of <staker> for smart rollup <rollup> from <src>",
    ),
    (CommandKind::Help, "help"),
];

/// Options taking a value: (long, short).
const VALUE_OPTIONS: &[(&str, Option<&str>)] = &[
    ("endpoint", Some("-E")),
    ("base-dir", Some("-d")),
    ("wait", Some("-w")),
    ("remote-signer", Some("-R")),
    ("sig", Some("-s")),
    ("arg", None),
    ("entrypoint", None),
    ("burn-cap", None),
    ("fee", None),
    ("gas-limit", Some("-G")),
    ("storage-limit", None),
];

/// Flags: (long, short).
const FLAGS: &[(&str, Option<&str>)] = &[
    ("force", Some("-f")),
    ("show-secret", Some("-S")),
    ("help", Some("-h")),
    ("quiet", Some("-q")),
];

/// Usage text.
pub fn usage() -> String {
    let mut s = String::from(
        "Usage: smart-rollup-client [-E <url>] [-d <base-dir>] [-w none|<n>] [-R <signer uri>] <command>\n\
         Commands:\n",
    );
    for (_, p) in COMMANDS {
        s.push_str("  ");
        s.push_str(p);
        s.push('\n');
    }
    s.push_str(
        "Options: --sig ed25519|secp256k1|p256|bls, --force, -S/--show-secret, --arg <michelson>,\n\
         \x20 --entrypoint <name>, --burn-cap <tez>, --fee <tez>, --gas-limit <n>, --storage-limit <n>\n",
    );
    s
}

fn default_base_dir() -> PathBuf {
    match std::env::var("TEZOS_CLIENT_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".tezos-client"),
    }
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Parsed, ClientError> {
    let mut options: HashMap<&'static str, String> = HashMap::new();
    let mut flags = Vec::new();
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a.len() > 1 && a.starts_with('-') && !a[1..].starts_with(|c: char| c.is_ascii_digit()) {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
                _ => (a.as_str(), None),
            };
            if let Some((long, _)) = VALUE_OPTIONS
                .iter()
                .find(|(l, s)| name.strip_prefix("--") == Some(l) || *s == Some(name))
            {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        let v = args.get(i).cloned().ok_or_else(|| {
                            ClientError::Usage(format!("option --{long} expects a value"))
                        })?;
                        i += 1;
                        v
                    }
                };
                options.insert(long, value);
                continue;
            }
            if let Some((long, _)) = FLAGS
                .iter()
                .find(|(l, s)| name.strip_prefix("--") == Some(l) || *s == Some(name))
            {
                flags.push(*long);
                continue;
            }
            return Err(ClientError::Usage(format!(
                "unknown option {a}\n{}",
                usage()
            )));
        }
        words.push(a.clone());
    }
    let wait = match options.get("wait").map(String::as_str) {
        None => Wait::Confirmations(0),
        Some("none") => Wait::None,
        Some(n) => Wait::Confirmations(n.parse().map_err(|_| {
            ClientError::Usage(format!(
                "--wait expects `none` or a number of blocks, got {n}"
            ))
        })?),
    };
    let globals = Globals {
        endpoint: options
            .get("endpoint")
            .cloned()
            .unwrap_or_else(|| "http://localhost:8732".to_owned()),
        base_dir: options
            .get("base-dir")
            .map(PathBuf::from)
            .unwrap_or_else(default_base_dir),
        wait,
        remote_signer: options.get("remote-signer").cloned(),
    };
    if flags.contains(&"help") || words.is_empty() {
        return Ok(Parsed {
            globals,
            command: CommandKind::Help,
            params: HashMap::new(),
            options,
            flags,
        });
    }
    for (kind, pattern) in COMMANDS {
        let pat: Vec<&'static str> = pattern.split(' ').collect();
        if pat.len() != words.len() {
            continue;
        }
        let mut params = HashMap::new();
        let ok = pat.iter().zip(&words).all(|(p, w)| {
            if let Some(name) = p.strip_prefix('<').and_then(|p| p.strip_suffix('>')) {
                params.insert(name, w.clone());
                true
            } else {
                p == w
            }
        });
        if ok {
            return Ok(Parsed {
                globals,
                command: *kind,
                params,
                options,
                flags,
            });
        }
    }
    Err(ClientError::Usage(format!(
        "Unrecognized command: {}\n{}",
        words.join(" "),
        usage()
    )))
}
