//! Integration tests of the `smart-rollup-node` binary (one test binary for the crate).

mod follow;
mod history;
mod init;
mod l1_restart;
mod openapi;
mod preimages;
mod rpc;
mod run;

use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smart-rollup-node"));
    c.env("HOME", std::env::temp_dir())
        .env_remove("TEZOS_CLIENT_DIR");
    c
}

/// Runs the binary with `args` to completion.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn smart-rollup-node")
}

/// Stdout + stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A rollup address used in tests.
pub const ADDR: &str = "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf";
/// An operator key used in tests.
pub const TZ1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";
