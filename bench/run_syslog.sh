#!/bin/sh
# The syslog benchmark in one command: the same ~1 KB NXLog JSON Sysmon 13 messages (1 in 10,000
# sets AmsiEnable to 0) over TCP on loopback into amsiwatch (release build), syslog-ng (network()
# source, message("AmsiEnable") filter into a file) and rsyslog (imtcp, :msg, contains,
# "AmsiEnable" into a file), side by side in one run, from loggen and from a faster sender,
# `amsiwatch replay --protocol syslog-tcp` (bench/syslog/blast.py with --senders blast). Prints a Markdown table (wall-clock messages/s, messages per CPU-second
# of the receiver, amsiwatch's ratios, AmsiEnable found by each) on standard output and the machine
# on standard error. Exit 1 when a receiver did not find every AmsiEnable message.
#
#   bench/run_syslog.sh                       # build, install what is missing, run, print
#   bench/run_syslog.sh --rounds 3            # each measurement three times, medians
#   bench/run_syslog.sh --messages 1000000 --receivers amsiwatch,rsyslog --senders blast --json
#   AMSIWATCH=/path/to/amsiwatch bench/run_syslog.sh   # use that binary, build nothing
#
# What it installs (as root, with apt-get, only when missing):
#   - syslog-ng-core (loggen and syslog-ng), through scripts/install-deps.sh;
#   - rsyslog cannot be installed beside syslog-ng-core (the Debian packages conflict), so its
#     .deb is fetched with `apt-get download rsyslog` and unpacked with `dpkg -x` into
#     bench/peers/rsyslog/ (not tracked by git), and rsyslogd runs from there with -M and
#     $ModDir pointing at the unpacked modules. It links libestr0 and libfastjson4, which a
#     machine without rsyslog lacks: when `ldd` reports them not found they are installed with
#     apt-get (they do not conflict with syslog-ng).
# Other options go to bench/syslog/run_bench.py (--messages, --rounds, --receivers, --senders,
# --loggen-connections, --replay-connections, --replay-window, --blast-connections, --corpus-lines,
# --hit-rate, --seed, --json).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

if ! command -v loggen >/dev/null 2>&1 || [ ! -x /usr/sbin/syslog-ng ]; then
    scripts/install-deps.sh
fi

if [ -n "${AMSIWATCH:-}" ]; then
    bin=$AMSIWATCH
else
    cmake --preset release >/dev/null
    cmake --build build/release --target amsiwatch >&2
    bin=$root/build/release/amsiwatch
fi

peers=$root/bench/peers
rsdir=$peers/rsyslog
rsyslogd=$rsdir/usr/sbin/rsyslogd
if [ ! -x "$rsyslogd" ]; then
    mkdir -p "$peers/download"
    (
        cd "$peers/download"
        rm -f rsyslog_*.deb
        apt-get download rsyslog >/dev/null 2>&1 || {
            $SUDO apt-get update -qq
            apt-get download rsyslog >&2
        }
    )
    rm -rf "$rsdir"
    dpkg -x "$peers"/download/rsyslog_*.deb "$rsdir"
fi
moddir=$(dirname "$(find "$rsdir" -name imtcp.so | head -n 1)")
if ldd "$rsyslogd" "$moddir/imtcp.so" "$moddir/lmnet.so" 2>/dev/null | grep -q "not found"; then
    echo "rsyslog needs libraries this machine lacks; installing libestr0 libfastjson4" >&2
    $SUDO apt-get install -y -qq --no-install-recommends libestr0 libfastjson4 >/dev/null ||
        { $SUDO apt-get update -qq &&
          $SUDO apt-get install -y -qq --no-install-recommends libestr0 libfastjson4 >/dev/null; }
fi
if ldd "$rsyslogd" "$moddir/imtcp.so" | grep "not found" >&2; then
    echo "run_syslog.sh: rsyslogd still misses the libraries above" >&2
    exit 2
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: ${cpu:-unknown}, nproc $(nproc), kernel $(uname -r)"
    echo "amsiwatch: $bin ($("$bin" --version 2>/dev/null | head -n 1))"
    echo "syslog-ng: $(syslog-ng --version 2>/dev/null | head -n 1)"
    echo "rsyslog: $("$rsyslogd" -v 2>/dev/null | head -n 1 | sed 's/ compiled with://')"
    echo
} >&2

exec python3 "$root/bench/syslog/run_bench.py" --amsiwatch "$bin" \
    --rsyslogd "$rsyslogd" --rsyslog-moddir "$moddir" \
    --workdir "$root/build/bench-syslog" "$@"
