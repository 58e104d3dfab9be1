#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in their own build directory, replays every
# saved regression input, then fuzzes each target for a bounded time. A run of every target also has the
# same clang tree check the thread-safety annotations of every service and client library, run the
# unit tests (`ctest -L unit`) under ASan (leaks included) and UBSan, and run a few integration tests
# (`mesh_tests`) with this tree's real binaries as the mesh. Exits non-zero on any crash,
# sanitizer report or failed check, printing the reproducer's path and the command that replays it.
#
#   tests/fuzz/run_fuzzers.sh                    # 10 s per target (the ctest case fuzz_short)
#   tests/fuzz/run_fuzzers.sh --seconds 300      # longer (tests/bench/fuzz_long.sh)
#   tests/fuzz/run_fuzzers.sh --seconds 60 fuzz_admin_url fuzz_identity_map_csv
#   tests/fuzz/run_fuzzers.sh --replay-only      # build, replay tests/fuzz/regressions/, no fuzzing
#
# Environment:
#   CROSSTENANT_FUZZ_BUILD_DIR  the clang build directory (default: <repo>/build-fuzz); configured on
#                               first use with CC=clang CXX=clang++ -DCROSSTENANT_FUZZ=ON
#   CROSSTENANT_FUZZ_JOBS       parallel compile jobs (default 2)
#
# The corpus each run grows is kept in <build dir>/fuzz-corpus/<target>/ (seeded from
# tests/fuzz/corpus/<target>/ and the real files under deploy/local/); findings land in
# <build dir>/fuzz-artifacts/<target>/. A finding that is fixed becomes a file under
# tests/fuzz/regressions/<target>/, which every run replays first.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz_dir="$root/tests/fuzz"
build_dir=${CROSSTENANT_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${CROSSTENANT_FUZZ_JOBS:-2}
seconds=10
replay_only=0
targets=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --seconds=*) seconds=${1#--seconds=}; shift ;;
    --replay-only) replay_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "run_fuzzers.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "run_fuzzers.sh: --seconds takes a whole number of seconds >= 1, got '$seconds'" >&2
  exit 2
fi

# Every target, in the order they run: the name of tests/fuzz/<target>.cc.
all_targets=()
for source in "$fuzz_dir"/fuzz_*.cc; do
  all_targets+=("$(basename "$source" .cc)")
done
all_requested=0
# The integration tests a run of every target also runs with this tree's binaries (ctest -R).
mesh_tests='^(MigrationTest\.(TwoHundredUsersWithBlockers|SurvivesKillNine|CancelDuringMoves|PauseHolds)|TraceTest\.|StartMoveAttemptTest\.|BackupRestoreTest\.)'
if [ ${#targets[@]} -eq 0 ]; then targets=("${all_targets[@]}"); all_requested=1; fi
for target in "${targets[@]}"; do
  if [ ! -f "$fuzz_dir/$target.cc" ]; then
    echo "run_fuzzers.sh: no fuzz target '$target' (targets: ${all_targets[*]})" >&2
    exit 2
  fi
done

# clang with libFuzzer and the sanitizer runtimes (Debian: clang, libclang-rt-14-dev).
for tool in clang clang++ cmake ninja; do
  if ! command -v "$tool" >/dev/null; then
    echo "run_fuzzers.sh: $tool is not installed (Debian packages: clang libclang-rt-14-dev cmake ninja-build)" >&2
    exit 1
  fi
done
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
  > "$probe_dir/probe.cc"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe_dir/probe.cc" -o "$probe_dir/probe" 2> "$probe_dir/err"; then
  echo "run_fuzzers.sh: clang++ cannot link a libFuzzer target with ASan and UBSan:" >&2
  sed 's/^/  /' "$probe_dir/err" >&2
  echo "install Debian's libclang-rt-14-dev (clang's fuzzer and sanitizer runtimes)" >&2
  exit 1
fi

mkdir -p "$build_dir"
# One run at a time per build directory (the ctest case and a run by hand may overlap).
exec 9> "$build_dir/.run_fuzzers.lock"
if ! flock -n 9; then
  echo "run_fuzzers.sh: waiting for another run using $build_dir" >&2
  flock 9
fi

if [ ! -f "$build_dir/build.ninja" ] || ! grep -q '^CROSSTENANT_FUZZ:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null; then
  echo "== configuring the clang fuzz build in $build_dir"
  # Warnings stay warnings here: the clang build is for the fuzzers, the gcc build is the one CI checks.
  env -u CI CC=clang CXX=clang++ cmake -S "$root" -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCROSSTENANT_FUZZ=ON -DCROSSTENANT_WERROR=OFF > "$build_dir/configure.log" 2>&1 || {
    cat "$build_dir/configure.log" >&2
    echo "run_fuzzers.sh: configuring $build_dir failed (log above)" >&2
    exit 1
  }
fi
echo "== building ${targets[*]} (clang, -fsanitize=fuzzer,address,undefined, -j$jobs)"
build_start=$(date +%s)
env -u CI cmake --build "$build_dir" --target "${targets[@]}" -j "$jobs"
echo "== built in $(( $(date +%s) - build_start )) s"

# A full run also has this clang tree check the thread-safety annotations (ABSL_GUARDED_BY...) of every
# service and client library: -Werror=thread-safety (cmake/CrosstenantHelpers.cmake) fails the build on a
# broken one. The probe shows that the flag is on and that clang rejects an unguarded access with it.
if [ "$all_requested" = 1 ]; then
  printf '%s\n' '#include "absl/synchronization/mutex.h"' 'struct Probe { absl::Mutex mu; int n ABSL_GUARDED_BY(mu) = 0; };' \
    'int Read(Probe& p) { return p.n; }' > "$probe_dir/thread_safety_probe.cc"
  if ! grep -q -- '-Werror=thread-safety' "$build_dir/build.ninja" ||
     clang++ -std=c++17 -fsyntax-only -Wthread-safety -Werror=thread-safety "$probe_dir/thread_safety_probe.cc" 2>/dev/null; then
    echo "run_fuzzers.sh: the thread-safety analysis is not on in $build_dir" >&2
    exit 1
  fi
  echo "== checking the thread-safety annotations (clang -Werror=thread-safety)"
  ts_start=$(date +%s)
  env -u CI cmake --build "$build_dir" --target crosstenant_thread_safety -j "$jobs"
  echo "== thread-safety annotations hold ($(( $(date +%s) - ts_start )) s)"

  echo "== the unit tests under ASan and UBSan (this clang tree)"
  unit_start=$(date +%s)
  env -u CI cmake --build "$build_dir" --target unit_tests -j "$jobs"
  if ! (cd "$build_dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -L unit -j "$jobs" --output-on-failure \
          > "$build_dir/unit-tests.log" 2>&1); then
    grep -E -A40 'Failed|ERROR: AddressSanitizer|runtime error' "$build_dir/unit-tests.log" | head -200 >&2
    echo "run_fuzzers.sh: a unit test failed under the sanitizers (log: $build_dir/unit-tests.log)" >&2
    exit 1
  fi
  echo "== $(grep -E 'tests passed' "$build_dir/unit-tests.log") under the sanitizers" \
       "($(( $(date +%s) - unit_start )) s)"

  # The same tree's real binaries as a mesh: whole migrations, a kill -9 of the orchestrator and the
  # workers, a cancel and a pause, one user's trace, starts retried across a connector's restart, and a
  # backup restored into fresh services, with every process (emulator, connector,
  # orchestrator, workers, migratectl) built with ASan and UBSan. A report from a child process does not
  # always fail its test (a server may be stopped before it exits), so every process writes its reports
  # to sanitizer-reports/ and any file there fails the run.
  echo "== the mesh under ASan and UBSan (real binaries of this clang tree: ${mesh_tests})"
  mesh_start=$(date +%s)
  env -u CI cmake --build "$build_dir" --target migration_test trace_test tenant_connector_emulator_test \
    backup_restore_test -j "$jobs"
  reports="$build_dir/sanitizer-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  if ! (cd "$build_dir" && ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$reports/asan" \
          UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
          ctest -R "$mesh_tests" -j 1 --output-on-failure > "$build_dir/mesh-tests.log" 2>&1) ||
     [ -n "$(ls -A "$reports")" ]; then
    grep -E -A40 'Failed|ERROR: AddressSanitizer|runtime error' "$build_dir/mesh-tests.log" | head -100 >&2 || true
    for report in "$reports"/*; do [ -f "$report" ] && { echo "-- $report" >&2; head -60 "$report" >&2; }; done
    echo "run_fuzzers.sh: the mesh failed under the sanitizers (log: $build_dir/mesh-tests.log," \
         "reports: $reports)" >&2
    exit 1
  fi
  echo "== $(grep -E 'tests passed' "$build_dir/mesh-tests.log") with the mesh under the sanitizers, no" \
       "report ($(( $(date +%s) - mesh_start )) s)"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if command -v llvm-symbolizer >/dev/null; then export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer); fi

failures=0
report=()
for target in "${targets[@]}"; do
  binary="$build_dir/fuzz/$target"
  log_dir="$build_dir/fuzz-logs"
  mkdir -p "$log_dir"

  # 1. Every saved regression input must pass.
  regression_dir="$fuzz_dir/regressions/$target"
  if [ -d "$regression_dir" ] && [ -n "$(ls -A "$regression_dir")" ]; then
    count=$(find "$regression_dir" -type f | wc -l)
    if (cd "$build_dir" && "$binary" -runs=1 $(find "$regression_dir" -type f | sort)) > "$log_dir/$target.replay.log" 2>&1; then
      echo "== $target: $count regression input(s) pass"
    else
      echo "!! $target: a regression input fails again; log: $log_dir/$target.replay.log" >&2
      grep -E 'Running:|ERROR|runtime error|FUZZ_CHECK|SUMMARY|terminate called|what\(\)|in crosstenant::' "$log_dir/$target.replay.log" | head -20 >&2 || true
      failures=$((failures + 1))
      report+=("$target: regression input fails again")
      continue
    fi
  fi
  [ "$replay_only" = 1 ] && continue

  # 2. Fuzz for the time given, from the corpus of earlier runs plus the committed seeds.
  corpus="$build_dir/fuzz-corpus/$target"
  artifacts="$build_dir/fuzz-artifacts/$target/"
  mkdir -p "$corpus" "$artifacts"
  seeds=("$corpus")
  if [ -d "$fuzz_dir/corpus/$target" ]; then seeds+=("$fuzz_dir/corpus/$target"); fi
  # The real YAML files people deploy with seed the YAML loaders as they are today.
  case "$target" in
    fuzz_config_reader|fuzz_emulator_seed|fuzz_migratectl_plan)
      for yaml in "$root"/deploy/local/*.yaml; do [ -f "$yaml" ] && cp "$yaml" "$corpus/real-$(basename "$yaml")"; done ;;
  esac
  dictionary=()
  if [ -f "$fuzz_dir/dictionaries/$target.dict" ]; then dictionary=(-dict="$fuzz_dir/dictionaries/$target.dict"); fi
  log="$log_dir/$target.log"
  # The working directory is the build dir: crash files a target's own code writes stay out of the repo.
  set +e
  (cd "$build_dir" && "$binary" "${dictionary[@]}" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 \
     -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts" "${seeds[@]}") > "$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | sed 's/cov: //')
  units=$(find "$corpus" -type f | wc -l)
  if [ "$status" -ne 0 ]; then
    failures=$((failures + 1))
    reproducer=$(ls -t "$artifacts" 2>/dev/null | head -1)
    echo "!! $target FAILED (exit $status); log: $log" >&2
    grep -E 'ERROR: |runtime error|FUZZ_CHECK|SUMMARY|terminate called|what\(\)|in crosstenant::' "$log" | head -12 >&2 || true
    if [ -n "$reproducer" ]; then
      echo "   reproducer: $artifacts$reproducer" >&2
      echo "   replay:     (cd $build_dir && $binary $artifacts$reproducer)" >&2
      echo "   once fixed: cp $artifacts$reproducer $fuzz_dir/regressions/$target/" >&2
    fi
    report+=("$target: FAILED, reproducer ${artifacts}${reproducer:-?}")
  else
    printf '== %-28s %4s s  %9s runs  %6s runs/s  cov %5s  corpus %5s\n' \
      "$target" "$seconds" "${execs:-?}" "${speed:-?}" "${coverage:-?}" "$units"
    report+=("$(printf '%-28s ok  %9s runs  %6s runs/s  cov %5s  corpus %5s' "$target" "${execs:-?}" "${speed:-?}" "${coverage:-?}" "$units")")
  fi
done

echo
echo "fuzz summary ($seconds s per target, build $build_dir):"
for line in "${report[@]}"; do echo "  $line"; done
if [ "$failures" -ne 0 ]; then
  echo "run_fuzzers.sh: $failures target(s) failed" >&2
  exit 1
fi
