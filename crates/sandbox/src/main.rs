//! `smart-rollup-sandbox`: a local Tezos L1 for smart rollups.
//!
//! `smart-rollup-sandbox run --data-dir D --rpc-addr 127.0.0.1:PORT [--block-time SECONDS]`

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sandbox::constants::Constants;
use sandbox::server::{Options, Sandbox, serve};

#[derive(Parser)]
#[command(
    name = "smart-rollup-sandbox",
    about = "A local Tezos L1 for smart rollups"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the sandbox node.
    Run {
        /// Data directory (chain journal and configuration).
        #[arg(long)]
        data_dir: PathBuf,
        /// RPC listening address.
        #[arg(long, default_value = "127.0.0.1:18731")]
        rpc_addr: String,
        /// Seconds between blocks (0: bake only on `POST /sandbox/bake`); default: the
        /// `minimal_block_delay` constant.
        #[arg(long)]
        block_time: Option<f64>,
        /// JSON file of constant overrides (Octez names), applied on first start.
        #[arg(long)]
        constants: Option<PathBuf>,
        /// Start from small test constants (commitment period 5, challenge window 10).
        #[arg(long)]
        test_constants: bool,
        /// Override `smart_rollup_commitment_period_in_blocks`.
        #[arg(long)]
        commitment_period: Option<i32>,
        /// Override `smart_rollup_challenge_window_in_blocks`.
        #[arg(long)]
        challenge_window: Option<i32>,
        /// Override `smart_rollup_stake_amount` (mutez).
        #[arg(long)]
        stake_amount: Option<u64>,
        /// Turn the DAL on (`dal_parametric.feature_enable: true`).
        #[arg(long)]
        dal: bool,
        /// DAL slot indices whose published commitments are never attested (comma-separated;
        /// sets the sandbox constant `sandbox_dal_unattested_slots`).
        #[arg(long, value_delimiter = ',')]
        dal_unattested_slots: Option<Vec<u8>>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Cmd::Run {
        data_dir,
        rpc_addr,
        block_time,
        constants,
        test_constants,
        commitment_period,
        challenge_window,
        stake_amount,
        dal,
        dal_unattested_slots,
    } = Cli::parse().cmd;
    let mut c = if test_constants {
        Constants::test()
    } else {
        Constants::mainnet()
    };
    if let Some(path) = constants {
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut base = serde_json::to_value(&c)?;
        let over: serde_json::Value =
            serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
        if let (Some(b), Some(o)) = (base.as_object_mut(), over.as_object()) {
            for (k, v) in o {
                b.insert(k.clone(), v.clone());
            }
        }
        c = Constants::from_json(&base).context("invalid constants")?;
    }
    if let Some(p) = commitment_period {
        c.smart_rollup_commitment_period_in_blocks = p;
    }
    if let Some(w) = challenge_window {
        c.smart_rollup_challenge_window_in_blocks = w;
    }
    if let Some(s) = stake_amount {
        c.smart_rollup_stake_amount = s;
    }
    if dal {
        c.dal_parametric.feature_enable = true;
    }
    if let Some(s) = dal_unattested_slots {
        c.sandbox_dal_unattested_slots = s;
    }
    c.dal_parametric
        .check()
        .map_err(|e| anyhow::anyhow!("invalid constants: {e}"))?;
    let block_time = block_time.unwrap_or(c.minimal_block_delay as f64);
    let opts = Options {
        data_dir,
        block_time: (block_time > 0.0).then(|| Duration::from_secs_f64(block_time)),
        constants: c,
    };
    if opts.constants.dal_parametric.feature_enable {
        // Builds the DAL prover and verifier (their SRS points: seconds for mainnet's slot
        // size) before the first `POST /slots` or refutation needs them; a request that
        // comes earlier waits for this build instead of starting its own.
        let params = opts.constants.dal_parametric.clone();
        std::thread::spawn(move || {
            if let Err(e) = sandbox::dal::prover(&params).and(sandbox::dal::verifier(&params)) {
                tracing::warn!("DAL cryptobox: {e}");
            }
        });
    }
    let sb = Sandbox::open(&opts).context("opening the sandbox")?;
    let listener = tokio::net::TcpListener::bind(&rpc_addr)
        .await
        .with_context(|| format!("binding {rpc_addr}"))?;
    println!("{}", sb.banner());
    println!("RPC server listening on http://{}", listener.local_addr()?);
    serve(sb, listener, opts.block_time).await?;
    Ok(())
}
