#!/usr/bin/env bash
# Runs the whole suite against the binaries in build dir $1 (relative to the repo or absolute):
#   1. unit tests (cmocka, via ctest)
#   2. black-box tests: the real binaries against fake providers, npm clients,
#      PostgreSQL, Redis and the browser (node's test runner, tests/**/*.test.mjs)
#   3. fuzz smoke: each libFuzzer target over its corpus for a few seconds
#      (only when build-fuzz exists or FUZZ_SMOKE=1)
# Prints one closing line "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac # relative to the repo, or absolute
export BUILD_DIR="$BUILD"
export SOURCE_DIR="$PWD"
passed=0; failed=0
log_dir="$BUILD/test-logs"; mkdir -p "$log_dir"

# A throwaway PostgreSQL cluster for the PostgreSQL backend (unit and black-box tests).
# It is a required part of the suite: if it cannot start, the run fails here.
# TEST_PG_URL set by the caller means "use that server instead".
if [ -z "${TEST_PG_URL:-}" ]; then
  PG_TMP_DIR=$(mktemp -d /tmp/aigw-pg.XXXXXX)
  export PG_TMP_DIR
  trap 'scripts/pg_tmp.sh stop "$PG_TMP_DIR"' EXIT
  if ! TEST_PG_URL=$(scripts/pg_tmp.sh start "$PG_TMP_DIR"); then
    echo "FATAL: could not start the throwaway PostgreSQL cluster (reason above)" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
fi
export TEST_PG_URL
echo "== postgres: $TEST_PG_URL"

echo "== unit tests ($BUILD)"
if ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" >"$log_dir/ctest.log" 2>&1; then :; fi
cat "$log_dir/ctest.log" | grep -E "Test +#|tests passed|tests failed|Failed|\*\*\*" || true
u_total=$(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$log_dir/ctest.log" | awk '{print $6}')
u_failed=$(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$log_dir/ctest.log" | awk '{print $1}')
if [ -z "$u_total" ]; then
  if grep -q "100% tests passed" "$log_dir/ctest.log"; then
    u_total=$(grep -Eo 'tests passed, 0 tests failed out of [0-9]+' "$log_dir/ctest.log" | awk '{print $NF}')
    u_failed=0
  else
    u_total=1; u_failed=1; echo "ctest did not report results"; tail -30 "$log_dir/ctest.log"
  fi
fi
passed=$((passed + u_total - u_failed)); failed=$((failed + u_failed))

mapfile -t bb < <(find tests -path '*/node_modules' -prune -o -name '*.test.mjs' -print | sort)
if [ ${#bb[@]} -gt 0 ]; then
  echo "== black-box tests (${#bb[@]} files)"
  # A watchdog on the whole run and a per-test ceiling: a child process left behind by a failed
  # before() hook must not hang CI until its own time limit.
  timeout --kill-after=30 "${BLACKBOX_TIMEOUT:-1500}" \
    node --test --test-concurrency=1 --test-timeout="${TEST_TIMEOUT_MS:-300000}" \
    --test-reporter=spec "${bb[@]}" >"$log_dir/blackbox.log" 2>&1
  rc=$?
  grep -vE '^\s*$' "$log_dir/blackbox.log" | tail -n 400
  bp=$(grep -E '^ℹ pass [0-9]+' "$log_dir/blackbox.log" | awk '{print $3}' | tail -1)
  bf=$(grep -E '^ℹ fail [0-9]+' "$log_dir/blackbox.log" | awk '{print $3}' | tail -1)
  bp=${bp:-0}; bf=${bf:-0}
  if [ "$rc" != 0 ] && [ "$bf" = 0 ]; then bf=1; fi
  passed=$((passed + bp)); failed=$((failed + bf))
fi

# Fuzz smoke (.ci/fuzz_smoke.sh): FUZZ_SMOKE=1 forces it, FUZZ_SMOKE=0 skips it, unset runs it
# only when build-fuzz/ exists. build-fuzz/ is (re)built first (make fuzz: clang, incremental) so
# the smoke never runs stale targets. One test per target.
if [ "${FUZZ_SMOKE:-auto}" = 1 ] || { [ "${FUZZ_SMOKE:-auto}" = auto ] && [ -d build-fuzz ]; }; then
  echo "== fuzz smoke (${FUZZ_SECONDS:-10} s per target)"
  if ! make -s fuzz >"$log_dir/fuzz-build.log" 2>&1; then
    echo "  could not build the fuzz targets (make fuzz):"; tail -20 "$log_dir/fuzz-build.log"
    failed=$((failed + 1))
  else
    .ci/fuzz_smoke.sh build-fuzz "$log_dir/fuzz" | tee "$log_dir/fuzz.log" | grep -v '^fuzz smoke:'
    fp=$(grep -Eo '^fuzz smoke: [0-9]+ passed' "$log_dir/fuzz.log" | awk '{print $3}')
    ff=$(grep -Eo ', [0-9]+ failed$' "$log_dir/fuzz.log" | grep -Eo '[0-9]+')
    if [ -z "$fp" ] || [ -z "$ff" ]; then fp=0; ff=1; echo "  the fuzz smoke did not report results"; fi
    passed=$((passed + fp)); failed=$((failed + ff))
  fi
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
