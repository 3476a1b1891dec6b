//! `smart-rollup-node`: Octez-compatible smart rollup node (octez-rollup-node.md §1, §8).

use std::process::ExitCode;

use anyhow::Context as _;
use node_config::Config;
use rollup_node::cli::{self, Command};
use rollup_node::daemon;

/// mimalloc, not glibc's malloc: a level allocates and frees thousands of small tree nodes and
/// objects, from the kernel's and the commit's threads (issue 15; `BENCHMARKS.md`, P7).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn error_exit(msg: &str) -> ExitCode {
    let indented = msg.replace('\n', "\n  ");
    eprintln!("Error:\n  {indented}");
    ExitCode::FAILURE
}

/// The message of `e` followed by its causes, joined by `: `. A cause whose text is already
/// in the message is not repeated: typed errors keep their sources (`#[from]`) and most
/// also print them.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn warn_unused(extra: &[node_config::Purpose]) {
    if !extra.is_empty() {
        let names: Vec<&str> = extra.iter().map(|p| p.as_str()).collect();
        tracing::warn!("[Warning]: Unused operators for {}.", names.join(", "));
    }
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => return error_exit(&e.0),
    };
    match command {
        Command::Print(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Command::Snapshot(s) => match rollup_node::snapshot_cmd::run(s) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => error_exit(&e),
        },
        Command::DumpDurable {
            data_dir,
            block,
            file,
        } => match rollup_node::durable_cmd::dump(&data_dir, &block, &file) {
            Ok(_) => {
                println!("Dumped WASM PVM state to {}", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => error_exit(&e),
        },
        Command::PatchDurable {
            data_dir,
            key,
            value,
        } => match rollup_node::durable_cmd::patch(&data_dir, &key, &value) {
            Ok(ctx) => {
                println!("Durable storage patched at {key}: head context {ctx}");
                ExitCode::SUCCESS
            }
            Err(e) => error_exit(&e),
        },
        Command::Replay {
            data_dir,
            what,
            dal,
        } => match rollup_node::replay::run(&data_dir, &what, dal, |r| println!("{}", r.line())) {
            Ok(all) if all.iter().all(rollup_node::replay::Replayed::matches) => ExitCode::SUCCESS,
            Ok(_) => error_exit("The replay differs from what the node stored (see above)."),
            Err(e) => error_exit(&e),
        },
        Command::RecomputeOutbox { data_dir, from } => {
            match rollup_node::recompute::run(&data_dir, from) {
                Ok(r) => {
                    println!(
                        "Outbox messages recomputed from level {} to {} ({} levels with messages).",
                        r.from, r.to, r.with_messages
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => error_exit(&e),
            }
        }
        Command::NotSupported(name) => error_exit(&format!(
            "Command `{name}` is not yet supported by this rollup node."
        )),
        Command::Init(_globals, nc) => {
            let (config, extra) = match cli::config_from_args(&nc) {
                Ok(c) => c,
                Err(e) => return error_exit(&e),
            };
            warn_unused(&extra);
            let path = nc.config_file();
            if let Err(e) = config.save(&path, nc.force) {
                return error_exit(&e.to_string());
            }
            println!(
                "Smart rollup node configuration written in {}",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Command::Run(globals, nc) => {
            let path = nc.config_file();
            let built = if path.exists() {
                match Config::load(&path) {
                    Ok(c) => cli::patch_config(c, &nc),
                    Err(e) => return error_exit(&e.to_string()),
                }
            } else {
                cli::config_from_args(&nc)
            };
            let (config, extra) = match built {
                Ok(c) => c,
                Err(e) => return error_exit(&e),
            };
            warn_unused(&extra);
            if nc.repair_context
                && let Err(e) = pvm_store::repair(&node_context::DataDir(nc.data_dir()).context())
            {
                return error_exit(&format!("Cannot repair the context: {e}"));
            }
            let keys = daemon::KeySource {
                base_dir: globals.base_dir,
                options: signer::keys::KeyOptions {
                    remote_signer: globals.remote_signer,
                    password_file: globals.password_file,
                },
            };
            match run_daemon(config, nc.data_dir(), globals.endpoint, keys, nc.test) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => error_exit(&error_chain(&e)),
            }
        }
    }
}

fn run_daemon(
    config: Config,
    data_dir: std::path::PathBuf,
    endpoint: String,
    keys: daemon::KeySource,
    test: node_follower::main_loop::TestKnobs,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(async move {
        // Both handlers are installed before anything else runs, so a signal received while
        // the node starts is not lost (it stops the node as soon as the daemon waits for it).
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let stop = async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("Received SIGTERM, stopping"),
                _ = int.recv() => tracing::info!("Received SIGINT, stopping"),
            }
        };
        daemon::run(config, &data_dir, endpoint, keys, test, stop)
            .await
            .map_err(anyhow::Error::from)
    });
    if let Err(e) = &result
        && matches!(
            e.downcast_ref::<daemon::DaemonError>(),
            Some(daemon::DaemonError::FollowerStuck(_))
        )
    {
        // The follower thread still uses the runtime: dropping it would wait for the thread
        // (or make it panic). The process exits with the error instead, without the drop.
        std::mem::forget(rt);
    }
    result?;
    tracing::info!("Smart rollup node stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_print_each_cause_once() {
        // A typed error that prints its source and keeps it.
        let e = anyhow::Error::from(daemon::DaemonError::Context(
            pvm_store::ContextError::NoContext(3),
        ));
        assert_eq!(
            error_chain(&e),
            "Cannot open the context: block 3 has no committed context"
        );
        // A context added on top of an error that does not print it.
        let e = anyhow::Error::from(std::io::Error::other("disk full")).context("starting");
        assert_eq!(error_chain(&e), "starting: disk full");
    }
}
