#!/bin/sh
# The connection scale benchmark in one command: 1,000 and 10,000 concurrent Beats connections of
# `amsiwatch replay --precompress` into `amsiwatch serve`: throughput, and memory per connection.
# Raises the file-descriptor limit for the run (both processes need one per connection).
#
#   bench/run_scale.sh
#   bench/run_scale.sh --scale 100,1000,10000 --json
#   AMSIWATCH=... ACK_SINK=... bench/run_scale.sh
set -eu
. "$(dirname "$0")/beats/common.sh"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 bench/beats/run_bench.py scale --amsiwatch "$bin" --ack-sink "$sink" "$@"
