#!/usr/bin/env bash
# The whole test suite: installs the wasm32 toolchain (once), builds the test kernels and every test
# with the binaries the end-to-end tests start (the sandbox, the node, the signer, the client and the
# debugger run as real processes), installs Taquito for the forging cross-check, then runs every
# crate's tests. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-kernels.sh
(cd scripts/taquito-crosscheck && npm ci --no-audit --no-fund --loglevel=error)
# One whole build, not an edit loop: incremental caches would add GiBs to the target directory.
export CARGO_INCREMENTAL=0
# The tests and the binaries they start, in one build: `cargo build --bins` apart would resolve
# features without the dev-dependencies and build most dependencies a second time.
cargo test --workspace --locked --no-run
cargo test --workspace --locked
