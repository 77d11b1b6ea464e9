#!/bin/sh
# The cost of TLS on the Beats path in one command: the load of bench/run_beats.sh
# (`amsiwatch replay --precompress`, windows of 2048 events at zlib level 3, events from
# `amsiwatch gen`, 1 AmsiEnable in 10,000) into `amsiwatch serve` in plaintext and with
# `--beats-ssl-enabled` (`replay --tls`, verifying the server against a CA the run makes with the
# openssl command), 1 and 8 connections, side by side. Prints a Markdown table: events/s,
# receiver CPU-seconds per million events, peak RSS, alerts found against the expected count, and
# TLS / plaintext; then whether the target is met (TLS costs less than 25 % of the plaintext
# throughput). Exit 1 when amsiwatch did not raise exactly the expected alerts.
#
#   bench/run_tls.sh                                    # build, run, print
#   bench/run_tls.sh --events 8000000 --rounds 3        # longer runs, best of three
#   AMSIWATCH=... ACK_SINK=... bench/run_tls.sh         # use those binaries, build nothing
#
# Options go to bench/beats/run_bench.py (--events, --input, --input-events, --hit-rate, --seed,
# --window, --level, --connections, --rounds, --json).
set -eu
. "$(dirname "$0")/beats/common.sh"
exec python3 bench/beats/run_bench.py tls --amsiwatch "$bin" --ack-sink "$sink" "$@"
