//! Metrics (octez-rollup-node.md §8, Octez `metrics.ml`): the `octez_sc_rollup_node_*`
//! registry, the injector's `octez_injector_*` gauges (Octez `injector_metrics.ml`), all
//! refreshed from a [`NodeView`] at each scrape.

use l1_operation::OperationKind;
use node_config::Config;
use node_context::L1Connection;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::{BlockId, NodeView};

/// The metrics registry (`octez_sc_rollup_node_*`).
pub fn metrics_registry(config: &Config) -> Registry {
    let mut reg = Registry::with_prefix("octez_sc_rollup_node");
    let info: Family<Vec<(String, String)>, Gauge> = Family::default();
    info.get_or_create(&vec![
        ("rollup_address".into(), config.rollup_address.to_b58check()),
        ("mode".into(), config.mode.name().into()),
        ("pvm_kind".into(), "wasm_2_0_0".into()),
        (
            "history_mode".into(),
            config.effective_history_mode().as_str().into(),
        ),
    ])
    .set(1);
    reg.register("rollup_node_info", "Rollup node info", info);
    let node_info: Family<Vec<(String, String)>, Gauge> = Family::default();
    node_info
        .get_or_create(&vec![("version".into(), node_context::VERSION.into())])
        .set(1);
    reg.register("node_info", "Rollup node version", node_info);
    reg
}

/// Gauges refreshed from the node's state at each scrape (octez-rollup-node.md §8 metrics,
/// Octez `metrics.ml` names and help texts). `l1_connected`, `l1_head_level` and the
/// `commitments_{published,cemented}_total` counters are additions of this node (Octez has
/// no L1-connection gauge and counts commitments only in its logs).
pub struct NodeMetrics {
    registry: Registry,
    inbox_level: Gauge,
    internal_messages: Gauge,
    external_messages: Gauge,
    process_time: Gauge<f64, std::sync::atomic::AtomicU64>,
    lcc_level_local: Gauge,
    lpc_level_local: Gauge,
    commitment_period: Gauge,
    challenge_window: Gauge,
    l1_connected: Gauge,
    l1_head_level: Gauge,
    number_of_conflicts: Gauge,
    published: Counter,
    cemented: Counter,
    /// `octez_injector_*`, labelled by worker `tags` and `index`.
    injector: Registry,
    injector_queue: Family<Vec<(String, String)>, Gauge>,
    injector_injected: Family<Vec<(String, String)>, Gauge>,
    injector_included: Family<Vec<(String, String)>, Gauge>,
}

/// Raises `counter` to `value` (counters only go up; the injector's count restarts with
/// the process, as the counter does).
fn raise(counter: &Counter, value: u64) {
    if let Some(d) = value.checked_sub(counter.get())
        && d > 0
    {
        counter.inc_by(d);
    }
}

impl NodeMetrics {
    /// The registry of [`metrics_registry`] plus the node gauges.
    pub fn new(config: &Config) -> Self {
        let mut registry = metrics_registry(config);
        let mut gauge = |name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let inbox_level = gauge("inbox_level", "Level of last inbox");
        let internal_messages = gauge(
            "inbox_internal_messages_number",
            "Number of internal messages in inbox",
        );
        let external_messages = gauge(
            "inbox_external_messages_number",
            "Number of external messages in inbox",
        );
        let lcc_level_local = gauge("lcc_level_local", "Last cemented commitment level locally");
        let lpc_level_local = gauge("lpc_level_local", "Last published commitment by operator");
        let commitment_period = gauge("commitment_period", "Current commitment period");
        let challenge_window = gauge("challenge_window", "Current challenge window");
        let l1_connected = gauge(
            "l1_connected",
            "Whether the rollup node receives L1 heads (1) or not (0)",
        );
        let l1_head_level = gauge("l1_head_level", "Level of the last L1 head seen");
        let number_of_conflicts = gauge("number_of_conflicts", "Number of conflicts");
        let published = Counter::default();
        registry.register(
            "commitments_published",
            "Commitments of this node included on L1 since the node started",
            published.clone(),
        );
        let cemented = Counter::default();
        registry.register(
            "commitments_cemented",
            "Cementations of this node included on L1 since the node started",
            cemented.clone(),
        );
        let mut injector = Registry::with_prefix("octez_injector");
        let mut family = |name: &str, help: &str| {
            let f: Family<Vec<(String, String)>, Gauge> = Family::default();
            injector.register(name, help, f.clone());
            f
        };
        let injector_queue = family("queue_size", "injector worker queue size");
        let injector_injected = family("injected_size", "injector injected operations size");
        let injector_included = family("included_size", "injector included operations size");
        let process_time = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "inbox_process_time",
            "The time the rollup node spent processing the head",
            process_time.clone(),
        );
        Self {
            registry,
            inbox_level,
            internal_messages,
            external_messages,
            process_time,
            lcc_level_local,
            lpc_level_local,
            commitment_period,
            challenge_window,
            l1_connected,
            l1_head_level,
            number_of_conflicts,
            published,
            cemented,
            injector,
            injector_queue,
            injector_injected,
            injector_included,
        }
    }

    /// Sets the gauges from the node's store and status.
    pub fn refresh(&self, view: &dyn NodeView) {
        let status = view.status();
        self.l1_connected
            .set(i64::from(status.l1_connection == L1Connection::Connected));
        if let Some(h) = &status.l1_head {
            self.l1_head_level.set(h.level.into());
        }
        if let Some(c) = &status.constants {
            self.commitment_period.set(c.commitment_period.into());
            self.challenge_window.set(c.challenge_window.into());
        }
        if status.processing.levels > 0 {
            self.process_time.set(status.processing.last_secs);
        }
        match view.block(&BlockId::Head) {
            Ok(Some(head)) => {
                self.inbox_level.set(head.level.into());
                if let Ok(Some(messages)) = view.messages(&head) {
                    // Serialized inbox messages: tag 0 internal, 1 external.
                    let internal = messages.iter().filter(|m| m.first() == Some(&0)).count();
                    let external = messages.len().saturating_sub(internal);
                    self.internal_messages
                        .set(i64::try_from(internal).unwrap_or(i64::MAX));
                    self.external_messages
                        .set(i64::try_from(external).unwrap_or(i64::MAX));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("metrics: {e}"),
        }
        if let Ok(Some((_, l))) = view.lcc() {
            self.lcc_level_local.set(l.into());
        }
        if let Ok(Some((_, l))) = view.lpc() {
            self.lpc_level_local.set(l.into());
        }
        self.number_of_conflicts
            .set(i64::try_from(status.conflicts).unwrap_or(i64::MAX));
        if let Some(i) = view.injector() {
            raise(
                &self.published,
                i.included_since_start(OperationKind::Publish),
            );
            raise(
                &self.cemented,
                i.included_since_start(OperationKind::Cement),
            );
            let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
            for w in i.worker_sizes() {
                let labels = vec![
                    ("tags".to_owned(), w.tags.clone()),
                    ("index".to_owned(), w.index.to_string()),
                ];
                self.injector_queue.get_or_create(&labels).set(n(w.queued));
                self.injector_injected
                    .get_or_create(&labels)
                    .set(n(w.injected));
                self.injector_included
                    .get_or_create(&labels)
                    .set(n(w.included));
            }
        }
    }

    /// Prometheus text of the registries.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode_registry(&mut out, &self.registry)?;
        encode_registry(&mut out, &self.injector)?;
        encode_eof(&mut out)?;
        Ok(out)
    }
}

/// Label names of the labelled families (the CSV listing's last column).
const LABELS: &[(&str, &str)] = &[
    (
        "octez_sc_rollup_node_rollup_node_info",
        "rollup_address;mode;pvm_kind;history_mode",
    ),
    ("octez_sc_rollup_node_node_info", "version"),
    ("octez_injector_queue_size", "tags;index"),
    ("octez_injector_injected_size", "tags;index"),
    ("octez_injector_included_size", "tags;index"),
];

impl NodeMetrics {
    /// The `# HELP` and `# TYPE` lines of every metric, in registration order (`list
    /// metrics`, Octez `Metrics.listing`).
    pub fn listing(config: &Config) -> Result<String, std::fmt::Error> {
        let m = Self::new(config);
        // A labelled family without samples is not encoded at all: one placeholder each.
        let labels = vec![
            ("tags".to_owned(), String::new()),
            ("index".to_owned(), "0".to_owned()),
        ];
        for f in [
            &m.injector_queue,
            &m.injector_injected,
            &m.injector_included,
        ] {
            f.get_or_create(&labels).set(0);
        }
        let text = m.encode()?;
        let mut out = String::new();
        for l in text.lines() {
            // prometheus_client ends every help text with a period; Octez's have none.
            if l.starts_with("# HELP ") {
                out.push_str(l.strip_suffix('.').unwrap_or(l));
                out.push('\n');
            } else if l.starts_with("# TYPE ") {
                out.push_str(l);
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// `Name,Type,Description,Labels` then one line per metric (`dump-metrics`, Octez
    /// `Metrics.print_csv_metrics`: types capitalised, the help in double quotes, label names
    /// separated by `;`).
    pub fn csv(config: &Config) -> Result<String, std::fmt::Error> {
        let listing = Self::listing(config)?;
        let mut out = String::from("Name,Type,Description,Labels\n");
        let mut help: Option<(&str, &str)> = None;
        for l in listing.lines() {
            if let Some(rest) = l.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
                help = Some((name, text));
            } else if let Some(rest) = l.strip_prefix("# TYPE ")
                && let Some((name, text)) = help.take()
            {
                let ty = match rest.split_once(' ').map_or("", |(_, t)| t) {
                    "counter" => "Counter",
                    "gauge" => "Gauge",
                    "histogram" => "Histogram",
                    "summary" => "Summary",
                    other => other,
                };
                let labels = LABELS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or("", |(_, l)| l);
                out.push_str(&format!("{name},{ty},\"{text}\",{labels}\n"));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;
    use std::sync::Arc;

    use node_config::Mode;
    use node_context::NodeStatus;
    use node_store::Store;

    use super::*;
    use crate::StoreView;

    #[test]
    fn node_metrics_follow_the_store_and_status() {
        let c = Config::new(
            "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            Mode::Observer,
        );
        let mut store = Store::open_in_memory().unwrap();
        let b = node_store::fixtures::sample_block(7);
        store
            .transaction(|w| {
                w.insert_block(&b)?;
                w.set_level(tezos_types::Level::from(7u8), &b.block_hash)?;
                w.set_head(&b.block_hash, tezos_types::Level::from(7u8))?;
                w.insert_messages(
                    &b.inbox_witness,
                    tezos_types::Level::from(7u8),
                    &node_store::encode_message_list(&[vec![0, 1], vec![1, 9], vec![1, 8]]),
                )?;
                w.set_lcc(
                    &tezos_types::CommitmentHash::ZERO,
                    tezos_types::Level::from(5u8),
                )
            })
            .unwrap();
        let mut status = NodeStatus {
            l1_connection: node_context::L1Connection::Connected,
            constants: Some(node_context::RollupConstants {
                commitment_period: 20,
                challenge_window: 40,
                minimal_block_delay: 8,
                max_active_outbox_levels: 100,
            }),
            ..NodeStatus::default()
        };
        status
            .processing
            .record(7, std::time::Duration::from_millis(250));
        status.conflicts = 2;
        let view = StoreView {
            config: c.clone(),
            store: Arc::new(node_store::ReadPool::single(store)),
            status: Arc::new(Mutex::new(status)),
            durable: None,
            context: None,
            services: Default::default(),
        };
        let m = NodeMetrics::new(&c);
        m.refresh(&view);
        let out = m.encode().unwrap();
        for line in [
            "octez_sc_rollup_node_inbox_level 7",
            "octez_sc_rollup_node_inbox_internal_messages_number 1",
            "octez_sc_rollup_node_inbox_external_messages_number 2",
            "octez_sc_rollup_node_inbox_process_time 0.25",
            "octez_sc_rollup_node_lcc_level_local 5",
            "octez_sc_rollup_node_commitment_period 20",
            "octez_sc_rollup_node_challenge_window 40",
            "octez_sc_rollup_node_l1_connected 1",
            "octez_sc_rollup_node_number_of_conflicts 2",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} not in\n{out}");
        }
    }

    #[test]
    fn listing_and_csv_name_every_metric() {
        let c = Config::new(
            "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            Mode::Observer,
        );
        let listing = NodeMetrics::listing(&c).unwrap();
        assert!(
            listing
                .lines()
                .all(|l| l.starts_with("# HELP ") || l.starts_with("# TYPE "))
        );
        assert!(
            listing.contains("# TYPE octez_sc_rollup_node_inbox_level gauge"),
            "{listing}"
        );
        assert!(
            listing.contains("# HELP octez_injector_queue_size injector worker queue size"),
            "{listing}"
        );
        let csv = NodeMetrics::csv(&c).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "Name,Type,Description,Labels");
        assert!(
            lines.contains(&"octez_sc_rollup_node_inbox_level,Gauge,\"Level of last inbox\","),
            "{csv}"
        );
        assert!(
            lines.contains(
                &"octez_injector_queue_size,Gauge,\"injector worker queue size\",tags;index"
            ),
            "{csv}"
        );
        assert_eq!(
            lines.len() - 1,
            listing.lines().filter(|l| l.starts_with("# TYPE")).count()
        );
    }

    #[test]
    fn registry_encodes() {
        let c = Config::new(
            "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf".parse().unwrap(),
            Mode::Observer,
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &metrics_registry(&c)).unwrap();
        assert!(
            out.contains("octez_sc_rollup_node_rollup_node_info"),
            "{out}"
        );
    }
}
