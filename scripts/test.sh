#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine of this kind, installing what
# it needs (rustup components and targets, wasm-bindgen-cli, Chromium, npm packages).
#   scripts/test.sh
# The last line is the total over every runner (cargo test incl. doctests, wasm-bindgen tests,
# node --test of the package, the demo page and the worker): `N passed, M failed`. Each step's
# output is also kept in target/test-logs/test.log; the script exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
logs=target/test-logs
mkdir -p "$logs"
log=$logs/test.log
: > "$log"
current=""
step() { current=$*; printf '\n=== %s\n' "$*" | tee -a "$log"; }
# Runs a command with its output (stdout and stderr) also appended to the log.
run() { "$@" 2>&1 | tee -a "$log"; }
# The total line (scripts/count-tests.sh sums every runner's own summary in the log). A step
# that fails without a failed test (format, lints, a build) counts as one failure.
total() {
  local status=$? passed failed
  set +e
  read -r passed _ failed _ < <(scripts/count-tests.sh "$log")
  if [ "$status" -ne 0 ]; then
    printf '\n=== FAILED in step: %s (exit %s; full output in %s)\n' "$current" "$status" "$log"
    [ "${failed:-0}" -gt 0 ] || failed=1
  else
    printf '\n=== all tests passed\n'
  fi
  echo "${passed:-0} passed, ${failed:-0} failed"
}
trap total EXIT

step "toolchain"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
run rustup target add wasm32v1-none wasm32-unknown-unknown >/dev/null

step "the total line's counter (node --test scripts/tests/)"
run node --test scripts/tests/

step "format and lints"
run cargo fmt --all -- --check
run cargo clippy --workspace --all-targets -- -D warnings
# The simd128 kernels and the bindings as the package compiles them.
run cargo clippy -p reco-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings

step "reco-core builds without std (wasm32v1-none)"
run cargo build -p reco-core --no-default-features --target wasm32v1-none

step "Rust tests (core, CLI, REST server, README doctests)"
run cargo test --workspace

step "replicas following an S3-compatible store (moto server on loopback; scripts/test-s3.sh)"
run scripts/test-s3.sh

step "wasm package, browser demo (wasm-bindgen tests in Node + Chromium, node --test, Playwright, scripts/run.sh end to end)"
run scripts/test-web.sh

step "resilience: model-file bit flips, hostile sockets, reloads under load, kill -9 (scripts/resilience.py)"
run python3 scripts/resilience.py

step "scale benchmark script: a smoke run at 100k interactions without implicit (scripts/bench-scale.sh, a few seconds)"
smoke=$(mktemp -d)
run scripts/bench-scale.sh --sizes 100k --no-implicit --dir "$smoke"
rm -rf "$smoke"

step "fuzzing: every cargo-fuzz target for 30 s, fails on a crash (scripts/fuzz.sh)"
run scripts/fuzz.sh 30

if [ -x scripts/test-worker.sh ]; then
  step "edge worker (workerd) parity with reco serve"
  run scripts/test-worker.sh
fi
