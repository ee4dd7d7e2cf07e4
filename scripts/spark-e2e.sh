#!/usr/bin/env bash
# Train on Spark, serve with reco — end to end on the bundled Online Retail data:
#   1. installs what is missing: Java 17 (apt) and pyspark 4.3 + numpy (a venv in
#      $RECO_SPARK_VENV, default ~/.cache/reco/spark-venv);
#   2. reco ingest (online-retail preset) → clean interactions;
#   3. scripts/spark/train_als.py on them with Spark (local[2]);
#   4. reco import spark-als (checks every user's fold-in against Spark's vector);
#   5. Spark's own top-N per user (spark_recommend.py);
#   6. reco serve, and every user's /recommend answer compared with Spark's (compare.py).
# Options via environment: RANK (32), REG (0.05), ALPHA (1.0), ITER (10), KEEP=1 keeps the
# work folder. Prints the time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s%N)
step() {
  local ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf '[%4d.%01ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}

# 1. Java and pyspark.
apt_install() {
  local sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}
if ! command -v java >/dev/null; then
  step "installing Java 17 (apt)"
  apt_install openjdk-17-jre-headless
fi
venv=${RECO_SPARK_VENV:-$HOME/.cache/reco/spark-venv}
if ! "$venv/bin/python" -c 'import pyspark, numpy' 2>/dev/null; then
  step "installing pyspark into $venv"
  # Debian's python3 has no venv module until python3-venv is installed.
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'pyspark==4.3.0' numpy
fi
py=$venv/bin/python
step "java: $(java -version 2>&1 | head -1); pyspark $("$py" -c 'import pyspark; print(pyspark.__version__)')"

# reco itself (the debug build `cargo test` also makes; RECO_BIN to use another).
if [ -z "${RECO_BIN:-}" ]; then
  step "cargo build -p reco-server"
  cargo build -q -p reco-server
fi
reco=${RECO_BIN:-$root/target/debug/reco}

work=$(mktemp -d /tmp/reco-spark-e2e.XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
spark_conf=(--master 'local[2]' --conf spark.sql.shuffle.partitions=4 --conf spark.ui.enabled=false
            --conf spark.ui.showConsoleProgress=false
            --conf spark.driver.memory=2g)
quiet() { grep -v -E 'WARN|Stage [0-9]|log4j|setLogLevel|netlib|^\s*$' || true; }

# 2. Clean interactions, as reco reads them.
step "reco ingest"
"$reco" -q ingest data/online_retail.csv.gz --preset online-retail \
  --interactions "$work/interactions.tsv" --features "$work/features" | grep -E '^(kept|users|items)' || true
events=$work/features/interactions.tsv

# 3. Spark trains.
step "spark: train_als.py"
"$py" scripts/spark/train_als.py "$events" "$work/spark" "${spark_conf[@]}" \
  --rank "${RANK:-32}" --reg-param "${REG:-0.05}" --alpha "${ALPHA:-1.0}" --max-iter "${ITER:-10}" \
  --seed 42 2>&1 | quiet

# 4. reco imports.
step "reco import spark-als"
"$reco" import spark-als "$work/spark" --events "$events" --items "$work/features/items.tsv" \
  -o "$work/models/als.safetensors"

# 5. Spark's own recommendations.
step "spark: spark_recommend.py"
"$py" scripts/spark/spark_recommend.py "$work/spark" "$events" -n 10 -o "$work/spark_recs.jsonl" \
  "${spark_conf[@]}" 2>&1 | quiet

# 6. reco serves; every user compared over HTTP.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$reco" -q serve --models "$work/models" --port "$port" >"$work/serve.log" 2>&1 &
server_pid=$!
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("reco serve did not start")
PY
step "reco serve on port $port: comparing every user with Spark"
python3 scripts/spark/compare.py "$work/spark_recs.jsonl" "http://127.0.0.1:$port/recommend/als" -n 10
step "done"
