#!/usr/bin/env bash
# Sets up (Debian packages, buf), configures, builds and runs every test. Exits non-zero on any
# failure. Extra arguments go to ctest, e.g. `tests/run.sh -L unit` or `tests/run.sh -R Mutual`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash deploy/local/bootstrap.sh

preset=default
if [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then preset=ci; fi

cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" "$@"
