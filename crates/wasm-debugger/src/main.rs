//! `smart-rollup-wasm-debugger` binary.

fn main() -> std::process::ExitCode {
    wasm_debugger::cli::main()
}
