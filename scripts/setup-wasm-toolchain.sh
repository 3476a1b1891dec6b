#!/usr/bin/env bash
# Installs the wasm32 toolchain used to build the project's kernels.
#
# rustup cannot download the wasm32-unknown-unknown target here, so we use
# Debian's `rustc-web` (rustc 1.96 + LLVM 22 + the std sources) unpacked with
# `dpkg -x` into <repo>/.toolchain/rust-web (it conflicts with rustup when
# installed normally), plus `wasm-ld` from `lld-19` and `wasm-strip` from
# `wabt`, both installed system-wide with apt-get. Kernels are then built
# with rustup's cargo and `-Zbuild-std` (see scripts/wasm-env.sh).
#
# Idempotent: when everything is in place it returns in well under a second.
# Usage: scripts/setup-wasm-toolchain.sh [--force]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLCHAIN="$REPO/.toolchain"
PREFIX="$TOOLCHAIN/rust-web"
DEBS="$TOOLCHAIN/debs"
# Packages unpacked into $PREFIX (not installed system-wide); the versioned
# names (libstd-rust-web-1.96, libllvm22) are resolved from apt's
# dependencies at install time so that a Debian update does not break us.
PKGS=(rustc-web libstd-rust-web-dev rust-web-src)
# Packages installed system-wide: linker, wasm-strip, and the runtime
# libraries libLLVM-22 links against (normally pulled in by libllvm22).
SYS_PKGS=(lld-19 wabt libedit2 libffi8 libxml2 libz3-4 libzstd1 zlib1g libstdc++6 libgcc-s1)
STAMP="$PREFIX/.installed"
STAMP_CONTENT="rustc-web | v1"

log() { echo "[setup-wasm-toolchain] $*" >&2; }
die() {
    echo "[setup-wasm-toolchain] ERROR: $*" >&2
    exit 1
}

FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || die "not root and no sudo: cannot apt-get install"
    SUDO="sudo"
fi
command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian machine"
command -v dpkg >/dev/null || die "dpkg not found"

APT_UPDATED=0
apt_update_once() {
    if [[ $APT_UPDATED == 0 ]]; then
        log "apt-get update"
        $SUDO apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
}

# True when `apt-get download`/`install` can see every given package.
apt_knows() {
    local p
    for p in "$@"; do
        apt-cache show "$p" >/dev/null 2>&1 || return 1
    done
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# 1. System packages.
missing=()
for p in "${SYS_PKGS[@]}"; do
    pkg_installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
    apt_knows "${missing[@]}" || apt_update_once
    log "apt-get install ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2; then
        apt_update_once
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2 ||
            die "apt-get install ${missing[*]} failed"
    fi
fi
[[ -x /usr/lib/llvm-19/bin/wasm-ld ]] || die "/usr/lib/llvm-19/bin/wasm-ld missing after installing lld-19"
command -v wasm-strip >/dev/null || die "wasm-strip missing after installing wabt"

# 2. rustc-web, unpacked privately.
rustc_ok() {
    # shellcheck source=scripts/wasm-env.sh
    (source "$REPO/scripts/wasm-env.sh" && "$RUSTC" --print target-list | grep -qx wasm32-unknown-unknown) \
        >/dev/null 2>&1
}
if [[ $FORCE == 0 && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_CONTENT" ]] && rustc_ok; then
    log "rust-web toolchain already installed in $PREFIX"
else
    apt_knows "${PKGS[@]}" || apt_update_once
    apt_knows "${PKGS[@]}" || die "Debian packages not available: ${PKGS[*]} (need bookworm-security)"
    libstd=$(apt-cache depends libstd-rust-web-dev | sed -n 's/^ *Depends: \(libstd-rust-web-[0-9][0-9.]*\)$/\1/p' | head -1)
    [[ -n "$libstd" ]] || die "cannot resolve the libstd-rust-web-X.Y dependency of libstd-rust-web-dev"
    libllvm=$(apt-cache depends "$libstd" | sed -n 's/^ *Depends: \(libllvm[0-9][0-9]*\)$/\1/p' | head -1)
    [[ -n "$libllvm" ]] || die "cannot resolve the libllvmN dependency of $libstd"
    PKGS+=("$libstd" "$libllvm")
    rm -rf "$DEBS" "$PREFIX.tmp"
    mkdir -p "$DEBS"
    log "apt-get download ${PKGS[*]}"
    # (A warning that the download runs "unsandboxed as root" is harmless.)
    (cd "$DEBS" && apt-get download -q "${PKGS[@]}" >&2) || die "apt-get download failed"
    mkdir -p "$PREFIX.tmp"
    for deb in "$DEBS"/*.deb; do
        dpkg -x "$deb" "$PREFIX.tmp" || die "dpkg -x $deb failed"
    done
    # Documentation is not needed.
    rm -rf "$PREFIX.tmp/usr/share/doc"
    rm -rf "$PREFIX" "$DEBS"
    mv "$PREFIX.tmp" "$PREFIX"
    echo "$STAMP_CONTENT" >"$STAMP"
    rustc_ok || die "unpacked rustc does not run or lacks wasm32-unknown-unknown"
    log "installed $(source "$REPO/scripts/wasm-env.sh" && "$RUSTC" --version) in $PREFIX"
fi

command -v cargo >/dev/null || die "cargo (rustup) not found in PATH"
