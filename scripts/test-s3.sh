#!/usr/bin/env bash
# Replicas following an S3-compatible model store, against a real S3 server on loopback:
# moto's server mode (PyPI `moto[server]`), installed into a venv on first use
# ($MOTO_VENV, default ~/.cache/reco/moto-venv; about 30 s), then the ignored test
# `replicas_follow_an_s3_store_and_survive_its_outage` (server/tests/replicas.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MOTO_VENV:-$HOME/.cache/reco/moto-venv}
if [ ! -x "$VENV/bin/moto_server" ]; then
  echo "installing moto[server] into $VENV"
  python3 -m venv "$VENV" 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q 'moto[server]==5.2.5'
fi
# --workspace: the same feature set as the test command's `cargo test --workspace`, so its
# build is reused (with -p reco-server cargo resolves features anew and rebuilds: 1.5 min).
RECO_MOTO_SERVER="$VENV/bin/moto_server" cargo test --workspace --test replicas -- --ignored --nocapture 2>&1
