#!/usr/bin/env bash
# profile.sh BUILD OUTPREFIX [stream]: aigw under callgrind, ~1,000 requests at 500 req/s
# Instruction counts per request (repeatable on a noisy machine): aigw under
# callgrind, one file per thread; divide PROGRAM TOTALS by the requests sent.
# Example: bench/profile.sh build /tmp/cg && callgrind_annotate --inclusive=yes /tmp/cg.<pid>-05
set -euo pipefail
BUILD=$1; OUT=$2; MODE=${3:-ns}
work=$(mktemp -d /tmp/aigw-prof.XXXXXX)
up_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
gw_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$BUILD/bench_upstream --port $up_port --threads 1 >/dev/null 2>&1 & up=$!
KEY=bench-key-0123456789abcdef0123456789
env -i PATH="$PATH" HOME="$work" OPENAI_BASE_URL="http://127.0.0.1:$up_port/v1" OPENAI_API_KEY=sk-bench \
  AI_GATEWAY_API_KEY=$KEY DATABASE_URL="sqlite:$work/aigw.db" HTTP_ACCESS_LOG=0 AIGW_LOG_LEVEL=error AIGW_THREADS=1 \
  AIGW_PROBE_INTERVAL_MS=500000 AIGW_KEEPALIVE_MS=600000 AIGW_HTTP_CLIENT="${AIGW_HTTP_CLIENT:-}" \
  valgrind --tool=callgrind --callgrind-out-file=$OUT.%p --separate-threads=yes $BUILD/aigw --listen 127.0.0.1:$gw_port 2>$work/aigw.log & gw=$!
for i in $(seq 1 300); do curl -fsS http://127.0.0.1:$gw_port/healthz >/dev/null 2>&1 && break; sleep 0.1; done
if [ "$MODE" = stream ]; then S=',"stream":true'; else S=''; fi
printf '{"model":"openai/gpt-4o-mini"%s,"messages":[{"role":"user","content":"hi"}]}' "$S" > $work/gw.json
$BUILD/loadgen --port $gw_port --path /v1/chat/completions --body-file $work/gw.json --rate 500 --duration 2 --warmup 0 --connections 8 --header "Authorization: Bearer $KEY"
sleep 1
kill -TERM $gw; wait $gw || true
kill $up; wait $up 2>/dev/null || true
rm -rf $work
