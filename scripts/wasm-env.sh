# Source this file to build wasm32 kernels with the toolchain installed by
# scripts/setup-wasm-toolchain.sh:
#   source scripts/wasm-env.sh
#   cargo build --release -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown
# (run from kernels/; scripts/build-kernels.sh does all of this).
# RUSTC points cargo at Debian's rustc-web; RUSTC_BOOTSTRAP=1 allows -Z flags
# on stable cargo; `-C target-cpu=mvp` keeps to the WASM MVP feature set that
# the Tezos PVM accepts (no sign-ext, bulk-memory, ... from newer defaults).
_wasm_env_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_TOOLCHAIN_PREFIX="$_wasm_env_repo/.toolchain/rust-web"
export WASM_TOOLCHAIN_PREFIX
export RUSTC="$WASM_TOOLCHAIN_PREFIX/usr/bin/rustc"
export RUSTDOC="$WASM_TOOLCHAIN_PREFIX/usr/bin/rustdoc"
_wasm_env_ld="$WASM_TOOLCHAIN_PREFIX/usr/lib:$WASM_TOOLCHAIN_PREFIX/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$_wasm_env_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/lib/llvm-19/bin/wasm-ld
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-cpu=mvp"
unset _wasm_env_repo _wasm_env_ld
