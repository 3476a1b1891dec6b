#!/usr/bin/env bash
# The whole test suite: installs the wasm32 toolchain (once), builds the test kernels, then runs every
# crate's tests. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/build-kernels.sh ]; then
  ./scripts/build-kernels.sh
fi
cargo test --workspace --locked
