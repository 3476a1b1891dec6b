#!/usr/bin/env bash
# The main job: installs what is needed (wasm32 toolchain, the project's kernels, the binaries), then runs a
# local network on this machine (scripts/local-network.sh): a sandbox L1, a smart rollup originated with the
# example kernel through the real installer, its preimages served over HTTP, and smart-rollup-node following it.
# Usage: ./scripts/main.sh [--check]   (--check: non-interactive run that prints PASS or FAIL)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-kernels.sh
cargo build --release --locked -p sandbox -p client -p rollup-node
exec ./scripts/local-network.sh "$@"
