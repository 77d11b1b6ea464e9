#!/bin/sh
# The soak test in one command: `amsiwatch serve` with one webhook target for 20 minutes at half
# the measured maximum (1 AmsiEnable in 10,000 events), the target down for 1 minute every
# 5 minutes, the senders reconnecting every 2 minutes. RSS, open descriptors, journal size and
# delivery lag are sampled every 10 s, printed as a Markdown table and drawn with gnuplot.
# Exit 0 when the RSS at the end is within 10 % of the RSS after the first minute and every
# journaled alert reached the target; 1 otherwise; 2 on a usage error.
#
#   bench/run_soak.sh                                   # build (release preset), 20 minutes
#   bench/run_soak.sh --duration 3m --outage-every 60s --outage-length 20s --reconnect-every 40s
#   bench/run_soak.sh --rate 500000 --plot /tmp/soak.png
#   AMSIWATCH=... bench/run_soak.sh                     # use that binary, build nothing
#
# Options go to bench/soak/run_soak.py (--help lists them).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! command -v gnuplot >/dev/null 2>&1; then
    # The plot needs gnuplot (Debian: gnuplot-nox); without it the table is still printed.
    scripts/install-deps.sh --bench >&2 ||
        echo "run_soak.sh: could not install gnuplot-nox: no plot, the table only" >&2
fi
if [ -n "${AMSIWATCH:-}" ]; then
    bin=$AMSIWATCH
    built="given"
else
    cmake --preset release >/dev/null
    cmake --build build/release --target amsiwatch >&2
    bin=$root/build/release/amsiwatch
    built="built from $(git rev-parse --short HEAD 2>/dev/null || echo '?') and the work tree"
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: ${cpu:-unknown}, nproc $(nproc), $(free -g | awk '/^Mem:/ {print $2}') GiB, kernel $(uname -r)"
    echo "amsiwatch: $bin ($("$bin" --version), $built)"
    echo
} >&2
exec python3 bench/soak/run_soak.py --amsiwatch "$bin" "$@"
