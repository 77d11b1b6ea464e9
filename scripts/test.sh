#!/usr/bin/env bash
# Builds amsiwatch and runs every test: the whole suite under AddressSanitizer and
# UndefinedBehaviorSanitizer, the threaded tests again under ThreadSanitizer, the layer check and
# the formatting check. Installs what it needs first. Exit status 0 only when all of it passes.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
werror=ON # warnings are errors here, as in CI

echo "== test clients (npm)"
if [ -f tests/integration/package-lock.json ]; then
  npm ci --prefix tests/integration --no-audit --no-fund --loglevel=error
fi

echo "== layers"
bash scripts/check_layers.sh

echo "== formatting (.clang-format)"
bad=$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r clang-format --dry-run -Werror 2>&1 | grep -c 'error:' || true)
if [ "$bad" != "0" ]; then
  git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror
  echo "formatting: run clang-format -i on the files above" >&2
  exit 1
fi
echo "formatting: clean"

echo "== ASan+UBSan build and all tests"
cmake --preset asan-ubsan -DAMSIWATCH_WERROR=$werror >/dev/null
cmake --build build/asan-ubsan -j "$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The stress_ tests are the quick variants the stress stage repeats; the full ones run here.
ctest --test-dir build/asan-ubsan --output-on-failure -j "$jobs" -E '^stress_'

echo "== TSan build and threaded tests"
cmake --preset tsan -DAMSIWATCH_WERROR=$werror >/dev/null
cmake --build build/tsan -j "$jobs"
if ctest --test-dir build/tsan -N -L threaded | grep -q 'Total Tests: 0'; then
  echo "tsan: no threaded tests in this build"
else
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" ctest --test-dir build/tsan --output-on-failure -L threaded -j "$jobs"
fi
echo "== stress: the threaded and journal crash tests repeated beside a CPU hog"
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
  bash scripts/stress.sh --build build/tsan --repeat "${AMSIWATCH_STRESS_REPEAT:-20}"
echo "== all tests passed"
