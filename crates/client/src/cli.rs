//! Command-line grammar: Octez-style word matching (`transfer <amount> from <src> to <dst>`)
//! plus options accepted anywhere on the line, both with the shared [`signer::grammar`].

use std::collections::HashMap;
use std::path::PathBuf;

use signer::grammar::{self, OptionName, ScanError, Scanned, Tok, Tok::Param, Tok::Word};

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
    /// `-f/--password-filename`: the passwords of `encrypted:` keys, one per line.
    pub password_file: Option<PathBuf>,
}

impl Globals {
    /// The options of the shared key resolution ([`signer::keys`]).
    pub fn key_options(&self) -> signer::KeyOptions {
        signer::KeyOptions {
            remote_signer: self.remote_signer.clone(),
            password_file: self.password_file.clone(),
        }
    }
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
    /// `execute outbox message of smart rollup <rollup> from <src> for commitment hash
    /// <commitment> and output proof <proof>`.
    ExecuteOutboxMessage,
    /// `cement commitment from <src> for smart rollup <rollup>`.
    CementCommitment,
    /// `publish dal commitment <commitment> from <src> for slot <slot> with proof <proof>`.
    PublishDalCommitment,
    /// `post dal slot <data>`: posts a slot's data to a DAL node, prints its commitment.
    PostDalSlot,
    /// `post dal slot <data> and publish from <src> for slot <slot>`: also publishes the
    /// commitment on L1, as `publish dal commitment` does.
    PostAndPublishDalSlot,
    /// `list smart rollups`.
    ListSmartRollups,
    /// `rpc get <url>`.
    RpcGet,
    /// `help` / `--help`.
    Help,
}

/// The grammar of each command (docs/reference/l1-and-signer.md §1.8), matched by
/// [`grammar::match_prefix`] against the words left once the options are removed.
const COMMANDS: &[(CommandKind, &[Tok])] = &[
    (
        CommandKind::GenKeys,
        &[Word("gen"), Word("keys"), Param("alias")],
    ),
    (
        CommandKind::ImportSecretKey,
        &[
            Word("import"),
            Word("secret"),
            Word("key"),
            Param("alias"),
            Param("uri"),
        ],
    ),
    (
        CommandKind::ListKnownAddresses,
        &[Word("list"), Word("known"), Word("addresses")],
    ),
    (
        CommandKind::ShowAddress,
        &[Word("show"), Word("address"), Param("alias")],
    ),
    (
        CommandKind::GetBalance,
        &[Word("get"), Word("balance"), Word("for"), Param("src")],
    ),
    (
        CommandKind::Transfer,
        &[
            Word("transfer"),
            Param("amount"),
            Word("from"),
            Param("src"),
            Word("to"),
            Param("dst"),
        ],
    ),
    (
        CommandKind::OriginateRollup,
        &[
            Word("originate"),
            Word("smart"),
            Word("rollup"),
            Param("alias"),
            Word("from"),
            Param("src"),
            Word("of"),
            Word("kind"),
            Param("kind"),
            Word("of"),
            Word("type"),
            Param("ty"),
            Word("with"),
            Word("kernel"),
            Param("kernel"),
        ],
    ),
    (
        CommandKind::SendMessages,
        &[
            Word("send"),
            Word("smart"),
            Word("rollup"),
            Word("message"),
            Param("messages"),
            Word("from"),
            Param("src"),
        ],
    ),
    (
        CommandKind::SignBytes,
        &[
            Word("sign"),
            Word("bytes"),
            Param("data"),
            Word("for"),
            Param("src"),
        ],
    ),
    (
        CommandKind::CheckSignature,
        &[
            Word("check"),
            Word("that"),
            Word("bytes"),
            Param("data"),
            Word("were"),
            Word("signed"),
            Word("by"),
            Param("src"),
            Word("to"),
            Word("produce"),
            Param("signature"),
        ],
    ),
    (
        CommandKind::RecoverBond,
        &[
            Word("recover"),
            Word("bond"),
            Word("of"),
            Param("staker"),
            Word("for"),
            Word("smart"),
            Word("rollup"),
            Param("rollup"),
            Word("from"),
            Param("src"),
        ],
    ),
    (
        CommandKind::ExecuteOutboxMessage,
        &[
            Word("execute"),
            Word("outbox"),
            Word("message"),
            Word("of"),
            Word("smart"),
            Word("rollup"),
            Param("rollup"),
            Word("from"),
            Param("src"),
            Word("for"),
            Word("commitment"),
            Word("hash"),
            Param("commitment"),
            Word("and"),
            Word("output"),
            Word("proof"),
            Param("proof"),
        ],
    ),
    (
        CommandKind::CementCommitment,
        &[
            Word("cement"),
            Word("commitment"),
            Word("from"),
            Param("src"),
            Word("for"),
            Word("smart"),
            Word("rollup"),
            Param("rollup"),
        ],
    ),
    (
        CommandKind::PublishDalCommitment,
        &[
            Word("publish"),
            Word("dal"),
            Word("commitment"),
            Param("commitment"),
            Word("from"),
            Param("src"),
            Word("for"),
            Word("slot"),
            Param("slot"),
            Word("with"),
            Word("proof"),
            Param("proof"),
        ],
    ),
    (
        CommandKind::PostDalSlot,
        &[Word("post"), Word("dal"), Word("slot"), Param("data")],
    ),
    (
        CommandKind::PostAndPublishDalSlot,
        &[
            Word("post"),
            Word("dal"),
            Word("slot"),
            Param("data"),
            Word("and"),
            Word("publish"),
            Word("from"),
            Param("src"),
            Word("for"),
            Word("slot"),
            Param("slot"),
        ],
    ),
    (
        CommandKind::ListSmartRollups,
        &[Word("list"), Word("smart"), Word("rollups")],
    ),
    (
        CommandKind::RpcGet,
        &[Word("rpc"), Word("get"), Param("url")],
    ),
    (CommandKind::Help, &[Word("help")]),
];

/// Options taking a value: (long, short).
const VALUE_OPTIONS: &[OptionName] = &[
    ("endpoint", Some("-E")),
    ("base-dir", Some("-d")),
    ("wait", Some("-w")),
    ("remote-signer", Some("-R")),
    // `-f` before the command (Octez's global option); after it, `-f` is `--force`.
    ("password-filename", None),
    ("sig", Some("-s")),
    ("arg", None),
    ("entrypoint", None),
    ("burn-cap", None),
    ("fee", None),
    ("gas-limit", Some("-G")),
    ("storage-limit", None),
    ("dal-node", None),
];

/// Flags: (long, short).
const FLAGS: &[OptionName] = &[
    ("force", Some("-f")),
    ("show-secret", Some("-S")),
    ("help", Some("-h")),
    ("quiet", Some("-q")),
    ("encrypted", None),
];

/// Usage text.
pub fn usage() -> String {
    let mut s = String::from(
        "Usage: smart-rollup-client [-E <url>] [-d <base-dir>] [-w none|<n>] [-R <signer uri>]\n\
         \x20                          [-f <password file>] <command>\n\
         Commands:\n",
    );
    for (_, g) in COMMANDS {
        s.push_str("  ");
        s.push_str(&grammar::text(g));
        s.push('\n');
    }
    s.push_str(
        "Options: --sig ed25519|secp256k1|p256|bls, --encrypted, --force, -S/--show-secret, --arg <michelson>,\n\
         \x20 --entrypoint <name>, --burn-cap <tez>, --fee <tez>, --gas-limit <n>, --storage-limit <n>,\n\
         \x20 --dal-node <url> (post dal slot: the DAL node, default the -E endpoint)\n\
         Slot data (post dal slot): text, hex:<bytes> or file:<path>\n",
    );
    s
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Parsed, ClientError> {
    let args = global_password_option(args);
    // A negative number is a word: `transfer -1 …` is refused by the amount parser.
    let Scanned {
        words,
        options,
        flags,
    } = grammar::scan(&args, VALUE_OPTIONS, FLAGS, grammar::is_option_not_number).map_err(|e| {
        match e {
            ScanError::MissingValue { long, .. } => {
                ClientError::Usage(format!("option --{long} expects a value"))
            }
            ScanError::Unknown(a) => ClientError::Usage(format!("unknown option {a}\n{}", usage())),
        }
    })?;
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
            .unwrap_or_else(signer::wallet::default_client_dir),
        wait,
        remote_signer: options.get("remote-signer").cloned(),
        password_file: options.get("password-filename").map(PathBuf::from),
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
    let never_option = |_: &str| false;
    for (kind, g) in COMMANDS {
        if let Some(m) = grammar::match_prefix(g, &words, never_option) {
            return Ok(Parsed {
                globals,
                command: *kind,
                params: m.params.into_iter().collect(),
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

/// As octez-client, `-f` is `--password-filename` among the global options before the command
/// and `--force` after it: the leading `-f` is renamed.
fn global_password_option(args: &[String]) -> Vec<String> {
    let mut out = args.to_vec();
    let takes_value = |a: &str| {
        VALUE_OPTIONS
            .iter()
            .any(|(l, s)| a.strip_prefix("--") == Some(l) || *s == Some(a))
    };
    let mut i = 0;
    while let Some(a) = out.get(i) {
        if !grammar::is_option_not_number(a) {
            break;
        }
        if a == "-f" {
            out[i] = "--password-filename".to_owned();
            i = i.saturating_add(2);
        } else if takes_value(a) {
            i = i.saturating_add(2);
        } else {
            i = i.saturating_add(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(s: &str) -> Result<Parsed, ClientError> {
        parse(&s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn usage_lists_each_grammar_in_octez_form() {
        let u = usage();
        for line in [
            "  transfer <amount> from <src> to <dst>\n",
            "  originate smart rollup <alias> from <src> of kind <kind> of type <ty> with kernel <kernel>\n",
            "  check that bytes <data> were signed by <src> to produce <signature>\n",
            "  help\n",
        ] {
            assert!(u.contains(line), "{line:?} missing from {u}");
        }
    }

    #[test]
    fn commands_match_around_options() {
        let p = parse_line("-d /w transfer -1 from a --fee 0.1 to b -w none").unwrap();
        assert_eq!(p.command, CommandKind::Transfer);
        assert_eq!(p.param("amount"), "-1");
        assert_eq!(p.param("dst"), "b");
        assert_eq!(p.opt("fee"), Some("0.1"));
        assert_eq!(p.globals.base_dir, PathBuf::from("/w"));
        assert!(matches!(p.globals.wait, Wait::None));
        let e = parse_line("transfer 1 from a to").unwrap_err().to_string();
        assert!(
            e.contains("Unrecognized command: transfer 1 from a to"),
            "{e}"
        );
        let e = parse_line("list known addresses --fee")
            .unwrap_err()
            .to_string();
        assert!(e.contains("option --fee expects a value"), "{e}");
        let p = parse_line("-E http://x -f /pw import secret key a encrypted:e -f").unwrap();
        assert_eq!(p.command, CommandKind::ImportSecretKey);
        assert_eq!(p.globals.password_file, Some(PathBuf::from("/pw")));
        assert!(p.flag("force"));
        let p = parse_line("import secret key a b").unwrap();
        assert_eq!(
            (p.globals.password_file.clone(), p.flag("force")),
            (None, false)
        );
        let p = parse_line(
            "execute outbox message of smart rollup r from s for commitment hash c and output \
             proof 0x00",
        )
        .unwrap();
        assert_eq!(p.command, CommandKind::ExecuteOutboxMessage);
        assert_eq!(
            (p.param("rollup"), p.param("src"), p.param("commitment")),
            ("r", "s", "c")
        );
        assert_eq!(p.param("proof"), "0x00");
        let p = parse_line("post dal slot hex:0a --dal-node http://d").unwrap();
        assert_eq!(p.command, CommandKind::PostDalSlot);
        assert_eq!(p.param("data"), "hex:0a");
        assert_eq!(p.opt("dal-node"), Some("http://d"));
        let p = parse_line("post dal slot hi and publish from b for slot 2").unwrap();
        assert_eq!(p.command, CommandKind::PostAndPublishDalSlot);
        assert_eq!((p.param("src"), p.param("slot")), ("b", "2"));
        let p = parse_line("publish dal commitment sh1x from b for slot 3 with proof ab").unwrap();
        assert_eq!(p.command, CommandKind::PublishDalCommitment);
        assert_eq!(
            (
                p.param("commitment"),
                p.param("src"),
                p.param("slot"),
                p.param("proof")
            ),
            ("sh1x", "b", "3", "ab")
        );
        let e = parse_line("list known addresses --nope")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown option --nope"), "{e}");
    }
}
