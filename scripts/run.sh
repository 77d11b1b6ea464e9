#!/usr/bin/env bash
# Builds amsiwatch (release) and runs it on its embedded defaults. Installs what it needs first.
# Extra arguments are passed to amsiwatch.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)" --target amsiwatch

if [ "$#" -gt 0 ]; then
  exec ./build/release/amsiwatch "$@"
fi
# The receivers are not in this build yet: scan the bundled sample events.
echo "scanning samples/*.ndjson (alerts on standard output, summary on standard error)" >&2
exec ./build/release/amsiwatch scan samples/*.ndjson
