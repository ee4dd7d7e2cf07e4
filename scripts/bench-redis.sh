#!/usr/bin/env bash
# Does a Redis cache of hot users' top-10 lists pay in front of reco? One sitting, loopback:
#   1. Redis GET of a real top-10 JSON answer (redis-benchmark, 1 client, no pipelining);
#   2. the same answer from `reco serve` over HTTP (wrk, 1 connection): live scoring
#      (--cache-top 0) and the in-process memo (--cache-top 100, the default);
#   3. reco's in-process single-user top-10 (no HTTP), from `reco evaluate`'s latency column.
# Needs redis-server, redis-benchmark and wrk (apt-get install redis-server wrk), a release
# build of reco and models/ (scripts/run.sh makes both). Prints a markdown report.
set -euo pipefail
cd "$(dirname "$0")/.."
reco=target/release/reco
for tool in redis-server redis-benchmark redis-cli wrk curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y redis-server wrk curl" >&2; exit 1; }
done
[ -x "$reco" ] && [ -f models/als.safetensors ] || { echo "missing $reco or models/als.safetensors: run scripts/run.sh first" >&2; exit 1; }
user=${USER_ID:-17850}
redis_port=${REDIS_PORT:-6391}
live_port=${LIVE_PORT:-18191}
memo_port=${MEMO_PORT:-18192}
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --dir "$work" >/dev/null
"$reco" -q serve --models models --port "$live_port" --cache-top 0 >"$work/live.log" 2>&1 & pids+=($!)
"$reco" -q serve --models models --port "$memo_port" >"$work/memo.log" 2>&1 & pids+=($!)
for port in "$live_port" "$memo_port"; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
done
curl -sf "http://127.0.0.1:$live_port/recommend/als/$user?n=10" >"$work/top10.json"
bytes=$(wc -c <"$work/top10.json")
redis-cli -p "$redis_port" -x SET "top:$user" <"$work/top10.json" >/dev/null

echo "# Redis in front of reco? (measured $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "Value: the ALS top-10 JSON of user $user, $bytes bytes. Loopback, one client / connection, no pipelining."
echo
echo "| path | p50 µs | p99 µs | req/s |"
echo "|---|---:|---:|---:|"
redis=$(redis-benchmark -p "$redis_port" -c 1 -n 100000 -d "$bytes" -t get --csv 2>/dev/null | tail -1)
# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
echo "$redis" | tr -d '"' | awk -F, '{printf "| Redis GET of the cached answer | %.0f | %.0f | %.0f |\n", $5*1000, $7*1000, $2}'
for mode in live memo; do
  port=$live_port; label="reco serve, live scoring (--cache-top 0), HTTP"
  [ "$mode" = memo ] && port=$memo_port && label="reco serve, in-process memo (--cache-top 100), HTTP"
  wrk -t1 -c1 -d10s --latency "http://127.0.0.1:$port/recommend/als/$user?n=10" >"$work/$mode.wrk"
  awk -v label="$label" '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1e6 }
    / 50% / { p50 = us($2) } / 99% / { p99 = us($2) } /Requests\/sec/ { rps = $2 }
    END { printf "| %s | %.0f | %.0f | %.0f |\n", label, p50, p99, rps }' "$work/$mode.wrk"
done
inproc=$("$reco" -q evaluate --model als --json --latency-users 500 | sed -n 's/.*"latency_median_ms":\([0-9.e-]*\).*"latency_p95_ms":\([0-9.e-]*\).*/\1 \2/p')
echo "$inproc" | awk '{printf "| reco in process, live top-10 (no HTTP; reco evaluate, median / p95 of 500 users) | %.0f | p95 %.0f | |\n", $1*1000, $2*1000}'
