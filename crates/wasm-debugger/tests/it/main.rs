//! Integration tests: drive the real `smart-rollup-wasm-debugger` binary through stdin.

mod cli;
mod counter;
mod kernels;
mod profile;
mod reveal;
mod ticks;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Output of one debugger run.
pub struct Run {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit status was 0.
    pub success: bool,
}

/// Runs the debugger in `dir` with `args`, feeding `stdin`.
pub fn run_debugger(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smart-rollup-wasm-debugger"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the debugger");
    let mut input = child.stdin.take().expect("stdin");
    // The debugger may exit before reading everything (e.g. on start-up errors).
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let out = child.wait_with_output().expect("wait for the debugger");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    }
}

/// Writes `text` as a WAT kernel file `name` in `dir` and returns its name.
pub fn write_wat(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).expect("write kernel");
    name.to_owned()
}
