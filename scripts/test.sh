#!/usr/bin/env bash
# The README's second command: install what is missing, build with warnings as
# errors under AddressSanitizer + UndefinedBehaviorSanitizer, and run the whole
# test suite (Criterion unit tests, fuzz-corpus replays, command-line and
# end-to-end tests with real exports, a local Hub and real cgroups) with ctest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup-deps.sh
python=$(bash scripts/setup-python.sh)
build=${PTEFLOW_TEST_BUILD:-build-test}
bash scripts/build.sh "$build" -DPTEFLOW_WERROR=ON -DPTEFLOW_SANITIZE=ON -DPTEFLOW_PYTHON="$python"
# halt_on_error keeps a sanitizer finding fatal; leak checks stay on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure -j"${PTEFLOW_TEST_JOBS:-2}" "$@"
