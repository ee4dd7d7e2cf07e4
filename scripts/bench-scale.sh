#!/usr/bin/env bash
# The scale curve of one machine (issue 12 §1): for each size, `reco generate` writes a
# synthetic CSV, then `/usr/bin/time -v` measures
#   reco ingest                    wall time, peak RSS
#   reco train --model als         (default hyperparameters) wall time, peak RSS, model file size
#   reco serve                     start-up (launch until the health answer, GET /, is 200) and RSS after it
#   implicit ALS (if not --no-implicit): pandas → scipy CSR load (time, peak RSS) and
#                                  AlternatingLeastSquares with reco's defaults (train time,
#                                  peak RSS), scripts/scale_implicit.py
# and the load average (1 / 5 / 15 min) just before each timed step, since the machine may be
# shared. Writes a Markdown table and the raw outputs to --out; bench/scale.md was made from it.
#
# Usage: scripts/bench-scale.sh [--sizes 100k,1m,10m,50m] [--dir /tmp/scale] [--out FILE]
#                               [--no-implicit] [--keep]
#   --sizes   comma list of 100k (5,000 users × 2,000 items), 1m (50,000 × 20,000),
#             10m (500,000 × 200,000), 50m (2,500,000 × 1,000,000) interactions; default 100k
#             (a smoke run of a few seconds). 50m needs 6.2 GB of memory (reco ingest's peak;
#             implicit 3.8 GB) and 4 GB of disk; on the shared 2-core machine 1m took ≈ 1 min,
#             10m ≈ 7 min, 50m ≈ 25 min plus 9 min to generate its CSV (bench/scale.md).
#   --dir     work folder (generated CSVs are kept there and reused; default /tmp/scale)
#   --out     results file (default DIR/scale-results.md)
#   --no-implicit  skip implicit (needs the venv in $ANCHOR_VENV, default /tmp/anchor-venv,
#             made by bench/anchors/setup.sh)
#   --keep    keep each size's features and model (default: removed after the size is done)
# Uses target/release/reco (RECO=path to override; build it with cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sizes=100k dir=/tmp/scale out="" implicit=1 keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-implicit) implicit=0; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
reco=${RECO:-$root/target/release/reco}
venv=${ANCHOR_VENV:-/tmp/anchor-venv}
[ -x "$reco" ] || { echo "no $reco: cargo build --release -p reco-server" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
if [ "$implicit" = 1 ] && [ ! -x "$venv/bin/python" ]; then
  echo "no implicit venv at $venv: ANCHOR_VENV=$venv bench/anchors/setup.sh, or --no-implicit" >&2
  exit 1
fi
mkdir -p "$dir/logs"
out=${out:-$dir/scale-results.md}
raw=$dir/logs/raw.txt
: > "$raw"

shape() { # size → "users items interactions"
  case $1 in
    100k) echo "5000 2000 100000" ;;
    1m) echo "50000 20000 1000000" ;;
    10m) echo "500000 200000 10000000" ;;
    50m) echo "2500000 1000000 50000000" ;;
    *) echo "unknown size $1 (100k, 1m, 10m, 50m)" >&2; return 1 ;;
  esac
}
# load, wall, rss, key, timed
source scripts/bench-common.sh  # (the working folder is the repository)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

rows=()
for size in ${sizes//,/ }; do
  read -r users items n < <(shape "$size")
  csv=$dir/$size.csv.gz
  work=$dir/$size
  rm -rf "$work"
  mkdir -p "$work/models"
  echo "== $size: $users users × $items items, $n interactions" >&2
  if [ ! -f "$csv" ]; then
    timed "$size-generate" "$reco" generate -q --users "$users" --items "$items" --interactions "$n" --out "$csv"
  fi
  timed "$size-ingest" "$reco" ingest -q "$csv" --interactions "$work/interactions.tsv" --features "$work/features"
  timed "$size-train" "$reco" train -q --model als --features "$work/features" --out "$work/models/als.safetensors"
  model_mib=$(du -m --apparent-size "$work/models/als.safetensors" | cut -f1)
  rm -f "$work/interactions.tsv" # only the features are needed from here on

  # serve: launch → first 200 from the health answer (GET /); RSS after start-up from /proc.
  port=$(free_port)
  serve_load=$(load)
  t0=$(date +%s.%N)
  "$reco" serve -q --models "$work/models" --port "$port" > "$dir/logs/$size-serve.log" 2>&1 &
  pid=$!
  ready=""
  for _ in $(seq 1 30000); do
    if curl -fs --max-time 1 -o /dev/null "http://127.0.0.1:$port/"; then ready=$(date +%s.%N); break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  [ -n "$ready" ] || { echo "reco serve did not start (see $dir/logs/$size-serve.log)" >&2; kill "$pid" 2>/dev/null; exit 1; }
  startup=$(awk -v a="$t0" -v b="$ready" 'BEGIN { printf "%.2f", b - a }')
  sleep 1
  serve_rss=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")
  serve_hwm=$(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  { echo "### $size-serve"; echo; echo '```'
    echo "load average before: $serve_load"
    echo "\$ $reco serve -q --models $work/models --port $port   # then curl / (health) every 10 ms"
    echo "start-up until GET / (health) answered: ${startup} s; 1 s later VmRSS ${serve_rss} MiB, VmHWM ${serve_hwm} MiB"
    grep -m1 listening "$dir/logs/$size-serve.log" || true
    echo '```'; echo; } >> "$raw"

  row="| $size | $users × $items | $(wall "$dir/logs/$size-ingest.log") | $(rss "$dir/logs/$size-ingest.log")"
  row+=" | $(wall "$dir/logs/$size-train.log") | $(rss "$dir/logs/$size-train.log") | $model_mib"
  row+=" | $startup | $serve_rss"
  if [ "$implicit" = 1 ]; then
    timed "$size-implicit-als" "$venv/bin/python" scripts/scale_implicit.py "$csv" als --threads 2
    ilog=$dir/logs/$size-implicit-als.log
    row+=" | $(key load_s "$ilog") | $(key load_peak_mib "$ilog") | $(key train_s "$ilog") | $(rss "$ilog")"
  else
    row+=" | – | – | – | –"
  fi
  rows+=("$row |")
  [ "$keep" = 1 ] || rm -rf "$work"
done

{
  echo "# Scale curve ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo
  echo "Seconds are wall time; MiB are peak RSS (\`/usr/bin/time -v\`), except serve: VmRSS 1 s after"
  echo "the health answer (GET /) first came. implicit: load = pandas read_csv (categorical ids) → scipy CSR;"
  echo "ALS peak includes the loaded data."
  echo
  echo "| size | users × items | ingest s | ingest MiB | train s | train MiB | model MiB | serve start s | serve MiB | implicit load s | implicit load MiB | implicit train s | implicit MiB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Raw outputs"
  echo
  cat "$raw"
} > "$out"
echo "wrote $out" >&2
