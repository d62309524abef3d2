#!/usr/bin/env bash
# Throwaway Redis server for tests (the two-node rate-limit tests).
#
#   scripts/redis_tmp.sh start <dir>   start redis-server on a free port on 127.0.0.1 only,
#                                      no persistence, data in <dir>; prints its URL:
#                                        redis://127.0.0.1:<port>
#   scripts/redis_tmp.sh stop <dir>    stop it and remove <dir>
#
# REDIS_SERVER overrides the binary (default: redis-server on PATH; the Debian package
# redis-server is installed by scripts/deps.sh test). Exits non-zero with a reason on
# stderr when anything fails.
set -euo pipefail

die() {
  echo "redis_tmp: $*" >&2
  exit 1
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop <dir>"
bin=${REDIS_SERVER:-$(command -v redis-server || true)}

case "$cmd" in
start)
  [ -n "$bin" ] && [ -x "$bin" ] || die "redis-server not found (install it: scripts/deps.sh test)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -e "$dir/pid" ] && die "$dir already holds a server"
  for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    "$bin" --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
      --daemonize yes --pidfile "$dir/pid" --logfile "$dir/server.log" \
      --protected-mode yes >/dev/null 2>&1 || continue
    for _ in $(seq 1 50); do
      if port_in_use "$port" && [ -s "$dir/pid" ]; then
        echo "$port" >"$dir/port"
        echo "redis://127.0.0.1:$port" | tee "$dir/url"
        exit 0
      fi
      sleep 0.1
    done
    [ -s "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -f "$dir/pid"
  done
  tail -20 "$dir/server.log" >&2 2>/dev/null || true
  die "could not start redis-server in $dir"
  ;;
stop)
  [ -d "$dir" ] || exit 0
  if [ -s "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -rf "$dir"
  ;;
*)
  die "unknown command '$cmd' (start|stop)"
  ;;
esac
