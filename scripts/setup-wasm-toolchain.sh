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
# The oldest rustc-web that builds the kernels (kernels/Cargo.lock: time@0.3.55 needs 1.88). Debian bookworm
# main carries 1.85; bookworm-security carries 1.96, which stale apt lists of a fresh machine do not show.
MIN_RUSTC="1.88"

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
# The version (X.Y.Z) of the unpacked rustc, empty when it does not run.
rustc_version() {
    # shellcheck source=scripts/wasm-env.sh
    (source "$REPO/scripts/wasm-env.sh" && "$RUSTC" --version 2>/dev/null) | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p'
}
# True when version $1 >= version $2.
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" == "$2" ]]; }
# The stamp records the installed version, so a toolchain that is too old (or from an older layout of this
# script, whose stamp held no version) is replaced.
stamp_content() { echo "rustc-web $1"; }
installed=$(rustc_version || true)
if [[ $FORCE == 0 && -n "$installed" && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_content "$installed")" ]] &&
    version_ge "$installed" "$MIN_RUSTC" && rustc_ok; then
    log "rust-web toolchain $installed already installed in $PREFIX"
else
    [[ -n "$installed" ]] && log "replacing the rust-web toolchain $installed in $PREFIX"
    # Always refresh the lists first: on a fresh Debian 12 machine they are stale, and the candidate
    # rustc-web is bookworm main's 1.85, too old for the kernels.
    apt_update_once
    apt_knows "${PKGS[@]}" || die "Debian packages not available: ${PKGS[*]} (need bookworm-security)"
    candidate=$(apt-cache policy rustc-web | sed -n 's/^ *Candidate: \([0-9][0-9.]*\).*/\1/p')
    version_ge "${candidate:-0}" "$MIN_RUSTC" ||
        die "apt offers rustc-web ${candidate:-none}, the kernels need >= $MIN_RUSTC (from bookworm-security): \
check that /etc/apt/sources.list(.d) lists 'bookworm-security', run 'apt-get update', then run this script again"
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
    rustc_ok || die "unpacked rustc does not run or lacks wasm32-unknown-unknown"
    installed=$(rustc_version)
    version_ge "$installed" "$MIN_RUSTC" ||
        die "unpacked rustc-web $installed, the kernels need >= $MIN_RUSTC: run 'apt-get update' and check that \
bookworm-security is in the apt sources, then run this script with --force"
    stamp_content "$installed" >"$STAMP"
    log "installed rustc-web $installed in $PREFIX"
fi

command -v cargo >/dev/null || die "cargo (rustup) not found in PATH"
