#!/usr/bin/env bash
# Back-to-back load test of seed-fastapi (Python, port 8001) then `reco serve` (port 8000), both
# with the seed's loadtest.sh and bench_users.txt. Set-up: copy ../shared/peers/seed-fastapi to
# $SEED, build its venv at /tmp/seed-venv and run its run_pipeline.sh (see its README); then
# `reco ingest` and `reco train --model als` / `--model lightfm` into $MODELS.
# Env: SKIP_PY=1 (reco only), RECO_ARGS (e.g. "--cache-top 0" for live scoring), TAG (suffix of
# the reco result files), RECO_MODELS (default "als knn lightfm"; models not loaded are skipped).
set -euo pipefail
SEED=${SEED:-/tmp/seed-fastapi}; OUT=${OUT:-results/serve-bench}; RECO=${RECO:-target/release/reco}
MODELS=${MODELS:-models}
mkdir -p "$OUT"
startup() { # port cmd... -> prints pid and seconds to first 200 on GET /
  local port=$1; shift
  local t0=$(date +%s.%N)
  "$@" > "$OUT/server-$port.log" 2>&1 &
  local pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.01; done
  local t1=$(date +%s.%N)
  echo "$pid $(echo "$t1 - $t0" | bc)"
}
rss() { awk '/^VmRSS|^VmHWM/{printf "%s %s kB  ", $1, $2}' /proc/$1/status; echo; }

if [[ "${SKIP_PY:-0}" != 1 ]]; then
  read -r pypid pyt < <(startup 8001 env VENV=/tmp/seed-venv "$SEED/serve.sh" 8001)
  echo "python startup_s=$pyt pid=$pypid rss_after_start: $(rss $pypid)" | tee "$OUT/python-startup.txt"
  for m in als knn lightfm; do
    SERVER_PID=$pypid "$SEED/loadtest.sh" 127.0.0.1:8001 /recommend/$m/ "$OUT/python-$m.jsonl" "$SEED/bench_users.txt"
  done
  echo "python after load: $(rss $pypid)" | tee -a "$OUT/python-startup.txt"
  kill "$pypid"; wait "$pypid" 2>/dev/null || true
fi

read -r rpid rt < <(startup 8000 "$RECO" serve --models "$MODELS" --port 8000 ${RECO_ARGS:-})
echo "reco startup_s=$rt pid=$rpid rss_after_start: $(rss $rpid)" | tee "$OUT/reco-startup.txt"
for m in ${RECO_MODELS:-als knn lightfm}; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:8000/recommend/$m/16121")
  [[ "$code" == 200 ]] || { echo "skip $m (HTTP $code)"; continue; }
  SERVER_PID=$rpid "$SEED/loadtest.sh" 127.0.0.1:8000 /recommend/$m/ "$OUT/reco-$m${TAG:-}.jsonl" "$SEED/bench_users.txt"
done
echo "reco after load: $(rss $rpid)" | tee -a "$OUT/reco-startup.txt"
kill "$rpid"; wait "$rpid" 2>/dev/null || true
