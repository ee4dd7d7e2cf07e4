#!/usr/bin/env bash
# The main job on the bundled Online Retail data: build reco, ingest, train every model,
# evaluate them, print a few recommendations with product names, build the browser demo (the
# reco-wasm package + a web model file per model kind), then serve it all on 127.0.0.1:8000
# (REST + /docs, the demo page at /, metrics at /metrics).
#   scripts/run.sh                      # everything, ends serving (Ctrl-C stops)
#   RECO_NO_SERVE=1 scripts/run.sh      # stop before serving
#   RECO_PORT=8080 RECO_HOST=0.0.0.0 scripts/run.sh   # serve elsewhere (default 127.0.0.1:8000)
# Installs what the demo needs when missing: the rustup target wasm32-unknown-unknown and
# wasm-bindgen-cli 0.2.130 (`cargo install`, about 4 minutes, once). No npm package is needed
# (with `npm ci` done, scripts/build-wasm.sh also shrinks the package with wasm-opt).
set -euo pipefail
cd "$(dirname "$0")/.."
host=${RECO_HOST:-127.0.0.1}
port=${RECO_PORT:-8000}
start=$SECONDS
step() { printf '\n=== %s  [%s elapsed]\n' "$*" "$(elapsed)"; }
elapsed() { local s=$((SECONDS - start)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
reco=target/release/reco
wasm_bindgen_version="wasm-bindgen 0.2.130"

first_build=0
[ -x "$reco" ] || first_build=1
need_bindgen=0
[ "$(wasm-bindgen --version 2>/dev/null)" = "$wasm_bindgen_version" ] || need_bindgen=1
cat <<EOF
scripts/run.sh: build reco, ingest the bundled Online Retail data, train and evaluate 7 models,
build the browser demo, then serve on http://$host:$port/.
Times on a 2-core machine of this project's kind:
EOF
if [ "$first_build" = 1 ]; then
  echo "  - first release build of reco: about 8-9 minutes (later runs: seconds)"
  echo "    (on a busy machine much longer: cargo shows each of the ~180 crates as it compiles)"
fi
if [ "$need_bindgen" = 1 ]; then
  echo "  - installing wasm-bindgen-cli 0.2.130 (cargo install, once): about 4 minutes"
fi
if [ ! -f target/wasm32-unknown-unknown/wasm-release/reco_wasm.wasm ]; then
  echo "  - first build of the browser package (wasm, fat LTO): about 1-2 minutes"
fi
echo "  - ingest, training 7 models, evaluation, web model files: about 2-3 minutes"

step "build reco (cargo build --release -p reco-server)"
[ "$first_build" = 0 ] || echo "(first build: about 8-9 minutes on 2 cores; cargo shows each crate as it compiles)"
cargo build --release -p reco-server

step "ingest data/online_retail.csv.gz"
$reco ingest

step "train"
for model in als popularity lightfm knn item-knn ease rp3beta; do
  $reco train --model "$model"
done

step "evaluate (seeded per-user 80/20 split of the ingested data, @10)"
echo "(reco's own split of the ingested data: the figures differ from the README's table, which uses the reference systems' split; see README, Benchmarks)"
$reco evaluate --model als,lightfm,knn,item-knn,ease,rp3beta,popularity

step "recommendations for customer 17850 (ALS)"
$reco recommend --model models/als.safetensors --user 17850 -n 5
step "an anonymous basket: WHITE HANGING HEART T-LIGHT HOLDER + JUMBO BAG RED RETROSPOT (ALS fold-in)"
$reco recommend --model models/als.safetensors --items 85123A,85099B -n 5
step "similar to REGENCY CAKESTAND 3 TIER (item-KNN)"
$reco recommend --model models/item-knn.safetensors --similar 22423 -n 5

# The browser demo: the reco-wasm package in web/pkg/ and a web model file per kind in
# web/models/ (the page under `reco serve` downloads the served models from /models/; the
# exported files are for static hosting of web/). A failure here leaves the REST server usable
# and the page says what is missing.
demo_ok=1
# (`set -e` does not apply inside a function called from `if`: every command checks itself.)
build_demo() {
  step "browser demo: toolchain"
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "adding the rustup target wasm32-unknown-unknown (about 20 s)"
    rustup target add wasm32-unknown-unknown || return
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "$wasm_bindgen_version" ]; then
    echo "installing wasm-bindgen-cli 0.2.130 with cargo install: about 4 minutes on 2 cores, once"
    cargo install wasm-bindgen-cli --version 0.2.130 || return
  fi
  step "browser demo: the reco-wasm package (scripts/build-wasm.sh)"
  scripts/build-wasm.sh || return
  step "browser demo: web model files (reco export, every kind)"
  for model in als lightfm knn item-knn ease rp3beta popularity; do
    $reco export --model "models/$model.safetensors" --out "web/models/$model.safetensors" || return
  done
}
if ! build_demo; then
  demo_ok=0
  printf '\n!!! the browser demo was NOT built (see the error above); the page will say what is missing.\n'
  printf '!!! fix it, then run scripts/build-wasm.sh (or scripts/run.sh again).\n'
fi

step "done in $(elapsed)"
bindir=$PWD/target/release
cat <<EOF
The reco binary is $bindir/reco. To type \`reco …\` as in the README, in this shell:
  export PATH="$bindir:\$PATH"
or install it for good into ~/.cargo/bin (reuses this build: seconds):
  cargo install --path server --locked --target-dir target
EOF
[ "$demo_ok" = 1 ] || echo "(browser demo not built: see above)"

if [ -z "${RECO_NO_SERVE:-}" ]; then
  step "serving on http://$host:$port/  (demo page: http://$host:$port/ in a browser, API docs: /docs, metrics: /metrics; Ctrl-C stops)"
  exec $reco serve --models models --web web --host "$host" --port "$port"
fi
