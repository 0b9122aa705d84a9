#!/usr/bin/env bash
# CI as a newcomer's machine runs it: `.ci/run` on a fresh clone of HEAD with empty caches (Mesa's
# shader cache off, XDG_CACHE_HOME — CubeCL's autotune cache among others — a new folder) while a second
# process keeps one core busy for the whole run. By default the build is cold too (a new
# CARGO_TARGET_DIR); `--warm-build` reuses CI's target folder so only the run-time caches are cold.
#
# usage: scripts/ci-cold.sh [--warm-build] [--no-load]     log: /var/tmp/efficient4d-cold.*/ci.log
# The clone goes beside this checkout (the tests read ../shared) and is removed at the end.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
warm_build=0 load=1
for arg in "$@"; do
  case "$arg" in
    --warm-build) warm_build=1 ;;
    --no-load) load=0 ;;
    *) echo "usage: $0 [--warm-build] [--no-load]" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d /var/tmp/efficient4d-cold.XXXXXX)"
# The clone sits beside this checkout, as CI's does: the tests read ../shared (specs, golden data).
clone="$(mktemp -d "$(dirname "$repo")/.ci-cold-clone.XXXXXX")"
git clone -q "$repo" "$clone"
mkdir -p "$work/cache"
export XDG_CACHE_HOME="$work/cache" MESA_SHADER_CACHE_DISABLE=true CI=true
if [ "$warm_build" = 0 ]; then export CARGO_TARGET_DIR="$work/target"; fi
log="$work/ci.log"

if [ "$load" = 1 ]; then
  # One core spinning from start to end: a shared or slower host.
  ( exec yes > /dev/null ) &
  burner=$!
  trap 'kill "$burner" 2>/dev/null || true' EXIT
fi
echo "ci-cold: clone $(git -C "$clone" rev-parse --short HEAD) in $clone, caches in $work; cold build: $((1 - warm_build)); one core busy: $load"
start=$(date +%s)
set +e
bash "$clone/.ci/run" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
seconds=$(( $(date +%s) - start ))
echo "ci-cold: exit $status after $seconds s; $(grep -c '^ *Running ' "$log") test binaries started; log $log"
rm -rf "$clone"
[ "$warm_build" = 1 ] || rm -rf "$work/target"
exit "$status"
