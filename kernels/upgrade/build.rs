//! Embeds the counter kernel's wasm (`$COUNTER_WASM`, default
//! `../target/wasm32-unknown-unknown/release/counter.wasm`) as
//! `$OUT_DIR/counter.wasm`; an empty file when it is not built yet (native
//! builds, e.g. mock-runner, do not need it).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=COUNTER_WASM");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let src = std::env::var_os("COUNTER_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target/wasm32-unknown-unknown/release/counter.wasm"));
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("counter.wasm");
    let bytes = std::fs::read(&src).unwrap_or_default();
    if std::env::var("TARGET").is_ok_and(|t| t.starts_with("wasm32")) && bytes.is_empty() {
        println!("cargo:warning=counter.wasm not found at {}", src.display());
    }
    std::fs::write(out, bytes).unwrap();
}
