#!/bin/sh
# The relay benchmark in one command: `amsiwatch replay --precompress` (8 connections, windows of
# 2048 events at zlib level 3, events from `amsiwatch gen`) into `amsiwatch serve` with the relay
# off, then on with bench/ack_sink as the next hop, then with relay.when-down spill and no next hop
# up (every window to the outbox on disk), side by side. Prints a Markdown table:
# events/s, receiver CPU-seconds per million events and the ratio on / off, peak RSS, ACK latency
# p50/p99 and what the relay adds to it, alerts found against the expected count.
# Exit 1 when amsiwatch did not raise exactly the expected alerts.
#
#   bench/run_relay.sh                         # build, run, print
#   bench/run_relay.sh --rounds 3              # best of three
#   AMSIWATCH=... ACK_SINK=... bench/run_relay.sh
#
# Options go to bench/beats/run_bench.py (--events, --connections, --rounds, --json, ...).
set -eu
. "$(dirname "$0")/beats/common.sh"
exec python3 bench/beats/run_bench.py relay --amsiwatch "$bin" --ack-sink "$sink" --connections 8 "$@"
