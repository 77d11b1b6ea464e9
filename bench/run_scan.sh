#!/bin/sh
# Builds the release preset and runs the scan benchmark on this machine, printing the table.
# Arguments go to bench_scan (see bench/README.md), e.g.:
#   bench/run_scan.sh
#   bench/run_scan.sh --count 2000000 --repeat 5
#   bench/run_scan.sh --json > bench/out/scan.json
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cmake --preset release >/dev/null
cmake --build build/release --target bench_scan

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
cc=$(sed -n 's/^CMAKE_C_COMPILER:[^=]*=//p' build/release/CMakeCache.txt)
# Machine facts on standard error, so --json output stays one document.
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: ${cpu:-unknown}, nproc $(nproc), kernel $(uname -r)"
    echo "compiler: $("${cc:-cc}" --version | head -n 1)"
    echo
} >&2

exec build/release/bench/bench_scan "$@"
