#!/usr/bin/env bash
# Starts aigw and teamhub on their embedded defaults (SQLite, simulator, demo org).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data
export DATA_DIR=${DATA_DIR:-$PWD/data}
export AI_GATEWAY_API_KEY=${AI_GATEWAY_API_KEY:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/^/aigw_dev_/')}
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait; }
trap cleanup EXIT INT TERM
build/aigw --database "sqlite:$DATA_DIR/aigw.db" &
pids+=($!)
if [ -x build/teamhub ]; then
  export AI_GATEWAY_URL=${AI_GATEWAY_URL:-http://127.0.0.1:8090}
  build/teamhub --database "sqlite:$DATA_DIR/teamhub.db" --seed-demo &
  pids+=($!)
fi
wait -n
