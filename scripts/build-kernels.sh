#!/usr/bin/env bash
# Builds the project's test kernels (kernels/ workspace) and tools:
#   kernels/target/wasm32-unknown-unknown/release/<kernel>.wasm  (stripped; dal-reader built
#     alone, with the SDK's proto-alpha feature)
#   kernels/target/installer/counter-installer.{wasm,hex}, counter-preimages/,
#     counter-root-hash.hex                (tezos-smart-rollup-installer 0.2.2)
#   kernels/target/preimages/<66-hex hash> (preimage revealed by host-functions)
#   kernels/target/release/{mock-runner,installer-tool}  (native)
# Runs scripts/setup-wasm-toolchain.sh first. Idempotent and incremental.
# Usage: scripts/build-kernels.sh [-j N]   (default -j 2)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KDIR="$REPO/kernels"
JOBS=2
if [[ "${1:-}" == "-j" && -n "${2:-}" ]]; then JOBS="$2"; fi

# CI must build exactly what kernels/Cargo.lock pins.
LOCKED=()
[[ -n "${CI:-}" ]] && LOCKED=(--locked)

log() { echo "[build-kernels] ${SECONDS}s: $*" >&2; }
die() {
    echo "[build-kernels] ERROR: $*" >&2
    exit 1
}

"$REPO/scripts/setup-wasm-toolchain.sh"

WASM_KERNELS=(counter host-functions panic recursion floats upgrade dal-reader)
OUT="$KDIR/target/wasm32-unknown-unknown/release"
cd "$KDIR"

# The upgrade kernel (wasm and native) embeds this file (see upgrade/build.rs).
export COUNTER_WASM="$OUT/counter.wasm"

# 1. wasm32 kernels: all but upgrade in one cargo run (one feature set, so
# dependencies are built once), then upgrade, which embeds counter.wasm.
(
    # shellcheck source=scripts/wasm-env.sh
    source "$REPO/scripts/wasm-env.sh"
    wasm_build() {
        log "wasm32: $*"
        local args=() k
        for k in "$@"; do args+=(-p "$k"); done
        cargo build "${LOCKED[@]}" -q -j "$JOBS" --release \
            -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown "${args[@]}" ||
            die "wasm32 build of $* failed"
    }
    wasm_build counter host-functions panic recursion floats
    wasm_build upgrade
    # Alone: it needs the SDK's `proto-alpha` feature (DAL reveals), which must not reach the
    # other kernels (their bytes are pinned by tests).
    wasm_build dal-reader
)

# 2. Strip custom sections (names, producers) and check for floats.
for k in "${WASM_KERNELS[@]}"; do
    # cargo names the file after the crate (host_functions.wasm); the
    # stripped copy is <kernel>.wasm, replaced only when it changes (so
    # that mtimes, hence the builds depending on counter.wasm, stay put).
    src="$OUT/${k//-/_}.wasm"
    f="$OUT/$k.wasm"
    [[ -f "$src" ]] || die "missing $src"
    wasm-strip "$src" -o "$f.tmp" || die "wasm-strip $src failed"
    if cmp -s "$f.tmp" "$f"; then rm "$f.tmp"; else mv "$f.tmp" "$f"; fi
    floats=$(wasm-objdump -d "$f" | grep -cE '\bf(32|64)\.' || true)
    if [[ "$k" == floats ]]; then
        ((floats > 0)) || die "floats.wasm has no float instruction"
    elif ((floats > 0)); then
        die "$k.wasm contains $floats float instructions: the PVM would reject it"
    fi
done

# 3. Native tools, with the host (rustup) toolchain.
log "native: mock-runner, installer-tool"
cargo build "${LOCKED[@]}" -q -j "$JOBS" --release -p mock-runner -p installer-tool ||
    die "native build failed"

# 4. Installer kernel for counter, and the known preimage of host-functions.
INST="$KDIR/target/installer"
mkdir -p "$INST"
if [[ ! -f "$INST/counter-installer.wasm" || "$OUT/counter.wasm" -nt "$INST/counter-installer.wasm" ||
    "$KDIR/target/release/installer-tool" -nt "$INST/counter-installer.wasm" ]]; then
    log "installer: counter"
    "$KDIR/target/release/installer-tool" "$OUT/counter.wasm" "$INST" counter >/dev/null ||
        die "installer-tool failed"
fi
mkdir -p "$KDIR/target/preimages"
# Reveal hash = 00 ‖ blake2b-256(content).
hash="00$(b2sum -l 256 "$KDIR/host-functions/preimages/known-preimage.txt" | cut -d' ' -f1)"
cp "$KDIR/host-functions/preimages/known-preimage.txt" "$KDIR/target/preimages/$hash"

# 5. Sizes.
log "artifacts:"
{
    for k in "${WASM_KERNELS[@]}"; do ls -l "$OUT/$k.wasm"; done
    ls -l "$INST"/counter-installer.wasm "$INST"/counter-installer.hex
    echo "$(find "$INST/counter-preimages" -type f | wc -l) preimage(s) in $INST/counter-preimages," \
        "root hash $(cat "$INST/counter-root-hash.hex")"
    ls -l "$KDIR/target/release/mock-runner" "$KDIR/target/release/installer-tool"
} | awk '{ if ($1 ~ /^-/) printf "  %10d  %s\n", $5, $9; else print "  " $0 }' >&2
