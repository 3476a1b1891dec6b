//! `config.json`: the rollup node configuration, read and written as Octez does
//! (octez-rollup-node.md §2; `configuration.ml` encoding, "hide defaults" on disk,
//! "show defaults" for `GET /config`), printed by [`json_pp`]. Pure: no I/O besides
//! [`Config::load`]/[`Config::save`] of the file itself.

pub mod json_pp;
pub mod outbox_filter;
pub mod unsafe_patches;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::Value;
use tezos_types::{PublicKeyHash, SmartRollupAddress};

use crate::json_pp::Json;

/// Default RPC address (§1.3).
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1";
/// Default RPC port (§1.3).
pub const DEFAULT_RPC_PORT: u16 = 8932;
/// Default metrics port when `--metrics-addr` omits it (§1.3).
pub const DEFAULT_METRICS_PORT: u16 = 9933;

/// A `--metrics-addr` value that is not `ADDR:PORT`, `:PORT` or `ADDR` with an IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid metrics address {0}")]
pub struct BadMetricsAddr(pub String);

/// Parses `ADDR:PORT | :PORT | ADDR` (default port [`DEFAULT_METRICS_PORT`]).
pub fn metrics_socket(s: &str) -> Result<SocketAddr, BadMetricsAddr> {
    let bad = || BadMetricsAddr(s.to_string());
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, p.parse::<u16>().map_err(|_| bad())?),
        _ => (s, DEFAULT_METRICS_PORT),
    };
    let host = match host {
        "" | "localhost" => "127.0.0.1",
        h => h.trim_start_matches('[').trim_end_matches(']'),
    };
    Ok(SocketAddr::new(host.parse().map_err(|_| bad())?, port))
}
/// Etherlink mainnet and testnet rollups (`address.ml` `is_etherlink`).
pub const ETHERLINK_ADDRESSES: [&str; 2] = [
    "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf",
    "sr18wx6ezkeRjt1SZSeZ2UQzQN3Uc3YLMLqg",
];

/// L1 operation kinds a rollup node injects, defined in `l1-operation` (re-exported here).
pub use l1_operation::OperationKind;

/// Operator key purposes (§1.4, `purpose.ml`, declaration order = map order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// publish, refute, timeout
    Operating,
    /// add_messages, publish_dal_commitment (several keys allowed)
    Batching,
    /// cement
    Cementing,
    /// recover
    Recovering,
    /// execute_outbox_message
    ExecutingOutbox,
}

impl Purpose {
    /// All purposes, in Octez order.
    pub const ALL: [Purpose; 5] = [
        Self::Operating,
        Self::Batching,
        Self::Cementing,
        Self::Recovering,
        Self::ExecutingOutbox,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operating => "operating",
            Self::Batching => "batching",
            Self::Cementing => "cementing",
            Self::Recovering => "recovering",
            Self::ExecutingOutbox => "executing_outbox",
        }
    }

    /// Parses a purpose name, accepting the legacy names of config files.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "operating" | "publish" | "refute" | "timeout" => Some(Self::Operating),
            "batching" | "add_messages" => Some(Self::Batching),
            "cementing" | "cement" => Some(Self::Cementing),
            "recovering" => Some(Self::Recovering),
            "executing_outbox" => Some(Self::ExecutingOutbox),
            _ => None,
        }
    }

    /// Operation kinds signed with this purpose's key.
    pub fn operation_kinds(self) -> &'static [OperationKind] {
        use OperationKind as K;
        match self {
            Self::Batching => &[K::AddMessages, K::PublishDalCommitment],
            Self::Cementing => &[K::Cement],
            Self::Operating => &[K::Publish, K::Refute, K::Timeout],
            Self::Recovering => &[K::Recover],
            Self::ExecutingOutbox => &[K::ExecuteOutboxMessage],
        }
    }
}

/// Rollup node mode (§1.4, §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Follows L1 and evaluates the PVM only.
    Observer,
    /// Publishes commitments on conflicts and plays refutation games.
    Accuser,
    /// Defends and cements, never publishes new commitments.
    Bailout,
    /// Batches L2 messages.
    Batcher,
    /// Publishes, cements, refutes, executes outbox messages.
    Maintenance,
    /// Maintenance + batcher.
    Operator,
    /// Exactly the listed kinds.
    Custom(Vec<OperationKind>),
}

impl Mode {
    /// The modes listed in help texts (`Configuration.modes`).
    pub fn all() -> Vec<Mode> {
        vec![
            Mode::Observer,
            Mode::Accuser,
            Mode::Bailout,
            Mode::Batcher,
            Mode::Maintenance,
            Mode::Operator,
            Mode::Custom(OperationKind::ALL.to_vec()),
        ]
    }

    /// `string_of_mode` (custom modes print as `custom`).
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Observer => "observer",
            Mode::Accuser => "accuser",
            Mode::Bailout => "bailout",
            Mode::Batcher => "batcher",
            Mode::Maintenance => "maintenance",
            Mode::Operator => "operator",
            Mode::Custom(_) => "custom",
        }
    }

    /// `description_of_mode`.
    pub fn description(&self) -> String {
        match self {
            Mode::Observer => "Only follows the chain, reconstructs and interprets inboxes".into(),
            Mode::Accuser => {
                "Only publishes commitments for conflicts and play refutation games".into()
            }
            Mode::Bailout => {
                "Only defends and cements, does not publish any new commitments".into()
            }
            Mode::Batcher => "Accepts transactions in its queue and batches them on the L1".into(),
            Mode::Maintenance => {
                "Follows the chain and publishes commitments, cement and refute".into()
            }
            Mode::Operator => "Equivalent to maintenance + batcher".into(),
            Mode::Custom(kinds) => format!(
                "In this mode, the system handles only the specific operation kinds: [{}]. \
                 This allows for tailored control and flexibility.",
                kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// `mode_of_string`; `Err` carries Octez's message.
    pub fn parse(s: &str) -> Result<Mode, ModeError> {
        Ok(match s {
            "observer" => Mode::Observer,
            "accuser" => Mode::Accuser,
            "bailout" => Mode::Bailout,
            "batcher" => Mode::Batcher,
            "maintenance" => Mode::Maintenance,
            "operator" => Mode::Operator,
            "custom" => Mode::Custom(vec![]),
            s if s.starts_with("custom:") => {
                let kinds = s["custom:".len()..]
                    .split(',')
                    .map(|k| {
                        OperationKind::parse(k)
                            .ok_or_else(|| ModeError::UnknownOperationKind(k.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Mode::Custom(kinds)
            }
            _ => return Err(ModeError::Invalid),
        })
    }

    /// Purposes whose keys the mode needs (`purposes_of_mode`).
    pub fn purposes(&self) -> Vec<Purpose> {
        use Purpose as P;
        match self {
            Mode::Observer => vec![],
            Mode::Batcher => vec![P::Batching],
            Mode::Accuser => vec![P::Operating],
            Mode::Bailout => vec![P::Operating, P::Cementing, P::Recovering],
            Mode::Maintenance => vec![P::Operating, P::Cementing, P::ExecutingOutbox],
            Mode::Operator => vec![P::Operating, P::Cementing, P::ExecutingOutbox, P::Batching],
            Mode::Custom(kinds) => Purpose::ALL
                .into_iter()
                .filter(|p| p.operation_kinds().iter().any(|k| kinds.contains(k)))
                .collect(),
        }
    }

    /// Whether the mode may inject operations of `kind` (Octez `can_inject`: the kinds of its
    /// purposes, or exactly the listed kinds for `custom`; §1.4).
    pub fn can_inject(&self, kind: OperationKind) -> bool {
        match self {
            Mode::Custom(kinds) => kinds.contains(&kind),
            m => m
                .purposes()
                .iter()
                .any(|p| p.operation_kinds().contains(&kind)),
        }
    }

    fn to_json(&self) -> Json {
        match self {
            Mode::Custom(kinds) => Json::Object(vec![(
                "custom".into(),
                Json::Array(kinds.iter().map(|k| Json::str(k.as_str())).collect()),
            )]),
            m => Json::str(m.name()),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// History mode (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryMode {
    /// Keep everything.
    Archive,
    /// Keep from the LCC onward (default).
    Full,
}

impl HistoryMode {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Archive => "archive",
            Self::Full => "full",
        }
    }
}

/// A history mode name other than `archive` or `full` (Octez's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid_argument(\"history_mode_of_string {0}\")")]
pub struct UnknownHistoryMode(pub String);

impl FromStr for HistoryMode {
    type Err = UnknownHistoryMode;
    fn from_str(s: &str) -> Result<Self, UnknownHistoryMode> {
        match s {
            "archive" => Ok(Self::Archive),
            "full" => Ok(Self::Full),
            s => Err(UnknownHistoryMode(s.to_string())),
        }
    }
}

/// When the context is committed to disk (§1.3 `--commit-on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOn {
    /// Every block (default).
    Block,
    /// Every commitment.
    Commitment,
}

impl CommitOn {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Commitment => "commitment",
        }
    }
}

/// A `--commit-on` value other than `block` or `commitment`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid value for commit-on, should be block or commitment")]
pub struct UnknownCommitOn;

impl FromStr for CommitOn {
    type Err = UnknownCommitOn;
    fn from_str(s: &str) -> Result<Self, UnknownCommitOn> {
        match s {
            "block" => Ok(Self::Block),
            "commitment" => Ok(Self::Commitment),
            _ => Err(UnknownCommitOn),
        }
    }
}

/// Operator keys by purpose; `batching` may have several keys.
pub type Operators = BTreeMap<Purpose, Vec<PublicKeyHash>>;

/// Batcher parameters (`batcher_encoding`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatcherConfig {
    /// Default 10.
    pub min_batch_elements: i64,
    /// Default 10.
    pub min_batch_size: i64,
    /// Default 2^30 − 1.
    pub max_batch_elements: i64,
    /// Optional.
    pub max_batch_size: Option<i64>,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            min_batch_elements: 10,
            min_batch_size: 10,
            max_batch_elements: (1 << 30) - 1,
            max_batch_size: None,
        }
    }
}

/// Injector parameters (`injector_encoding`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectorConfig {
    /// Default 2048, at most 40960.
    pub retention_period: u16,
    /// Default 10.
    pub attempts: u16,
    /// Default 120, at least 1.
    pub injection_ttl: u16,
    /// Default none.
    pub max_batch_length: Option<i64>,
}

impl Default for InjectorConfig {
    fn default() -> Self {
        Self {
            retention_period: 2048,
            attempts: 10,
            injection_ttl: 120,
            max_batch_length: None,
        }
    }
}

/// Maximum injector retention period.
pub const MAX_INJECTOR_RETENTION_PERIOD: u16 = 5 * 8192;

/// GC parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcParameters {
    /// `frequency` in blocks.
    pub frequency: Option<i32>,
    /// `context_splitting_period`.
    pub context_splitting_period: Option<i64>,
}

/// CORS lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    /// `allowed_headers`.
    pub allowed_headers: Vec<String>,
    /// `allowed_origins`.
    pub allowed_origins: Vec<String>,
}

/// The configuration (field order = Octez's encoding order).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `smart-rollup-address`.
    pub rollup_address: SmartRollupAddress,
    /// `etherlink`.
    pub etherlink: bool,
    /// `boot-sector`.
    pub boot_sector_file: Option<String>,
    /// `smart-rollup-node-operator`.
    pub operators: Operators,
    /// `rpc-addr`.
    pub rpc_addr: String,
    /// `rpc-port`.
    pub rpc_port: u16,
    /// `acl` (kept as JSON: list of policies).
    pub acl: Vec<Value>,
    /// `metrics-addr`.
    pub metrics_addr: Option<String>,
    /// `performance-metrics`.
    pub performance_metrics: bool,
    /// `reconnection_delay` (seconds).
    pub reconnection_delay: f64,
    /// `fee-parameters` (kind → JSON object; `init` writes `{}`).
    pub fee_parameters: Option<BTreeMap<OperationKind, Value>>,
    /// `mode`.
    pub mode: Mode,
    /// `loser-mode` (JSON list, empty = no failures).
    pub loser_mode: Vec<Value>,
    /// `apply-unsafe-patches`.
    pub apply_unsafe_patches: bool,
    /// `unsafe-pvm-patches` (JSON list).
    pub unsafe_pvm_patches: Vec<Value>,
    /// `execute-outbox-messages-filter` (JSON list).
    pub execute_outbox_messages_filter: Vec<Value>,
    /// `DAL node endpoint`.
    pub dal_node_endpoint: Option<String>,
    /// `pre-images-endpoint`.
    pub pre_images_endpoint: Option<String>,
    /// `batcher`.
    pub batcher: BatcherConfig,
    /// `injector`.
    pub injector: InjectorConfig,
    /// `l1_blocks_cache_size`.
    pub l1_blocks_cache_size: i64,
    /// `l2_blocks_cache_size`.
    pub l2_blocks_cache_size: i64,
    /// `prefetch_blocks`.
    pub prefetch_blocks: Option<i64>,
    /// `l1_monitor_finalized`.
    pub l1_monitor_finalized: bool,
    /// `l1_rpc_timeout` (seconds).
    pub l1_rpc_timeout: f64,
    /// `loop_retry_delay` (seconds).
    pub loop_retry_delay: f64,
    /// `index_buffer_size` (deprecated).
    pub index_buffer_size: Option<i64>,
    /// `irmin_cache_size` (ignored).
    pub irmin_cache_size: Option<i64>,
    /// `log-kernel-debug`.
    pub log_kernel_debug: bool,
    /// `log-kernel-debug-file`.
    pub log_kernel_debug_file: Option<String>,
    /// `unsafe-disable-wasm-kernel-checks`.
    pub unsafe_disable_wasm_kernel_checks: bool,
    /// `no-degraded`.
    pub no_degraded: bool,
    /// `slow-vm-fallback`.
    pub slow_vm_fallback: bool,
    /// `gc-parameters`.
    pub gc_parameters: GcParameters,
    /// `history-mode`.
    pub history_mode: Option<HistoryMode>,
    /// `cors`.
    pub cors: Cors,
    /// `bail-on-disagree`.
    pub bail_on_disagree: bool,
    /// `commit-on`.
    pub commit_on: CommitOn,
    /// `opentelemetry` (JSON object; `None` = default).
    pub opentelemetry: Option<Value>,
    /// `dal_slot_status_max_fetch_attempts`.
    pub dal_slot_status_max_fetch_attempts: u8,
}

impl Config {
    /// The single key of `purpose` (the first one for `batching`, which may have several).
    pub fn operator(&self, purpose: Purpose) -> Option<PublicKeyHash> {
        self.operators
            .get(&purpose)
            .and_then(|k| k.first())
            .copied()
    }

    /// A configuration with every default (what `init` starts from).
    pub fn new(rollup_address: SmartRollupAddress, mode: Mode) -> Self {
        let etherlink = is_etherlink(&rollup_address);
        Self {
            rollup_address,
            etherlink,
            boot_sector_file: None,
            operators: Operators::new(),
            rpc_addr: DEFAULT_RPC_ADDR.into(),
            rpc_port: DEFAULT_RPC_PORT,
            acl: vec![],
            metrics_addr: None,
            performance_metrics: true,
            reconnection_delay: 2.0,
            fee_parameters: Some(BTreeMap::new()),
            mode,
            loser_mode: vec![],
            apply_unsafe_patches: false,
            unsafe_pvm_patches: vec![],
            execute_outbox_messages_filter: vec![],
            dal_node_endpoint: None,
            pre_images_endpoint: None,
            batcher: BatcherConfig::default(),
            injector: InjectorConfig::default(),
            l1_blocks_cache_size: 64,
            l2_blocks_cache_size: 64,
            prefetch_blocks: None,
            l1_monitor_finalized: false,
            l1_rpc_timeout: 60.0,
            loop_retry_delay: 10.0,
            index_buffer_size: None,
            irmin_cache_size: None,
            log_kernel_debug: false,
            log_kernel_debug_file: None,
            unsafe_disable_wasm_kernel_checks: false,
            no_degraded: false,
            slow_vm_fallback: false,
            gc_parameters: GcParameters::default(),
            history_mode: None,
            cors: Cors::default(),
            bail_on_disagree: false,
            commit_on: CommitOn::Block,
            opentelemetry: None,
            dal_slot_status_max_fetch_attempts: 15,
        }
    }

    /// The effective history mode (default `full`).
    pub fn effective_history_mode(&self) -> HistoryMode {
        self.history_mode.unwrap_or(HistoryMode::Full)
    }

    /// JSON in Octez's field order. `show_defaults` = `encoding_no_default` (for `GET /config`).
    pub fn to_json(&self, show_defaults: bool) -> Json {
        let mut o: Vec<(String, Json)> = Vec::new();
        let mut put = |k: &str, v: Json| o.push((k.to_string(), v));
        // `dft`: written when different from the default or when showing defaults.
        macro_rules! dft {
            ($k:expr, $v:expr, $is_default:expr) => {
                if show_defaults || !$is_default {
                    put($k, $v);
                }
            };
        }
        put(
            "smart-rollup-address",
            Json::str(self.rollup_address.to_b58check()),
        );
        put("etherlink", Json::Bool(self.etherlink));
        if let Some(b) = &self.boot_sector_file {
            put("boot-sector", Json::str(b));
        }
        dft!(
            "smart-rollup-node-operator",
            operators_json(&self.operators),
            self.operators.is_empty()
        );
        dft!(
            "rpc-addr",
            Json::str(&self.rpc_addr),
            self.rpc_addr == DEFAULT_RPC_ADDR
        );
        dft!(
            "rpc-port",
            Json::int(self.rpc_port.into()),
            self.rpc_port == DEFAULT_RPC_PORT
        );
        dft!("acl", json_list(&self.acl), self.acl.is_empty());
        if let Some(m) = &self.metrics_addr {
            put("metrics-addr", Json::str(m));
        }
        dft!(
            "performance-metrics",
            Json::Bool(self.performance_metrics),
            self.performance_metrics
        );
        dft!(
            "reconnection_delay",
            Json::float(self.reconnection_delay),
            self.reconnection_delay == 2.0
        );
        match &self.fee_parameters {
            Some(fees) => put(
                "fee-parameters",
                Json::Object(
                    fees.iter()
                        .map(|(k, v)| (k.as_str().to_string(), Json::from_value(v)))
                        .collect(),
                ),
            ),
            None if show_defaults => put("fee-parameters", Json::Object(vec![])),
            None => {}
        }
        put("mode", self.mode.to_json());
        dft!(
            "loser-mode",
            json_list(&self.loser_mode),
            self.loser_mode.is_empty()
        );
        dft!(
            "apply-unsafe-patches",
            Json::Bool(self.apply_unsafe_patches),
            !self.apply_unsafe_patches
        );
        dft!(
            "unsafe-pvm-patches",
            json_list(&self.unsafe_pvm_patches),
            self.unsafe_pvm_patches.is_empty()
        );
        dft!(
            "execute-outbox-messages-filter",
            json_list(&self.execute_outbox_messages_filter),
            self.execute_outbox_messages_filter.is_empty()
        );
        if let Some(d) = &self.dal_node_endpoint {
            put("DAL node endpoint", Json::str(d));
        }
        if let Some(p) = &self.pre_images_endpoint {
            put("pre-images-endpoint", Json::str(p));
        }
        dft!(
            "batcher",
            batcher_json(&self.batcher),
            self.batcher == BatcherConfig::default()
        );
        dft!(
            "injector",
            injector_json(&self.injector),
            self.injector == InjectorConfig::default()
        );
        dft!(
            "l1_blocks_cache_size",
            Json::int(self.l1_blocks_cache_size),
            self.l1_blocks_cache_size == 64
        );
        dft!(
            "l2_blocks_cache_size",
            Json::int(self.l2_blocks_cache_size),
            self.l2_blocks_cache_size == 64
        );
        if let Some(p) = self.prefetch_blocks {
            put("prefetch_blocks", Json::int(p));
        }
        dft!(
            "l1_monitor_finalized",
            Json::Bool(self.l1_monitor_finalized),
            !self.l1_monitor_finalized
        );
        dft!(
            "l1_rpc_timeout",
            Json::float(self.l1_rpc_timeout),
            self.l1_rpc_timeout == 60.0
        );
        dft!(
            "loop_retry_delay",
            Json::float(self.loop_retry_delay),
            self.loop_retry_delay == 10.0
        );
        if let Some(i) = self.index_buffer_size {
            put("index_buffer_size", Json::int(i));
        }
        if let Some(i) = self.irmin_cache_size {
            put("irmin_cache_size", Json::int(i));
        }
        dft!(
            "log-kernel-debug",
            Json::Bool(self.log_kernel_debug),
            !self.log_kernel_debug
        );
        if let Some(f) = &self.log_kernel_debug_file {
            put("log-kernel-debug-file", Json::str(f));
        }
        dft!(
            "unsafe-disable-wasm-kernel-checks",
            Json::Bool(self.unsafe_disable_wasm_kernel_checks),
            !self.unsafe_disable_wasm_kernel_checks
        );
        dft!(
            "no-degraded",
            Json::Bool(self.no_degraded),
            !self.no_degraded
        );
        dft!(
            "slow-vm-fallback",
            Json::Bool(self.slow_vm_fallback),
            !self.slow_vm_fallback
        );
        let mut gc = vec![];
        if let Some(f) = self.gc_parameters.frequency {
            gc.push(("frequency".to_string(), Json::int(f.into())));
        }
        if let Some(c) = self.gc_parameters.context_splitting_period {
            gc.push(("context_splitting_period".to_string(), Json::int(c)));
        }
        dft!(
            "gc-parameters",
            Json::Object(gc),
            self.gc_parameters == GcParameters::default()
        );
        if let Some(h) = self.history_mode {
            put("history-mode", Json::str(h.as_str()));
        }
        let str_list = |l: &[String]| Json::Array(l.iter().map(Json::str).collect());
        dft!(
            "cors",
            Json::Object(vec![
                (
                    "allowed_headers".into(),
                    str_list(&self.cors.allowed_headers)
                ),
                (
                    "allowed_origins".into(),
                    str_list(&self.cors.allowed_origins)
                ),
            ]),
            self.cors == Cors::default()
        );
        dft!(
            "bail-on-disagree",
            Json::Bool(self.bail_on_disagree),
            !self.bail_on_disagree
        );
        dft!(
            "commit-on",
            Json::str(self.commit_on.as_str()),
            self.commit_on == CommitOn::Block
        );
        match &self.opentelemetry {
            Some(v) => put("opentelemetry", Json::from_value(v)),
            None if show_defaults => put(
                "opentelemetry",
                Json::Object(vec![("enable".into(), Json::Bool(false))]),
            ),
            None => {}
        }
        dft!(
            "dal_slot_status_max_fetch_attempts",
            Json::int(self.dal_slot_status_max_fetch_attempts.into()),
            self.dal_slot_status_max_fetch_attempts == 15
        );
        Json::Object(o)
    }

    /// Parses a config JSON document; errors name the offending field.
    pub fn from_json(v: &Value) -> Result<Config, ConfigParseError> {
        let obj = v.as_object().ok_or(ConfigParseError::NotAnObject)?;
        for k in obj.keys() {
            if !KNOWN_KEYS.contains(&k.as_str()) {
                return Err(ConfigParseError::UnexpectedField(k.clone()));
            }
        }
        let addr_v = obj
            .get("smart-rollup-address")
            .ok_or(ConfigParseError::MissingField("smart-rollup-address"))?;
        let rollup_address = addr_v
            .as_str()
            .and_then(|s| s.parse::<SmartRollupAddress>().ok())
            .ok_or_else(|| expected("smart-rollup-address", "a smart rollup address (sr1…)"))?;
        let mode = parse_mode_json(
            obj.get("mode")
                .ok_or(ConfigParseError::MissingField("mode"))?,
        )
        .map_err(in_field("mode"))?;
        let mut c = Config::new(rollup_address, mode);
        c.fee_parameters = None;
        let f = Fields(obj);
        c.etherlink = f.bool("etherlink")?.unwrap_or(c.etherlink);
        c.boot_sector_file = f.string("boot-sector")?;
        if let Some(ops) = obj.get("smart-rollup-node-operator") {
            c.operators =
                parse_operators_json(ops).map_err(in_field("smart-rollup-node-operator"))?;
        }
        c.rpc_addr = f.string("rpc-addr")?.unwrap_or(c.rpc_addr);
        if let Some(p) = f.int("rpc-port")? {
            c.rpc_port =
                u16::try_from(p).map_err(|_| expected("rpc-port", "a 16-bit unsigned integer"))?;
        }
        c.acl = f.list("acl")?.unwrap_or_default();
        c.metrics_addr = f.string("metrics-addr")?;
        c.performance_metrics = f.bool("performance-metrics")?.unwrap_or(true);
        c.reconnection_delay = f.float("reconnection_delay")?.unwrap_or(2.0);
        if let Some(fees) = obj.get("fee-parameters") {
            let fees = fees
                .as_object()
                .ok_or_else(|| expected("fee-parameters", "an object"))?;
            let mut m = BTreeMap::new();
            for (k, v) in fees {
                let kind = OperationKind::parse(k).ok_or_else(|| ConfigParseError::InField {
                    field: "fee-parameters",
                    source: Box::new(ConfigParseError::UnknownOperationKind(format!("\"{k}\""))),
                })?;
                m.insert(kind, v.clone());
            }
            c.fee_parameters = Some(m);
        }
        c.loser_mode = f.list("loser-mode")?.unwrap_or_default();
        c.apply_unsafe_patches = f.bool("apply-unsafe-patches")?.unwrap_or(false);
        c.unsafe_pvm_patches = f.list("unsafe-pvm-patches")?.unwrap_or_default();
        c.execute_outbox_messages_filter = f
            .list("execute-outbox-messages-filter")?
            .unwrap_or_default();
        outbox_filter::OutboxMessageFilter::parse_list(&c.execute_outbox_messages_filter)
            .map_err(|(index, source)| ConfigParseError::OutboxFilter { index, source })?;
        c.dal_node_endpoint = f.string("DAL node endpoint")?;
        c.pre_images_endpoint = f.string("pre-images-endpoint")?;
        if let Some(b) = obj.get("batcher") {
            c.batcher = parse_batcher(b).map_err(in_field("batcher"))?;
        }
        if let Some(i) = obj.get("injector") {
            c.injector = parse_injector(i).map_err(in_field("injector"))?;
        }
        c.l1_blocks_cache_size = f.int("l1_blocks_cache_size")?.unwrap_or(64);
        c.l2_blocks_cache_size = f.int("l2_blocks_cache_size")?.unwrap_or(64);
        c.prefetch_blocks = f.int("prefetch_blocks")?;
        c.l1_monitor_finalized = f.bool("l1_monitor_finalized")?.unwrap_or(false);
        c.l1_rpc_timeout = f.float("l1_rpc_timeout")?.unwrap_or(60.0);
        c.loop_retry_delay = f.float("loop_retry_delay")?.unwrap_or(10.0);
        c.index_buffer_size = f.int("index_buffer_size")?;
        c.irmin_cache_size = f.int("irmin_cache_size")?;
        c.log_kernel_debug = f.bool("log-kernel-debug")?.unwrap_or(false);
        c.log_kernel_debug_file = f.string("log-kernel-debug-file")?;
        c.unsafe_disable_wasm_kernel_checks = f
            .bool("unsafe-disable-wasm-kernel-checks")?
            .unwrap_or(false);
        c.no_degraded = f.bool("no-degraded")?.unwrap_or(false);
        c.slow_vm_fallback = f.bool("slow-vm-fallback")?.unwrap_or(false);
        if let Some(g) = obj.get("gc-parameters") {
            let g = g
                .as_object()
                .ok_or_else(|| expected("gc-parameters", "an object"))?;
            let gf = Fields(g);
            c.gc_parameters.frequency = gf
                .int("frequency")?
                .map(i32::try_from)
                .transpose()
                .map_err(|_| expected("gc-parameters.frequency", "an int32"))?;
            c.gc_parameters.context_splitting_period = gf.int("context_splitting_period")?;
        }
        c.history_mode = f
            .string("history-mode")?
            .map(|s| {
                s.parse()
                    .map_err(|_| expected("history-mode", "\"archive\" or \"full\""))
            })
            .transpose()?;
        if let Some(cors) = obj.get("cors") {
            let cors = cors
                .as_object()
                .ok_or_else(|| expected("cors", "an object"))?;
            let cf = Fields(cors);
            c.cors.allowed_headers = cf.string_list("allowed_headers")?.unwrap_or_default();
            c.cors.allowed_origins = cf.string_list("allowed_origins")?.unwrap_or_default();
        }
        c.bail_on_disagree = f.bool("bail-on-disagree")?.unwrap_or(false);
        if let Some(s) = f.string("commit-on")? {
            c.commit_on = s
                .parse()
                .map_err(|e: UnknownCommitOn| in_field("commit-on")(e.into()))?;
        }
        c.opentelemetry = obj.get("opentelemetry").cloned();
        if let Some(n) = f.int("dal_slot_status_max_fetch_attempts")? {
            c.dal_slot_status_max_fetch_attempts = u8::try_from(n)
                .map_err(|_| expected("dal_slot_status_max_fetch_attempts", "a uint8"))?;
        }
        if obj.get("etherlink").is_none() {
            c.etherlink = is_etherlink(&c.rollup_address);
        }
        c.validate()?;
        Ok(c)
    }

    /// Writes `config.json` as Octez does; refuses to overwrite unless `force`.
    pub fn save(&self, path: &Path, force: bool) -> Result<(), ConfigError> {
        if path.exists() && !force {
            return Err(ConfigError::AlreadyExists(path.to_path_buf()));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| ConfigError::Io(path.to_path_buf(), e))?;
        }
        // Replaced whole or not at all: a crash during `init --force` never truncates it.
        atomic_file::write(path, self.to_json(false).to_ocaml_pretty().as_bytes())
            .map_err(|e| ConfigError::Io(path.to_path_buf(), e))
    }

    /// Reads `config.json`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Io(path.to_path_buf(), e))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| ConfigError::Syntax(path.to_path_buf(), e))?;
        Config::from_json(&v).map_err(|e| ConfigError::Malformed(path.to_path_buf(), e))
    }
}

/// A feature this node does not implement yet, requested by a non-default option or
/// configuration field: the node refuses to start rather than ignore it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0}: not supported yet by this rollup node. Remove it from the command line and from \
     config.json (or set it to its default) to run this node."
)]
pub struct Unsupported(pub &'static str);

/// A value out of its domain, named by its option or configuration field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct InvalidValue {
    /// The option (`--reconnection-delay`) or field (`reconnection_delay`).
    pub name: &'static str,
    /// What is wrong and what is expected.
    pub message: String,
}

fn invalid(name: &'static str, message: impl Into<String>) -> InvalidValue {
    InvalidValue {
        name,
        message: message.into(),
    }
}

/// A duration in seconds: finite, positive, at most a day (a `Duration` is built from it).
pub fn check_seconds(name: &'static str, v: f64) -> Result<(), InvalidValue> {
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(())
    } else {
        Err(invalid(
            name,
            format!("expected a number of seconds greater than 0 and at most 86400, got {v}"),
        ))
    }
}

/// An http(s) URL with a host (pre-images endpoint, DAL node).
pub fn check_http_url(name: &'static str, v: &str) -> Result<(), InvalidValue> {
    // The same rule as every outgoing connection (`http_client::Endpoint`).
    http_client::Endpoint::parse(name, v)
        .map(drop)
        .map_err(|e| invalid(name, e.to_string()))
}

fn check_positive(name: &'static str, v: Option<i64>) -> Result<(), InvalidValue> {
    match v {
        Some(n) if n <= 0 => Err(invalid(
            name,
            format!("expected a positive integer, got {n}"),
        )),
        _ => Ok(()),
    }
}

fn check_non_negative(name: &'static str, v: Option<i64>) -> Result<(), InvalidValue> {
    match v {
        Some(n) if n < 0 => Err(invalid(
            name,
            format!("expected a non-negative integer, got {n}"),
        )),
        _ => Ok(()),
    }
}

impl Config {
    /// Checks every value's domain (parse time, `init` and `run`): durations, sizes, URLs,
    /// addresses. Errors name the option or field.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        check_seconds(
            "reconnection_delay (--reconnection-delay)",
            self.reconnection_delay,
        )?;
        check_seconds("l1_rpc_timeout", self.l1_rpc_timeout)?;
        check_seconds("loop_retry_delay", self.loop_retry_delay)?;
        if let Some(u) = &self.pre_images_endpoint {
            check_http_url("pre-images-endpoint (--pre-images-endpoint)", u)?;
        }
        if let Some(u) = &self.dal_node_endpoint {
            check_http_url("DAL node endpoint (--dal-node)", u)?;
        }
        if self.rpc_addr.trim().is_empty() || self.rpc_addr.contains(char::is_whitespace) {
            return Err(invalid(
                "rpc-addr (--rpc-addr)",
                format!("{:?} is not an address or host name", self.rpc_addr),
            ));
        }
        check_positive("l1_blocks_cache_size", Some(self.l1_blocks_cache_size))?;
        check_positive("l2_blocks_cache_size", Some(self.l2_blocks_cache_size))?;
        check_positive("prefetch_blocks", self.prefetch_blocks)?;
        check_positive(
            "index_buffer_size (--index-buffer-size)",
            self.index_buffer_size,
        )?;
        check_positive(
            "irmin_cache_size (--irmin-cache-size)",
            self.irmin_cache_size,
        )?;
        check_positive(
            "gc-parameters.frequency (--gc-frequency)",
            self.gc_parameters.frequency.map(i64::from),
        )?;
        check_positive(
            "gc-parameters.context_splitting_period",
            self.gc_parameters.context_splitting_period,
        )?;
        check_non_negative(
            "batcher.min_batch_elements",
            Some(self.batcher.min_batch_elements),
        )?;
        check_non_negative("batcher.min_batch_size", Some(self.batcher.min_batch_size))?;
        check_positive(
            "batcher.max_batch_elements",
            Some(self.batcher.max_batch_elements),
        )?;
        check_positive("batcher.max_batch_size", self.batcher.max_batch_size)?;
        check_positive("injector.max_batch_length", self.injector.max_batch_length)?;
        if self.injector.injection_ttl < 1 {
            return Err(invalid(
                "injector.injection_ttl (--injection-ttl)",
                "expected at least 1",
            ));
        }
        if self.injector.retention_period > MAX_INJECTOR_RETENTION_PERIOD {
            return Err(invalid(
                "injector.retention_period (--injector-retention-period)",
                format!("expected at most {MAX_INJECTOR_RETENTION_PERIOD}"),
            ));
        }
        if let Some(m) = &self.metrics_addr {
            metrics_socket(m).map_err(|_| {
                invalid(
                    "metrics-addr (--metrics-addr)",
                    format!("{m:?}: expected ADDR:PORT, :PORT or ADDR with an IP address"),
                )
            })?;
        }
        if let Some(f) = &self.log_kernel_debug_file
            && f.is_empty()
        {
            return Err(invalid(
                "log-kernel-debug-file (--log-kernel-debug-file)",
                "empty file name",
            ));
        }
        Ok(())
    }

    /// The typed `execute-outbox-messages-filter` (empty: no automatic execution of
    /// transaction batches; docs/reference/octez-rollup-node.md §6.3).
    ///
    /// # Errors
    /// [`ConfigParseError::OutboxFilter`] for a filter of another shape.
    pub fn outbox_filters(
        &self,
    ) -> Result<Vec<outbox_filter::OutboxMessageFilter>, ConfigParseError> {
        outbox_filter::OutboxMessageFilter::parse_list(&self.execute_outbox_messages_filter)
            .map_err(|(index, source)| ConfigParseError::OutboxFilter { index, source })
    }

    /// The `loser-mode` failures as `(level, message index, message tick)` (Octez
    /// `Loser_mode.failure_encoding`: `{"level", "message_index", "message_tick"}`, the tick an
    /// int64 written as a decimal string).
    ///
    /// # Errors
    /// [`ConfigParseError::Expected`] for an entry of another shape.
    pub fn loser_failures(&self) -> Result<Vec<(u32, u64, u64)>, ConfigParseError> {
        let bad = || ConfigParseError::Expected {
            field: "loser-mode".into(),
            expected: "a list of {\"level\", \"message_index\", \"message_tick\"} objects",
        };
        let num = |v: Option<&Value>| -> Option<u64> {
            match v? {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
        };
        self.loser_mode
            .iter()
            .map(|f| {
                let level = num(f.get("level")).and_then(|l| u32::try_from(l).ok());
                match (
                    level,
                    num(f.get("message_index")),
                    num(f.get("message_tick")),
                ) {
                    (Some(l), Some(i), Some(t)) => Ok((l, i, t)),
                    _ => Err(bad()),
                }
            })
            .collect()
    }

    /// Sets `loser-mode` to `failures` ([`Self::loser_failures`]).
    pub fn set_loser_failures(&mut self, failures: &[(u32, u64, u64)]) {
        self.loser_mode = failures
            .iter()
            .map(|(level, index, tick)| {
                serde_json::json!({"level": level, "message_index": index,
                                   "message_tick": tick.to_string()})
            })
            .collect();
    }

    /// Refuses what this node does not implement yet when set to a non-default value (the
    /// defaults are what this node does). Checked when the node starts.
    pub fn check_supported(&self) -> Result<(), Unsupported> {
        let checks: [(bool, &'static str); 6] = [
            (
                self.l1_monitor_finalized,
                "--l1-monitor-finalized (l1_monitor_finalized)",
            ),
            (
                self.unsafe_disable_wasm_kernel_checks,
                "--unsafe-disable-wasm-kernel-checks (unsafe-disable-wasm-kernel-checks)",
            ),
            (
                self.slow_vm_fallback,
                "--slow-vm-fallback (slow-vm-fallback)",
            ),
            (
                self.commit_on != CommitOn::Block,
                "--commit-on commitment (commit-on)",
            ),
            (
                self.gc_parameters.context_splitting_period.is_some(),
                "gc-parameters.context_splitting_period",
            ),
            (
                self.opentelemetry
                    .as_ref()
                    .and_then(|o| o.get("enable"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                "--profiling true (opentelemetry)",
            ),
        ];
        match checks.into_iter().find(|(set, _)| *set) {
            Some((_, name)) => Err(Unsupported(name)),
            None => Ok(()),
        }
    }
}

/// Operational errors of config files.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Octez: `Configuration file "<path>" already exists. Use --force to overwrite.`
    #[error("Configuration file {:?} already exists. Use --force to overwrite.", .0.display().to_string())]
    AlreadyExists(PathBuf),
    /// I/O error on the file.
    #[error("{}: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),
    /// Not JSON.
    #[error("Invalid configuration file {}: {}", .0.display(), .1)]
    Syntax(PathBuf, #[source] serde_json::Error),
    /// JSON that is not a configuration.
    #[error("Invalid configuration file {}: {}", .0.display(), .1)]
    Malformed(PathBuf, #[source] ConfigParseError),
}

/// Why a mode name does not parse (`mode_of_string`, Octez's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// Not a mode name.
    #[error("Invalid mode")]
    Invalid,
    /// `custom:<kinds>` with an unknown operation kind.
    #[error("Invalid_argument(\"operation_kind_of_string {0}\")")]
    UnknownOperationKind(String),
}

/// Why a configuration document is not a configuration; the message names the field
/// (`config.json` fields: docs/reference/octez-rollup-node.md §5.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigParseError {
    /// The document is not a JSON object.
    #[error("expected a JSON object at the top level")]
    NotAnObject,
    /// A structured field (operators, batcher, injector) that is not a JSON object.
    #[error("expected an object")]
    NotAnObjectField,
    /// A field this node does not know.
    #[error("unexpected field \"{0}\"")]
    UnexpectedField(String),
    /// A required field is absent.
    #[error("missing required field \"{0}\"")]
    MissingField(&'static str),
    /// A field whose value has another type or range; `expected` says what it takes.
    #[error("field \"{field}\": expected {expected}")]
    Expected {
        /// The field.
        field: String,
        /// What the field takes.
        expected: &'static str,
    },
    /// An error inside a structured field, prefixed by its name.
    #[error("field \"{field}\": {source}")]
    InField {
        /// The enclosing field.
        field: &'static str,
        /// The error inside.
        source: Box<ConfigParseError>,
    },
    /// A filter of `execute-outbox-messages-filter` that is not Octez's shape.
    #[error("field \"execute-outbox-messages-filter\", filter {index}: {source}")]
    OutboxFilter {
        /// Position of the filter in the list.
        index: usize,
        /// What is wrong.
        source: outbox_filter::OutboxFilterError,
    },
    /// A mode string that does not parse.
    #[error(transparent)]
    Mode(#[from] ModeError),
    /// A mode value that is neither a mode name nor `{"custom": [kinds]}`.
    #[error("invalid mode {0}")]
    InvalidModeValue(Value),
    /// `{"custom": …}` whose value is not a list.
    #[error("\"custom\": expected a list of operation kinds")]
    CustomNotAList,
    /// An operation kind this node does not know (as written in the file).
    #[error("unknown operation kind {0}")]
    UnknownOperationKind(String),
    /// An operator purpose this node does not know.
    #[error("unknown purpose \"{0}\"")]
    UnknownPurpose(String),
    /// An operator key that is not a public key hash.
    #[error("\"{0}\": expected a public key hash")]
    NotAKeyHash(String),
    /// A `commit-on` value that does not parse.
    #[error(transparent)]
    CommitOn(#[from] UnknownCommitOn),
    /// Batcher bounds that contradict each other (`batcher_encoding`).
    #[error("{0}")]
    Batcher(&'static str),
    /// `injector.retention_period` above its maximum.
    #[error("injector.retention_period should be smaller than {MAX_INJECTOR_RETENTION_PERIOD}")]
    InjectorRetention,
    /// `injector.injection_ttl` below 1.
    #[error("injector.injection_ttl should be at least 1")]
    InjectorTtl,
    /// A value out of its domain (the checks of [`Config::validate`]).
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
}

/// [`ConfigParseError::Expected`] for `field`.
fn expected(field: &str, expected: &'static str) -> ConfigParseError {
    ConfigParseError::Expected {
        field: field.to_string(),
        expected,
    }
}

/// Prefixes an error with the name of the field it is in.
fn in_field(field: &'static str) -> impl Fn(ConfigParseError) -> ConfigParseError {
    move |e| ConfigParseError::InField {
        field,
        source: Box::new(e),
    }
}

const KNOWN_KEYS: &[&str] = &[
    "smart-rollup-address",
    "etherlink",
    "boot-sector",
    "smart-rollup-node-operator",
    "rpc-addr",
    "rpc-port",
    "acl",
    "metrics-addr",
    "performance-metrics",
    "reconnection_delay",
    "fee-parameters",
    "mode",
    "loser-mode",
    "apply-unsafe-patches",
    "unsafe-pvm-patches",
    "execute-outbox-messages-filter",
    "DAL node endpoint",
    "pre-images-endpoint",
    "batcher",
    "injector",
    "l1_blocks_cache_size",
    "l2_blocks_cache_size",
    "prefetch_blocks",
    "l1_monitor_finalized",
    "l1_rpc_timeout",
    "loop_retry_delay",
    "index_buffer_size",
    "irmin_cache_size",
    "log-kernel-debug",
    "log-kernel-debug-file",
    "unsafe-disable-wasm-kernel-checks",
    "no-degraded",
    "slow-vm-fallback",
    "gc-parameters",
    "history-mode",
    "cors",
    "bail-on-disagree",
    "commit-on",
    "opentelemetry",
    "dal_slot_status_max_fetch_attempts",
];

/// Whether the address is a known Etherlink rollup.
pub fn is_etherlink(addr: &SmartRollupAddress) -> bool {
    let s = addr.to_b58check();
    ETHERLINK_ADDRESSES.contains(&s.as_str())
}

struct Fields<'a>(&'a serde_json::Map<String, Value>);

impl Fields<'_> {
    fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k)
    }
    fn bool(&self, k: &str) -> Result<Option<bool>, ConfigParseError> {
        self.get(k)
            .map(|v| v.as_bool().ok_or_else(|| expected(k, "a boolean")))
            .transpose()
    }
    fn string(&self, k: &str) -> Result<Option<String>, ConfigParseError> {
        self.get(k)
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| expected(k, "a string"))
            })
            .transpose()
    }
    fn int(&self, k: &str) -> Result<Option<i64>, ConfigParseError> {
        self.get(k)
            .map(|v| v.as_i64().ok_or_else(|| expected(k, "an integer")))
            .transpose()
    }
    fn float(&self, k: &str) -> Result<Option<f64>, ConfigParseError> {
        self.get(k)
            .map(|v| v.as_f64().ok_or_else(|| expected(k, "a number")))
            .transpose()
    }
    fn list(&self, k: &str) -> Result<Option<Vec<Value>>, ConfigParseError> {
        self.get(k)
            .map(|v| v.as_array().cloned().ok_or_else(|| expected(k, "a list")))
            .transpose()
    }
    fn string_list(&self, k: &str) -> Result<Option<Vec<String>>, ConfigParseError> {
        self.get(k)
            .map(|v| {
                v.as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|x| x.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| expected(k, "a list of strings"))
            })
            .transpose()
    }
}

fn json_list(l: &[Value]) -> Json {
    Json::Array(l.iter().map(Json::from_value).collect())
}

fn operators_json(ops: &Operators) -> Json {
    Json::Object(
        ops.iter()
            .map(|(p, keys)| {
                let v = if *p == Purpose::Batching {
                    Json::Array(keys.iter().map(|k| Json::str(k.to_b58check())).collect())
                } else {
                    Json::str(keys.first().map(|k| k.to_b58check()).unwrap_or_default())
                };
                (p.as_str().to_string(), v)
            })
            .collect(),
    )
}

fn parse_operators_json(v: &Value) -> Result<Operators, ConfigParseError> {
    let o = v.as_object().ok_or(ConfigParseError::NotAnObjectField)?;
    let mut ops = Operators::new();
    for (k, v) in o {
        let p = Purpose::parse(k).ok_or_else(|| ConfigParseError::UnknownPurpose(k.clone()))?;
        let pkh = |s: &Value| -> Result<PublicKeyHash, ConfigParseError> {
            s.as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ConfigParseError::NotAKeyHash(k.clone()))
        };
        let keys = match v {
            Value::Array(a) => a.iter().map(pkh).collect::<Result<Vec<_>, _>>()?,
            v => vec![pkh(v)?],
        };
        ops.entry(p).or_default().extend(keys);
    }
    Ok(ops)
}

fn parse_mode_json(v: &Value) -> Result<Mode, ConfigParseError> {
    match v {
        Value::String(s) if s != "custom" && !s.starts_with("custom:") => Ok(Mode::parse(s)?),
        Value::Object(o) if o.len() == 1 && o.contains_key("custom") => {
            let kinds = o["custom"]
                .as_array()
                .ok_or(ConfigParseError::CustomNotAList)?
                .iter()
                .map(|k| {
                    k.as_str()
                        .and_then(OperationKind::parse)
                        .ok_or_else(|| ConfigParseError::UnknownOperationKind(k.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Mode::Custom(kinds))
        }
        _ => Err(ConfigParseError::InvalidModeValue(v.clone())),
    }
}

fn batcher_json(b: &BatcherConfig) -> Json {
    let d = BatcherConfig::default();
    let mut o = vec![];
    if b.min_batch_elements != d.min_batch_elements {
        o.push(("min_batch_elements".into(), Json::int(b.min_batch_elements)));
    }
    if b.min_batch_size != d.min_batch_size {
        o.push(("min_batch_size".into(), Json::int(b.min_batch_size)));
    }
    if b.max_batch_elements != d.max_batch_elements {
        o.push(("max_batch_elements".into(), Json::int(b.max_batch_elements)));
    }
    if let Some(m) = b.max_batch_size {
        o.push(("max_batch_size".into(), Json::int(m)));
    }
    Json::Object(o)
}

fn parse_batcher(v: &Value) -> Result<BatcherConfig, ConfigParseError> {
    let o = v.as_object().ok_or(ConfigParseError::NotAnObjectField)?;
    let f = Fields(o);
    let d = BatcherConfig::default();
    let b = BatcherConfig {
        min_batch_elements: f.int("min_batch_elements")?.unwrap_or(d.min_batch_elements),
        min_batch_size: f.int("min_batch_size")?.unwrap_or(d.min_batch_size),
        max_batch_elements: f.int("max_batch_elements")?.unwrap_or(d.max_batch_elements),
        max_batch_size: f.int("max_batch_size")?,
    };
    if b.min_batch_size <= 0 || b.min_batch_elements <= 0 {
        return Err(ConfigParseError::Batcher("min_batch_size must be positive"));
    }
    if b.max_batch_size.is_some_and(|m| m < b.min_batch_size) {
        return Err(ConfigParseError::Batcher(
            "max_batch_size must be greater than min_batch_size",
        ));
    }
    if b.max_batch_elements < b.min_batch_elements {
        return Err(ConfigParseError::Batcher(
            "max_batch_elements must be greater than min_batch_elements",
        ));
    }
    Ok(b)
}

fn injector_json(i: &InjectorConfig) -> Json {
    let d = InjectorConfig::default();
    let mut o = vec![];
    if i.retention_period != d.retention_period {
        o.push((
            "retention_period".into(),
            Json::int(i.retention_period.into()),
        ));
    }
    if i.attempts != d.attempts {
        o.push(("attempts".into(), Json::int(i.attempts.into())));
    }
    if i.injection_ttl != d.injection_ttl {
        o.push(("injection_ttl".into(), Json::int(i.injection_ttl.into())));
    }
    if let Some(m) = i.max_batch_length {
        o.push(("max_batch_length".into(), Json::int(m)));
    }
    Json::Object(o)
}

fn parse_injector(v: &Value) -> Result<InjectorConfig, ConfigParseError> {
    let o = v.as_object().ok_or(ConfigParseError::NotAnObjectField)?;
    let f = Fields(o);
    let d = InjectorConfig::default();
    let u16f = |k: &str, dv: u16| -> Result<u16, ConfigParseError> {
        f.int(k)?
            .map(|x| u16::try_from(x).map_err(|_| expected(k, "a uint16")))
            .transpose()
            .map(|x| x.unwrap_or(dv))
    };
    let i = InjectorConfig {
        retention_period: u16f("retention_period", d.retention_period)?,
        attempts: u16f("attempts", d.attempts)?,
        injection_ttl: u16f("injection_ttl", d.injection_ttl)?,
        max_batch_length: f.int("max_batch_length")?,
    };
    if i.retention_period > MAX_INJECTOR_RETENTION_PERIOD {
        return Err(ConfigParseError::InjectorRetention);
    }
    if i.injection_ttl < 1 {
        return Err(ConfigParseError::InjectorTtl);
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf";

    #[test]
    fn metrics_addresses() {
        assert_eq!(
            metrics_socket(":1234").unwrap(),
            "127.0.0.1:1234".parse().unwrap()
        );
        assert_eq!(
            metrics_socket("0.0.0.0").unwrap(),
            "0.0.0.0:9933".parse().unwrap()
        );
        assert_eq!(
            metrics_socket("10.0.0.1:9").unwrap(),
            "10.0.0.1:9".parse().unwrap()
        );
        assert!(metrics_socket("nope:x").is_err());
    }

    #[test]
    fn values_out_of_their_domain_are_named() {
        let ok = Config::new(ADDR.parse().unwrap(), Mode::Observer);
        ok.validate().unwrap();
        let bad = |f: &dyn Fn(&mut Config)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(&|c| c.reconnection_delay = f64::NAN).contains("reconnection_delay"));
        assert!(bad(&|c| c.reconnection_delay = -1.0).contains("--reconnection-delay"));
        assert!(bad(&|c| c.l1_rpc_timeout = 0.0).contains("l1_rpc_timeout"));
        assert!(bad(&|c| c.loop_retry_delay = f64::INFINITY).contains("loop_retry_delay"));
        for u in ["ht!tp://::nope", "ftp://h/x", "http://", "nope"] {
            let e = bad(&|c| c.pre_images_endpoint = Some(u.into()));
            assert!(e.contains("--pre-images-endpoint"), "{u}: {e}");
        }
        assert!(bad(&|c| c.gc_parameters.frequency = Some(-1)).contains("--gc-frequency"));
        assert!(bad(&|c| c.l1_blocks_cache_size = -1).contains("l1_blocks_cache_size"));
        assert!(bad(&|c| c.prefetch_blocks = Some(0)).contains("prefetch_blocks"));
        assert!(bad(&|c| c.batcher.min_batch_size = -1).contains("batcher.min_batch_size"));
        assert!(bad(&|c| c.metrics_addr = Some("nope:x".into())).contains("--metrics-addr"));
        let mut c = ok.clone();
        c.pre_images_endpoint = Some("https://snapshots.example/wasm_2_0_0".into());
        c.validate().unwrap();
        let e = Config::from_json(&serde_json::json!({
            "smart-rollup-address": ADDR, "mode": "observer", "l1_rpc_timeout": -3
        }))
        .unwrap_err();
        assert!(
            matches!(&e, ConfigParseError::Invalid(v) if v.name == "l1_rpc_timeout"),
            "{e}"
        );
        assert!(e.to_string().contains("l1_rpc_timeout"), "{e}");
    }

    #[test]
    fn a_malformed_outbox_filter_is_refused_naming_the_field() {
        let e = Config::from_json(&serde_json::json!({
            "smart-rollup-address": ADDR, "mode": "maintenance",
            "execute-outbox-messages-filter": [{"transaction": {}}]
        }))
        .unwrap_err();
        assert!(
            matches!(&e, ConfigParseError::OutboxFilter { index: 0, .. }),
            "{e}"
        );
        assert!(
            e.to_string().contains("execute-outbox-messages-filter"),
            "{e}"
        );
    }

    #[test]
    fn unimplemented_features_refuse_non_default_values() {
        let ok = Config::new(ADDR.parse().unwrap(), Mode::Observer);
        ok.check_supported().unwrap();
        let refused = |f: &dyn Fn(&mut Config)| {
            let mut c = ok.clone();
            f(&mut c);
            c.check_supported().unwrap_err().to_string()
        };
        // Implemented: the DAL node (reveals), unsafe patches, the unused fetch attempts.
        let mut c = ok.clone();
        c.dal_node_endpoint = Some("http://h".into());
        c.dal_slot_status_max_fetch_attempts = 3;
        c.apply_unsafe_patches = true;
        c.check_supported().unwrap();
        assert!(refused(&|c| c.slow_vm_fallback = true).contains("--slow-vm-fallback"));
        assert!(refused(&|c| c.l1_monitor_finalized = true).contains("--l1-monitor-finalized"));
        // Implemented by the injector and the batcher: accepted.
        let mut c = ok.clone();
        c.injector.attempts = 3;
        c.batcher.min_batch_elements = 3;
        let mut fees = BTreeMap::new();
        fees.insert(OperationKind::Publish, serde_json::json!({}));
        c.fee_parameters = Some(fees);
        c.check_supported().unwrap();
        assert!(
            refused(&|c| c.opentelemetry = Some(serde_json::json!({"enable": true})))
                .contains("--profiling")
        );
        // The outbox filter is implemented (automatic execution): accepted.
        let mut c = ok.clone();
        c.execute_outbox_messages_filter =
            vec![serde_json::json!({"transaction": {"destination": "any", "entrypoint": "any"}})];
        c.check_supported().unwrap();
        assert_eq!(c.outbox_filters().unwrap().len(), 1);
        // Disabled opentelemetry, an empty fee-parameters object: defaults, accepted.
        let mut c = ok.clone();
        c.opentelemetry = Some(serde_json::json!({"enable": false}));
        c.fee_parameters = Some(BTreeMap::new());
        c.check_supported().unwrap();
    }

    #[test]
    fn init_observer_hides_defaults() {
        let mut c = Config::new(ADDR.parse().unwrap(), Mode::Observer);
        c.pre_images_endpoint = Some("http://localhost:1234".into());
        assert_eq!(
            c.to_json(false).to_ocaml_pretty(),
            "{ \"smart-rollup-address\": \"sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf\",\n  \
             \"etherlink\": false, \"fee-parameters\": {}, \"mode\": \"observer\",\n  \
             \"pre-images-endpoint\": \"http://localhost:1234\" }"
        );
    }

    #[test]
    fn roundtrip_through_json() {
        let mut c = Config::new(
            ADDR.parse().unwrap(),
            Mode::Custom(vec![OperationKind::Cement]),
        );
        c.rpc_port = 1234;
        c.history_mode = Some(HistoryMode::Archive);
        c.gc_parameters.frequency = Some(7);
        let pkh: PublicKeyHash = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap();
        c.operators.insert(Purpose::Cementing, vec![pkh]);
        let text = c.to_json(false).to_ocaml_pretty();
        let back = Config::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, c);
        let shown = c.to_json(true).to_compact();
        assert!(shown.contains("\"l1_rpc_timeout\":60"), "{shown}");
    }

    #[test]
    fn bad_field_is_named() {
        let v =
            serde_json::json!({"smart-rollup-address": ADDR, "mode": "observer", "rpc-port": "x"});
        let e = Config::from_json(&v).unwrap_err();
        assert_eq!(e.to_string(), "field \"rpc-port\": expected an integer");
        let v = serde_json::json!({"smart-rollup-address": ADDR, "mode": "observer", "bogus": 1});
        assert_eq!(
            Config::from_json(&v).unwrap_err(),
            ConfigParseError::UnexpectedField("bogus".into())
        );
        let v = serde_json::json!({"smart-rollup-address": ADDR, "mode": "nope"});
        assert_eq!(
            Config::from_json(&v).unwrap_err().to_string(),
            "field \"mode\": Invalid mode"
        );
        // Nested errors keep their source and the messages of the untyped version.
        let v = serde_json::json!({
            "smart-rollup-address": ADDR, "mode": "observer", "injector": {"attempts": -1}
        });
        let e = Config::from_json(&v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field \"injector\": field \"attempts\": expected a uint16"
        );
        assert!(std::error::Error::source(&e).is_some());
        let v = serde_json::json!({
            "smart-rollup-address": ADDR, "mode": {"custom": ["bogus"]}
        });
        assert_eq!(
            Config::from_json(&v).unwrap_err().to_string(),
            "field \"mode\": unknown operation kind \"bogus\""
        );
        let v = serde_json::json!({
            "smart-rollup-address": ADDR, "mode": "observer", "fee-parameters": {"nope": 1}
        });
        assert_eq!(
            Config::from_json(&v).unwrap_err().to_string(),
            "field \"fee-parameters\": unknown operation kind \"nope\""
        );
        assert_eq!(
            "x".parse::<CommitOn>().unwrap_err().to_string(),
            "Invalid value for commit-on, should be block or commitment"
        );
        assert_eq!(
            "x".parse::<HistoryMode>().unwrap_err().to_string(),
            "Invalid_argument(\"history_mode_of_string x\")"
        );
    }

    #[test]
    fn modes_inject_the_kinds_of_their_purposes() {
        use OperationKind as K;
        assert!(Mode::Maintenance.can_inject(K::Publish));
        assert!(Mode::Maintenance.can_inject(K::Cement));
        assert!(Mode::Maintenance.can_inject(K::ExecuteOutboxMessage));
        assert!(!Mode::Maintenance.can_inject(K::AddMessages));
        assert!(!Mode::Maintenance.can_inject(K::Recover));
        assert!(Mode::Bailout.can_inject(K::Recover));
        assert!(Mode::Bailout.can_inject(K::Cement));
        assert!(Mode::Accuser.can_inject(K::Publish));
        assert!(!Mode::Accuser.can_inject(K::Cement));
        assert!(Mode::Operator.can_inject(K::AddMessages));
        assert!(!Mode::Observer.can_inject(K::Publish));
        assert!(Mode::Custom(vec![K::Cement]).can_inject(K::Cement));
        assert!(!Mode::Custom(vec![K::Cement]).can_inject(K::Publish));
    }

    #[test]
    fn modes_and_purposes() {
        assert_eq!(Mode::parse("custom"), Ok(Mode::Custom(vec![])));
        assert_eq!(
            Mode::parse("custom:cement,publish").unwrap().purposes(),
            vec![Purpose::Operating, Purpose::Cementing]
        );
        assert_eq!(Mode::parse("bogus"), Err(ModeError::Invalid));
        assert_eq!(
            Mode::parse("custom:nope").unwrap_err().to_string(),
            "Invalid_argument(\"operation_kind_of_string nope\")"
        );
        assert_eq!(Mode::Operator.purposes().len(), 4);
        assert!(is_etherlink(&ETHERLINK_ADDRESSES[0].parse().unwrap()));
    }
}
