#!/usr/bin/env bash
# Runs clang-tidy (the checks of .clang-tidy, warnings as errors) on the tracked C++ sources of services/
# and clients/, with the compile commands of a build tree. Exits non-zero on any finding.
#
#   tests/layering/run_clang_tidy.sh [BUILD_DIR] [FILE...]   default build-sanitize/ (clang), every source
#
# A clang tree is best (cmake --preset sanitize); a gcc tree works too, its gcc-only warning flags are
# ignored. Takes a few seconds per file; runs as many files at once as there are cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${1:-$root/build-sanitize}
[ $# -gt 0 ] && shift
if [ ! -f "$build_dir/compile_commands.json" ]; then
  echo "run_clang_tidy: no $build_dir/compile_commands.json: configure a tree first (cmake --preset sanitize)" >&2
  exit 2
fi
tidy=$(command -v clang-tidy || command -v clang-tidy-14 || true)
[ -n "$tidy" ] || { echo "run_clang_tidy: clang-tidy is not installed (Debian package clang-tidy)" >&2; exit 2; }
cd "$root"
if [ $# -eq 0 ]; then
  mapfile -t files < <(git ls-files 'services/*.cc' 'clients/*.cc')
else
  files=("$@")
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
printf '%s\n' "${files[@]}" |
  xargs -P "$(nproc)" -I{} "$tidy" -p "$build_dir" --quiet --extra-arg=-Wno-unknown-warning-option {} >"$log" 2>&1 ||
  status=$?
grep -E "(warning|error):" "$log" | grep -v "warnings generated" || true
if [ "$status" -ne 0 ]; then
  echo "run_clang_tidy: findings in ${#files[@]} file(s) checked (see above)" >&2
  exit 1
fi
echo "ok: clang-tidy found nothing in ${#files[@]} file(s)"
