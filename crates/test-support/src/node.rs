//! The `smart-rollup-node` binary as a process on a free loopback port.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use serde_json::Value;

use crate::error::{HarnessError, Result};
use crate::http::JsonClient;
use crate::process::ChildGuard;
use crate::sandbox::Sandbox;
use crate::wait::wait_for;
use crate::{binary, free_port};

/// Bound of the wait for the node's RPC server at start.
const START_BOUND: Duration = Duration::from_secs(120);

/// A command running the rollup node `binary` that never reads the developer's
/// `~/.tezos-client` (`HOME` is the temporary directory, `TEZOS_CLIENT_DIR` is unset).
#[must_use]
pub fn rollup_node_command(binary: &Path) -> Command {
    let mut c = Command::new(binary);
    c.env("HOME", std::env::temp_dir())
        .env_remove("TEZOS_CLIENT_DIR");
    c
}

/// Runs `smart-rollup-node init observer config for <rollup> with operators --data-dir <dir>
/// <extra…>` to completion (`binary` defaults to [`binary`]`("smart-rollup-node")`).
///
/// # Errors
/// A missing binary, or the command's failure with its output.
pub fn init_observer_config(
    binary_path: Option<&Path>,
    data_dir: &Path,
    rollup: &str,
    extra: &[&str],
) -> Result<()> {
    let bin = match binary_path {
        Some(b) => b.to_path_buf(),
        None => binary("smart-rollup-node")?,
    };
    std::fs::create_dir_all(data_dir).map_err(|error| HarnessError::Io {
        what: format!("creating {}", data_dir.display()),
        error,
    })?;
    let o = rollup_node_command(&bin)
        .args(["init", "observer", "config", "for", rollup])
        .args(["with", "operators", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .output()
        .map_err(|error| HarnessError::Spawn {
            what: "smart-rollup-node init".into(),
            error,
        })?;
    if o.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Failed(format!(
            "smart-rollup-node init observer config failed ({}):\n{}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )))
    }
}

/// How to start a [`RollupNode`]: `-E <l1> run --data-dir <dir> --rpc-port <free port>` with
/// `RUST_LOG=info` (the data directory must hold a configuration, see
/// [`init_observer_config`]).
#[derive(Debug, Clone)]
pub struct RollupNodeBuilder {
    data_dir: PathBuf,
    l1_endpoint: String,
    binary: Option<PathBuf>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    envs_removed: Vec<String>,
    log_file: Option<PathBuf>,
}

impl RollupNodeBuilder {
    /// Also appends the output of the process to `path`, across restarts (and across nodes
    /// given the same file), unlike [`RollupNode::output`] which covers the current process.
    #[must_use]
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// Uses this binary (e.g. `env!("CARGO_BIN_EXE_smart-rollup-node")`) instead of
    /// [`binary`]`("smart-rollup-node")`.
    #[must_use]
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Extra arguments of `run`.
    #[must_use]
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// An environment variable of the process (`RUST_LOG` overrides the default `info`).
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Removes an environment variable from the process (e.g. `SSL_CERT_FILE`).
    #[must_use]
    pub fn env_remove(mut self, key: &str) -> Self {
        self.envs_removed.push(key.to_owned());
        self
    }

    /// Starts the node and waits until `GET /health` answers (with any status).
    ///
    /// # Errors
    /// A missing binary, a failed spawn, an early exit (with the node's output) or a timeout.
    pub fn start(self) -> Result<RollupNode> {
        let binary = match &self.binary {
            Some(b) => b.clone(),
            None => binary("smart-rollup-node")?,
        };
        let port = free_port()?;
        let mut node = RollupNode {
            proc: None,
            port,
            rpc: JsonClient::new(&format!("http://127.0.0.1:{port}")),
            binary,
            spec: self,
        };
        node.restart()?;
        Ok(node)
    }
}

/// A running `smart-rollup-node`, killed (SIGKILL) on drop. Dereferences to the
/// [`JsonClient`] of its RPC server. Its output (logs) is kept: [`RollupNode::output`].
#[derive(Debug)]
pub struct RollupNode {
    proc: Option<ChildGuard>,
    port: u16,
    rpc: JsonClient,
    binary: PathBuf,
    spec: RollupNodeBuilder,
}

impl Deref for RollupNode {
    type Target = JsonClient;
    fn deref(&self) -> &JsonClient {
        &self.rpc
    }
}

impl RollupNode {
    /// Start options for a node of `data_dir` following the L1 node at `l1_endpoint`.
    #[must_use]
    pub fn builder(data_dir: &Path, l1_endpoint: &str) -> RollupNodeBuilder {
        RollupNodeBuilder {
            data_dir: data_dir.to_path_buf(),
            l1_endpoint: l1_endpoint.to_owned(),
            binary: None,
            args: Vec::new(),
            envs: Vec::new(),
            envs_removed: Vec::new(),
            log_file: None,
        }
    }

    /// The RPC port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.spec.data_dir
    }

    /// The process' output (stdout and stderr) since its last (re)start; empty when killed.
    #[must_use]
    pub fn output(&self) -> String {
        self.proc
            .as_ref()
            .map(ChildGuard::output)
            .unwrap_or_default()
    }

    /// `Ok` while the process runs.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] with the end of its output (or `Failed` when killed).
    pub fn check_running(&mut self) -> Result<()> {
        match &mut self.proc {
            Some(p) => p.check_running(),
            None => Err(HarnessError::Failed(
                "the rollup node was killed; call restart() first".into(),
            )),
        }
    }

    /// Sends SIGTERM and waits at most `bound` for the exit (see [`ChildGuard::terminate`]).
    ///
    /// # Errors
    /// A failed signal, a timeout, or `Failed` when the node was killed.
    pub fn terminate(&mut self, bound: Duration) -> Result<ExitStatus> {
        match &mut self.proc {
            Some(p) => p.terminate(bound),
            None => Err(HarnessError::Failed(
                "the rollup node was killed; call restart() first".into(),
            )),
        }
    }

    /// The exit status once the node exited by itself (`None` while it runs or after
    /// [`Self::kill`]).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.proc.as_mut().and_then(ChildGuard::try_wait)
    }

    /// Kills the process (SIGKILL: no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Kills the process if running, then starts it again with the same arguments and RPC
    /// port, and waits until `GET /health` answers.
    ///
    /// # Errors
    /// See [`RollupNodeBuilder::start`].
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let s = &self.spec;
        let mut cmd = rollup_node_command(&self.binary);
        cmd.env("RUST_LOG", "info")
            .args(["-E", &s.l1_endpoint, "run", "--data-dir"])
            .arg(&s.data_dir)
            .args(["--rpc-port", &self.port.to_string()])
            .args(&s.args);
        for k in &s.envs_removed {
            cmd.env_remove(k);
        }
        for (k, v) in &s.envs {
            cmd.env(k, v);
        }
        let name = format!("smart-rollup-node on {}", self.rpc.base());
        let mut proc = ChildGuard::spawn_logged(&name, &mut cmd, s.log_file.as_deref())?;
        let rpc = &self.rpc;
        wait_for(&format!("{name} to answer /health"), START_BOUND, || {
            proc.check_running()?;
            Ok(rpc.try_get("/health").ok().map(|_| ()))
        })?;
        self.proc = Some(proc);
        Ok(())
    }

    /// Waits (at most `bound`) until the node is healthy, 0 blocks late, and its L1 head
    /// (`/global/tezos_head`) is the sandbox's head.
    ///
    /// # Errors
    /// [`HarnessError::Timeout`] with the last `/health` answer, or the node's exit.
    pub fn wait_synced(&mut self, l1: &Sandbox, bound: Duration) -> Result<()> {
        let head = l1.get("/chains/main/blocks/head/hash");
        let mut last = Value::Null;
        let r = {
            let rpc = &self.rpc;
            let proc = &mut self.proc;
            let last = &mut last;
            wait_for("the rollup node to reach the L1 head", bound, || {
                if let Some(p) = proc.as_mut() {
                    p.check_running()?;
                }
                let h = rpc.try_get("/health").ok().map(|(_, v)| v);
                let t = rpc.try_get("/global/tezos_head").ok().map(|(_, v)| v);
                *last = h.clone().unwrap_or(Value::Null);
                Ok(matches!((h, t), (Some(h), Some(t))
                    if h["healthy"] == true && h["l1"]["blocks_late"] == 0 && t == head)
                .then_some(()))
            })
        };
        r.map_err(|e| match e {
            HarnessError::Timeout { what, after, .. } => HarnessError::Timeout {
                what,
                after,
                last: format!(
                    "; last /health: {last}; end of the node's output:\n{}",
                    self.proc
                        .as_ref()
                        .map(ChildGuard::output_tail)
                        .unwrap_or_default()
                ),
            },
            e => e,
        })
    }

    /// The durable value at `key` of the `wasm_2_0_0` state of `block` (hex string, or null).
    ///
    /// # Panics
    /// When the RPC does not answer `200`.
    #[must_use]
    pub fn durable(&self, block: &str, key: &str) -> Value {
        self.get(&format!(
            "/global/block/{block}/durable/wasm_2_0_0/value?key={key}"
        ))
    }
}
