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

# libFuzzer on every parser of untrusted bytes for a bounded time (clang build,
# coverage-instrumented libraries); new inputs go to a temporary folder, the
# committed corpus is only read. PTEFLOW_FUZZ_SECONDS=0 skips it.
fuzz_seconds=${PTEFLOW_FUZZ_SECONDS:-10}
if [ "$fuzz_seconds" -gt 0 ]; then
  CC=clang bash scripts/build.sh build-fuzz -DPTEFLOW_FUZZ=ON -DPTEFLOW_SANITIZE=ON >/dev/null
  for corpus in tests/fuzz/corpus/*/; do
    name=$(basename "$corpus")
    work=$(mktemp -d)
    echo "fuzz: $name for ${fuzz_seconds}s"
    if ! "build-fuzz/tests/fuzz/fuzz_$name" -max_total_time="$fuzz_seconds" -print_final_stats=0 \
         -artifact_prefix="$work/" "$work" "$corpus" > "$work/log" 2>&1; then
      tail -40 "$work/log"
      echo "fuzz: $name found a crash; the input is in $work" >&2
      exit 1
    fi
    grep -E '^Done [0-9]+ runs' "$work/log" | tail -1 || true
    rm -rf "$work"
  done
fi

cd "$build"
ctest --output-on-failure -j"${PTEFLOW_TEST_JOBS:-2}" "$@"
