//! Shared helpers of the SDK-kernel tests (`sdk_kernels`, `differential`, `installer`): paths of
//! the artifacts of `scripts/build-kernels.sh`, and a rollup driver feeding whole inbox levels
//! (`Start_of_level`, `Info_per_level`, externals, `End_of_level`) to a [`PvmState`].

use std::path::{Path, PathBuf};

use durable_tree::durable::Key;
use pvm_wasmtime::WasmtimeEngine;
use wasm_pvm::{GenesisParams, PvmError, PvmState, PvmVersion, RevealHandler};

use crate::common::{Debug, engine};

/// The `kernels/target` directory of the repository.
pub(crate) fn kernels_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels/target")
}

/// Path of an artifact under `kernels/target`; fails the test if it is missing.
pub(crate) fn artifact(rel: &str) -> PathBuf {
    let p = kernels_target().join(rel);
    assert!(
        p.exists(),
        "kernel artifact {} is missing: run `scripts/build-kernels.sh` first",
        p.display()
    );
    p
}

/// The bytes of `kernels/target/wasm32-unknown-unknown/release/<name>.wasm`.
pub(crate) fn kernel_wasm(name: &str) -> Vec<u8> {
    let p = artifact(&format!("wasm32-unknown-unknown/release/{name}.wasm"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The native `mock-runner` binary.
pub(crate) fn mock_runner() -> PathBuf {
    artifact("release/mock-runner")
}

/// The directory of the preimage the host-functions kernel reveals.
pub(crate) fn hf_preimages_dir() -> PathBuf {
    artifact("preimages")
}

/// Rollup metadata answered by the test reveal handlers (`sr1` payload, origination level).
pub(crate) const METADATA: preimages::RollupMetadata = preimages::RollupMetadata {
    address: [0x5a; 20],
    origination_level: 7,
};

/// A reveal handler over a preimage directory (the node's `wasm_2_0_0/`), verifying every
/// preimage against its hash.
pub(crate) fn revealer(dir: &Path) -> preimages::Revealer {
    preimages::Revealer::new(preimages::PreimageStore::new(dir), METADATA)
}

/// `Info_per_level` of level `level`: timestamp and predecessor hash derived from the level.
pub(crate) fn info_per_level(level: u32) -> Vec<u8> {
    let mut m = vec![0x00, 0x03];
    m.extend_from_slice(&(1_700_000_000i64 + i64::from(level) * 8).to_be_bytes());
    m.extend_from_slice(&[level as u8; 32]);
    m
}

/// The inbox of one level: SOL, IPL, `01 ‖ payload` per external, EOL.
pub(crate) fn level_messages(level: u32, externals: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut msgs = vec![vec![0x00, 0x01], info_per_level(level)];
    for e in externals {
        let mut m = vec![0x01];
        m.extend_from_slice(e);
        msgs.push(m);
    }
    msgs.push(vec![0x00, 0x02]);
    msgs
}

/// A PVM fed whole inbox levels.
pub(crate) struct Rollup {
    pub(crate) state: PvmState,
    pub(crate) engine: WasmtimeEngine,
    pub(crate) reveal: Box<dyn RevealHandler>,
    pub(crate) debug: Debug,
    /// Level of the next inbox level fed.
    pub(crate) next_level: u32,
}

impl Rollup {
    /// Genesis at `version` with `kernel` as the boot sector; the first level fed is `first_level`.
    pub(crate) fn new(
        version: PvmVersion,
        kernel: &[u8],
        reveal: Box<dyn RevealHandler>,
        first_level: u32,
    ) -> Self {
        Rollup {
            state: PvmState::genesis(version, kernel, &GenesisParams::default()).expect("genesis"),
            engine: engine(),
            reveal,
            debug: Debug::default(),
            next_level: first_level,
        }
    }

    /// Feed one inbox level with these external payloads; returns its level.
    pub(crate) fn try_level(&mut self, externals: &[&[u8]]) -> Result<u32, PvmError> {
        let level = self.next_level;
        self.state.process_level(
            level,
            &level_messages(level, externals),
            &mut self.engine,
            &mut *self.reveal,
            Some(&mut self.debug),
        )?;
        self.next_level += 1;
        Ok(level)
    }

    /// Same as [`Self::try_level`]; an operational error fails the test.
    pub(crate) fn level(&mut self, externals: &[&[u8]]) -> u32 {
        self.try_level(externals).expect("level processed")
    }

    /// Value at a durable key.
    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let k = Key::from_str_checked(key).expect("valid key");
        self.state.durable().read_all(&k).expect("durable read")
    }

    /// The outbox of `level`.
    pub(crate) fn outbox(&self, level: u32) -> Vec<Vec<u8>> {
        self.state
            .outbox(level)
            .expect("outbox level in the validity window")
            .to_vec()
    }

    /// Debug output so far, as text.
    pub(crate) fn debug_text(&self) -> String {
        self.debug
            .0
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

/// The counter kernel's echo of `payload` (`kernels/counter/src/lib.rs` `echo_outbox_message`,
/// `wasm-pvm.md` §4.2): an atomic transaction batch of one transaction to the KT1 whose hash is
/// 20 × `42`, `default` entrypoint, parameter `Bytes payload`.
pub(crate) fn counter_echo(payload: &[u8]) -> Vec<u8> {
    let mut tx = vec![0x0a];
    tx.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    tx.extend_from_slice(payload);
    tx.push(0x01);
    tx.extend_from_slice(&[0x42; 20]);
    tx.push(0x00);
    tx.extend_from_slice(&7u32.to_be_bytes());
    tx.extend_from_slice(b"default");
    let mut m = vec![0x00];
    m.extend_from_slice(&(tx.len() as u32).to_be_bytes());
    m.extend(tx);
    m
}
