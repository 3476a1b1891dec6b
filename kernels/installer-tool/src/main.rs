//! `installer-tool`: wraps the crates.io `tezos-smart-rollup-installer`
//! 0.2.2 library (which embeds the official prebuilt `installer.wasm`) like
//! its `smart-rollup-installer get-reveal-installer` command.
//!
//! Usage: `installer-tool KERNEL.wasm OUT_DIR NAME`
//!
//! Writes `OUT_DIR/NAME-installer.wasm` and `.hex` (the installer kernel,
//! its `config` custom section = Reveal(root hash → /installer/kernel/boot.wasm)
//! then Move(→ /kernel/boot.wasm)), `OUT_DIR/NAME-preimages/<66-hex hash>`
//! (the DAC pages of the kernel, to copy into the node's `wasm_2_0_0/`), and
//! `OUT_DIR/NAME-root-hash.hex`.

use std::path::Path;
use tezos_smart_rollup_installer::{config, installer, preimages};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kernel, out_dir, name] = args.as_slice() else {
        eprintln!("usage: installer-tool KERNEL.wasm OUT_DIR NAME");
        std::process::exit(2)
    };
    let out_dir = Path::new(out_dir);
    let preimages_dir = out_dir.join(format!("{name}-preimages"));
    if preimages_dir.exists() {
        std::fs::remove_dir_all(&preimages_dir).unwrap_or_else(|e| die(&e.to_string()));
    }
    let root_hash = preimages::content_to_preimages(Path::new(kernel), &preimages_dir)
        .unwrap_or_else(|e| die(&e.to_string()));
    let root_hex = hex::encode(root_hash.as_ref());
    let program =
        config::create_installer_config(root_hash, None).unwrap_or_else(|e| die(&e.to_string()));
    let kernel = installer::with_config_program(program);
    let write = |file: String, bytes: &[u8]| {
        std::fs::write(out_dir.join(file), bytes).unwrap_or_else(|e| die(&e.to_string()))
    };
    write(format!("{name}-installer.wasm"), &kernel);
    write(
        format!("{name}-installer.hex"),
        hex::encode(&kernel).as_bytes(),
    );
    write(format!("{name}-root-hash.hex"), root_hex.as_bytes());
    println!("{root_hex}");
}

fn die(msg: &str) -> ! {
    eprintln!("installer-tool: {msg}");
    std::process::exit(1)
}
