#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine of this kind, installing what
# it needs (rustup components and targets, wasm-bindgen-cli, Chromium, npm packages).
#   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
step() { printf '\n=== %s\n' "$*"; }

step "toolchain"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add wasm32v1-none wasm32-unknown-unknown >/dev/null

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The simd128 kernels and the bindings as the package compiles them.
cargo clippy -p reco-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings

step "reco-core builds without std (wasm32v1-none)"
cargo build -p reco-core --no-default-features --target wasm32v1-none

step "Rust tests (core, CLI, REST server, README doctests)"
cargo test --workspace

step "wasm package, browser demo (wasm-bindgen tests in Node + Chromium, node --test, Playwright)"
scripts/test-web.sh

if [ -x scripts/test-worker.sh ]; then
  step "edge worker (workerd) parity with reco serve"
  scripts/test-worker.sh
fi
step "all tests passed"
