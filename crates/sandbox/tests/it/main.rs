//! End-to-end tests: the real `smart-rollup-sandbox` binary on a loopback port.

mod chain;
mod helpers;
mod inbox_check;
mod operations;
mod persistence;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::accounts::bootstrap_accounts;
use sandbox::ops::{ManagerOperation, Operation, OperationContent};
use serde_json::Value;
use tezos_types::Mutez;
use tezos_types::{BlockHash, PublicKeyHash};

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// A running sandbox; killed (SIGKILL) on drop.
pub(crate) struct Node {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts the binary with manual baking and small test constants.
    pub(crate) fn start(dir: &std::path::Path) -> Self {
        Self::start_with(dir, &[])
    }

    pub(crate) fn start_with(dir: &std::path::Path, extra: &[&str]) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_smart-rollup-sandbox"))
            .args(["run", "--data-dir"])
            .arg(dir)
            .args([
                "--rpc-addr",
                &format!("127.0.0.1:{port}"),
                "--test-constants",
            ])
            .args(if extra.is_empty() {
                &["--block-time", "0"][..]
            } else {
                extra
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut node = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while node.try_get("/chains/main/chain_id").is_none() {
            if let Ok(Some(st)) = node.child.try_wait() {
                panic!("sandbox exited early: {st}");
            }
            assert!(Instant::now() < deadline, "sandbox did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    /// Kills the process (SIGKILL, no clean shutdown).
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn try_get(&self, path: &str) -> Option<(u16, Value)> {
        let mut r = agent().get(&self.url(path)).call().ok()?;
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().ok()?;
        Some((
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        ))
    }

    /// GET → (status, JSON).
    pub(crate) fn get_status(&self, path: &str) -> (u16, Value) {
        self.try_get(path).expect("GET failed")
    }

    /// GET expecting 200.
    pub(crate) fn get(&self, path: &str) -> Value {
        let (s, v) = self.get_status(path);
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    /// POST JSON → (status, JSON).
    pub(crate) fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut r = agent()
            .post(&self.url(path))
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Bakes one block, returns the new head element.
    pub(crate) fn bake(&self) -> Value {
        let (s, v) = self.post("/sandbox/bake", &Value::Null);
        assert_eq!(s, 200, "{v}");
        v
    }

    pub(crate) fn balance(&self, pkh: &PublicKeyHash) -> u64 {
        self.get(&format!(
            "/chains/main/blocks/head/context/contracts/{pkh}/balance"
        ))
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
    }

    pub(crate) fn counter(&self, pkh: &PublicKeyHash) -> u64 {
        self.get(&format!(
            "/chains/main/blocks/head/context/contracts/{pkh}/counter"
        ))
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
    }

    /// Builds, signs (with bootstrap `who`) and injects a batch; a reveal is prepended when the
    /// key is not revealed yet. Returns (status, body).
    pub(crate) fn inject(&self, who: usize, kinds: Vec<OperationContent>) -> (u16, Value) {
        let op = self.sign(who, kinds);
        self.inject_op(&op)
    }

    pub(crate) fn inject_op(&self, op: &Operation) -> (u16, Value) {
        self.post(
            "/injection/operation",
            &Value::String(hex::encode(op.signed_bytes())),
        )
    }

    pub(crate) fn sign(&self, who: usize, kinds: Vec<OperationContent>) -> Operation {
        let acc = &bootstrap_accounts()[who];
        let revealed = !self
            .get(&format!(
                "/chains/main/blocks/head/context/contracts/{}/manager_key",
                acc.pkh
            ))
            .is_null();
        let mut counter = self.counter(&acc.pkh);
        let mut all = vec![];
        if !revealed {
            all.push(OperationContent::Reveal {
                public_key: acc.secret_key.public_key(),
                proof: None,
            });
        }
        all.extend(kinds);
        let contents = all
            .into_iter()
            .map(|content| {
                counter += 1;
                ManagerOperation {
                    source: acc.pkh,
                    fee: Mutez(1000),
                    counter,
                    gas_limit: 100_000,
                    storage_limit: 60_000,
                    content,
                }
            })
            .collect();
        let branch: BlockHash = self
            .get("/chains/main/blocks/head~1/hash")
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut op = Operation {
            branch,
            contents,
            signature: None,
        };
        op.signature = Some(acc.secret_key.sign_operation(&op.unsigned_bytes()));
        op
    }
}
