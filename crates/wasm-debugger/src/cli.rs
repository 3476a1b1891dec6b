//! Command-line options and start-up (Octez `wasm_debugger.ml` `dispatch`/`start`).
//!
//! Start-up: read and check the kernel, build the genesis state (origination level 0,
//! `max_nb_ticks` 50·10¹², mainnet outbox parameters), apply the installer `set`
//! instructions, parse the inputs, then read commands from standard input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use durable_tree::durable::Key;
use preimages::{PreimageStore, Revealer, RollupMetadata};
use tezos_types::SmartRollupAddress;
use wasm_pvm::{GenesisParams, KernelEngine, PvmState, PvmVersion};

use crate::inputs::{TransferDefaults, parse_inputs};
use crate::installer::parse_installer_config;
use crate::kernel::{check_kernel, read_kernel};
use crate::session::{DebuggerReveals, Session};

/// Options, named as in `octez-smart-rollup-wasm-debugger`.
#[derive(Debug, Parser)]
#[command(
    name = "smart-rollup-wasm-debugger",
    about = "Debugger for WASM PVM kernels",
    version
)]
pub struct Options {
    /// Kernel file (.wasm, .wast/.wat text, or .hex).
    #[arg(long, value_name = "kernel.wasm")]
    pub kernel: Option<PathBuf>,
    /// Inputs file (JSON list of levels of messages).
    #[arg(long, value_name = "inputs.json")]
    pub inputs: Option<PathBuf>,
    /// Rollup address used for reveal_metadata and as the default destination
    /// of internal messages. Defaults to the zero address.
    #[arg(long, value_name = "rollup address")]
    pub rollup: Option<String>,
    /// Directory where the preimages can be read. Defaults to `preimage`.
    #[arg(long = "preimage-dir", value_name = "preimage-dir")]
    pub preimage_dir: Option<PathBuf>,
    /// Endpoint serving preimages at `<endpoint>/<hex hash>` when missing locally.
    #[arg(long = "preimage-endpoint", value_name = "URL")]
    pub preimage_endpoint: Option<String>,
    /// Directory where the DAL pages are read, one file `<published level>-<slot>-<page>`
    /// each (default `dal_pages`).
    #[arg(long = "dal-pages-dir", value_name = "dal-pages-dir")]
    pub dal_pages_dir: Option<PathBuf>,
    /// The initial version of the WASM PVM (e.g. 2.0.0-r6).
    #[arg(short = 'p', long = "pvm-version", value_name = "VERSION")]
    pub pvm_version: Option<String>,
    /// Hides the kernel debug messages.
    #[arg(long = "no-kernel-debug")]
    pub no_kernel_debug: bool,
    /// Installer configuration file (.yaml or .json; only `set` instructions).
    #[arg(long = "installer-config", value_name = "installer-config.yaml")]
    pub installer_config: Option<PathBuf>,
    /// Directory where the profiler writes its flamecharts (default: the system's temporary
    /// directory).
    #[arg(long = "flamecharts-dir", value_name = "flamecharts-dir")]
    pub flamecharts_dir: Option<PathBuf>,
    /// Accepted for compatibility; plugins are not supported.
    #[arg(long, value_name = "plugin1.cmxs,plugin2.cmxs")]
    pub plugins: Option<String>,
}

/// Start-up failure (printed on standard error, exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

fn fail(msg: impl Into<String>) -> StartError {
    StartError(msg.into())
}

/// Parses `-p/--pvm-version`; the default is the latest mainnet version.
pub fn parse_version(v: Option<&str>) -> Result<PvmVersion, StartError> {
    match v {
        None => Ok(PvmVersion::V6),
        Some(s) => PvmVersion::parse(s.as_bytes()).ok_or_else(|| {
            let all: Vec<String> = PvmVersion::ALL.iter().map(|v| format!("'{v}'")).collect();
            fail(format!(
                "{s} is not a valid WASM PVM version. Expected one of: {}.",
                all.join(", ")
            ))
        }),
    }
}

/// Everything prepared by start-up, before the REPL.
pub fn prepare(opts: &Options, engine: Box<dyn KernelEngine>) -> Result<Session, StartError> {
    let version = parse_version(opts.pvm_version.as_deref())?;
    let rollup = match &opts.rollup {
        None => SmartRollupAddress::ZERO,
        Some(s) => SmartRollupAddress::from_b58check(s).map_err(|_| {
            fail(format!(
                "Parameter '{s}' is an invalid smart rollup address encoded in a base58 string."
            ))
        })?,
    };
    let preimage_dir = match &opts.preimage_dir {
        Some(d) if !d.is_dir() => {
            return Err(fail(format!("{} is not a valid directory", d.display())));
        }
        Some(d) => d.clone(),
        None => PathBuf::from("preimage"),
    };
    let kernel_path = opts
        .kernel
        .as_ref()
        .ok_or_else(|| fail("A kernel file must be provided"))?;
    let kernel = read_kernel(kernel_path).map_err(|e| fail(e.to_string()))?;
    check_kernel(&kernel, version).map_err(|e| fail(e.to_string()))?;
    let installer = match &opts.installer_config {
        None => Vec::new(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| fail(format!("{} is not a valid file: {e}", p.display())))?;
            parse_installer_config(&p.to_string_lossy(), &text).map_err(|e| fail(e.to_string()))?
        }
    };
    let mut state = PvmState::genesis(version, &kernel, &GenesisParams::default())
        .map_err(|e| fail(e.to_string()))?;
    for instr in &installer {
        let key = Key::from_str_checked(&instr.to)
            .map_err(|_| fail(format!("installer config: invalid key {:?}", instr.to)))?;
        state
            .durable_mut()
            .set(&key, &instr.value)
            .map_err(|e| fail(e.to_string()))?;
    }
    let inboxes = match &opts.inputs {
        None => Vec::new(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| fail(format!("{} is not a valid file: {e}", p.display())))?;
            parse_inputs(&text, &TransferDefaults::with_destination(rollup))
                .map_err(|e| fail(e.to_string()))?
        }
    };
    let mut store = PreimageStore::new(preimage_dir);
    if let Some(url) = &opts.preimage_endpoint {
        store = store
            .with_endpoint("--preimage-endpoint", url)
            .map_err(|e| fail(e.to_string()))?;
    }
    let revealer = Revealer::new(
        store,
        RollupMetadata {
            address: *rollup.as_bytes(),
            origination_level: 0,
        },
    );
    let mut session = Session::new(
        state,
        engine,
        DebuggerReveals::new(
            revealer,
            opts.dal_pages_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("dal_pages")),
        ),
        !opts.no_kernel_debug,
        inboxes,
    );
    if let Some(d) = &opts.flamecharts_dir {
        if !d.is_dir() {
            return Err(fail(format!("{} is not a valid directory", d.display())));
        }
        session.set_flamecharts_dir(d.clone());
    }
    Ok(session)
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let opts = Options::parse();
    // The fast path, with the tick-level PVM for the windows it only approximates.
    let engine = match pvm_wasmtime::WasmtimeEngine::new() {
        Ok(e) => pvm_tick::Exact(e),
        Err(e) => {
            eprintln!("cannot start the WASM engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut session = match prepare(&opts, Box::new(engine)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match session.repl(&mut |buf| std::io::stdin().read_line(buf)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error reading commands: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version(None).unwrap(), PvmVersion::V6);
        assert_eq!(parse_version(Some("2.0.0-r1")).unwrap(), PvmVersion::V1);
        let e = parse_version(Some("9")).unwrap_err().to_string();
        assert!(e.contains("'2.0.0', '2.0.0-r1'"), "{e}");
    }

    #[test]
    fn options_parse() {
        let o = Options::try_parse_from([
            "x",
            "--kernel",
            "k.wasm",
            "--inputs",
            "i.json",
            "-p",
            "2.0.0-r5",
            "--no-kernel-debug",
            "--preimage-dir",
            "d",
            "--preimage-endpoint",
            "http://127.0.0.1:1",
            "--rollup",
            "sr1UNDWPUYVeomgG15wn5jSw689EJ4RNnVQa",
            "--installer-config",
            "c.yaml",
            "--flamecharts-dir",
            "/tmp/f",
        ])
        .unwrap();
        assert_eq!(o.flamecharts_dir, Some(PathBuf::from("/tmp/f")));
        assert_eq!(o.pvm_version.as_deref(), Some("2.0.0-r5"));
        assert!(o.no_kernel_debug);
        assert!(Options::try_parse_from(["x", "--bogus"]).is_err());
    }
}
