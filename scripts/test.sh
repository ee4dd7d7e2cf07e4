#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine, installing what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add wasm32v1-none >/dev/null
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build -p reco-core --no-default-features --target wasm32v1-none
cargo test --workspace
