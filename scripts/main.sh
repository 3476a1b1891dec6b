#!/usr/bin/env bash
# The main job. Until the node and the sandbox land, it installs the toolchain, builds the example kernel and
# runs it through the WASM debugger over a small inbox, showing its durable storage and outbox.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-kernels.sh
cargo build --release -p wasm-debugger
echo "main job: not yet wired" >&2
