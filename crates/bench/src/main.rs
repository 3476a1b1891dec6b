//! `smart-rollup-bench`: performance figures of the node's hot paths, each
//! printed as a ratio against a baseline run in the same process (absolute
//! times on a shared, loaded machine mean little; ratios do).
//!
//! * `p1`: a kernel workload through our PVM (`wasm-pvm` + `pvm-wasmtime`)
//!   against the same kernel in bare wasmtime with a `HashMap` host.
//! * `p2`: durable writes + hash + commit of a tree holding ~100k keys,
//!   against raw blake2b-256 over the bytes of the objects committed.
//! * `rss`: peak resident memory after inserting one million durable keys,
//!   against the payload size.
//! * `p3`: catch-up levels/s of the rollup node on the sandbox, against fetching
//!   the same blocks raw over HTTP (needs the release sandbox and node binaries).
//! * `p4`: RPC requests/s of the rollup node (`/health`, durable reads) with
//!   concurrent keep-alive clients, against an in-process axum server
//!   answering constant bodies (needs the release sandbox and node binaries).
//!
//! * `p5`: snapshot export and import throughput against `tar | gzip` and `gzip -d | tar -x`
//!   of the same generated data directory (`--keys` durable values).
//!
//! * `p7`: one level of an Etherlink-like kernel (block of a few hundred keys, world-state
//!   reads, `store_get_hash`) through PVM, commit and store, split per phase, against the same
//!   kernel in bare wasmtime.
//!
//! * `ticks`: the small-step PVM's (`wasm-interp`) ticks per second against the fast path's
//!   on the same window of Octez's `echo` kernel.
//!
//! * `restart`: time to a runnable instance of a large (generated) kernel in a fresh engine,
//!   compiled cold against loaded from the disk cache of compiled kernels.
//!
//! `all` (the default) runs each in its own child process, so that peak RSS
//! figures do not mix.
//!
//! Usage: `cargo run --release -p bench -- [p1|p2|p3|p4|p5|p7|ticks|rss|restart|all] [--writes N] [--levels N]`.

#[cfg(feature = "alloc-count")]
mod alloc_count;

/// The node's allocator (`smart-rollup-node`), so that the figures are the node's.
#[cfg(not(feature = "alloc-count"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
mod p1;
mod p2;
mod p3;
mod p4;
mod p5;
mod p7;
mod restart;
mod rng;
mod rss;
mod ticks;
mod util;

use std::process::{Command, ExitCode};

fn usage() -> ExitCode {
    eprintln!(
        "usage: smart-rollup-bench [p1|p2|p3|p4|p5|p7|ticks|rss|restart|all] [--writes N] [--keys N] [--rounds N] [--rss-keys N] [--levels N] [--kernel-mb N]"
    );
    ExitCode::from(2)
}

/// Options shared by the benchmarks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Opts {
    /// Writes per commit in `p2`.
    pub(crate) writes: usize,
    /// Keys in the base tree of `p2`.
    pub(crate) base_keys: usize,
    /// Commit rounds of `p2` (the median is reported).
    pub(crate) rounds: usize,
    /// Keys inserted by `rss`.
    pub(crate) rss_keys: usize,
    /// Levels caught up by `p3`.
    pub(crate) levels: usize,
    /// Size in MB of the generated kernel of `restart`.
    pub(crate) kernel_mb: usize,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut mode = "all".to_string();
    let mut opts = Opts {
        writes: 2_000,
        base_keys: 100_000,
        rounds: 5,
        rss_keys: 1_000_000,
        levels: 2_000,
        kernel_mb: 8,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let num = |it: &mut std::slice::Iter<'_, String>| -> Option<usize> {
            it.next().and_then(|v| v.replace('_', "").parse().ok())
        };
        match a.as_str() {
            "p1" | "p2" | "p3" | "p4" | "p5" | "p7" | "ticks" | "rss" | "restart" | "all" => {
                mode = a.clone()
            }
            "--writes" => match num(&mut it) {
                Some(n) => opts.writes = n,
                None => return usage(),
            },
            "--keys" => match num(&mut it) {
                Some(n) => opts.base_keys = n,
                None => return usage(),
            },
            "--rounds" => match num(&mut it) {
                Some(n) if n > 0 => opts.rounds = n,
                _ => return usage(),
            },
            "--rss-keys" => match num(&mut it) {
                Some(n) => opts.rss_keys = n,
                None => return usage(),
            },
            "--levels" => match num(&mut it) {
                Some(n) if n > 0 => opts.levels = n,
                _ => return usage(),
            },
            "--kernel-mb" => match num(&mut it) {
                Some(n) if (1..=256).contains(&n) => opts.kernel_mb = n,
                _ => return usage(),
            },
            _ => return usage(),
        }
    }
    let res = match mode.as_str() {
        "p1" => p1::run(),
        "p2" => p2::run(opts),
        "p3" => p3::run(opts.levels),
        "p4" => p4::run(),
        "p5" => p5::run(opts.base_keys, opts.rounds),
        "p7" => p7::run(),
        "ticks" => ticks::run(),
        "rss" => rss::run(opts),
        "restart" => restart::run(opts.kernel_mb, opts.rounds),
        _ => run_all(&args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Run every benchmark in a child process of its own.
fn run_all(args: &[String]) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let rest: Vec<&String> = args.iter().filter(|a| a.as_str() != "all").collect();
    let mut failed = Vec::new();
    for mode in [
        "p1", "p2", "p3", "p4", "p5", "p7", "ticks", "rss", "restart",
    ] {
        let status = Command::new(&exe)
            .arg(mode)
            .args(&rest)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            failed.push(mode);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failed.join(", ")))
    }
}
