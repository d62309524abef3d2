#!/usr/bin/env bash
# Installs what building, running and testing need, when it is missing:
# Debian packages with apt-get (as root), npm packages from lockfiles.
# Usage: scripts/deps.sh [build|test]   (test also installs servers, browser, npm deps)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-build}

build_pkgs=(build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev libjansson-dev
            libsqlite3-dev libpq-dev libsodium-dev libcmocka-dev libhiredis-dev)
test_pkgs=(postgresql redis-server nginx-light wrk chromium clang libclang-rt-14-dev valgrind
           curl procps)

want=("${build_pkgs[@]}")
[ "$mode" = test ] && want+=("${test_pkgs[@]}")
command -v node >/dev/null 2>&1 || want+=(nodejs npm)
command -v npm >/dev/null 2>&1 || want+=(npm)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "deps: need root for apt-get; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# web/ is needed to build (the UI is embedded in teamhub); tests/ only to test.
npm_dirs=(web)
[ "$mode" = test ] && npm_dirs+=(tests)
for dir in "${npm_dirs[@]}"; do
  if [ -f "$dir/package-lock.json" ]; then
    stamp="$dir/node_modules/.lock-stamp"
    if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
      echo "deps: npm ci in $dir"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      cp "$dir/package-lock.json" "$stamp"
    fi
  fi
done
