#!/usr/bin/env bash
# Fuzz smoke: runs every libFuzzer target of a fuzz build (make fuzz -> build-fuzz/) over its
# seed corpus tests/fuzz/corpus/<target without the fuzz_ prefix>/ for FUZZ_SECONDS (default 10)
# each, and prints one line per target. A crash, a leak, undefined behaviour, a timeout of one
# input (FUZZ_INPUT_TIMEOUT, default 10 s), a target without seeds or without a corpus
# directory fails the smoke. Crash inputs are kept as <log dir>/<target>-crash-* to reproduce with
#   build-fuzz/<target> <that file>
#
# usage: .ci/fuzz_smoke.sh [fuzz build dir (default build-fuzz)] [log dir (default <build>/logs)]
# Last line: "fuzz smoke: N passed, N failed"; exit status 0 only when every target passed.
# scripts/test.sh runs this (when build-fuzz exists or FUZZ_SMOKE=1) and .ci/run runs it alone.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
log_dir=${2:-$build/logs}
seconds=${FUZZ_SECONDS:-10}
input_timeout=${FUZZ_INPUT_TIMEOUT:-10}
mkdir -p "$log_dir"
# UBSan in the fuzz build recovers by default; make undefined behaviour fail the run too.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

passed=0
failed=0
targets=()
for f in "$build"/fuzz_*; do
  [ -f "$f" ] && [ -x "$f" ] && targets+=("$f")
done
if [ ${#targets[@]} = 0 ]; then
  echo "  no fuzz targets in $build (build them with: make fuzz)"
  echo "fuzz smoke: 0 passed, 1 failed"
  exit 1
fi

for f in "${targets[@]}"; do
  name=$(basename "$f")
  corpus="tests/fuzz/corpus/${name#fuzz_}"
  log="$log_dir/$name.log"
  seeds=$(find "$corpus" -maxdepth 1 -type f 2>/dev/null | wc -l)
  if [ "$seeds" = 0 ]; then
    printf '  %-24s FAILED: no seeds in %s/\n' "$name" "$corpus"
    failed=$((failed + 1))
    continue
  fi
  # New inputs go to a scratch directory (listed first), never into the checked-in corpus.
  work=$(mktemp -d)
  rm -f "$log_dir/$name"-crash-* "$log_dir/$name"-leak-* "$log_dir/$name"-timeout-* \
    "$log_dir/$name"-oom-*
  start=$(date +%s)
  "$f" -max_total_time="$seconds" -timeout="$input_timeout" -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$log_dir/$name-" "$work" "$corpus" >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
  if [ "$rc" = 0 ]; then
    printf '  %-24s ok      %3ss  %8s runs  cov %5s  %3s seeds\n' "$name" "$took" "${runs:-?}" \
      "${cov:-?}" "$seeds"
    passed=$((passed + 1))
  else
    printf '  %-24s FAILED  exit %s after %ss (log: %s)\n' "$name" "$rc" "$took" "$log"
    grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|Test unit written to|deadly signal|timeout' \
      "$log" | head -8 | sed 's/^/      /'
    tail -12 "$log" | sed 's/^/      | /'
    failed=$((failed + 1))
  fi
  rm -rf "$work"
done

echo "fuzz smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
