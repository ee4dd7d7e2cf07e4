#!/usr/bin/env bash
# Back-to-back load test of the Python service seed-fastapi (bench/peers/seed-fastapi, port
# 8001) then `reco serve` (port 8000), both with the seed's loadtest.sh, bench.lua and
# bench_users.txt (wrk, 1/16/64 connections, 20 s each: about 8 minutes for both).
# It checks what it needs first and prints how to get what is missing:
#   reco: target/release/reco and its models (scripts/run.sh makes both); wrk, curl, bc;
#   Python (unless SKIP_PY=1): a venv with implicit, LightFM, scikit-learn, FastAPI and uvicorn
#   ($VENV, default /tmp/seed-venv) and the seed's trained models (its run_pipeline.sh).
# Env: SKIP_PY=1 (reco only), RECO_ARGS (e.g. "--cache-top 0" for live scoring), TAG (suffix of
# the reco result files), RECO_MODELS (default "als knn lightfm"; models not loaded are skipped),
# SEED (default bench/peers/seed-fastapi), VENV (default /tmp/seed-venv), MODELS (default
# models), OUT (default results/serve-bench), RECO_PORT (8000), PY_PORT (8001).
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${SEED:-bench/peers/seed-fastapi}; OUT=${OUT:-results/serve-bench}; RECO=${RECO:-target/release/reco}
MODELS=${MODELS:-models}; VENV=${VENV:-/tmp/seed-venv}
RECO_PORT=${RECO_PORT:-8000}; PY_PORT=${PY_PORT:-8001}
SEED=$(cd "$SEED" 2>/dev/null && pwd || echo "$SEED")

missing=()
need() { missing+=("$1"$'\n      get it: '"$2"); }
busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for tool in wrk curl bc; do
  command -v "$tool" >/dev/null || need "$tool" "apt-get update && apt-get install -y $tool"
done
for f in loadtest.sh bench.lua bench_users.txt; do
  [ -f "$SEED/$f" ] || need "$SEED/$f (the seed's load test)" "it is part of the repository (bench/peers/seed-fastapi); or set SEED to a copy"
done
[ -x "$RECO" ] || need "the reco binary $RECO" "scripts/run.sh (or: cargo build --release -p reco-server; first build about 8-9 minutes)"
for m in ${RECO_MODELS:-als knn lightfm}; do
  [ -f "$MODELS/$m.safetensors" ] || need "the model $MODELS/$m.safetensors" "scripts/run.sh trains every model (or: reco ingest && reco train --model $m)"
done
busy "$RECO_PORT" && need "a free port $RECO_PORT for reco serve" "stop what listens there, or set RECO_PORT"
if [[ "${SKIP_PY:-0}" != 1 ]]; then
  if ! "$VENV/bin/python" -c 'import implicit, lightfm, sklearn, fastapi, uvicorn' 2>/dev/null; then
    need "a Python venv $VENV with implicit, LightFM, scikit-learn, FastAPI and uvicorn (or SKIP_PY=1 for reco only)" \
      "ANCHOR_VENV=$VENV bench/anchors/setup.sh && $VENV/bin/pip install fastapi==0.165.0 'uvicorn[standard]==0.54.0'   (about 2 minutes)"
  fi
  for f in als_model.pkl knn_model.pkl lightfm.pkl; do
    if [ ! -f "$SEED/models/$f" ]; then
      need "the seed's trained models ($SEED/models/$f)" "VENV=$VENV RETAIL_CSV=$PWD/data/online_retail.csv.gz $SEED/run_pipeline.sh   (about 15 s, after the venv)"
      break
    fi
  done
  busy "$PY_PORT" && need "a free port $PY_PORT for the Python service" "stop what listens there, or set PY_PORT"
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "cannot start: missing prerequisites" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 2
fi

mkdir -p "$OUT"
startup() { # port cmd... -> prints pid and seconds to first 200 on GET /
  local port=$1; shift
  local t0 t1 pid
  t0=$(date +%s.%N)
  "$@" > "$OUT/server-$port.log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/"; do
    if ! kill -0 "$pid" 2>/dev/null || (( $(echo "$(date +%s.%N) - $t0 > 120" | bc) )); then
      echo "the server on port $port did not start; its log ($OUT/server-$port.log):" >&2
      tail -20 "$OUT/server-$port.log" >&2
      kill "$pid" 2>/dev/null || true
      return 1
    fi
    sleep 0.01
  done
  t1=$(date +%s.%N)
  echo "$pid $(echo "$t1 - $t0" | bc)"
}
rss() { awk '/^VmRSS|^VmHWM/{printf "%s %s kB  ", $1, $2}' /proc/$1/status; echo; }

if [[ "${SKIP_PY:-0}" != 1 ]]; then
  read -r pypid pyt < <(startup "$PY_PORT" env VENV="$VENV" "$SEED/serve.sh" "$PY_PORT")
  [ -n "${pypid:-}" ] || exit 1
  echo "python startup_s=$pyt pid=$pypid rss_after_start: $(rss $pypid)" | tee "$OUT/python-startup.txt"
  for m in als knn lightfm; do
    SERVER_PID=$pypid "$SEED/loadtest.sh" "127.0.0.1:$PY_PORT" /recommend/$m/ "$OUT/python-$m.jsonl" "$SEED/bench_users.txt"
  done
  echo "python after load: $(rss $pypid)" | tee -a "$OUT/python-startup.txt"
  kill "$pypid"; wait "$pypid" 2>/dev/null || true
fi

read -r rpid rt < <(startup "$RECO_PORT" "$RECO" serve --models "$MODELS" --port "$RECO_PORT" ${RECO_ARGS:-})
[ -n "${rpid:-}" ] || exit 1
echo "reco startup_s=$rt pid=$rpid rss_after_start: $(rss $rpid)" | tee "$OUT/reco-startup.txt"
for m in ${RECO_MODELS:-als knn lightfm}; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RECO_PORT/recommend/$m/16121")
  [[ "$code" == 200 ]] || { echo "skip $m (HTTP $code)"; continue; }
  SERVER_PID=$rpid "$SEED/loadtest.sh" "127.0.0.1:$RECO_PORT" /recommend/$m/ "$OUT/reco-$m${TAG:-}.jsonl" "$SEED/bench_users.txt"
done
echo "reco after load: $(rss $rpid)" | tee -a "$OUT/reco-startup.txt"
kill "$rpid"; wait "$rpid" 2>/dev/null || true
