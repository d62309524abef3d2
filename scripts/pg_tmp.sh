#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests.
#
#   scripts/pg_tmp.sh start <dir>   initdb a cluster in <dir>, start it on a free port on
#                                   127.0.0.1 only (unix socket inside <dir>), create a
#                                   database and print its URL:
#                                     postgres://postgres@127.0.0.1:<port>/aigw_test
#   scripts/pg_tmp.sh stop <dir>    stop the cluster and remove <dir>
#
# Trust auth on loopback: the cluster lives for one test run and listens nowhere else.
# initdb/postgres refuse to run as root, so as root they run as the `postgres` system user
# (the Debian postgresql package creates it). Durability is switched off for speed.
# PG_BIN overrides the server binary directory (default: newest /usr/lib/postgresql/*/bin,
# preferring 15). Exits non-zero with a reason on stderr when anything fails.
set -euo pipefail

die() {
  echo "pg_tmp: $*" >&2
  exit 1
}

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    echo "$PG_BIN"
    return
  fi
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    echo /usr/lib/postgresql/15/bin
    return
  fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$d" ] || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (install the postgresql package: scripts/deps.sh test)"
  echo "$d"
}

# Runs a command as the cluster owner: the postgres user when we are root, ourselves otherwise.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop <dir>"

case "$cmd" in
start)
  bin=$(find_bin)
  [ -x "$bin/initdb" ] || die "$bin/initdb not found"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (install the postgresql package)"
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -e "$dir/data" ] && die "$dir/data already exists"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    runuser -u postgres -- test -w "$dir" ||
      die "user postgres cannot write $dir (a parent directory is not searchable; use a dir under /tmp)"
  fi
  mkdir -p "$dir/sock"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/sock"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }

  # Pick a free port; pg_ctl fails if another process grabs it first, so retry a few times.
  started=0
  for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null 2>&1; then
      started=1
      break
    fi
  done
  if [ "$started" != 1 ]; then
    tail -20 "$dir/server.log" >&2 2>/dev/null || true
    die "could not start postgres in $dir"
  fi
  echo "$port" >"$dir/port"
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres aigw_test ||
    die "createdb failed"
  url="postgres://postgres@127.0.0.1:$port/aigw_test"
  echo "$url" >"$dir/url"
  echo "$url"
  ;;
stop)
  bin=$(find_bin)
  [ -d "$dir" ] || exit 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
      echo "pg_tmp: pg_ctl stop failed in $dir" >&2
  fi
  rm -rf "$dir"
  ;;
*)
  die "unknown command '$cmd' (start|stop)"
  ;;
esac
