#!/usr/bin/env bash
# Every test takt has: formatting, lints, unit/property/CLI tests.
# Installs what the tests need when it is missing (as root on Debian), so it
# works on a fresh machine. Under CI=true a test that would skip fails.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
command -v cargo >/dev/null || { echo "test.sh: cargo not found: install Rust (rustup) first" >&2; exit 1; }
cargo --version

step "tools the tests use"
# tcpdump: the veth tests check VLAN tags on a capture; ip (iproute2) and
# setpriv (util-linux): run binaries in namespaces and without root;
# cyclictest (rt-tests) and stress-ng: takt-cyclictest is compared with
# cyclictest, idle and under load; ping and arping (iputils) reach the
# control plane; ptp4l and pmc (linuxptp): takt reads ptp4l's state;
# tshark dissects the PTP core's frames (ptp_core_wire).
need=()
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v ip >/dev/null || need+=(iproute2)
command -v setpriv >/dev/null || need+=(util-linux)
command -v cyclictest >/dev/null || need+=(rt-tests)
command -v stress-ng >/dev/null || need+=(stress-ng)
command -v ping >/dev/null || need+=(iputils-ping)
command -v arping >/dev/null || need+=(iputils-arping)
command -v ptp4l >/dev/null || need+=(linuxptp)
command -v tshark >/dev/null || need+=(tshark)
if ((${#need[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
    else
        echo "test.sh: missing ${need[*]} (install them, or run as root on Debian to have them installed)" >&2
    fi
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test --workspace"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# A run that printed no test result line ran nothing: fail rather than pass.
grep -q '^test result: ok' "$log"

