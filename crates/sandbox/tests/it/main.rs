//! End-to-end tests: the real `smart-rollup-sandbox` binary on a loopback port.

mod chain;
mod dal;
mod errors;
mod helpers;
mod inbox_check;
mod operations;
mod persistence;
mod refutation;

use std::ops::Deref;
use std::path::Path;

use sandbox::accounts::bootstrap_accounts;
use sandbox::ops::{Operation, OperationContent};
use serde_json::Value;
use test_support::Sandbox;

/// A running sandbox (the binary of this package); killed (SIGKILL) on drop. Dereferences to
/// the shared harness' [`Sandbox`] (`get`, `post`, `restart`…).
pub(crate) struct Node(Sandbox);

impl Deref for Node {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.0
    }
}

impl Node {
    /// Starts the binary with manual baking and small test constants.
    pub(crate) fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// Starts with `--test-constants` and `extra` arguments (`--block-time 0` unless given).
    pub(crate) fn start_with(dir: &Path, extra: &[&str]) -> Self {
        let mut b = Sandbox::builder(dir).binary(env!("CARGO_BIN_EXE_smart-rollup-sandbox"));
        if extra.contains(&"--block-time") {
            b = b.block_time(None);
        }
        Self(b.args(extra).start().unwrap())
    }

    /// Kills the process (SIGKILL, no clean shutdown).
    pub(crate) fn kill(mut self) {
        self.0.kill();
    }

    /// Kills the process and starts it again on the same port and data directory.
    pub(crate) fn restart(&mut self) {
        self.0.restart().unwrap();
    }

    /// Builds, signs (with bootstrap `who`) and injects a batch; a reveal is prepended when the
    /// key is not revealed yet. Returns (status, body).
    pub(crate) fn inject(&self, who: usize, kinds: Vec<OperationContent>) -> (u16, Value) {
        let op = self.sign(who, kinds);
        self.inject_op(&op)
    }

    /// Injects a signed operation.
    pub(crate) fn inject_op(&self, op: &Operation) -> (u16, Value) {
        self.inject_bytes(&op.signed_bytes())
    }

    /// Signs a batch from bootstrap account `who` (index in `bootstrap_accounts()`), see
    /// [`Sandbox::sign`].
    pub(crate) fn sign(&self, who: usize, kinds: Vec<OperationContent>) -> Operation {
        self.0
            .sign(&bootstrap_accounts()[who].secret_key, kinds)
            .into()
    }
}
