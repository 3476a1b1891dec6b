//! Head monitor: `GET /monitor/heads/<chain>` (l1-and-signer.md §1.2; Octez `layer_1.ml`).
//!
//! The stream is newline-delimited JSON of block headers with their hash; the first element is
//! the current head. The monitor reconnects with backoff (`reconnection_delay·1.5^(n−1) ±50%`,
//! capped at `stream_max_delay`) when the connection fails, the stream closes, a value is
//! malformed, or no head arrives within the stall timeout ([`crate::stall_timeout`]). After a
//! reconnection it delivers the last seen head again (when `replay_last_head`), so consumers
//! must recognise already-processed heads by hash.

use crate::backoff::{backoff_delay, random_unit, stall_timeout};
use crate::client::{L1Client, classify, http_error};
use crate::ndjson::NdJsonSplitter;
use inbox::BlockHeader;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// State of the connection to the heads stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// First connection attempt in progress.
    Connecting,
    /// Streaming since this time.
    Connected {
        /// When the stream was (re)opened.
        since: SystemTime,
    },
    /// Not connected since this time (first failure), with the last reason.
    Disconnected {
        /// When the connection was lost (or the first attempt failed).
        since: SystemTime,
        /// Last error.
        reason: String,
    },
}

/// What `/health` reports about L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorStatus {
    /// Connection state.
    pub connection: Connection,
    /// Last head received.
    pub last_head: Option<BlockHeader>,
    /// When it was received.
    pub last_head_at: Option<SystemTime>,
    /// Number of successful reconnections (not counting the first connection).
    pub reconnections: u64,
}

impl MonitorStatus {
    /// Whether the stream is currently open.
    pub fn is_connected(&self) -> bool {
        matches!(self.connection, Connection::Connected { .. })
    }
}

/// A running head monitor. Dropping it stops the background task.
#[derive(Debug)]
pub struct HeadMonitor {
    heads: mpsc::UnboundedReceiver<BlockHeader>,
    status: watch::Receiver<MonitorStatus>,
    task: tokio::task::JoinHandle<()>,
}

impl HeadMonitor {
    /// Starts monitoring `/monitor/heads/<chain>` (chain = `main` or a b58 chain id) on the
    /// current tokio runtime.
    pub fn start(client: L1Client, chain: &str) -> Self {
        let (tx, heads) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(MonitorStatus {
            connection: Connection::Connecting,
            last_head: None,
            last_head_at: None,
            reconnections: 0,
        });
        let path = format!("/monitor/heads/{chain}");
        let task = tokio::spawn(run(client, path, tx, status_tx));
        Self {
            heads,
            status,
            task,
        }
    }

    /// The next head (possibly a repeat after a reconnection); `None` once stopped.
    pub async fn next(&mut self) -> Option<BlockHeader> {
        self.heads.recv().await
    }

    /// A head already received, without waiting (`None` if none is queued).
    pub fn try_next(&mut self) -> Option<BlockHeader> {
        self.heads.try_recv().ok()
    }

    /// The current status.
    pub fn status(&self) -> MonitorStatus {
        self.status.borrow().clone()
    }

    /// A receiver of status updates (for the RPC server's `/health`).
    pub fn status_watch(&self) -> watch::Receiver<MonitorStatus> {
        self.status.clone()
    }
}

impl Drop for HeadMonitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `now + t`, saturating at about a year.
fn deadline_after(t: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(t)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

/// Records a disconnection and logs which endpoint fails, how, and since how long.
fn set_disconnected(status: &watch::Sender<MonitorStatus>, endpoint: &str, reason: String) {
    status.send_modify(|s| {
        let since = match &s.connection {
            Connection::Disconnected { since, .. } => *since,
            _ => SystemTime::now(),
        };
        let failing = SystemTime::now()
            .duration_since(since)
            .unwrap_or_default()
            .as_secs_f64();
        tracing::warn!("L1 heads stream of {endpoint} disconnected for {failing:.1}s: {reason}");
        s.connection = Connection::Disconnected { since, reason };
    });
}

async fn run(
    client: L1Client,
    path: String,
    tx: mpsc::UnboundedSender<BlockHeader>,
    status: watch::Sender<MonitorStatus>,
) {
    let cfg = client.config().clone();
    let url = client.url(&path);
    let endpoint = client.endpoint().clone();
    let disconnected = |status: &watch::Sender<MonitorStatus>, reason: String| {
        set_disconnected(
            status,
            &format!("{endpoint} ({})", cfg.endpoint_option),
            reason,
        );
    };
    let mut failures = 0u32;
    let mut ever_connected = false;
    let mut last_head: Option<BlockHeader> = None;
    let mut last_interval: Option<Duration> = None;
    loop {
        if failures > 0 {
            let delay = backoff_delay(
                cfg.reconnection_delay,
                failures,
                cfg.stream_max_delay,
                random_unit(),
            );
            tracing::info!(
                ?delay,
                attempt = failures,
                "reconnecting to the L1 heads stream"
            );
            tokio::time::sleep(delay).await;
        }
        let request = client
            .stream_http()
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send();
        let mut resp = match tokio::time::timeout(cfg.rpc_timeout, request).await {
            Err(_) => {
                disconnected(
                    &status,
                    format!("{url}: no answer within {:?}", cfg.rpc_timeout),
                );
                failures = failures.saturating_add(1);
                continue;
            }
            Ok(Err(e)) => {
                disconnected(
                    &status,
                    classify(&endpoint, &url, cfg.rpc_timeout, e).to_string(),
                );
                failures = failures.saturating_add(1);
                continue;
            }
            Ok(Ok(r)) if !r.status().is_success() => {
                let code = r.status().as_u16();
                let body = tokio::time::timeout(cfg.rpc_timeout, r.bytes())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                disconnected(&status, http_error(&url, code, &body).to_string());
                failures = failures.saturating_add(1);
                continue;
            }
            Ok(Ok(r)) => r,
        };
        let reconnected = ever_connected;
        ever_connected = true;
        status.send_modify(|s| {
            s.connection = Connection::Connected {
                since: SystemTime::now(),
            };
            if reconnected {
                s.reconnections += 1;
            }
        });
        if reconnected
            && cfg.replay_last_head
            && let Some(h) = &last_head
            && tx.send(h.clone()).is_err()
        {
            return;
        }
        let mut splitter = NdJsonSplitter::new();
        let mut last_arrival: Option<Instant> = None;
        let stall = |interval| {
            deadline_after(stall_timeout(
                interval,
                cfg.stream_initial_timeout,
                cfg.stream_timeout_factor,
                cfg.stream_min_timeout,
            ))
        };
        let mut deadline = stall(last_interval);
        let reason = 'stream: loop {
            let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Err(_) => break 'stream "no new head before the stall timeout".to_owned(),
                Ok(Err(e)) => {
                    break 'stream classify(&endpoint, &url, cfg.rpc_timeout, e).to_string();
                }
                Ok(Ok(None)) => break 'stream "stream closed by the L1 node".to_owned(),
                Ok(Ok(Some(c))) => c,
            };
            let values = match splitter.push(&chunk) {
                Ok(v) => v,
                Err(e) => break 'stream format!("malformed JSON in the heads stream: {e}"),
            };
            for v in values {
                let head: BlockHeader = match serde_json::from_value(v) {
                    Ok(h) => h,
                    Err(e) => break 'stream format!("unexpected head in the heads stream: {e}"),
                };
                let now = Instant::now();
                if let Some(prev) = last_arrival {
                    last_interval = Some(now - prev);
                }
                last_arrival = Some(now);
                tracing::debug!(hash = %head.hash, level = i32::from(head.shell.level), "new L1 head");
                status.send_modify(|s| {
                    s.last_head = Some(head.clone());
                    s.last_head_at = Some(SystemTime::now());
                });
                last_head = Some(head.clone());
                if tx.send(head).is_err() {
                    return;
                }
                deadline = stall(last_interval);
            }
        };
        disconnected(&status, reason);
        // Octez reconnects with count = 1 after losing an established stream.
        failures = 1;
    }
}
