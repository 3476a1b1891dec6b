#!/usr/bin/env bash
# The whole test suite: installs the wasm32 toolchain (once), builds the test kernels and every binary (the
# end-to-end tests start the sandbox, the node and the debugger as real processes), installs Taquito for the
# forging cross-check, then runs every crate's tests. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-kernels.sh
(cd scripts/taquito-crosscheck && npm ci --no-audit --no-fund --loglevel=error)
cargo build --workspace --bins --locked
cargo test --workspace --locked
