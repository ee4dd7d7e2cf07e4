#!/usr/bin/env bash
# `reco serve` with a 1M-item ALS model (64 factors, approximate top-N index), live scoring
# (`--cache-top 0`): start-up time and resident memory, then wrk at 1/16/64 connections on the
# same 2 cores (the seed's loadtest.sh + bench.lua, 1,000 known users uniformly at random).
# Writes bench/serve-1m.md (or $OUT_MD).
#
# Data: `reco generate` with bench-ann.sh --full's settings (1M items drawn, 300k users, 10M
# interactions: 885,703 items have a buyer), ingested and trained with --ann on — about 3
# minutes and 6 GB of memory once; kept in $WORK (default /tmp/reco-serve-1m, about 1 GB).
# Env: RECO (default target/release/reco), RECO_BEFORE (optional: another reco binary, e.g. a
# build of main, whose start-up is measured beside, and which takes turns with RECO at 64
# connections for AB_ROUNDS rounds, default 2, with the server's CPU time per answer),
# CONNS ("1 16 64"), DURATION (20s), PORT (8000), STARTS (start-ups measured per binary,
# default 3), BEFORE_LABEL / AFTER_LABEL (how the tables name the two binaries; default their
# paths).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
WORK=${WORK:-/tmp/reco-serve-1m}; RECO=${RECO:-target/release/reco}; PORT=${PORT:-8000}
OUT_MD=${OUT_MD:-bench/serve-1m.md}; STARTS=${STARTS:-3}
export CONNS=${CONNS:-1 16 64} DURATION=${DURATION:-20s}
for tool in wrk curl bc; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y $tool" >&2; exit 2; }
done
[ -x "$RECO" ] || { echo "missing $RECO: cargo build --release -p reco-server" >&2; exit 2; }
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && { echo "port $PORT is busy: set PORT" >&2; exit 2; }
mkdir -p "$WORK/models"
model=$WORK/models/als.safetensors
if [ ! -f "$model" ]; then
  [ -f "$WORK/syn1m.csv.gz" ] || "$RECO" generate -q --users 300000 --items 1000000 \
    --interactions 10000000 --rank 32 --out "$WORK/syn1m.csv.gz"
  [ -f "$WORK/features/matrix.safetensors" ] || "$RECO" ingest -q "$WORK/syn1m.csv.gz" \
    --features "$WORK/features" --interactions "$WORK/interactions.tsv"
  "$RECO" train -q --features "$WORK/features" --model als --factors 64 --iterations 8 \
    --ann on --out "$model.tmp.safetensors"
  mv "$model.tmp.safetensors" "$model"
fi
# 1,000 known users, evenly spaced over the user table.
awk -F'\t' 'NR > 1 && (NR - 2) % 300 == 0 { print $2 }' "$WORK/features/users.tsv" | head -1000 > "$WORK/users.txt"

kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
mem() { # pid -> "rss anon file hwm" in MiB
  echo "$(( $(kb "$1" VmRSS) / 1024 )) $(( $(kb "$1" RssAnon) / 1024 )) $(( $(kb "$1" RssFile) / 1024 )) $(( $(kb "$1" VmHWM) / 1024 ))"
}
label() { # binary -> its name in the tables
  if [ "$1" = "${RECO_BEFORE:-}" ]; then echo "${BEFORE_LABEL:-\`$1\`}"; else echo "${AFTER_LABEL:-\`$1\`}"; fi
}
start() { # binary args... -> "pid seconds"
  local t0 pid
  t0=$(date +%s.%N)
  "$@" > "$WORK/server.log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/"; do
    kill -0 "$pid" 2>/dev/null || { tail "$WORK/server.log" >&2; return 1; }
    sleep 0.01
  done
  echo "$pid $(echo "$(date +%s.%N) - $t0" | bc)"
}
serve_args=(serve --models "$WORK/models" --port "$PORT" --cache-top 0 -q)
startup_rows=()
for bin in ${RECO_BEFORE:+"$RECO_BEFORE"} "$RECO"; do
  for _ in $(seq "$STARTS"); do
    sync; cat "$model" > /dev/null # the file in the page cache: a warm start
    read -r pid secs < <(start "$bin" "${serve_args[@]}")
    read -r rss anon file hwm < <(mem "$pid")
    startup_rows+=("| $(label "$bin") | $(printf %.2f "$secs") | $rss | $anon | $file | $hwm |")
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of a pid
ab_rows=()
if [ -n "${RECO_BEFORE:-}" ]; then
  for round in $(seq "${AB_ROUNDS:-2}"); do
    for bin in "$RECO_BEFORE" "$RECO"; do
      read -r pid secs < <(start "$bin" "${serve_args[@]}")
      load=$(cut -d' ' -f1 /proc/loadavg)
      t0=$(cpu_ticks "$pid")
      CONNS=64 bench/peers/seed-fastapi/loadtest.sh "127.0.0.1:$PORT" /recommend/als/ \
        "$WORK/ab.jsonl" "$WORK/users.txt" > /dev/null
      t1=$(cpu_ticks "$pid")
      kill "$pid"; wait "$pid" 2>/dev/null || true
      ab_rows+=("$(python3 - "$WORK/ab.jsonl" "$(label "$bin")" "$round" "$load" "$((t1 - t0))" "$(getconf CLK_TCK)" <<'EOF'
import json, sys
path, binary, rnd, load, ticks, hz = sys.argv[1:]
r = json.loads(open(path).read().splitlines()[-1])
# The CPU time covers the unrecorded 3 s warm-up too: divided by the requests of both.
requests = r["requests"] * (1 + 3 / r["duration_s"])
print(f"| {rnd} | {binary} | {load} | {r['rps']:,.0f} | {r['lat_p50_ms']:.2f} | {r['lat_p99_ms']:.2f} "
      f"| {r['lat_max_ms']:.2f} | {int(ticks) / int(hz) / requests * 1e6:.1f} |")
EOF
)")
    done
  done
fi

read -r pid secs < <(start "$RECO" "${serve_args[@]}")
curl -sf "http://127.0.0.1:$PORT/recommend/als/$(head -1 "$WORK/users.txt")?n=10" > /dev/null
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
SERVER_PID=$pid bench/peers/seed-fastapi/loadtest.sh "127.0.0.1:$PORT" /recommend/als/ \
  "$WORK/wrk.jsonl" "$WORK/users.txt"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
read -r rss anon file hwm < <(mem "$pid")
kill "$pid"; wait "$pid" 2>/dev/null || true

items=$(awk 'END { print NR - 1 }' "$WORK/features/items.tsv")
{
  echo "# \`reco serve\` with a 1M-item ALS model"
  echo
  echo "Made by \`scripts/bench-serve-1m.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
  echo "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); load average"
  echo "$load_before before the wrk runs, $load_after after (1, 5, 15 min)."
  echo
  echo "Model: ALS, 64 factors, $items items × 300,000 users, 10M interactions (\`reco generate\`"
  echo "--items 1000000: the items somebody bought), trained with \`--ann on\` (IVF index, format"
  echo "version 2); file $(( $(stat -c %s "$model") / 1048576 )) MiB. Server: \`reco ${serve_args[*]}\`"
  echo "(live scoring: every answer is computed, through the index)."
  echo
  echo "## Start-up (process start → first 200 on \`GET /\`, file in the page cache)"
  echo
  echo "Memory in MiB right after start-up: resident (VmRSS) = anonymous + file pages (the mapped"
  echo "model file's pages still resident); peak = VmHWM."
  echo
  echo "| binary | start-up s | resident | anonymous | file | peak |"
  echo "|---|---:|---:|---:|---:|---:|"
  printf '%s\n' "${startup_rows[@]}"
  echo
  echo "## Load (wrk on the same 2 cores, \`GET /recommend/als/{user}\`, top 10)"
  echo
  echo "\`wrk -t min(2,c) -c c -d $DURATION\` with bench/peers/seed-fastapi/bench.lua: 1,000 known users"
  echo "(every 300th of the user table), uniformly at random per request."
  echo
  echo "| connections | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  python3 - "$WORK/wrk.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    errors = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_timeout", "non_2xx_3xx"))
    print(f"| {r['connections']} | {r['rps']:,.0f} | {r['lat_p50_ms']:.2f} | {r['lat_p90_ms']:.2f} "
          f"| {r['lat_p99_ms']:.2f} | {r['lat_max_ms']:.2f} | {errors} |")
EOF
  echo
  echo "After the load: resident $rss MiB (anonymous $anon, file $file), peak $hwm MiB."
  if [ ${#ab_rows[@]} -gt 0 ]; then
    echo
    echo "## Before / after, taking turns (64 connections, $DURATION each)"
    echo
    echo "Each row a fresh server; load = 1-minute load average before the row; CPU = the"
    echo "server's user + system time per answer (approximate: the 3 s warm-up is counted as"
    echo "answering at the row's rate)."
    echo
    echo "| round | binary | load | req/s | p50 ms | p99 ms | max ms | server CPU µs / answer |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ab_rows[@]}"
  fi
} > "$OUT_MD.tmp"
mv "$OUT_MD.tmp" "$OUT_MD"
echo "wrote $OUT_MD"
