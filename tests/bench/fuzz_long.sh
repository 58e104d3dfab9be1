#!/usr/bin/env bash
# The longer fuzzing run: every libFuzzer target (ASan + UBSan) for SECONDS each (default 300),
# from the corpus earlier runs grew, after replaying every saved regression input. Prints one line per
# target (runs, runs per second, coverage, corpus size) and exits non-zero on any finding, naming the
# reproducer. The test suite runs the same script for 10 s per target (ctest -R fuzz_short).
#
#   tests/bench/fuzz_long.sh [SECONDS] [TARGET ...]
#   CROSSTENANT_FUZZ_BUILD_DIR=/tmp/fuzz tests/bench/fuzz_long.sh 60
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-300}
shift || true
start=$(date +%s)
bash "$root/tests/fuzz/run_fuzzers.sh" --seconds "$seconds" "$@"
echo "fuzz_long: done in $(( $(date +%s) - start )) s on $(nproc) cores ($(uname -m), $(clang++ --version | head -1))"
