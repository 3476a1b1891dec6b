//! Process harness shared by the end-to-end tests of the workspace (a dev-dependency only).
//!
//! The tests run the real binaries as processes on loopback ports: the `smart-rollup-sandbox`
//! L1 ([`Sandbox`]), the `smart-rollup-node` ([`RollupNode`]) and any other child process
//! ([`ChildGuard`]). Every process is killed when its guard is dropped, every wait is bounded
//! ([`wait_until`], [`wait_for`]) and every harness failure is a [`HarnessError`] whose message
//! says what to do next (build a binary, read the process' output…). Nothing here builds
//! anything: a missing binary is reported with the `cargo build` command to run.
//! [`TlsProxy`] puts https with a private CA and a base path in front of any of them.

mod error;
mod http;
pub mod kernels;
mod node;
mod paths;
mod process;
mod sandbox;
mod signer;
mod tls_proxy;
mod wait;

pub use error::{HarnessError, Result};
pub use http::JsonClient;
pub use node::{RollupNode, RollupNodeBuilder, init_observer_config, rollup_node_command};
pub use paths::{
    binary, binary_env_var, installer_dir, kernels_dir, reference_dir, reference_file, temp_dir,
    workspace_root,
};
pub use process::ChildGuard;
pub use sandbox::{BOOTSTRAP_SECRET_KEYS, Sandbox, SandboxBuilder, bootstrap_key};
pub use signer::{SignerProcess, write_test_certificates};
pub use tempfile::TempDir;
pub use tls_proxy::{FileServer, TlsProxy};
pub use wait::{POLL_INTERVAL, wait_for, wait_for_every, wait_until};

/// A free TCP port on 127.0.0.1, chosen by the kernel (bind to port 0, then release it).
///
/// The port is free when returned; a process started right after binds it (there is a small
/// window in which another process could take it, acceptable for tests).
pub fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| HarnessError::Io {
            what: "binding 127.0.0.1:0 to find a free port".into(),
            error,
        })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|error| HarnessError::Io {
            what: "reading the address of a bound loopback socket".into(),
            error,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_bindable() {
        let p = free_port().unwrap();
        assert_ne!(p, 0);
        std::net::TcpListener::bind(("127.0.0.1", p)).unwrap();
    }
}
