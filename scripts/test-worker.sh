#!/usr/bin/env bash
# Tests the edge worker (web/worker/) under the real Workers runtime: workerd (and Miniflare for
# the R2 source) on 127.0.0.1, compared endpoint by endpoint with `reco serve` on the same model
# files, plus missing / corrupt model files and the wrangler.toml build (node --test).
# Installs what a fresh machine lacks: npm packages, the reco-wasm package (scripts/build-wasm.sh),
# the reco binary and the Online Retail web models (web/models/, git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/workerd ] || [ ! -x node_modules/.bin/wrangler ] || [ ! -d node_modules/miniflare ]; then
  npm ci --no-audit --no-fund
fi
if [ ! -f wasm/pkg/web/reco_wasm_bg.wasm ] || [ ! -f wasm/pkg/node/reco_wasm.js ]; then
  rustup target add wasm32-unknown-unknown >/dev/null
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen 0.2.130" ]; then
    cargo install wasm-bindgen-cli --version 0.2.130
  fi
  scripts/build-wasm.sh
fi
cargo build --release -p reco-server --bin reco
[ -d data/features ] || target/release/reco ingest
for m in als ease popularity rp3beta; do
  [ -f "models/$m.safetensors" ] || target/release/reco train --model "$m"
  [ -f "web/models/$m.safetensors" ] ||
    target/release/reco export --model "models/$m.safetensors" --out "web/models/$m.safetensors"
done
timeout 300 node --test web/worker/test/
