#!/usr/bin/env bash
# Builds the npm package `reco-wasm` into wasm/pkg/:
#   web/   ES module for browsers and workers (wasm-bindgen --target web: default init(), initSync)
#   node/  CommonJS for Node (wasm-bindgen --target nodejs: loads the .wasm synchronously)
#   package.json (conditional exports), README.md, TypeScript types in each folder;
# and copies the browser build to web/pkg/ for the demo page.
# simd128 comes from .cargo/config.toml. wasm-opt (npm binaryen, `npm ci` at the root) runs
# when present; Debian's older binaryen cannot read current wasm-bindgen output and is not used.
# Usage: scripts/build-wasm.sh [--pack]   (--pack also writes wasm/pkg/reco-wasm-<version>.tgz)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=wasm/pkg
cargo build -p reco-wasm --target wasm32-unknown-unknown --profile wasm-release
wasm=target/wasm32-unknown-unknown/wasm-release/reco_wasm.wasm
opt="$root/node_modules/.bin/wasm-opt"
# wasm-bindgen + wasm-opt take a while (wasm-opt -O3 about 30 s per target on 2 cores): skipped
# when wasm/pkg was made from this very .wasm by this script with the same tools.
stamp="$(sha256sum "$wasm" | cut -c1-64) $(wasm-bindgen --version) wasm-opt=$([ -x "$opt" ] && echo yes || echo no) $(sha256sum "$0" | cut -c1-16)"
if [ -f "$out/.build-stamp" ] && [ "$(cat "$out/.build-stamp")" = "$stamp" ] &&
  [ -f "$out/web/reco_wasm_bg.wasm" ] && [ -f "$out/node/reco_wasm_bg.wasm" ]; then
  echo "wasm/pkg is up to date with $wasm (wasm-bindgen and wasm-opt skipped)"
else
  rm -rf "$out"
  mkdir -p "$out/web" "$out/node"
  echo "wasm-bindgen: web and node targets"
  wasm-bindgen --target web --out-dir "$out/web" "$wasm"
  wasm-bindgen --target nodejs --out-dir "$out/node" "$wasm"
  if [ -x "$opt" ]; then
    for t in web node; do
      echo "wasm-opt -O3: $t target (about 30 s)"
      "$opt" -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$out/$t/reco_wasm_bg.wasm" -o "$out/$t/reco_wasm_bg.wasm"
    done
  else
    echo "note: node_modules/.bin/wasm-opt not found (npm ci installs it): the package works, unoptimized (larger)" >&2
  fi
  echo "$stamp" > "$out/.build-stamp"
fi
rm -f "$out"/*/.gitignore
echo '{ "type": "commonjs" }' > "$out/node/package.json"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cat > "$out/package.json" <<JSON
{
  "name": "reco-wasm",
  "version": "$version",
  "description": "Recommendations computed in the browser, workers and Node from reco model files (WebAssembly, simd128).",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "./node/reco_wasm.js",
  "module": "./web/reco_wasm.js",
  "types": "./web/reco_wasm.d.ts",
  "exports": {
    ".": {
      "node": { "types": "./node/reco_wasm.d.ts", "default": "./node/reco_wasm.js" },
      "default": { "types": "./web/reco_wasm.d.ts", "default": "./web/reco_wasm.js" }
    },
    "./web": { "types": "./web/reco_wasm.d.ts", "default": "./web/reco_wasm.js" },
    "./node": { "types": "./node/reco_wasm.d.ts", "default": "./node/reco_wasm.js" },
    "./reco_wasm_bg.wasm": "./web/reco_wasm_bg.wasm"
  },
  "files": ["web", "node", "README.md"],
  "sideEffects": false,
  "engines": { "node": ">=20" },
  "keywords": ["recommender", "wasm", "als", "collaborative-filtering", "simd"]
}
JSON
cp wasm/README.md "$out/README.md"
raw=$(wc -c < "$out/web/reco_wasm_bg.wasm")
gz=$(gzip -9c "$out/web/reco_wasm_bg.wasm" | wc -c)
echo "reco-wasm $version -> $out (reco_wasm_bg.wasm: $raw bytes, $gz gzipped)"
# The demo page imports the browser build from web/pkg/ (git-ignored).
rm -rf web/pkg && cp -r "$out/web" web/pkg
if [ "${1:-}" = "--pack" ]; then (cd "$out" && npm pack --silent); fi
