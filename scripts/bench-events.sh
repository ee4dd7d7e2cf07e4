#!/usr/bin/env bash
# Live events under load (issue #11's targets), in one sitting, with wrk on the same cores as
# the server:
#   1. POST /events, one event per request, 64 connections (each answer after its fsync);
#   2. POST /events, batches of 100, 64 connections;
#   3. GET /recommend/als/{user}, 64 connections, users drawn from bench_users.txt:
#      a. no events anywhere (as before live events);
#      b. while 1,000 events/s stream in for other users (bench/events/stream.py);
#      c. the same users after each got one event (their answers fold the events in), while
#         events stream in;
#   4. after 1-2 and after 3, the log is read back independently (bench/events/count_log.py:
#      every record's CRC) and must hold exactly the events the server acknowledged.
# Part 3 runs on a fresh server (empty log), so it measures a 1,000 events/s stream, not the
# millions of events parts 1-2 leave in memory.
# Needs: target/release/reco, the models folder (scripts/run.sh), wrk, curl, python3.
# Env: MODELS (default models), PORT (8010), DUR (wrk duration, default 15s), OUT (default
# results/events-bench), EVENTS_DIR (default a new folder under TMPDIR; put it on the disk you
# would use in production: an fsync costs what that disk makes it cost).
set -euo pipefail
cd "$(dirname "$0")/.."
RECO=${RECO:-target/release/reco}; MODELS=${MODELS:-models}; PORT=${PORT:-8010}; DUR=${DUR:-15s}
OUT=${OUT:-results/events-bench}; TOKEN=bench
USERS=bench/peers/seed-fastapi/bench_users.txt
missing=()
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || missing+=("$tool (apt-get install -y $tool)")
done
[ -x "$RECO" ] || missing+=("$RECO (cargo build --release -p reco-server)")
[ -f "$MODELS/als.safetensors" ] || missing+=("$MODELS/als.safetensors (scripts/run.sh trains every model)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'cannot start: missing\n' >&2; printf '  - %s\n' "${missing[@]}" >&2; exit 2
fi
mkdir -p "$OUT"; : > "$OUT/server.log"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/reco-events-bench.XXXXXX")
EVENTS_DIR=${EVENTS_DIR:-$WORK/events}
SERVER=; STREAM=
cleanup() { [ -n "$STREAM" ] && kill "$STREAM" 2>/dev/null; [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
URL="http://127.0.0.1:$PORT"
start_server() { # EVENTS_DIR: a fresh server, so each part starts from an empty live state
  "$RECO" serve --models "$MODELS" --port "$PORT" --events-dir "$1" --events-token "$TOKEN" \
    >> "$OUT/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 200); do curl -sf -o /dev/null "$URL/" && return; sleep 0.05; done
  echo "reco serve did not start; see $OUT/server.log" >&2; exit 1
}
stop_server() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=; }
result() { grep '^RESULT' | sed 's/^RESULT //'; }
wrk_events() { # BATCH -> the RESULT line plus events_per_s
  wrk -t2 -c64 -d"$DUR" -s bench/events/events.lua "$URL" -- "$1" "$TOKEN" | result |
    python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["events_per_s"]=round(r["rps"]*int(sys.argv[1]),1); print(json.dumps(r))' "$1"
}
wrk_get() { wrk -t2 -c64 -d"$DUR" -s bench/peers/seed-fastapi/bench.lua "$URL" -- /recommend/als/ "$USERS" | result; }
metric() { curl -s "$URL/metrics" | awk -v m="$1" '$1==m{print $2}'; }
check_log() { # DIR: the log must hold exactly the acknowledged events
  echo "   acknowledged: $(metric 'reco_events_total{result="accepted"}'); in the log: $(python3 bench/events/count_log.py "$1"); group commits: $(metric reco_event_commits_total); live users: $(metric reco_live_users)"
}

start_server "$EVENTS_DIR"
echo "reco serve: models $(curl -s "$URL/" | python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)["models"]))'); events in $EVENTS_DIR ($(df -h "$EVENTS_DIR" | awk 'NR==2{print $1}'))"
echo "1. single events, 64 connections, $DUR"; wrk_events 1 | tee "$OUT/events-single.json"
echo "2. batches of 100, 64 connections, $DUR"; wrk_events 100 | tee "$OUT/events-batch100.json"
check_log "$EVENTS_DIR"
stop_server
# The recommendation runs on a fresh server: 1,000 events/s, not the millions above.
start_server "$EVENTS_DIR-2"
echo "3a. GET /recommend/als, no events for these users, nothing streaming"; wrk_get | tee "$OUT/get-quiet.json"
python3 bench/events/stream.py "127.0.0.1:$PORT" "$TOKEN" 1000 s > "$OUT/stream.log" 2>&1 &
STREAM=$!
sleep 1
echo "3b. GET /recommend/als, users without events, while 1,000 events/s stream in"; wrk_get | tee "$OUT/get-streaming.json"
python3 - "$URL" "$TOKEN" "$USERS" <<'PY'
import json, sys, urllib.request
url, token, users = sys.argv[1], sys.argv[2], [l.strip() for l in open(sys.argv[3]) if l.strip()]
for k in range(0, len(users), 500):
    body = json.dumps([{"user": u, "item": "85123A"} for u in users[k:k + 500]]).encode()
    req = urllib.request.Request(url + "/events", body, {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    assert urllib.request.urlopen(req).status == 200
PY
echo "3c. GET /recommend/als, the same users each with a live event (fold-in), while streaming"; wrk_get | tee "$OUT/get-live-users.json"
kill "$STREAM"; wait "$STREAM" 2>/dev/null || true; STREAM=
cat "$OUT/stream.log"
check_log "$EVENTS_DIR-2"
