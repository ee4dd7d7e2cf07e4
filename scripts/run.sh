#!/usr/bin/env bash
# The main job on the bundled Online Retail data: ingest, train every model, evaluate them,
# print a few recommendations with product names, then serve them on 127.0.0.1:8000
# (REST + /docs; the browser demo at /web/ when the wasm package is built).
#   scripts/run.sh            # everything, ends serving (Ctrl-C stops)
#   RECO_NO_SERVE=1 scripts/run.sh   # stop after the recommendations
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n=== %s\n' "$*"; }

step "build (release)"
cargo build --release -q -p reco-server
reco=target/release/reco

step "ingest data/online_retail.csv.gz"
$reco ingest

step "train"
for model in als popularity lightfm knn item-knn; do
  $reco train --model "$model"
done

step "evaluate (seeded per-user 80/20 split, @10)"
$reco evaluate --model als,lightfm,knn,item-knn,popularity

step "recommendations for customer 17850 (ALS)"
$reco recommend --model models/als.safetensors --user 17850 -n 5
step "an anonymous basket: WHITE HANGING HEART T-LIGHT HOLDER + JUMBO BAG RED RETROSPOT (ALS fold-in)"
$reco recommend --model models/als.safetensors --items 85123A,85099B -n 5
step "similar to REGENCY CAKESTAND 3 TIER (item-KNN)"
$reco recommend --model models/item-knn.safetensors --similar 22423 -n 5

if [ "$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen 0.2.130" ]; then
  step "browser package and demo models"
  scripts/build-wasm.sh >/dev/null
  for model in als popularity; do
    $reco export --model "models/$model.safetensors" --out "web/models/$model.safetensors"
  done
else
  echo "(browser demo not built: scripts/test.sh installs wasm-bindgen-cli; then scripts/build-wasm.sh)"
fi

if [ -z "${RECO_NO_SERVE:-}" ]; then
  step "serving on http://127.0.0.1:8000  (docs: /docs, demo: /web/, metrics: /metrics; Ctrl-C stops)"
  exec $reco serve --models models --web web
fi
