#!/usr/bin/env bash
# Gateway benchmarks, all measured side by side in ONE run on loopback (the
# machine is shared and noisy, so only ratios within a run mean anything):
#   1. latency at a fixed rate (open loop, 5,000 req/s): direct to a fast fake
#      upstream vs through aigw vs through an nginx reverse-proxy hop,
#      non-stream and stream -> added latency p50/p99
#   2. throughput (closed loop, wrk): direct vs aigw vs nginx -> aigw/nginx ratio
#   3. idle RSS of aigw, and RSS with 10,000 concurrent open streams
# Usage: bench/run.sh [build-dir]   (make bench). Writes bench/results/latest.md
# and prints it; bench/RESULTS.md keeps the recorded runs. Environment:
# BENCH_DURATION, BENCH_RATE, BENCH_STREAMS, BENCH_HOLD_FIRST=upstream (see
# below), AIGW_HTTP_CLIENT=curl (aigw's upstream calls through libcurl only).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
RATE=${BENCH_RATE:-5000}
DUR=${BENCH_DURATION:-5}
STREAMS=${BENCH_STREAMS:-10000}
work=$(mktemp -d /tmp/aigw-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill -TERM "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)

export HTTP_ACCESS_LOG=0
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

up_port=$(free_port); hold_port=$(free_port); gw_port=$(free_port); ngx_port=$(free_port)
"$BUILD/bench_upstream" --port "$up_port" --threads 1 >"$work/up.out" 2>"$work/up.err" &
pids+=($!)
"$BUILD/bench_upstream" --port "$hold_port" --threads 1 --hold >"$work/hold.out" 2>"$work/hold.err" &
pids+=($!)
wait_http "http://127.0.0.1:$up_port/v1/models"

KEY=bench-key-0123456789abcdef0123456789
env -i PATH="$PATH" HOME="$work" OPENAI_BASE_URL="http://127.0.0.1:$up_port/v1" OPENAI_API_KEY=sk-bench \
  LOCAL_BASE_URL="http://127.0.0.1:$hold_port/v1" AI_GATEWAY_API_KEY=$KEY \
  DATABASE_URL="sqlite:$work/aigw.db" HTTP_ACCESS_LOG=0 AIGW_LOG_LEVEL=error AIGW_THREADS=1 \
  AIGW_PROBE_INTERVAL_MS=500 AIGW_KEEPALIVE_MS=600000 AIGW_HTTP_CLIENT="${AIGW_HTTP_CLIENT:-}" \
  "$BUILD/aigw" --listen "127.0.0.1:$gw_port" 2>"$work/aigw.log" &
gw_pid=$!; pids+=($gw_pid)
wait_http "http://127.0.0.1:$gw_port/healthz"
sleep 1
idle_rss=$(rss_kb $gw_pid)

cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 20000; }
http {
  access_log off;
  upstream up { server 127.0.0.1:$up_port; keepalive 64; }
  server {
    listen 127.0.0.1:$ngx_port;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon on;'
wait_http "http://127.0.0.1:$ngx_port/v1/models"

printf '{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}' >"$work/direct.json"
printf '{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"hi"}]}' >"$work/direct-stream.json"
printf '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' >"$work/gw.json"
printf '{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}' >"$work/gw-stream.json"

lg() { "$BUILD/loadgen" --port "$1" --path /v1/chat/completions --body-file "$2" --rate "$RATE" \
         --duration "$DUR" --warmup 1 --connections 64 --header "Authorization: Bearer $KEY"; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "latency at $RATE req/s for ${DUR}s each..." >&2
d_ns=$(lg "$up_port" "$work/direct.json"); g_ns=$(lg "$gw_port" "$work/gw.json"); n_ns=$(lg "$ngx_port" "$work/direct.json")
d_s=$(lg "$up_port" "$work/direct-stream.json"); g_s=$(lg "$gw_port" "$work/gw-stream.json"); n_s=$(lg "$ngx_port" "$work/direct-stream.json")

echo "throughput (wrk, closed loop)..." >&2
cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.body = io.open(os.getenv("BODY")):read("*a")
EOF
thr() { BODY="$2" wrk -t1 -c64 -d"${DUR}s" -s "$work/post.lua" "http://127.0.0.1:$1/v1/chat/completions" | awk '/Requests\/sec/{print int($2)}'; }
t_d=$(thr "$up_port" "$work/direct.json"); t_g=$(thr "$gw_port" "$work/gw.json"); t_n=$(thr "$ngx_port" "$work/direct.json")

# Open streams. Through the simulator a stream costs one client socket; through
# an HTTP upstream it costs two (client + upstream), so with this machine's
# fd limit that variant holds fewer streams. Both report bytes per stream.
hold() { # $1 = body file, $2 = count; prints "count rss_before rss_after"
  local before after lg_pid
  before=$(rss_kb $gw_pid)
  "$BUILD/loadgen" --port "$gw_port" --path /v1/chat/completions --body-file "$1" \
     --hold "$2" --header "Authorization: Bearer $KEY" >"$work/hold-lg.out" 2>&1 &
  lg_pid=$!
  for _ in $(seq 1 900); do grep -q held_open "$work/hold-lg.out" 2>/dev/null && break; sleep 0.1; done
  local got=0; grep -q held_open "$work/hold-lg.out" && got=$2
  sleep 1
  after=$(rss_kb $gw_pid)
  kill -TERM $lg_pid 2>/dev/null || true; wait $lg_pid 2>/dev/null || true
  sleep 2
  echo "$got $before $after"
}
hold_sim() {
  echo "holding $STREAMS open simulator streams through aigw..." >&2
  printf '{"model":"simulator/sim-chat","stream":true,"simulate":{"ttft_ms":0,"tokens_per_s":1,"output_tokens":300},"messages":[{"role":"user","content":"hi"}]}' >"$work/hold-sim.json"
  read -r sim_held sim_before sim_after < <(hold "$work/hold-sim.json" "$STREAMS")
  sim_per=$(( sim_held ? (sim_after - sim_before) * 1024 / sim_held : 0 ))
}
up_held=0; up_before=0; up_after=0; up_per=0
hold_upstream() {
  UP_STREAMS=$(( STREAMS < (FD_LIMIT - 500) / 2 ? STREAMS : (FD_LIMIT - 500) / 2 ))
  model=$(curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:$gw_port/v1/models" | python3 -c 'import json,sys; print(next((m["id"] for m in json.load(sys.stdin)["data"] if m["id"].startswith("local/")), ""))')
  if [ -n "$model" ]; then
    echo "holding $UP_STREAMS open upstream streams through aigw..." >&2
    printf '{"model":"%s","stream":true,"messages":[{"role":"user","content":"hi"}]}' "$model" >"$work/hold.json"
    read -r up_held up_before up_after < <(hold "$work/hold.json" "$UP_STREAMS")
    up_per=$(( up_held ? (up_after - up_before) * 1024 / up_held : 0 ))
  fi
}
# The second measurement runs on a heap that the first one's streams grew and
# then freed (glibc reuses it, so the second figure reads low):
# BENCH_HOLD_FIRST=upstream measures the HTTP-upstream streams first.
if [ "${BENCH_HOLD_FIRST:-simulator}" = upstream ]; then hold_upstream; hold_sim; else hold_sim; hold_upstream; fi

us() { field "$1" "$2"; }
add50_ns=$(( $(us "$g_ns" p50_us) - $(us "$d_ns" p50_us) )); add99_ns=$(( $(us "$g_ns" p99_us) - $(us "$d_ns" p99_us) ))
add50_s=$(( $(us "$g_s" p50_us) - $(us "$d_s" p50_us) )); add99_s=$(( $(us "$g_s" p99_us) - $(us "$d_s" p99_us) ))
ratio=$(python3 -c "print(f'{$t_g/$t_n:.2f}' if $t_n else 'n/a')")
mkdir -p bench/results
out=bench/results/latest.md
{
  echo "## Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(uname -m))"
  echo
  echo "Open-loop latency at $RATE req/s, ${DUR}s, 64 connections (µs; aigw and nginx on 1 thread/worker):"
  echo
  echo "| path | mode | p50 | p90 | p99 | max | errors |"
  echo "|---|---|---|---|---|---|---|"
  for row in "direct|non-stream|$d_ns" "aigw|non-stream|$g_ns" "nginx|non-stream|$n_ns" "direct|stream|$d_s" "aigw|stream|$g_s" "nginx|stream|$n_s"; do
    IFS='|' read -r path mode j <<<"$row"
    echo "| $path | $mode | $(us "$j" p50_us) | $(us "$j" p90_us) | $(us "$j" p99_us) | $(us "$j" max_us) | $(us "$j" errors) |"
  done
  echo
  echo "Added by aigw (aigw minus direct): non-stream p50 ${add50_ns} µs, p99 ${add99_ns} µs; stream p50 ${add50_s} µs, p99 ${add99_s} µs (targets: p50 ≤ 20 µs, p99 ≤ 1000 µs)."
  echo
  echo "Closed-loop throughput (wrk, 64 connections): direct ${t_d} req/s, aigw ${t_g} req/s, nginx ${t_n} req/s; aigw/nginx = ${ratio} (target ≥ 0.70)."
  echo
  echo "RSS of aigw: idle ${idle_rss} KiB (target ≤ 15360 KiB)."
  echo "Open streams (simulator upstream): ${sim_held} held, RSS ${sim_before} -> ${sim_after} KiB, ${sim_per} bytes per stream; projected 10,000 streams: $(( idle_rss + sim_per * 10000 / 1024 )) KiB (target < 153600 KiB)."
  echo "Open streams (HTTP upstream, 2 sockets each; fd limit ${FD_LIMIT}): ${up_held} held, RSS ${up_before} -> ${up_after} KiB, ${up_per} bytes per stream; projected 10,000 streams: $(( idle_rss + up_per * 10000 / 1024 )) KiB."
} >"$out"
cat "$out"
