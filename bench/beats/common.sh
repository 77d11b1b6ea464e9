# Sourced by bench/run_beats.sh, run_latency.sh and run_scale.sh: builds the release preset
# (amsiwatch and bench/ack_sink) unless AMSIWATCH and ACK_SINK name binaries, and prints the
# machine on standard error.
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -n "${AMSIWATCH:-}" ] && [ -n "${ACK_SINK:-}" ]; then
    bin=$AMSIWATCH
    sink=$ACK_SINK
else
    cmake --preset release >/dev/null
    cmake --build build/release --target amsiwatch ack_sink >&2
    bin=$root/build/release/amsiwatch
    sink=$root/build/release/bench/ack_sink
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: ${cpu:-unknown}, nproc $(nproc), $(free -g | awk '/^Mem:/ {print $2}') GiB, kernel $(uname -r)"
    echo "amsiwatch: $bin ($("$bin" --version))"
    echo
} >&2
