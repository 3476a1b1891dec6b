//! Integration tests of the `smart-rollup-node` binary (one test binary for the crate).

mod context_repair;
mod dal;
mod deposit;
mod faults;
mod follow;
mod history;
mod https;
mod init;
mod l1_restart;
mod openapi;
mod operator;
mod outbox;
mod preimages;
mod refutation;
mod rpc;
mod run;
mod snapshot;

use std::path::Path;
use std::process::{Command, Output};

use std::sync::Arc;

use node_rpc::{StoreView, router};
use test_support::{RollupNode, RollupNodeBuilder};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_smart-rollup-node");

/// The binary under test, never reading the developer's `~/.tezos-client`.
pub fn bin() -> Command {
    test_support::rollup_node_command(Path::new(BIN))
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

/// Start options of the binary under test for `data_dir`, following the L1 node at `l1`.
pub fn node(data_dir: &Path, l1: &str) -> RollupNodeBuilder {
    RollupNode::builder(data_dir, l1).binary(BIN)
}

/// Writes the observer configuration of rollup `addr` into `data_dir` (binary under test).
pub fn init_config(data_dir: &Path, addr: &str) {
    test_support::init_observer_config(Some(Path::new(BIN)), data_dir, addr, &[]).unwrap();
}

/// A rollup address used in tests.
pub const ADDR: &str = "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf";
/// An operator key used in tests.
pub const TZ1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";

/// Serves `view` on a loopback port from a background runtime; returns the port.
pub fn spawn_router(view: Arc<StoreView>) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap().port()).unwrap();
            axum::serve(l, router(view)).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// The SDK counter kernel built by `scripts/build-kernels.sh`.
pub fn counter_kernel() -> Vec<u8> {
    let path = test_support::kernels_dir().join("wasm32-unknown-unknown/release/counter.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the test kernels first: scripts/build-kernels.sh",
            path.display()
        )
    })
}
