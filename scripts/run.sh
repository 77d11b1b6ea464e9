#!/usr/bin/env bash
# Builds amsiwatch (release) and runs it on its embedded defaults. Installs what it needs first.
# With no arguments it runs `amsiwatch serve`; options (--beats ..., --config FILE) go to serve;
# a subcommand (scan, journal, ...) runs that instead.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installing and building report on standard error: standard output carries only what amsiwatch
# prints (the alerts, as JSON lines), for whatever it is piped into.
{
  bash scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)" --target amsiwatch
} >&2

if [ "$#" -gt 0 ] && [ "$1" != "serve" ] && [ "${1#-}" = "$1" ]; then
  exec ./build/release/amsiwatch "$@"
fi
[ "${1:-}" = "serve" ] && shift
# The appliance on its embedded defaults: Beats on 0.0.0.0:5044, the journal in
# ./amsiwatch-data, alerts as JSON lines on standard output. Stop it with Ctrl-C.
exec ./build/release/amsiwatch serve "$@"
