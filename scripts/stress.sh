#!/usr/bin/env bash
# The stress stage: the tests labelled "stress" (the threaded journal and ring tests, a quick
# journal crash test on a fresh seed) repeated beside a CPU hog, as on a busy two-core CI machine.
# A test that passes only on a quiet machine fails here.
#   scripts/stress.sh [--build DIR] [--repeat N] [--hogs N] [--limit SECONDS]
# Defaults: build/tsan, 20 repetitions, 2 busy loops, 900 s for the whole stage.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/tsan repeat=20 hogs=2 limit=900
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --hogs) hogs=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--repeat N] [--hogs N] [--limit SECONDS]" >&2; exit 2 ;;
  esac
done
[ -d "$build" ] || { echo "stress: no build in $build (cmake --preset tsan first)" >&2; exit 2; }

pids=()
stop_hogs() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; }
trap stop_hogs EXIT
for _ in $(seq 1 "$hogs"); do (while :; do :; done) & pids+=($!); done

echo "stress: every test labelled 'stress' in $build, up to $repeat times each, $hogs busy loops beside"
start=$(date +%s)
# until-fail: a test counts as passed only if all of its repetitions pass.
timeout --foreground "$limit" \
  ctest --test-dir "$build" -L stress --repeat "until-fail:$repeat" --output-on-failure -j 1
echo "stress: passed in $(($(date +%s) - start)) s"
