#!/usr/bin/env bash
# Builds the reco-wasm npm package and runs every web test: wasm-bindgen tests on wasm in Node
# and headless Chromium, node --test against the built package (incl. parity with native
# `reco recommend --json`), the Playwright end-to-end test + benchmark of the demo page
# (screenshot and bench.json in web/test-results/), and the first-run test: scripts/run.sh to a
# real `reco serve` on a free port, driven by headless Chromium (web/tests/run-sh.test.mjs; about
# 3 minutes once reco is built). Installs what a fresh machine lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown >/dev/null
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen 0.2.130" ]; then
  cargo install wasm-bindgen-cli --version 0.2.130
fi
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  apt-get update && apt-get install -y chromium chromium-driver
fi
npm ci --no-audit --no-fund
scripts/build-wasm.sh
cargo build --release -p reco-server --bin reco --example web_fixture
# The Online Retail models the page and the tests use (web/models/, git-ignored).
[ -d data/features ] || target/release/reco ingest
for m in als popularity; do
  [ -f "models/$m.safetensors" ] || target/release/reco train --model "$m"
  target/release/reco export --model "models/$m.safetensors" --out "web/models/$m.safetensors"
done
CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown -p reco-wasm
node --test wasm/js-tests/
# One test file at a time: run-sh.test.mjs rebuilds web/pkg and web/models while it runs.
node --test --test-concurrency=1 web/tests/
