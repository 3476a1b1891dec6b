//! `smart-rollup-client`: wallet, transfers and smart rollup operations (Octez grammar).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result: anyhow::Result<()> = (|| {
        let parsed = client::cli::parse(&args)?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        client::commands::run(&parsed, &mut out)?;
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error:\n  {e}");
            ExitCode::FAILURE
        }
    }
}
