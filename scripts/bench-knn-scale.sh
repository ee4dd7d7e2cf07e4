#!/usr/bin/env bash
# Neighbourhood models at scale (issue 13): for each size, `reco generate` writes a synthetic
# CSV, `reco ingest` reads it, then `/usr/bin/time -v` measures
#   reco train --model knn         wall time, peak RSS, model file size
#   reco train --model item-knn    (defaults: cosine, k 50) wall time, peak RSS, model file size
#   query latency of both files    core/examples/knn_bench.rs: one thread, top 10 with the
#                                  user's items excluded, 2,000 seeded users (load time, RSS)
#   implicit item-KNN              CosineRecommender(K=50) (reco's default weighting and k),
#                                  fit on 2 threads and recommend() per user
#                                  (scripts/scale_implicit.py itemknn), unless --no-implicit
# with the load average before each timed step. Writes a Markdown table and the raw outputs to
# --out; bench/knn-scale.md was made from it.
#
# Usage: scripts/bench-knn-scale.sh [--sizes 100k,5m,10m,20m] [--dir /tmp/scale] [--out FILE]
#                                   [--queries 2000] [--no-implicit]
#   --sizes   comma list; 100k: 5,000 users × 2,000 items (a smoke run of seconds, the
#             default); 5m / 10m / 20m: 250,000 / 500,000 / 1,000,000 users × 100,000 items
#             (the catalog fixed, users and interactions growing together, so a step that grows
#             worse than linearly shows as a ratio above 2 between neighbouring sizes)
#   --dir     work folder (CSVs kept and reused; default /tmp/scale)
# Uses target/release/reco and target/release/examples/knn_bench (built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sizes=100k dir=/tmp/scale out="" implicit=1 queries=2000
while [ $# -gt 0 ]; do
  case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    --no-implicit) implicit=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
reco=${RECO:-$root/target/release/reco}
bench=$root/target/release/examples/knn_bench
venv=${ANCHOR_VENV:-/tmp/anchor-venv}
[ -x "$reco" ] || { echo "no $reco: cargo build --release -p reco-server" >&2; exit 1; }
[ -x "$bench" ] || cargo build -q --release -p reco-core --example knn_bench
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
if [ "$implicit" = 1 ] && [ ! -x "$venv/bin/python" ]; then
  echo "no implicit venv at $venv: ANCHOR_VENV=$venv bench/anchors/setup.sh, or --no-implicit" >&2
  exit 1
fi
mkdir -p "$dir/logs"
out=${out:-$dir/knn-scale-results.md}
raw=$dir/logs/knn-raw.txt
: > "$raw"

shape() { # size → "users items interactions"
  case $1 in
    100k) echo "5000 2000 100000" ;;
    5m) echo "250000 100000 5000000" ;;
    10m) echo "500000 100000 10000000" ;;
    20m) echo "1000000 100000 20000000" ;;
    *) echo "unknown size $1 (100k, 5m, 10m, 20m)" >&2; return 1 ;;
  esac
}
# load, wall, rss, key, timed
source scripts/bench-common.sh  # (the working folder is the repository)

rows=()
for size in ${sizes//,/ }; do
  read -r users items n < <(shape "$size")
  csv=$dir/knn-$size.csv.gz
  work=$dir/knn-$size
  rm -rf "$work"
  mkdir -p "$work"
  echo "== $size: $users users × $items items, $n interactions" >&2
  if [ ! -f "$csv" ]; then
    timed "knn-$size-generate" "$reco" generate -q --users "$users" --items "$items" --interactions "$n" --out "$csv"
  fi
  "$reco" ingest -q "$csv" --interactions "$work/interactions.tsv" --features "$work/features" > /dev/null
  rm -f "$work/interactions.tsv"
  row="| $size | $users × $items"
  for model in knn item-knn; do
    timed "knn-$size-train-$model" "$reco" train -q --model "$model" --features "$work/features" --out "$work/$model.safetensors"
    timed "knn-$size-query-$model" "$bench" "$work/$model.safetensors" "$queries"
    t=$dir/logs/knn-$size-train-$model.log q=$dir/logs/knn-$size-query-$model.log
    row+=" | $(wall "$t") | $(rss "$t") | $(du -m --apparent-size "$work/$model.safetensors" | cut -f1)"
    row+=" | $(key load_s "$q") | $(key query_median_ms "$q") | $(key query_p99_ms "$q") | $(key query_mean_ms "$q")"
    rm -f "$work/$model.safetensors"
  done
  if [ "$implicit" = 1 ]; then
    timed "knn-$size-implicit-itemknn" "$venv/bin/python" scripts/scale_implicit.py "$csv" itemknn \
      --k 50 --threads 2 --queries "$queries"
    i=$dir/logs/knn-$size-implicit-itemknn.log
    row+=" | $(key train_s "$i") | $(key train_peak_mib "$i") | $(key query_median_ms "$i") | $(key query_p99_ms "$i") | $(key query_mean_ms "$i")"
  else
    row+=" | – | – | – | – | –"
  fi
  rows+=("$row |")
  rm -rf "$work"
done

{
  echo "# Neighbourhood models at scale ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo
  echo "train: \`reco train\` wall s / peak MiB / file MiB; query: knn_bench load s, then ms per"
  echo "single-user top 10 (median / p99 / mean, one thread). implicit: CosineRecommender(K=50) fit s"
  echo "(2 threads; the CSV → CSR load is not included) / peak MiB of the process incl. the loaded"
  echo "data / ms per recommend() (median / p99 / mean)."
  echo
  echo "| size | users × items | knn train s | MiB | file MiB | load s | query ms median | p99 | mean | item-knn train s | MiB | file MiB | load s | query ms median | p99 | mean | implicit fit s | MiB | query ms median | p99 | mean |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Raw outputs"
  echo
  cat "$raw"
} > "$out"
echo "wrote $out" >&2
