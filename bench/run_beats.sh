#!/bin/sh
# The Beats throughput benchmark in one command: `amsiwatch replay --precompress` (windows of 2048
# events at zlib level 3, events from `amsiwatch gen`, 1 AmsiEnable in 10,000) into
# `amsiwatch serve` and into bench/ack_sink (acknowledges without decoding: the sender's ceiling),
# with 1 and 8 connections, side by side. Prints a Markdown table: events/s, receiver CPU-seconds
# per million events, peak RSS, alerts found against the expected count, amsiwatch / ack_sink.
# Exit 1 when amsiwatch did not raise exactly the expected alerts.
#
#   bench/run_beats.sh                                  # build, run, print
#   bench/run_beats.sh --events 8000000 --rounds 3      # longer runs, best of three
#   bench/run_beats.sh --connections 1,2,4,8 --json
#   AMSIWATCH=... ACK_SINK=... bench/run_beats.sh       # use those binaries, build nothing
#
# Options go to bench/beats/run_bench.py (--events, --input, --input-events, --hit-rate, --seed,
# --window, --level, --connections, --rounds, --json).
set -eu
. "$(dirname "$0")/beats/common.sh"
exec python3 bench/beats/run_bench.py throughput --amsiwatch "$bin" --ack-sink "$sink" "$@"
