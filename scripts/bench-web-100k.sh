#!/usr/bin/env bash
# The browser at 100k items: a 100k-item ALS model exported for the web (int8 factors, ANN
# index, no users: `reco export --precision int8 --ann on --no-users`), opened by the demo page
# in headless Chromium from 127.0.0.1 (scripts/bench-web-100k.mjs): file size, page ready,
# fold-in + top-10. Writes bench/web-100k.md (or $OUT_MD).
# Data: bench-ann.sh's 100k set (`reco generate` 100k items × 100k users, 3M interactions),
# trained once into $WORK (default /tmp/reco-web-100k; about 2 minutes).
# Needs: target/release/reco, web/pkg (scripts/build-wasm.sh), npm ci (playwright-core),
# /usr/bin/chromium. Env: RECO (default target/release/reco), RUNS (default 3 sittings of
# the page measurement; the table shows each).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/reco-web-100k}; RECO=${RECO:-target/release/reco}; OUT_MD=${OUT_MD:-bench/web-100k.md}
RUNS=${RUNS:-3}
[ -x "$RECO" ] || { echo "missing $RECO: cargo build --release -p reco-server" >&2; exit 2; }
[ -f web/pkg/reco_wasm_bg.wasm ] || { echo "missing web/pkg: scripts/build-wasm.sh" >&2; exit 2; }
[ -x /usr/bin/chromium ] || { echo "missing chromium: apt-get install -y chromium" >&2; exit 2; }
mkdir -p "$WORK"
model=$WORK/als-100k.safetensors
if [ ! -f "$model" ]; then
  "$RECO" generate -q --users 100000 --items 100000 --interactions 3000000 --rank 32 --out "$WORK/100k.csv.gz"
  "$RECO" ingest -q "$WORK/100k.csv.gz" --features "$WORK/features" --interactions "$WORK/100k.tsv"
  "$RECO" train -q --features "$WORK/features" --model als --factors 64 --iterations 8 --ann off \
    --out "$model.tmp.safetensors"
  mv "$model.tmp.safetensors" "$model"
fi
site=$WORK/site
rm -rf "$site"
mkdir -p "$site/models"
cp -r web/index.html web/app.js web/style.css web/pkg "$site/"
"$RECO" export -q --model "$model" --out "$site/models/als-100k.safetensors" --precision int8 \
  --ann on --no-users > /dev/null
results=()
for _ in $(seq "$RUNS"); do
  results+=("$(node scripts/bench-web-100k.mjs "$site" als-100k)")
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$OUT_MD" "$load" "${results[@]}" <<'EOF'
import json, subprocess, sys, datetime
out, load, runs = sys.argv[1], sys.argv[2], [json.loads(r) for r in sys.argv[3:]]
r0 = runs[0]
cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True).stdout.strip()
mib = lambda b: f"{b / 1048576:.2f} MiB"
lines = [
    "# The browser at 100k items",
    "",
    f"Made by `scripts/bench-web-100k.sh` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
    f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores ({cpu}), "
    f"shared with other work (load average {load} at the end); {chromium}, headless.",
    "",
    f"Model: ALS, 64 factors, {r0['items']:,} items (`reco generate` 100k items × 100k users, 3M "
    "interactions), exported by `reco export --precision int8 --ann on --no-users`: int8 factors "
    f"with a per-row scale, the IVF index, no users (baskets only); format version {r0['format_version']}.",
    "",
    f"File: {mib(r0['file_bytes'])}; gzip -9 {mib(r0['file_gzip9_bytes'])}, gzip -6 (as served) "
    f"{mib(r0['file_gzip6_bytes'])}. Target: ≤ 10 MB gzipped.",
    "",
    "Page ready = the demo page's own `ready in … ms` (navigation start → model list and model "
    "fetched over HTTP from 127.0.0.1, gzip, no cache; wasm compiled; model loaded; first lists "
    "shown): median of 5 loads after a warm-up load. Fold-in + top-10 = `recommendForItemsTyped` "
    "(indices + scores) and `recommendForItems` (JS objects with ids and names) for 20 baskets "
    "of 3 items (popular to rare), 100 calls each: the median basket's time per call, fastest of 5 "
    "rounds. Targets: ready ≤ 1.5 s, fold-in + top-10 ≤ 2 ms.",
    "",
    "| sitting | page ready ms (5 loads) | fold-in + top-10 typed ms (slowest basket) | as objects ms | same top-10 as native |",
    "|---:|---:|---:|---:|---:|",
]
for k, r in enumerate(runs, 1):
    runs_ms = ", ".join(f"{x:.0f}" for x in r["page_ready_runs_ms"])
    lines.append(
        f"| {k} | {r['page_ready_ms']:.0f} ({runs_ms}) | {r['fold_in_top10_typed_ms']:.3f} "
        f"({r['fold_in_top10_typed_slowest_basket_ms']:.3f}) | {r['fold_in_top10_objects_ms']:.3f} | {r['native_parity']} |"
    )
open(out, "w").write("\n".join(lines) + "\n")
print(f"wrote {out}")
EOF
