//! Integration tests of `smart-rollup-client`: wallet commands on a temp base dir, and
//! end-to-end runs against the real `smart-rollup-sandbox` binary on a loopback port.

mod dal;
mod e2e;
mod https;
mod operator;
mod signer;
mod wallet;

use std::path::Path;
use std::process::{Command, Output};

/// Bootstrap accounts of the sandbox (Octez sandbox keys).
pub(crate) const BOOTSTRAP1_SK: &str =
    "unencrypted:edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh";
pub(crate) const BOOTSTRAP1_PKH: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";
pub(crate) const BOOTSTRAP2_SK: &str =
    "unencrypted:edsk39qAm1fiMjgmPkw1EgQYkMzkJezLNewd7PLNHTkr6w9XA2zdfo";

/// The words of a command line written as one string (no quoting: test arguments have no
/// spaces).
pub(crate) fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The words of `originate smart rollup <alias> from <src> of kind wasm_2_0_0 of type bytes
/// with kernel <kernel>` (Octez's grammar).
pub(crate) fn originate<'a>(alias: &'a str, src: &'a str, kernel: &'a str) -> Vec<&'a str> {
    let mut w = words("originate smart rollup");
    w.extend([alias, "from", src]);
    w.extend(words("of kind wasm_2_0_0 of type bytes with kernel"));
    w.push(kernel);
    w
}

/// Runs `smart-rollup-signer -d <dir> <args>`, asserts success, returns stdout.
pub(crate) fn signer_cli(dir: &Path, args: &[&str]) -> String {
    let bin = test_support::binary("smart-rollup-signer").unwrap();
    let o = Command::new(&bin)
        .arg("-d")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "signer {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Result of one client run.
pub(crate) struct Run {
    pub(crate) ok: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn from(o: Output) -> Self {
        Self {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    pub(crate) fn out(self) -> String {
        assert!(
            self.ok,
            "client failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts failure and returns stderr.
    pub(crate) fn err(self) -> String {
        assert!(
            !self.ok,
            "client unexpectedly succeeded:\nstdout:\n{}",
            self.stdout
        );
        self.stderr
    }
}

/// Runs the client with `-d base_dir` (and `-E endpoint` if given) and `args`.
pub(crate) fn client(base_dir: &Path, endpoint: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smart-rollup-client"));
    cmd.arg("-d").arg(base_dir);
    if let Some(e) = endpoint {
        cmd.args(["-E", e]);
    }
    // Never touch the real ~/.tezos-client.
    cmd.env("HOME", base_dir);
    Run::from(
        cmd.args(args)
            .output()
            .expect("running smart-rollup-client"),
    )
}
