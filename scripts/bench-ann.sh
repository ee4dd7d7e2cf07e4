#!/usr/bin/env bash
# Writes bench/ann-1m.md: the approximate top-N index (reco-core `ann`) against the exact scan,
# one query thread, the index built on 2 threads. Runs core/examples/ann_bench.rs on
#   1. planted cluster factors, 1M and 100k items × 64 (no training: seconds);
#   2. ALS factors trained by `reco train` on `reco generate` data, 100k items (about 1 minute)
#      and, with --full, about 1M items (about 10 minutes and 6 GB of memory).
# Usage: scripts/bench-ann.sh [--full]
set -euo pipefail
cd "$(dirname "$0")/.."
full=${1:-}
work=${ANN_BENCH_DIR:-/tmp/reco-ann-bench}
mkdir -p "$work"
cargo build --release -p reco-server -p reco-core --example ann_bench
bench=target/release/examples/ann_bench
reco=target/release/reco
export RAYON_NUM_THREADS=2
trained() { # items users interactions tag
  local f="$work/als-$4.safetensors"
  if [ ! -f "$f" ]; then
    # Their reports go to stderr: this function's stdout is the file's path.
    {
      "$reco" generate -q --users "$2" --items "$1" --interactions "$3" --rank 32 --out "$work/$4.csv.gz"
      "$reco" ingest -q "$work/$4.csv.gz" --features "$work/features-$4" --interactions "$work/$4.tsv"
      "$reco" train -q --features "$work/features-$4" --model als --factors 64 --iterations 8 \
        --ann off --out "$f.tmp.safetensors"
      mv "$f.tmp.safetensors" "$f"
    } >&2
  fi
  echo "$f"
}
{
  echo "# Approximate top-N (IVF index) against the exact scan"
  echo
  echo "Made by \`scripts/bench-ann.sh ${full}\` on $(date -u +%Y-%m-%d), $(nproc) cores"
  echo "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)). Query times: one thread, 200"
  echo "queries, top 10; \`× exact\` = time per query / the exact scan's (mat-vec over every item +"
  echo "top-N selection, what reco does without an index). Build: k-means + assignment +"
  echo "calibration on 2 threads. Recall@10 against the exact top 10 under the same filter."
  echo "Filters: \"50 seen\" = 50 draws among the exact top 200 excluded (a user who already has"
  echo "many of the items the model likes; the search must probe further); \"1,000 candidates\" ="
  echo "a random candidate list (answered exactly from the candidates)."
  echo
  for n in 1000000 100000; do
    "$bench" "$n" 64 200
    echo
  done
  "$bench" --model "$(trained 100000 100000 3000000 100k)" 200
  if [ "$full" = --full ]; then
    echo
    "$bench" --model "$(trained 1000000 300000 10000000 1m)" 200
  fi
} > bench/ann-1m.md.tmp
mv bench/ann-1m.md.tmp bench/ann-1m.md
echo "wrote bench/ann-1m.md"
