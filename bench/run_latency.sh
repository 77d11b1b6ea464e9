#!/bin/sh
# The alert latency benchmark in one command: the maximum rate of `amsiwatch replay --precompress`
# into `amsiwatch serve` measured first, then the same load at 10 % and 80 % of it: p50/p99 of
# the time from sending a window that holds an AmsiEnable event to its ACK, which amsiwatch sends
# only once the alert is committed to the journal (fdatasync). Prints a Markdown table.
#
#   bench/run_latency.sh                                # 8 connections, 10 s at each load
#   bench/run_latency.sh --connections 1 --latency-seconds 30 --hit-rate 1/2048
#   AMSIWATCH=... ACK_SINK=... bench/run_latency.sh
set -eu
. "$(dirname "$0")/beats/common.sh"
exec python3 bench/beats/run_bench.py latency --amsiwatch "$bin" --ack-sink "$sink" \
    --connections 8 --hit-rate 1/4096 "$@"
