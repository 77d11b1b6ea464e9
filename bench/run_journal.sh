#!/bin/sh
# Builds the release preset and runs the journal benchmark on this machine's disk, printing the
# table. The journals are created under build/bench-journal (or the --dir given) and removed
# after each measurement; `df -T` of that directory is printed first, since the figures are
# mostly the disk's fdatasync latency. Arguments go to bench_journal (see bench/README.md), e.g.:
#   bench/run_journal.sh
#   bench/run_journal.sh --seconds 10 --inflight 1,8,64
#   bench/run_journal.sh --dir /mnt/ssd/tmp --json > bench/out/journal.json
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cmake --preset release >/dev/null
cmake --build build/release --target bench_journal

dir="$root/build/bench-journal"
prev=""
for arg in "$@"; do
    if [ "$prev" = "--dir" ]; then
        dir=$arg
    fi
    case "$arg" in --dir=*) dir=${arg#--dir=} ;; esac
    prev=$arg
done
mkdir -p "$dir"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
# Machine facts on standard error, so --json output stays one document.
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: ${cpu:-unknown}, nproc $(nproc), kernel $(uname -r)"
    df -T "$dir"
    echo
} >&2

exec build/release/bench/bench_journal --dir "$dir" "$@"
