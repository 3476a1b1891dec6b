//! Shared helpers: timing, memory figures, Etherlink-like keys, and a store
//! wrapper that records what a commit writes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use durable_tree::{BatchWriter, Hash, NodeStore, StoreError};

use crate::rng::Rng;

/// Time `f`.
pub(crate) fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// Median of `v` (sorted in place).
pub(crate) fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// A keep-alive HTTP(S) agent from the shared `http-client` builder (no proxy; statuses other
/// than 2xx are answers, not errors) whose requests give up after `timeout`.
///
/// # Panics
/// When `SSL_CERT_FILE` / `SSL_CERT_DIR` is set but unusable (the message names it).
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    http_client::blocking_agent_config()
        .unwrap_or_else(|e| panic!("{e}"))
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// `GET url` → (status, body).
pub(crate) fn get(agent: &ureq::Agent, url: &str) -> Result<(u16, String), String> {
    let mut r = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let st = r.status().as_u16();
    let body = r
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))?;
    Ok((st, body))
}

/// Milliseconds, for printing.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A `/proc/self/status` figure in KiB (`VmHWM`, `VmRSS`).
pub(crate) fn proc_status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// MiB, for printing.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Etherlink-like durable keys: accounts with a balance, a nonce and
/// storage slots, and transaction receipts.
#[derive(Clone)]
pub(crate) struct Keys {
    /// The 40-hex account names made so far, packed two digits a byte: the
    /// bench's own bookkeeping, kept small so that `rss` measures the tree
    /// (as `String`s they were ~32 MiB of the one-million-key figure).
    accounts: Vec<[u8; 20]>,
}

/// Pack 40 lowercase hex digits.
fn pack40(s: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    hex::decode_to_slice(s, &mut out).expect("40 lowercase hex digits");
    out
}

impl Keys {
    pub(crate) fn new() -> Self {
        Keys {
            accounts: Vec::new(),
        }
    }

    fn account(&self, rng: &mut Rng) -> Option<String> {
        if self.accounts.is_empty() {
            return None;
        }
        let i = rng.range(0, self.accounts.len() - 1);
        Some(hex::encode(self.accounts[i]))
    }

    /// A fresh key (of a new account field, a new storage slot or a new
    /// receipt).
    pub(crate) fn fresh(&mut self, rng: &mut Rng) -> String {
        match rng.range(0, 9) {
            0..=3 => {
                let a = rng.hex(40);
                let k = format!("/evm/world_state/eth_accounts/{a}/balance");
                self.accounts.push(pack40(&a));
                k
            }
            4..=7 => match self.account(rng) {
                Some(a) => {
                    let slot = rng.hex(64);
                    format!("/evm/world_state/eth_accounts/{a}/storage/{slot}")
                }
                None => self.fresh(rng),
            },
            _ => format!("/evm/world_state/transactions_receipts/{}", rng.hex(64)),
        }
    }

    /// A key of a write during a block: mostly updates of existing account
    /// fields, some new storage slots and receipts.
    pub(crate) fn for_write(&mut self, rng: &mut Rng) -> String {
        match (rng.range(0, 9), self.account(rng)) {
            (0..=3, Some(a)) => format!("/evm/world_state/eth_accounts/{a}/balance"),
            (4..=5, Some(a)) => format!("/evm/world_state/eth_accounts/{a}/nonce"),
            _ => self.fresh(rng),
        }
    }
}

/// A [`NodeStore`] forwarding to another and recording the sizes of the
/// objects written (the baseline hashes buffers of the same sizes).
pub(crate) struct Recording {
    pub(crate) inner: Arc<dyn NodeStore>,
    pub(crate) sizes: Mutex<Vec<usize>>,
}

impl Recording {
    pub(crate) fn new(inner: Arc<dyn NodeStore>) -> Self {
        Recording {
            inner,
            sizes: Mutex::new(Vec::new()),
        }
    }

    /// The sizes recorded since the last call.
    pub(crate) fn take(&self) -> Vec<usize> {
        std::mem::take(&mut *self.sizes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl NodeStore for Recording {
    fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(hash)
    }

    fn contains(&self, hash: &Hash) -> Result<bool, StoreError> {
        self.inner.contains(hash)
    }

    fn write_batch(&self, objects: &[(Hash, Vec<u8>)], roots: &[Hash]) -> Result<(), StoreError> {
        self.sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(objects.iter().map(|(_, b)| b.len()));
        self.inner.write_batch(objects, roots)
    }

    fn roots(&self) -> Result<Vec<Hash>, StoreError> {
        self.inner.roots()
    }

    fn retain(&self, live: &dyn Fn(&Hash) -> bool, keep_roots: &[Hash]) -> Result<u64, StoreError> {
        self.inner.retain(live, keep_roots)
    }

    fn object_count(&self) -> Result<u64, StoreError> {
        self.inner.object_count()
    }

    fn set_deferred_sync(&self, on: bool) {
        self.inner.set_deferred_sync(on);
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.inner.sync()
    }

    fn begin_batch(&self) -> Result<Box<dyn BatchWriter + '_>, StoreError> {
        Ok(Box::new(RecordingBatch {
            inner: self.inner.begin_batch()?,
            sizes: &self.sizes,
            recorded: Vec::new(),
        }))
    }
}

/// A streamed batch through [`Recording`]: sizes are recorded at commit.
struct RecordingBatch<'a> {
    inner: Box<dyn BatchWriter + 'a>,
    sizes: &'a Mutex<Vec<usize>>,
    recorded: Vec<usize>,
}

impl BatchWriter for RecordingBatch<'_> {
    fn add(&mut self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        self.recorded.push(bytes.len());
        self.inner.add(hash, bytes)
    }

    fn commit(self: Box<Self>, roots: &[Hash]) -> Result<(), StoreError> {
        self.inner.commit(roots)?;
        self.sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(self.recorded);
        Ok(())
    }
}

/// Raw blake2b-256 of one buffer per size (the P2 baseline); returns the
/// time and the number of bytes hashed.
pub(crate) fn blake2b_baseline(sizes: &[usize]) -> (Duration, u64) {
    let max = sizes.iter().copied().max().unwrap_or(0);
    let buf: Vec<u8> = (0..max).map(|i| (i * 31 + 7) as u8).collect();
    let mut acc = 0u8;
    let (_, d) = timed(|| {
        for &n in sizes {
            let h = blake2b_simd::Params::new().hash_length(32).hash(&buf[..n]);
            acc ^= h.as_bytes()[0];
        }
    });
    std::hint::black_box(acc);
    (d, sizes.iter().map(|&n| n as u64).sum())
}

/// The release build of workspace binary `name` (`smart-rollup-node`, `smart-rollup-sandbox`):
/// the file its environment variable names (`SMART_ROLLUP_NODE`, …), else the one next to this
/// bench (`target/release/`). Never a debug build: a server bench against one measures the
/// debug build (P4 once read 0.2–0.5x against a stale `target/debug/` node).
fn release_binary(name: &str) -> Result<std::path::PathBuf, String> {
    let var = test_support::binary_env_var(name);
    if let Some(p) = std::env::var_os(&var) {
        let p = std::path::PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{var}={}: no such file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this bench: {e}"))?;
    let beside = exe.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(format!(
            "{} not found: build the release binaries with `cargo build --release --locked -p \
             bench -p sandbox -p rollup-node`, or set {var}",
            beside.display()
        ))
    }
}

/// A release sandbox L1 started in `dir`, and the release `smart-rollup-node` to follow it
/// ([`release_binary`]: the server benches P3 and P4).
pub(crate) fn release_sandbox_and_node(
    dir: &std::path::Path,
) -> Result<(test_support::Sandbox, std::path::PathBuf), String> {
    let node = release_binary("smart-rollup-node")?;
    let sandbox = test_support::Sandbox::builder(dir)
        .binary(release_binary("smart-rollup-sandbox")?)
        .start()
        .map_err(|e| e.to_string())?;
    Ok((sandbox, node))
}
