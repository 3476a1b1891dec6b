//! Command line: Octez's word grammar (octez-rollup-node.md §1, crates-and-anchors.md §4.1)
//! matched by a small table-driven matcher, with clap deriving each command's `--options`.
//!
//! Pure: parsing never touches the network; alias resolution reads the client wallet files
//! of `--base-dir` only when an argument is not a literal address.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use node_follower::main_loop::TestKnobs;
use signer::grammar::{self, Matched, Tok, Tok::OptParam, Tok::Param, Tok::Seq, Tok::Word};
use signer::wallet::{Wallet, WalletError};
use tezos_types::{Level, PublicKeyHash, SmartRollupAddress};

use node_config::{
    CommitOn, Config, HistoryMode, MAX_INJECTOR_RETENTION_PERIOD, Mode, Operators, Purpose,
};

/// Default L1 endpoint (§1.1).
pub const DEFAULT_ENDPOINT: &str = "http://localhost:8732";

/// Which command was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Init,
    RunLegacy,
    Run,
    SnapshotExport,
    SnapshotImport,
    SnapshotInfo,
    ShowProtocols,
    DumpMetrics,
    ListMetrics,
    GenerateOpenapi,
    DumpDurable,
    PatchDurable,
    ReplayBlock,
    ReplayBlocks,
    RepairCommitments,
    RecomputeOutbox,
    Man,
}

struct Spec {
    cmd: Cmd,
    grammar: &'static [Tok],
    desc: &'static str,
}

const COMMANDS: &[Spec] = &[
    Spec {
        cmd: Cmd::Init,
        grammar: &[
            Word("init"),
            Param("mode"),
            Word("config"),
            Word("for"),
            Param("smart-rollup-address"),
            Word("with"),
            Word("operators"),
            Seq("operator"),
        ],
        desc: "Configure the smart rollup node.",
    },
    Spec {
        cmd: Cmd::Run,
        grammar: &[
            Word("run"),
            Param("mode"),
            Word("for"),
            Param("smart-rollup-address"),
            Word("with"),
            Word("operators"),
            Seq("operator"),
        ],
        desc: "Run the rollup node daemon. Arguments overwrite values provided in the \
               configuration file.",
    },
    Spec {
        cmd: Cmd::RunLegacy,
        grammar: &[Word("run")],
        desc: "Run the rollup node daemon (deprecated).",
    },
    Spec {
        cmd: Cmd::SnapshotExport,
        grammar: &[Word("snapshot"), Word("export"), OptParam("file")],
        desc: "Export a snapshot of the rollup node state.",
    },
    Spec {
        cmd: Cmd::SnapshotImport,
        grammar: &[Word("snapshot"), Word("import"), Param("snapshot_file")],
        desc: "Import a snapshot file in a rollup node.",
    },
    Spec {
        cmd: Cmd::SnapshotInfo,
        grammar: &[Word("snapshot"), Word("info"), Param("snapshot_file")],
        desc: "Display information about a snapshot file.",
    },
    Spec {
        cmd: Cmd::ShowProtocols,
        grammar: &[Word("show"), Word("supported"), Word("protocols")],
        desc: "Shows the protocols supported by this rollup node.",
    },
    Spec {
        cmd: Cmd::DumpMetrics,
        grammar: &[Word("dump-metrics")],
        desc: "dump the rollup node available metrics in CSV format.",
    },
    Spec {
        cmd: Cmd::ListMetrics,
        grammar: &[Word("list"), Word("metrics")],
        desc: "List the metrics exported by the rollup node (Prometheus format).",
    },
    Spec {
        cmd: Cmd::GenerateOpenapi,
        grammar: &[Word("generate"), Word("openapi")],
        desc: "Generate OpenAPI specification.",
    },
    Spec {
        cmd: Cmd::DumpDurable,
        grammar: &[
            Word("dump"),
            Word("durable"),
            Word("storage"),
            Word("into"),
            Param("dump.<json|yaml>"),
        ],
        desc: "dump the durable_storage.",
    },
    Spec {
        cmd: Cmd::PatchDurable,
        grammar: &[
            Word("patch"),
            Word("durable"),
            Word("storage"),
            Word("at"),
            Param("path"),
            Word("with"),
            Param("value"),
        ],
        desc: "Patches the durable storage with an arbitrary value. This is an unsafe \
               command, it should be used for debugging only.",
    },
    Spec {
        cmd: Cmd::ReplayBlock,
        grammar: &[Word("replay"), Word("block"), Param("block")],
        desc: "Replay a block.",
    },
    Spec {
        cmd: Cmd::ReplayBlocks,
        grammar: &[
            Word("replay"),
            Word("blocks"),
            Word("from"),
            Param("level"),
            Word("to"),
            Param("level"),
        ],
        desc: "Replay a range of blocks.",
    },
    Spec {
        cmd: Cmd::RepairCommitments,
        grammar: &[
            Word("repair"),
            Word("commitments"),
            Word("for"),
            Param("protocol"),
        ],
        desc: "Repair commitments of a protocol.",
    },
    Spec {
        cmd: Cmd::RecomputeOutbox,
        grammar: &[
            Word("recompute"),
            Word("outbox"),
            Word("messages"),
            Word("from"),
            Param("level"),
        ],
        desc: "Recompute outbox messages indexes from a level.",
    },
    Spec {
        cmd: Cmd::Man,
        grammar: &[Word("man")],
        desc: "Print documentation of commands.",
    },
];

/// Global options (§1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Globals {
    /// `-E/--endpoint`.
    pub endpoint: String,
    /// `-d/--base-dir`.
    pub base_dir: PathBuf,
    /// `-R/--remote-signer`: the signer of `remote:` keys (docs/reference/l1-and-signer.md §5.7).
    pub remote_signer: Option<String>,
    /// `-f/--password-filename`: passwords of `encrypted:` keys, one per line.
    pub password_file: Option<PathBuf>,
}

/// Options shared by `init`, `run` and legacy `run` (`cli.ml`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NodeOptions {
    /// The path to the smart rollup node data directory. Default value is
    /// $HOME/.tezos-smart-rollup-node
    #[arg(long = "data-dir", value_name = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// Location of the configuration file for the rollup node. Defaults to
    /// `<data-dir>/config.json`.
    #[arg(long = "config-file", value_name = "config.json")]
    pub config_file: Option<PathBuf>,
    /// The address the smart rollup node listens to. Default value is 127.0.0.1
    #[arg(long = "rpc-addr", value_name = "rpc-address|ip")]
    pub rpc_addr: Option<String>,
    /// The port the smart rollup node listens to. Default value is 8932
    #[arg(
        long = "rpc-port",
        allow_negative_numbers = true,
        value_name = "rpc-port"
    )]
    pub rpc_port: Option<u16>,
    /// Specify a different ACL for the rpc server to override the default one. Possible
    /// values are 'secure' and 'allow-all'
    #[arg(long = "acl-override", value_name = "kind", value_parser = parse_acl_override)]
    pub acl_override: Option<AclOverride>,
    /// Start the smart rollup node metrics server at the specified address ADDR:PORT.
    /// Default value is localhost:9933
    #[arg(long = "metrics-addr", value_name = "ADDR:PORT|:PORT")]
    pub metrics_addr: Option<String>,
    /// Enable performance metrics (DEPRECATED, enabled by default).
    #[arg(long = "enable-performance-metrics")]
    pub enable_performance_metrics: bool,
    /// Disable performance metrics when the metrics server is started.
    #[arg(long = "disable-performance-metrics")]
    pub disable_performance_metrics: bool,
    /// Set the rollup node failure points (for test only!).
    #[arg(long = "loser-mode", value_name = "mode")]
    pub loser_mode: Option<String>,
    /// The first reconnection delay, in seconds, to wait before reconnecting to the Tezos
    /// node. The default delay is 2.0.
    #[arg(long = "reconnection-delay", allow_negative_numbers = true, value_name = "delay", value_parser = parse_delay)]
    pub reconnection_delay: Option<f64>,
    /// The address of the dal node from which the smart rollup node downloads slots.
    #[arg(long = "dal-node", value_name = "dal-node-endpoint", value_parser = parse_dal_url)]
    pub dal_node: Option<String>,
    /// The address of a service which provides pre-images for the rollup.
    #[arg(long = "pre-images-endpoint", value_name = "url", value_parser = parse_preimages_url)]
    pub pre_images_endpoint: Option<String>,
    /// The number of blocks the injector keeps in memory. Default value is 2048
    #[arg(long = "injector-retention-period", allow_negative_numbers = true, value_name = "blocks", value_parser = parse_retention)]
    pub injector_retention_period: Option<u16>,
    /// The number of attempts that the injector will make to inject an operation when it
    /// fails. Default value is 10
    #[arg(
        long = "injector-attempts",
        allow_negative_numbers = true,
        value_name = "number"
    )]
    pub injector_attempts: Option<u16>,
    /// The number of blocks after which an operation that is injected but never included is
    /// retried. Default value is 120
    #[arg(long = "injection-ttl", allow_negative_numbers = true, value_name = "number", value_parser = parse_ttl)]
    pub injection_ttl: Option<u16>,
    /// The maximum cache size in memory before it is flushed to disk (Deprecated)
    #[arg(long = "index-buffer-size", allow_negative_numbers = true, value_name = "nb_entries", value_parser = positive_int)]
    pub index_buffer_size: Option<i64>,
    /// Log the kernel debug output to kernel.log in the data directory
    #[arg(long = "log-kernel-debug")]
    pub log_kernel_debug: bool,
    /// File where the kernel debug output is logged.
    #[arg(long = "log-kernel-debug-file", value_name = "file")]
    pub log_kernel_debug_file: Option<String>,
    /// Path to the boot sector (bootstrapped rollups only).
    #[arg(long = "boot-sector-file", value_name = "file")]
    pub boot_sector_file: Option<String>,
    /// Prevent the rollup node from entering degraded mode on error.
    #[arg(long = "no-degraded")]
    pub no_degraded: bool,
    /// The number of blocks between each launch of the garbage collection.
    #[arg(long = "gc-frequency", allow_negative_numbers = true, value_name = "blocks", value_parser = positive_int32)]
    pub gc_frequency: Option<i32>,
    /// The history mode for the rollup node (archive, full) (default is full)
    #[arg(long = "history-mode", value_name = "history_mode")]
    pub history_mode: Option<HistoryMode>,
    /// List of accepted cors origins.
    #[arg(
        long = "cors-origins",
        value_name = "ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Option<Vec<String>>,
    /// List of accepted cors headers.
    #[arg(
        long = "cors-headers",
        value_name = "ALLOWED_HEADERS",
        value_delimiter = ','
    )]
    pub cors_headers: Option<Vec<String>>,
    /// Exit instead of playing with a commitment the node disagrees with.
    #[arg(long = "bail-on-disagree")]
    pub bail_on_disagree: bool,
    /// When to commit the context to disk: block or commitment.
    #[arg(long = "commit-on", value_name = "block|commitment")]
    pub commit_on: Option<CommitOn>,
    /// Disable kernel checks (debug only).
    #[arg(long = "unsafe-disable-wasm-kernel-checks")]
    pub unsafe_disable_wasm_kernel_checks: bool,
    /// Fall back to the slow VM when the fast execution fails.
    #[arg(long = "slow-vm-fallback")]
    pub slow_vm_fallback: bool,
    /// Enable or disable profiling with opentelemetry
    #[arg(long = "profiling", value_name = "bool", value_parser = parse_bool_word)]
    pub profiling: Option<bool>,
    /// Force this rollup to be detected as an Etherlink rollup
    #[arg(long = "etherlink")]
    pub etherlink: bool,
    /// Only monitor finalized L1 heads.
    #[arg(long = "l1-monitor-finalized")]
    pub l1_monitor_finalized: bool,
}

/// `--acl-override` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclOverride {
    /// `secure`
    Secure,
    /// `allow-all`
    AllowAll,
}

fn parse_acl_override(s: &str) -> Result<AclOverride, String> {
    match s {
        "secure" => Ok(AclOverride::Secure),
        "allow-all" | "allow_all" => Ok(AclOverride::AllowAll),
        _ => Err("Bad value for acl-override, possible values are 'secure' and 'allow-all'".into()),
    }
}

fn parse_retention(s: &str) -> Result<u16, String> {
    match s.parse::<i64>() {
        Ok(p) if (0..=i64::from(MAX_INJECTOR_RETENTION_PERIOD)).contains(&p) => {
            u16::try_from(p).map_err(|e| e.to_string())
        }
        Ok(_) => Err(format!(
            "injector-retention-period should be a positive number smaller than \
             {MAX_INJECTOR_RETENTION_PERIOD}"
        )),
        Err(_) => Err("Cannot read int".into()),
    }
}

fn parse_ttl(s: &str) -> Result<u16, String> {
    match s.parse::<i64>() {
        Ok(p) if p >= 1 => u16::try_from(p).map_err(|e| e.to_string()),
        Ok(_) => Err("injection-ttl should be > 1".into()),
        Err(_) => Err("Cannot read int".into()),
    }
}

fn positive_int(s: &str) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(i) if i > 0 => Ok(i),
        _ => Err(format!(
            "Expected a valid positive integer, provided {s} instead"
        )),
    }
}

fn positive_int32(s: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(i) if i > 0 => Ok(i),
        _ => Err(format!(
            "Expected a valid positive integer, provided {s} instead"
        )),
    }
}

/// `--reconnection-delay`: seconds, finite, positive ([`node_config::check_seconds`]).
fn parse_delay(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {s:?}"))?;
    node_config::check_seconds("--reconnection-delay", v).map_err(|e| e.message)?;
    Ok(v)
}

fn parse_preimages_url(s: &str) -> Result<String, String> {
    node_config::check_http_url("--pre-images-endpoint", s).map_err(|e| e.message)?;
    Ok(s.to_string())
}

fn parse_dal_url(s: &str) -> Result<String, String> {
    node_config::check_http_url("--dal-node", s).map_err(|e| e.message)?;
    Ok(s.to_string())
}

fn parse_bool_word(s: &str) -> Result<bool, String> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        s => Err(format!("Invalid value {s:?} for --profiling")),
    }
}

#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct InitOpts {
    /// Overwrites the configuration file when it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    node: NodeOptions,
}

#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct RunOpts {
    /// Size of Irmin cache in number of entries
    #[arg(long = "irmin-cache-size", allow_negative_numbers = true, value_name = "nb_entries", value_parser = positive_int)]
    irmin_cache_size: Option<i64>,
    /// Apply unsafe PVM patches in the configuration or hardcoded by the node.
    #[arg(long = "apply-unsafe-patches")]
    apply_unsafe_patches: bool,
    /// Cut a corrupted context store at its first damaged record and replay the lost levels
    /// from the L1 node (this node's addition; see `pvm_store::repair`).
    #[arg(long = "repair-context")]
    repair_context: bool,
    #[command(flatten)]
    test: TestOpts,
    #[command(flatten)]
    node: NodeOptions,
}

#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct LegacyRunOpts {
    /// The mode for the rollup node (required when no configuration file exists)
    #[arg(long = "mode", value_name = "mode")]
    mode: Option<String>,
    /// The smart rollup address (required when no configuration file exists)
    #[arg(long = "rollup", value_name = "smart-rollup-address")]
    rollup: Option<String>,
    /// Apply unsafe PVM patches in the configuration or hardcoded by the node.
    #[arg(long = "apply-unsafe-patches")]
    apply_unsafe_patches: bool,
    /// Cut a corrupted context store at its first damaged record and replay the lost levels
    /// from the L1 node (this node's addition; see `pvm_store::repair`).
    #[arg(long = "repair-context")]
    repair_context: bool,
    #[command(flatten)]
    test: TestOpts,
    #[command(flatten)]
    node: NodeOptions,
}

/// Test-only options of `run` (both forms), hidden from the help: the end-to-end tests use them
/// to reach states that take too long or are too brief otherwise (see
/// `node_follower::main_loop::TestKnobs`). Not part of Octez's interface.
#[derive(Debug, Clone, Default, clap::Args)]
struct TestOpts {
    /// Plan catch-up in chunks of this many levels (default 1000).
    #[arg(long = "test-catch-up-chunk", hide = true, value_name = "levels", value_parser = positive_int32)]
    test_catch_up_chunk: Option<i32>,
    /// Sleep this many milliseconds in the context GC before its sweep.
    #[arg(long = "test-gc-delay-ms", hide = true, value_name = "ms")]
    test_gc_delay_ms: Option<u64>,
}

impl TestOpts {
    fn knobs(&self) -> TestKnobs {
        TestKnobs {
            catch_up_chunk: self.test_catch_up_chunk,
            gc_delay: self.test_gc_delay_ms.map(std::time::Duration::from_millis),
        }
    }
}

#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct AnyOpts {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    _rest: Vec<String>,
}

/// An operator argument (`<key>` or `<purpose>:<key>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorArg {
    /// Used for every needed purpose.
    Default(PublicKeyHash),
    /// For one purpose.
    Purpose(Purpose, PublicKeyHash),
}

/// What `init`/`run` need to build a configuration.
#[derive(Debug, Clone)]
pub struct NodeCommand {
    /// Mode from the positional parameter or `--mode`.
    pub mode: Option<Mode>,
    /// Rollup from the positional parameter or `--rollup`.
    pub rollup: Option<SmartRollupAddress>,
    /// Operators from the positional list.
    pub operators: Vec<OperatorArg>,
    /// Options.
    pub options: NodeOptions,
    /// `--irmin-cache-size` (run) or the duplicate `--index-buffer-size` (init quirk).
    pub irmin_cache_size: Option<i64>,
    /// `--apply-unsafe-patches`.
    pub apply_unsafe_patches: bool,
    /// `--force` (init only).
    pub force: bool,
    /// `--repair-context` (run only): cut a corrupted context store and replay from L1.
    pub repair_context: bool,
    /// The hidden test-only options of `run` (default: none).
    pub test: TestKnobs,
}

impl NodeCommand {
    /// The data directory (default `$HOME/.tezos-smart-rollup-node`).
    pub fn data_dir(&self) -> PathBuf {
        self.options.data_dir.clone().unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".tezos-smart-rollup-node")
        })
    }

    /// The config file (default `<data-dir>/config.json`).
    pub fn config_file(&self) -> PathBuf {
        self.options
            .config_file
            .clone()
            .unwrap_or_else(|| self.data_dir().join("config.json"))
    }
}

/// A parsed command line.
#[derive(Debug, Clone)]
pub enum Command {
    /// `init <mode> config for <rollup> with operators …`
    Init(Globals, NodeCommand),
    /// `run …` (both forms).
    Run(Globals, NodeCommand),
    /// `snapshot export|import|info` (§7).
    Snapshot(SnapshotCommand),
    /// `dump durable storage into <file> [--data-dir] [-b/--block]`.
    DumpDurable {
        /// The node's data directory.
        data_dir: PathBuf,
        /// Which block's state.
        block: crate::durable_cmd::BlockArg,
        /// Output file (`.json`, else YAML).
        file: PathBuf,
    },
    /// `patch durable storage at <key> with <value> [--data-dir] [-f/--force]`.
    PatchDurable {
        /// The node's data directory.
        data_dir: PathBuf,
        /// Durable key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// `replay block <hash|level>` / `replay blocks from <l> to <l>` `[--data-dir]`
    /// `[--profiling]` `[--dal-node]`.
    Replay {
        /// The node's data directory.
        data_dir: PathBuf,
        /// What to replay.
        what: crate::replay::Replay,
        /// The L1 node (`-E`) and DAL node (`--dal-node`) DAL reveals are answered from.
        dal: crate::replay::DalAccess,
    },
    /// `recompute outbox messages from <level> [--data-dir]`.
    RecomputeOutbox {
        /// The node's data directory.
        data_dir: PathBuf,
        /// First level to recompute.
        from: Level,
    },
    /// A recognised command this node does not implement yet.
    NotSupported(&'static str),
    /// Print this text on stdout and exit 0 (`--help`, `man`, `--version`).
    Print(String),
}

/// A command-line error, printed on stderr (exit 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

fn erroneous(index: usize, value: &str, msg: &str) -> CliError {
    CliError(format!(
        "Erroneous command line argument {index} ({value}).\n{msg}"
    ))
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, CliError> {
    let mut globals = Globals {
        endpoint: DEFAULT_ENDPOINT.into(),
        base_dir: signer::wallet::default_client_dir(),
        remote_signer: None,
        password_file: None,
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a, None),
        };
        let value = |i: &mut usize| -> Result<String, CliError> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            *i += 1;
            args.get(*i)
                .cloned()
                .ok_or_else(|| CliError(format!("Option {name} expects an argument.")))
        };
        match name {
            "-E" | "--endpoint" => {
                let v = value(&mut i)?;
                http_client::Endpoint::parse("-E/--endpoint", &v)
                    .map_err(|e| CliError(e.to_string()))?;
                globals.endpoint = v;
            }
            "-d" | "--base-dir" => globals.base_dir = PathBuf::from(value(&mut i)?),
            "-R" | "--remote-signer" => globals.remote_signer = Some(value(&mut i)?),
            "-f" | "--password-filename" => {
                globals.password_file = Some(PathBuf::from(value(&mut i)?));
            }
            // Global options of the Octez client library this node does not implement: refused
            // rather than ignored.
            "-A" | "--addr" | "-P" | "--port" | "-t" | "--timings" | "-l" | "--log-requests"
            | "-S" | "--tls" => {
                return Err(CliError(format!(
                    "{name}: not supported yet by this rollup node.{}",
                    match name {
                        "-A" | "--addr" | "-P" | "--port" | "-S" | "--tls" =>
                            " Give the L1 node with -E/--endpoint <url> instead.",
                        _ => "",
                    }
                )));
            }
            // Without effect in this node as in Octez's: no base directory warnings are
            // printed, errors are always given in full.
            "-n" | "--no-base-dir-warnings" | "--better-errors" => {}
            "-h" | "--help" => return Ok(Command::Print(usage())),
            "--version" => return Ok(Command::Print(version_text())),
            _ => break,
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() {
        return Ok(Command::Print(usage()));
    }
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Print(help_for(rest)));
    }
    // Longest grammar that matches the positional prefix.
    let mut best: Option<(&Spec, Matched)> = None;
    for spec in COMMANDS {
        if let Some(m) = grammar::match_prefix(spec.grammar, rest, grammar::is_option) {
            let better = best
                .as_ref()
                .is_none_or(|b| spec.grammar.len() > b.0.grammar.len());
            if better {
                best = Some((spec, m));
            }
        }
    }
    let Some((
        spec,
        Matched {
            params,
            seqs,
            consumed: used,
        },
    )) = best
    else {
        return Err(CliError(
            "Unrecognized command.\nTry using the man command to get more information.".into(),
        ));
    };
    let options = &rest[used..];
    // Argument index as Clic counts it (1-based, after the global options).
    let param_index = |name_pos: usize| i + name_pos + 1;
    match spec.cmd {
        Cmd::Init | Cmd::Run => {
            let mode_pos = 1;
            let params: Vec<String> = params.into_iter().map(|(_, v)| v).collect();
            let mode = Mode::parse(&params[0])
                .map_err(|e| erroneous(param_index(mode_pos), &params[0], &e.to_string()))?;
            let rollup_pos = if spec.cmd == Cmd::Init { 4 } else { 3 };
            let rollup = resolve_rollup(&globals.base_dir, &params[1])
                .map_err(|e| erroneous(param_index(rollup_pos), &params[1], &e))?;
            let first_op = rollup_pos + 3;
            let operators = seqs[0]
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    parse_operator(&globals.base_dir, s)
                        .map_err(|e| erroneous(param_index(first_op + k), s, &e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut nc = NodeCommand {
                mode: Some(mode),
                rollup: Some(rollup),
                operators,
                options: NodeOptions::default(),
                irmin_cache_size: None,
                apply_unsafe_patches: false,
                force: false,
                repair_context: false,
                test: TestKnobs::default(),
            };
            if spec.cmd == Cmd::Init {
                let o = InitOpts::try_parse_from(options).map_err(clap_error)?;
                nc.force = o.force;
                nc.irmin_cache_size = o.node.index_buffer_size;
                nc.options = o.node;
                Ok(Command::Init(globals, check_node_options(nc)?))
            } else {
                let o = RunOpts::try_parse_from(options).map_err(clap_error)?;
                nc.irmin_cache_size = o.irmin_cache_size;
                nc.apply_unsafe_patches = o.apply_unsafe_patches;
                nc.repair_context = o.repair_context;
                nc.test = o.test.knobs();
                nc.options = o.node;
                Ok(Command::Run(globals, check_node_options(nc)?))
            }
        }
        Cmd::RunLegacy => {
            let o = LegacyRunOpts::try_parse_from(options).map_err(clap_error)?;
            let mode = o
                .mode
                .as_deref()
                .map(|m| Mode::parse(m).map_err(|e| CliError(format!("Option --mode: {e}"))))
                .transpose()?;
            let rollup = o
                .rollup
                .as_deref()
                .map(|r| {
                    resolve_rollup(&globals.base_dir, r)
                        .map_err(|e| CliError(format!("Option --rollup: {e}")))
                })
                .transpose()?;
            let nc = NodeCommand {
                mode,
                rollup,
                operators: vec![],
                irmin_cache_size: o.node.index_buffer_size,
                options: o.node,
                apply_unsafe_patches: o.apply_unsafe_patches,
                force: false,
                repair_context: o.repair_context,
                test: o.test.knobs(),
            };
            Ok(Command::Run(globals, check_node_options(nc)?))
        }
        Cmd::SnapshotExport | Cmd::SnapshotImport | Cmd::SnapshotInfo => {
            let file = params.into_iter().next().map(|(_, v)| v);
            snapshot_command(spec.cmd, file, options, &globals.endpoint).map(Command::Snapshot)
        }
        Cmd::RecomputeOutbox => {
            let o = DataDirOpts::try_parse_from(options).map_err(clap_error)?;
            let value = params
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or_default();
            let from = value
                .parse::<i32>()
                .ok()
                .and_then(Level::new)
                .ok_or_else(|| {
                    erroneous(param_index(4), &value, "Invalid level: give a level >= 0.")
                })?;
            Ok(Command::RecomputeOutbox {
                data_dir: o.data_dir.unwrap_or_else(default_data_dir),
                from,
            })
        }
        Cmd::DumpDurable => {
            let o = DumpDurableOpts::try_parse_from(options).map_err(clap_error)?;
            let file = params
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or_default();
            let block = crate::durable_cmd::BlockArg::parse(o.block.as_deref().unwrap_or("head"))
                .map_err(|e| CliError(format!("Option --block: {e}")))?;
            Ok(Command::DumpDurable {
                data_dir: o.data_dir.unwrap_or_else(default_data_dir),
                block,
                file: PathBuf::from(file),
            })
        }
        Cmd::PatchDurable => {
            let o = PatchDurableOpts::try_parse_from(options).map_err(clap_error)?;
            let mut params = params.into_iter().map(|(_, v)| v);
            let key = params.next().unwrap_or_default();
            let value = params.next().unwrap_or_default();
            if !o.force {
                return Err(CliError(
                    "Patching the durable storage is unsafe (the node computes another state \
                     than the other nodes): add --force to do it anyway."
                        .into(),
                ));
            }
            let value = crate::durable_cmd::patch_value(&value)
                .map_err(|e| erroneous(param_index(6), &value, &e))?;
            Ok(Command::PatchDurable {
                data_dir: o.data_dir.unwrap_or_else(default_data_dir),
                key,
                value,
            })
        }
        Cmd::ShowProtocols => {
            AnyOpts::try_parse_from(options).map_err(clap_error)?;
            // Oldest first: the protocols whose blocks this node follows and whose inbox
            // it rebuilds (crates/inbox/src/protocols.rs).
            let mut text: String = inbox::protocols::PROTOCOL_VERSIONS
                .iter()
                .rev()
                .map(|(hash, _)| format!("{hash}\n"))
                .collect();
            if text.is_empty() {
                text = "No protocols supported by this node!\n".into();
            }
            Ok(Command::Print(text))
        }
        Cmd::ReplayBlock | Cmd::ReplayBlocks => {
            let o = ReplayOpts::try_parse_from(options).map_err(clap_error)?;
            let values: Vec<String> = params.into_iter().map(|(_, v)| v).collect();
            let level = |pos: usize, v: &str| {
                v.parse::<i32>().ok().and_then(Level::new).ok_or_else(|| {
                    erroneous(param_index(pos), v, "Invalid level: give a level >= 0.")
                })
            };
            let what = if spec.cmd == Cmd::ReplayBlock {
                let v = values.first().cloned().unwrap_or_default();
                match v.parse::<i32>() {
                    Ok(_) => {
                        let l = level(2, &v)?;
                        crate::replay::Replay::Levels(l, l)
                    }
                    Err(_) => crate::replay::Replay::Hash(v.parse().map_err(|_| {
                        erroneous(
                            param_index(2),
                            &v,
                            "Invalid block: give a block hash or a level.",
                        )
                    })?),
                }
            } else {
                let from = values.first().cloned().unwrap_or_default();
                let to = values.get(1).cloned().unwrap_or_default();
                crate::replay::Replay::Levels(level(3, &from)?, level(5, &to)?)
            };
            Ok(Command::Replay {
                data_dir: o.data_dir.unwrap_or_else(default_data_dir),
                what,
                dal: crate::replay::DalAccess {
                    l1: globals.endpoint,
                    dal_node: o.dal_node,
                },
            })
        }
        Cmd::DumpMetrics | Cmd::ListMetrics => {
            let o = MetricsOpts::try_parse_from(options).map_err(clap_error)?;
            if o.disable_performance_metrics && spec.cmd == Cmd::DumpMetrics {
                return Err(CliError(
                    "Option --disable-performance-metrics is only for `list metrics`.".into(),
                ));
            }
            metrics_text(spec.cmd == Cmd::DumpMetrics).map(Command::Print)
        }
        Cmd::Man => Ok(Command::Print(manual())),
        Cmd::GenerateOpenapi => {
            AnyOpts::try_parse_from(options).map_err(clap_error)?;
            // The same document as `GET /openapi`, on stdout (Octez: `generate openapi`).
            let doc = node_rpc::openapi::document();
            let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            Ok(Command::Print(format!("{text}\n")))
        }
        other => {
            AnyOpts::try_parse_from(options).map_err(clap_error)?;
            let name = match other {
                Cmd::SnapshotExport => "snapshot export",
                Cmd::SnapshotImport => "snapshot import",
                Cmd::SnapshotInfo => "snapshot info",
                _ => "repair commitments",
            };
            Ok(Command::NotSupported(name))
        }
    }
}

fn check_node_options(nc: NodeCommand) -> Result<NodeCommand, CliError> {
    if nc.options.enable_performance_metrics && nc.options.disable_performance_metrics {
        return Err(CliError(
            "Cannot use both --enable-performance-metrics and --disable-performance-metrics".into(),
        ));
    }
    let dir = nc.data_dir();
    if dir.exists() && !dir.is_dir() {
        return Err(CliError(format!(
            "--data-dir {}: this path is a file, not a directory. Give a directory (it is \
             created if missing).",
            dir.display()
        )));
    }
    if let Some(d) = &nc.options.data_dir
        && d.join("identity.json").exists()
    {
        return Err(CliError(
            "Invalid data directory. This is a data directory for an Octez node, please \
             choose a different directory for the smart rollup node data."
                .into(),
        ));
    }
    if let Some(f) = &nc.options.boot_sector_file
        && !Path::new(f).exists()
    {
        return Err(CliError(format!("Boot sector not found at path {f:?}")));
    }
    Ok(nc)
}

/// `snapshot export|import|info` (octez-rollup-node.md §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotCommand {
    /// `snapshot export [<file>]`.
    Export(snapshot::ExportOptions),
    /// `snapshot import <file|url|->`, with `--level` (reset the imported store to it) and
    /// `--dal-node` (DAL pages for the replay of a compact or Octez snapshot).
    Import(snapshot::ImportOptions, Option<Level>, Option<String>),
    /// `snapshot info <file|url|->`.
    Info(snapshot::Source),
}

/// Options of `dump durable storage`.
#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct DumpDurableOpts {
    /// The path to the smart rollup node data directory. Default value is
    /// $HOME/.tezos-smart-rollup-node
    #[arg(long = "data-dir", value_name = "data-dir")]
    data_dir: Option<PathBuf>,
    /// The block: head (default), head~<n>, a level or a block hash.
    #[arg(short = 'b', long = "block", value_name = "hash|level|tag")]
    block: Option<String>,
}

/// Options of `patch durable storage`.
#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct PatchDurableOpts {
    /// The path to the smart rollup node data directory. Default value is
    /// $HOME/.tezos-smart-rollup-node
    #[arg(long = "data-dir", value_name = "data-dir")]
    data_dir: Option<PathBuf>,
    /// Apply the patch (it is refused without).
    #[arg(short = 'f', long = "force")]
    force: bool,
}

/// Options of `list metrics` (this node has no performance metrics: the switch changes
/// nothing).
#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct MetricsOpts {
    /// Do not list the performance metrics.
    #[arg(long = "disable-performance-metrics")]
    disable_performance_metrics: bool,
}

/// `dump-metrics` (CSV) or `list metrics` (Prometheus HELP/TYPE lines): the metrics a node
/// exports, whatever its rollup (the labels' values are not listed).
fn metrics_text(csv: bool) -> Result<String, CliError> {
    let rollup = "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf"
        .parse()
        .map_err(|e| CliError(format!("{e:?}")))?;
    let config = node_config::Config::new(rollup, Mode::Observer);
    let text = if csv {
        node_rpc::metrics::NodeMetrics::csv(&config)
    } else {
        node_rpc::metrics::NodeMetrics::listing(&config)
    };
    text.map_err(|e| CliError(format!("Cannot list the metrics: {e}")))
}

/// Options of commands on a data directory (`recompute outbox messages`).
#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct DataDirOpts {
    /// The path to the smart rollup node data directory. Default value is
    /// $HOME/.tezos-smart-rollup-node
    #[arg(long = "data-dir", value_name = "data-dir")]
    data_dir: Option<PathBuf>,
}

/// Options of `replay block` and `replay blocks` (`main_smart_rollup_node.ml`,
/// `replay_block_command`: `--data-dir`, `--profiling`; Octez reads the DAL node from the
/// configuration file, which `--dal-node` overrides here).
#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct ReplayOpts {
    /// The path to the smart rollup node data directory. Default value is
    /// $HOME/.tezos-smart-rollup-node
    #[arg(long = "data-dir", value_name = "data-dir")]
    data_dir: Option<PathBuf>,
    /// Enable or disable profiling with opentelemetry (accepted as Octez does; this node's
    /// replay has no profiling).
    #[arg(long = "profiling", value_name = "bool", value_parser = parse_bool_word)]
    _profiling: Option<bool>,
    /// The address of the DAL node from which the replay downloads the pages of the slots the
    /// kernel reads (default: the DAL node of the configuration file). The L1 node (-E) gives
    /// the DAL constants and attestations.
    #[arg(long = "dal-node", value_name = "dal-node-endpoint", value_parser = parse_dal_url)]
    dal_node: Option<String>,
}

/// Options of `snapshot export` (`main_smart_rollup_node.ml`, `export_snapshot`).
#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct SnapshotExportOpts {
    /// The path to the smart rollup node data directory. Default value is
    /// $HOME/.tezos-smart-rollup-node
    #[arg(long = "data-dir", value_name = "data-dir")]
    data_dir: Option<PathBuf>,
    /// Directory in which to export the snapshot (only without a file name).
    #[arg(long = "dest", value_name = "path")]
    dest: Option<PathBuf>,
    /// Level of the snapshot: head, finalized, cemented or a level (default finalized).
    #[arg(long = "level", value_name = "level")]
    level: Option<String>,
    /// Don't check the snapshot.
    #[arg(long = "no-check")]
    no_check: bool,
    /// Compress the snapshot while writing it.
    #[arg(long = "compress-on-the-fly")]
    compress_on_the_fly: bool,
    /// Do not compress the snapshot.
    #[arg(long = "uncompressed")]
    uncompressed: bool,
    /// Export a compact snapshot (one context commit).
    #[arg(long = "compact")]
    compact: bool,
    /// The address of the running rollup node (to cancel its GC).
    #[arg(long = "rollup-node-endpoint", value_name = "uri")]
    rollup_node_endpoint: Option<String>,
}

/// Options of `snapshot import` (`main_smart_rollup_node.ml`, `import_snapshot`).
#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct SnapshotImportOpts {
    /// The path to the smart rollup node data directory. Default value is
    /// $HOME/.tezos-smart-rollup-node
    #[arg(long = "data-dir", value_name = "data-dir")]
    data_dir: Option<PathBuf>,
    /// Don't check the snapshot.
    #[arg(long = "no-check")]
    no_check: bool,
    /// Import into a populated data directory.
    #[arg(long = "force")]
    force: bool,
    /// Apply the unsafe PVM patches of the rollup.
    #[arg(long = "apply-unsafe-patches")]
    apply_unsafe_patches: bool,
    /// Reset the imported store to this level.
    #[arg(long = "level", value_name = "level")]
    level: Option<String>,
    /// The DAL node endpoint.
    #[arg(long = "dal-node", value_name = "uri")]
    dal_node: Option<String>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".tezos-smart-rollup-node")
}

/// Builds a snapshot command from its positional `file` and its options.
fn snapshot_command(
    cmd: Cmd,
    file: Option<String>,
    options: &[String],
    endpoint: &str,
) -> Result<SnapshotCommand, CliError> {
    match cmd {
        Cmd::SnapshotExport => {
            let o = SnapshotExportOpts::try_parse_from(options).map_err(clap_error)?;
            if o.compress_on_the_fly && o.uncompressed {
                return Err(CliError(
                    "Options --compress-on-the-fly and --uncompressed are exclusive.".into(),
                ));
            }
            if o.dest.is_some() && file.is_some() {
                return Err(CliError(
                    "Option --dest is only accepted when no snapshot file is given: give                      either <file> or --dest <dir>."
                        .into(),
                ));
            }
            let level = match o.level.as_deref() {
                None => snapshot::ExportLevel::Finalized,
                Some(l) => snapshot::ExportLevel::parse(l).map_err(CliError)?,
            };
            Ok(SnapshotCommand::Export(snapshot::ExportOptions {
                data_dir: o.data_dir.unwrap_or_else(default_data_dir),
                file: file.map(PathBuf::from),
                dest: o.dest,
                level,
                compression: if o.uncompressed {
                    snapshot::Compression::No
                } else if o.compress_on_the_fly {
                    snapshot::Compression::OnTheFly
                } else {
                    snapshot::Compression::After
                },
                check: !o.no_check,
                l1_endpoint: Some(endpoint.to_string()),
                compact: o.compact,
                rollup_node_endpoint: o.rollup_node_endpoint,
            }))
        }
        Cmd::SnapshotImport => {
            let o = SnapshotImportOpts::try_parse_from(options).map_err(clap_error)?;
            // `--apply-unsafe-patches` only matters to Octez's recomputation of the genesis
            // state in the checks; here the genesis block's commitment is not compared with its
            // (patched) state (`snapshot::check`), so the flag changes nothing.
            let _ = o.apply_unsafe_patches;
            let level = match o.level.as_deref() {
                None => None,
                Some(l) => match l.parse::<i32>().ok().and_then(Level::new) {
                    Some(n) if n > Level::ZERO => Some(n),
                    _ => {
                        return Err(CliError(format!(
                            "Option --level: {l:?} is not a level above 0; give the L2 level \
                             to reset the imported store to."
                        )));
                    }
                },
            };
            Ok(SnapshotCommand::Import(
                snapshot::ImportOptions {
                    data_dir: o.data_dir.unwrap_or_else(default_data_dir),
                    source: snapshot::Source::parse(&file.unwrap_or_default()),
                    force: o.force,
                    check: !o.no_check,
                    l1_endpoint: Some(endpoint.to_string()),
                },
                level,
                o.dal_node,
            ))
        }
        _ => {
            AnyOpts::try_parse_from(options).map_err(clap_error)?;
            if let Some(extra) = options.first() {
                return Err(CliError(format!(
                    "Option {extra}: snapshot info takes no options."
                )));
            }
            Ok(SnapshotCommand::Info(snapshot::Source::parse(
                &file.unwrap_or_default(),
            )))
        }
    }
}

fn clap_error(e: clap::Error) -> CliError {
    CliError(e.to_string().trim_end().to_string())
}

/// Resolves an alias (or `alias:<name>`) of the client wallet in `base_dir` that is not a literal
/// address; `unknown` is the message when the wallet has no such alias.
fn wallet_lookup<T>(
    lookup: impl FnOnce(&Wallet) -> Result<T, WalletError>,
    base_dir: &Path,
    unknown: impl FnOnce() -> String,
) -> Result<T, String> {
    match lookup(&Wallet::new(base_dir)) {
        Ok(v) => Ok(v),
        Err(WalletError::UnknownAlias { .. } | WalletError::BadValue { .. }) => Err(unknown()),
        Err(e) => Err(e.to_string()),
    }
}

fn resolve_rollup(base_dir: &Path, s: &str) -> Result<SmartRollupAddress, String> {
    wallet_lookup(
        |w| w.resolve_rollup(s),
        base_dir,
        || format!("Cannot find smart rollup alias or address {s}"),
    )
}

fn resolve_pkh(base_dir: &Path, s: &str) -> Result<PublicKeyHash, String> {
    let alias = s.strip_prefix("alias:").unwrap_or(s);
    wallet_lookup(
        |w| w.resolve_pkh(s),
        base_dir,
        || format!("no public key hash alias named {alias}"),
    )
}

/// `<key>` | `default:<key>` | `<purpose>:<key>`.
fn parse_operator(base_dir: &Path, s: &str) -> Result<OperatorArg, String> {
    if let Some((prefix, key)) = s.split_once(':') {
        if prefix == "default" {
            return Ok(OperatorArg::Default(resolve_pkh(base_dir, key)?));
        }
        if let Some(p) = Purpose::ALL.into_iter().find(|p| p.as_str() == prefix) {
            return Ok(OperatorArg::Purpose(p, resolve_pkh(base_dir, key)?));
        }
        if prefix != "alias" {
            return Err(format!(
                "Unknown purpose {prefix}. Possible purposes are: operating, batching, \
                 cementing, recovering, executing_outbox."
            ));
        }
    }
    Ok(OperatorArg::Default(resolve_pkh(base_dir, s)?))
}

/// `Purpose.replace_operators`: explicit purpose key > default key > existing key; returns the
/// operators and the unused purposes (for the warning event). Deterministic errors are strings.
pub fn resolve_operators(
    mode: &Mode,
    args: &[OperatorArg],
    existing: &Operators,
) -> Result<(Operators, Vec<Purpose>), String> {
    let mut default = None;
    let mut given: BTreeMap<Purpose, Vec<PublicKeyHash>> = BTreeMap::new();
    for a in args {
        match a {
            OperatorArg::Default(k) => {
                if default.replace(*k).is_some() {
                    return Err("Multiple default operators".into());
                }
            }
            OperatorArg::Purpose(p, k) => {
                let keys = given.entry(*p).or_default();
                if !keys.is_empty() && *p != Purpose::Batching {
                    return Err(
                        "Invalid_argument(\"multiple keys for a purpose allowing only one key\")"
                            .into(),
                    );
                }
                keys.push(*k);
            }
        }
    }
    let needed = mode.purposes();
    let mut out = Operators::new();
    let mut missing = vec![];
    for p in Purpose::ALL.into_iter().filter(|p| needed.contains(p)) {
        let keys = given
            .get(&p)
            .cloned()
            .or_else(|| default.map(|d| vec![d]))
            .or_else(|| existing.get(&p).cloned());
        match keys {
            Some(k) => {
                out.insert(p, k);
            }
            None => missing.push(p),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "Missing operators for purposes {}.",
            missing
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let extra = given
        .keys()
        .filter(|p| !needed.contains(p))
        .copied()
        .collect();
    Ok((out, extra))
}

fn check_custom(mode: &Mode) -> Result<(), String> {
    if *mode == Mode::Custom(vec![]) {
        return Err("Operation kinds for custom mode are empty.".into());
    }
    Ok(())
}

/// `configuration_from_args` (init, or run without a config file).
pub fn config_from_args(nc: &NodeCommand) -> Result<(Config, Vec<Purpose>), String> {
    let mode = nc
        .mode
        .clone()
        .ok_or("Argument --mode is required when configuration file is not present.")?;
    let rollup = nc
        .rollup
        .ok_or("Argument --rollup is required when configuration file is not present.")?;
    let (operators, extra) = resolve_operators(&mode, &nc.operators, &Operators::new())?;
    check_custom(&mode)?;
    let mut c = Config::new(rollup, mode);
    c.operators = operators;
    c.etherlink = nc.options.etherlink || c.etherlink;
    apply_options(&mut c, nc)?;
    c.validate().map_err(|e| e.to_string())?;
    Ok((c, extra))
}

/// `patch_configuration_from_args` (run with a config file): CLI values override.
pub fn patch_config(mut c: Config, nc: &NodeCommand) -> Result<(Config, Vec<Purpose>), String> {
    if let Some(m) = &nc.mode {
        c.mode = m.clone();
    }
    check_custom(&c.mode)?;
    let (operators, extra) = resolve_operators(&c.mode, &nc.operators, &c.operators)?;
    c.operators = operators;
    if let Some(r) = nc.rollup {
        c.rollup_address = r;
    }
    if c.apply_unsafe_patches && !nc.apply_unsafe_patches {
        return Err(
            "Configuration is registered to apply unsafe PVM patches. Flag \
                    --apply-unsafe-patches must always be given on command line."
                .into(),
        );
    }
    c.etherlink = nc.options.etherlink || c.etherlink;
    apply_options(&mut c, nc)?;
    c.validate().map_err(|e| e.to_string())?;
    Ok((c, extra))
}

fn apply_options(c: &mut Config, nc: &NodeCommand) -> Result<(), String> {
    let o = &nc.options;
    if let Some(a) = &o.rpc_addr {
        c.rpc_addr = a.clone();
    }
    if let Some(p) = o.rpc_port {
        c.rpc_port = p;
    }
    if let Some(acl) = o.acl_override {
        let address = format!("{}:{}", c.rpc_addr, c.rpc_port);
        c.acl
            .retain(|p| p.get("address").and_then(|a| a.as_str()) != Some(address.as_str()));
        c.acl.push(match acl {
            AclOverride::AllowAll => serde_json::json!({"address": address, "blacklist": []}),
            AclOverride::Secure => serde_json::json!({
                "address": address,
                "blacklist": node_rpc::SECURE_ACL_DENY,
            }),
        });
    }
    if o.metrics_addr.is_some() {
        c.metrics_addr = o.metrics_addr.clone();
    }
    c.performance_metrics = c.performance_metrics && !o.disable_performance_metrics;
    if let Some(l) = &o.loser_mode {
        let m = wasm_pvm::loser::LoserMode::parse(l)
            .map_err(|e| format!("Invalid syntax for failure points: {e}"))?;
        let failures: Vec<(u32, u64, u64)> = m
            .failures()
            .iter()
            .map(|f| (f.level, f.message_index, f.message_tick))
            .collect();
        c.set_loser_failures(&failures);
    }
    if let Some(d) = o.reconnection_delay {
        c.reconnection_delay = d;
    }
    if o.dal_node.is_some() {
        c.dal_node_endpoint = o.dal_node.clone();
    }
    if o.pre_images_endpoint.is_some() {
        c.pre_images_endpoint = o.pre_images_endpoint.clone();
    }
    if let Some(r) = o.injector_retention_period {
        c.injector.retention_period = r;
    }
    if let Some(a) = o.injector_attempts {
        c.injector.attempts = a;
    }
    if let Some(t) = o.injection_ttl {
        c.injector.injection_ttl = t;
    }
    if o.index_buffer_size.is_some() {
        c.index_buffer_size = o.index_buffer_size;
    }
    if nc.irmin_cache_size.is_some() {
        c.irmin_cache_size = nc.irmin_cache_size;
    }
    c.log_kernel_debug |= o.log_kernel_debug;
    if o.log_kernel_debug_file.is_some() {
        c.log_kernel_debug_file = o.log_kernel_debug_file.clone();
    }
    if o.boot_sector_file.is_some() {
        c.boot_sector_file = o.boot_sector_file.clone();
    }
    c.no_degraded |= o.no_degraded;
    if o.gc_frequency.is_some() {
        c.gc_parameters.frequency = o.gc_frequency;
    }
    if o.history_mode.is_some() {
        c.history_mode = o.history_mode;
    }
    if let Some(h) = &o.cors_headers {
        c.cors.allowed_headers = h.clone();
    }
    if let Some(h) = &o.cors_origins {
        c.cors.allowed_origins = h.clone();
    }
    c.apply_unsafe_patches = nc.apply_unsafe_patches;
    c.unsafe_disable_wasm_kernel_checks |= o.unsafe_disable_wasm_kernel_checks;
    c.slow_vm_fallback |= o.slow_vm_fallback;
    c.bail_on_disagree |= o.bail_on_disagree;
    if let Some(co) = o.commit_on {
        c.commit_on = co;
    }
    if let Some(enable) = o.profiling {
        let mut v = c
            .opentelemetry
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        if let Some(obj) = v.as_object_mut() {
            obj.insert("enable".into(), serde_json::Value::Bool(enable));
        }
        c.opentelemetry = Some(v);
    }
    if o.l1_monitor_finalized {
        c.l1_monitor_finalized = true;
    }
    Ok(())
}

fn version_text() -> String {
    format!(
        "{} (rollup-node {})",
        node_context::VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

/// Short usage (no command, or `--help` alone).
pub fn usage() -> String {
    let mut s = String::from(
        "Usage:\n  smart-rollup-node [global options] command [command options]\n\n\
         Global options (must come before the command):\n  \
         -d --base-dir <path>: client data directory (wallet with operator keys)\n  \
         -E --endpoint <uri>: HTTP(S) endpoint of the Tezos node RPC interface; \
         default: http://localhost:8732\n  \
         --version: print the version\n  -h --help: this message\n\nCommands:\n",
    );
    for c in COMMANDS {
        s.push_str(&format!("  {}\n", grammar::text(c.grammar)));
    }
    s.push_str("\nUse `man` or `<command> --help` for the full documentation.\n");
    s
}

fn options_help(cmd: Cmd) -> String {
    match cmd {
        Cmd::Init => help_of::<InitOpts>(),
        Cmd::Run => help_of::<RunOpts>(),
        Cmd::RunLegacy => help_of::<LegacyRunOpts>(),
        Cmd::SnapshotExport => help_of::<SnapshotExportOpts>(),
        Cmd::SnapshotImport => help_of::<SnapshotImportOpts>(),
        Cmd::ReplayBlock | Cmd::ReplayBlocks => help_of::<ReplayOpts>(),
        _ => String::new(),
    }
}

fn help_of<P: clap::CommandFactory>() -> String {
    let mut cmd = P::command().help_template("{options}");
    cmd.render_help().to_string()
}

fn command_help(spec: &Spec) -> String {
    let mut s = format!("{}\n  {}\n", grammar::text(spec.grammar), spec.desc);
    for t in spec.grammar {
        match t {
            Param("mode") => {
                s.push_str(&format!(
                    "  <mode>: {}\n",
                    mode_doc().replace('\n', "\n    ")
                ));
            }
            Param("smart-rollup-address") => {
                s.push_str("  <smart-rollup-address>: The smart rollup address\n");
            }
            Seq("operator") => s.push_str(
                "  <operator>: Public key hash, or alias, of a smart rollup node operator. An \
                 operator can be specialized to a particular purpose by prefixing its key or \
                 alias by said purpose, e.g. operating:<alias_of_my_operator>. The possible \
                 purposes are: operating, batching, cementing, recovering, executing_outbox.\n",
            ),
            _ => {}
        }
    }
    let opts = options_help(spec.cmd);
    if !opts.trim().is_empty() {
        s.push_str(&opts);
        s.push('\n');
    }
    s
}

/// `--help` after command words: help of the matching commands.
fn help_for(rest: &[String]) -> String {
    let words: Vec<&str> = rest
        .iter()
        .map(String::as_str)
        .take_while(|a| !a.starts_with('-'))
        .collect();
    let first = words.first().copied().unwrap_or("");
    let matching: Vec<&Spec> = COMMANDS
        .iter()
        .filter(|c| matches!(c.grammar.first(), Some(Word(w)) if *w == first))
        .collect();
    if matching.is_empty() {
        return usage();
    }
    matching
        .iter()
        .map(|c| command_help(c))
        .collect::<Vec<_>>()
        .join("\n")
}

fn mode_doc() -> String {
    let modes = Mode::all();
    let names: Vec<&str> = modes.iter().map(Mode::name).collect();
    let mut s = format!("The mode for the rollup node ({})", names.join(", "));
    for m in &modes {
        s.push_str(&format!("\n- {}: {}", m.name(), m.description()));
    }
    s
}

/// `man`: every command with its documentation.
pub fn manual() -> String {
    let mut s = usage();
    s.push('\n');
    for c in COMMANDS {
        s.push_str(&command_help(c));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf";
    const TZ1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";

    #[test]
    fn bad_values_and_unsupported_globals_are_refused() {
        let run = |extra: &str| {
            parse(&args(&format!(
                "run observer for {ADDR} with operators --data-dir /nonexistent/x {extra}"
            )))
        };
        for (extra, name) in [
            ("--reconnection-delay NaN", "--reconnection-delay"),
            ("--reconnection-delay -2", "--reconnection-delay"),
            (
                "--pre-images-endpoint ht!tp://::nope",
                "--pre-images-endpoint",
            ),
            ("--dal-node nope", "--dal-node"),
            ("--gc-frequency -1", "--gc-frequency"),
        ] {
            let e = run(extra).unwrap_err().0;
            assert!(e.contains(name), "{extra}: {e}");
        }
        assert!(run("--reconnection-delay 0.5").is_ok());
        assert!(run("--pre-images-endpoint https://h.example/wasm_2_0_0").is_ok());
        for g in ["-A h", "-P 1", "-S", "-t", "-l"] {
            let e = parse(&args(&format!(
                "{g} run observer for {ADDR} with operators"
            )))
            .unwrap_err()
            .0;
            let name = g.split(' ').next().unwrap();
            assert!(
                e.contains(name) && e.contains("not supported yet"),
                "{g}: {e}"
            );
        }
        let f = tempfile::NamedTempFile::new().unwrap();
        let e = parse(&args(&format!(
            "run observer for {ADDR} with operators --data-dir {}",
            f.path().display()
        )))
        .unwrap_err()
        .0;
        assert!(e.contains("--data-dir") && e.contains("is a file"), "{e}");
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn replay_takes_the_l1_and_dal_nodes() {
        let Ok(Command::Replay { what, dal, .. }) = parse(&args(
            "-E http://l1:8732 replay block 12 --data-dir /d --profiling true --dal-node http://dal:10732",
        )) else {
            panic!("not a replay");
        };
        assert_eq!(
            what,
            crate::replay::Replay::Levels(Level::from(12u8), Level::from(12u8))
        );
        assert_eq!(
            dal,
            crate::replay::DalAccess {
                l1: "http://l1:8732".into(),
                dal_node: Some("http://dal:10732".into()),
            }
        );
        let Ok(Command::Replay { dal, .. }) = parse(&args("replay blocks from 3 to 5")) else {
            panic!("not a replay");
        };
        assert_eq!((dal.l1.as_str(), dal.dal_node), (DEFAULT_ENDPOINT, None));
        let e = parse(&args("replay block 12 --dal-node ftp://x")).unwrap_err();
        assert!(e.0.contains("--dal-node"), "{e}");
        let help = help_for(&args("replay block 1"));
        assert!(
            help.contains("--dal-node") && help.contains("--profiling"),
            "{help}"
        );
    }

    #[test]
    fn init_observer() {
        let c = parse(&args(&format!(
            "-E http://x:1 init observer config for {ADDR} with operators --data-dir /tmp/d \
             --pre-images-endpoint http://p --rpc-port 1234 --force"
        )))
        .unwrap();
        let Command::Init(g, nc) = c else { panic!() };
        assert_eq!(g.endpoint, "http://x:1");
        assert_eq!(nc.mode, Some(Mode::Observer));
        assert!(nc.force);
        assert_eq!(nc.config_file(), PathBuf::from("/tmp/d/config.json"));
        let (conf, _) = config_from_args(&nc).unwrap();
        assert_eq!(conf.rpc_port, 1234);
        assert_eq!(conf.pre_images_endpoint.as_deref(), Some("http://p"));
    }

    #[test]
    fn run_forms() {
        assert!(
            matches!(parse(&args("run --data-dir /x")), Ok(Command::Run(_, nc)) if nc.mode.is_none())
        );
        let c = parse(&args(&format!(
            "run operator for {ADDR} with operators {TZ1}"
        )))
        .unwrap();
        let Command::Run(_, nc) = c else { panic!() };
        let (conf, _) = config_from_args(&nc).unwrap();
        assert_eq!(conf.operators.len(), 4);
        assert_eq!(conf.operators[&Purpose::Batching].len(), 1);
        assert!(matches!(
            parse(&args("snapshot info foo.tar")),
            Ok(Command::Snapshot(SnapshotCommand::Info(
                snapshot::Source::File(_)
            )))
        ));
    }

    #[test]
    fn snapshot_commands_parse_octez_options() {
        let Ok(Command::Snapshot(SnapshotCommand::Export(o))) =
            parse(&args("snapshot export --data-dir d --dest out --no-check"))
        else {
            panic!()
        };
        assert_eq!(o.data_dir, PathBuf::from("d"));
        assert_eq!(o.file, None);
        assert_eq!(o.dest, Some(PathBuf::from("out")));
        assert_eq!(o.level, snapshot::ExportLevel::Finalized, "default level");
        assert_eq!(o.compression, snapshot::Compression::After);
        assert!(!o.check);
        let Ok(Command::Snapshot(SnapshotCommand::Export(o))) = parse(&args(
            "snapshot export s.gz --level 12 --compress-on-the-fly",
        )) else {
            panic!()
        };
        assert_eq!(o.file, Some(PathBuf::from("s.gz")));
        assert_eq!(o.level, snapshot::ExportLevel::Level(Level::from(12u8)));
        assert_eq!(o.compression, snapshot::Compression::OnTheFly);
        let e = parse(&args("snapshot export s.gz --dest d")).unwrap_err().0;
        assert!(e.contains("--dest"), "{e}");
        let Ok(Command::Snapshot(SnapshotCommand::Export(o))) = parse(&args(
            "snapshot export --compact --rollup-node-endpoint http://x",
        )) else {
            panic!()
        };
        assert!(o.compact);
        assert_eq!(o.rollup_node_endpoint.as_deref(), Some("http://x"));
        let Ok(Command::Snapshot(SnapshotCommand::Import(o, None, None))) = parse(&args(
            "snapshot import https://h.example/s --data-dir d --force",
        )) else {
            panic!()
        };
        assert_eq!(
            o.source,
            snapshot::Source::Url("https://h.example/s".into())
        );
        assert!(o.force && o.check);
        let Ok(Command::Snapshot(SnapshotCommand::Import(_, Some(l3), _))) =
            parse(&args("snapshot import - --level 3"))
        else {
            panic!("--level 3 on import")
        };
        assert_eq!(l3, Level::from(3u8));
        let e = parse(&args("snapshot import - --level 0")).unwrap_err().0;
        assert!(e.contains("--level"), "{e}");
        let e = parse(&args("snapshot info f --force")).unwrap_err().0;
        assert!(e.contains("--force"), "{e}");
    }

    #[test]
    fn aliases_resolve_through_the_client_wallet() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        std::fs::write(
            dir.path().join("smart_rollups"),
            format!(r#"[{{"name":"my-rollup","value":"{ADDR}"}}]"#),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("public_key_hashs"),
            format!(r#"[{{"name":"op","value":"{TZ1}"}}]"#),
        )
        .unwrap();
        let line = format!("-d {d} init operator config for my-rollup with operators alias:op");
        let Ok(Command::Init(_, nc)) = parse(&args(&line)) else {
            panic!("{line}")
        };
        assert_eq!(nc.rollup, Some(ADDR.parse().unwrap()));
        assert_eq!(
            nc.operators,
            vec![OperatorArg::Default(TZ1.parse().unwrap())]
        );
        let line = format!("-d {d} init operator config for nope with operators op");
        let e = parse(&args(&line)).unwrap_err().0;
        assert!(
            e.contains("Cannot find smart rollup alias or address nope"),
            "{e}"
        );
        let line = format!("-d {d} init operator config for my-rollup with operators other");
        let e = parse(&args(&line)).unwrap_err().0;
        assert!(e.contains("no public key hash alias named other"), "{e}");
        // A damaged wallet file is named, not reported as a missing alias.
        std::fs::write(dir.path().join("smart_rollups"), "{").unwrap();
        let line = format!("-d {d} init operator config for my-rollup with operators op");
        let e = parse(&args(&line)).unwrap_err().0;
        assert!(e.contains("smart_rollups is malformed"), "{e}");
    }

    #[test]
    fn test_knobs_are_hidden_run_options() {
        let Ok(Command::Run(_, nc)) = parse(&args("run --data-dir /x")) else {
            panic!()
        };
        assert_eq!(nc.test, TestKnobs::default());
        for line in [
            "run --data-dir /x --test-catch-up-chunk 4 --test-gc-delay-ms 3000".to_owned(),
            format!(
                "run observer for {ADDR} with operators --test-catch-up-chunk 4 --test-gc-delay-ms 3000"
            ),
        ] {
            let Ok(Command::Run(_, nc)) = parse(&args(&line)) else {
                panic!("{line}")
            };
            assert_eq!(
                nc.test,
                TestKnobs {
                    catch_up_chunk: Some(4),
                    gc_delay: Some(std::time::Duration::from_millis(3000)),
                }
            );
        }
        assert!(parse(&args("run --data-dir /x --test-catch-up-chunk 0")).is_err());
        assert!(
            parse(&args(
                "init observer config for x with operators --test-catch-up-chunk 4"
            ))
            .is_err()
        );
        let Ok(Command::Print(h)) = parse(&args("run --help")) else {
            panic!()
        };
        assert!(!h.contains("test-"), "{h}");
    }

    #[test]
    fn generate_openapi_prints_the_served_description() {
        let Ok(Command::Print(text)) = parse(&args("generate openapi")) else {
            panic!("generate openapi is not a printing command")
        };
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc, node_rpc::openapi::document());
        assert!(doc["paths"]["/health"]["get"].is_object(), "{text}");
    }

    #[test]
    fn errors() {
        let e = parse(&args(&format!(
            "init bogus config for {ADDR} with operators"
        )))
        .unwrap_err();
        assert!(
            e.0.contains("Erroneous command line argument 2 (bogus)"),
            "{e}"
        );
        assert!(e.0.contains("Invalid mode"));
        let e = parse(&args("frobnicate")).unwrap_err();
        assert!(e.0.starts_with("Unrecognized command."));
        let e = parse(&args(&format!(
            "init observer config for {ADDR} with operators bad:{TZ1}"
        )))
        .unwrap_err();
        assert!(e.0.contains("Unknown purpose bad"), "{e}");
        let e = parse(&args(&format!("init observer config for {ADDR} operators"))).unwrap_err();
        assert!(e.0.starts_with("Unrecognized command."));
        let e = parse(&args(&format!(
            "init observer config for {ADDR} with operators --rpc-port x"
        )))
        .unwrap_err();
        assert!(e.0.contains("rpc-port"), "{e}");
    }

    #[test]
    fn operator_rules() {
        let k: PublicKeyHash = TZ1.parse().unwrap();
        let none = Operators::new();
        assert_eq!(
            resolve_operators(&Mode::Maintenance, &[], &none).unwrap_err(),
            "Missing operators for purposes operating, cementing, executing_outbox."
        );
        assert_eq!(
            resolve_operators(
                &Mode::Observer,
                &[OperatorArg::Default(k), OperatorArg::Default(k)],
                &none
            )
            .unwrap_err(),
            "Multiple default operators"
        );
        let (ops, extra) = resolve_operators(
            &Mode::Batcher,
            &[
                OperatorArg::Purpose(Purpose::Batching, k),
                OperatorArg::Purpose(Purpose::Batching, k),
                OperatorArg::Purpose(Purpose::Cementing, k),
            ],
            &none,
        )
        .unwrap();
        assert_eq!(ops[&Purpose::Batching].len(), 2);
        assert_eq!(extra, vec![Purpose::Cementing]);
        assert!(
            resolve_operators(
                &Mode::Accuser,
                &[
                    OperatorArg::Purpose(Purpose::Operating, k),
                    OperatorArg::Purpose(Purpose::Operating, k)
                ],
                &none
            )
            .is_err()
        );
        let nc = NodeCommand {
            mode: Some(Mode::Custom(vec![])),
            rollup: Some(ADDR.parse().unwrap()),
            operators: vec![],
            options: NodeOptions::default(),
            irmin_cache_size: None,
            apply_unsafe_patches: false,
            force: false,
            repair_context: false,
            test: TestKnobs::default(),
        };
        assert_eq!(
            config_from_args(&nc).unwrap_err(),
            "Operation kinds for custom mode are empty."
        );
    }

    #[test]
    fn help_texts() {
        let Ok(Command::Print(h)) = parse(&args("init --help")) else {
            panic!()
        };
        assert!(h.contains("init <mode> config for <smart-rollup-address> with operators"));
        assert!(h.contains("--pre-images-endpoint"), "{h}");
        let Ok(Command::Print(m)) = parse(&args("man")) else {
            panic!()
        };
        assert!(m.contains("snapshot import <snapshot_file>"));
    }
}
