#!/usr/bin/env bash
# The main job: installs what is needed (wasm32 toolchain, the project's kernels, the binaries), then runs
# the example kernel (kernels/counter, built with the official SDK) through the WASM PVM with the debugger
# over examples/counter-inputs.json, showing its durable storage and outbox as an operator would.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-kernels.sh
cargo build --release --locked -p wasm-debugger
KERNEL=kernels/target/wasm32-unknown-unknown/release/counter.wasm
echo "== smart-rollup-wasm-debugger --kernel $KERNEL --inputs examples/counter-inputs.json"
printf '%s\n' \
  'load inputs' 'step inbox' 'show key /counter as hex' 'show key /last_message as string' \
  'show outbox at level 0' 'step inbox' 'show key /last_message as string' 'show subkeys /' \
  'show status' 'stop' |
  ./target/release/smart-rollup-wasm-debugger --kernel "$KERNEL" --inputs examples/counter-inputs.json
