#!/usr/bin/env bash
# Sets up (Debian packages, buf), configures, builds and runs every test. Exits non-zero on any
# failure. Extra arguments go to ctest, e.g. `tests/run.sh -L unit` or `tests/run.sh -R Mutual`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash deploy/local/bootstrap.sh

preset=default
if [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then preset=ci; fi

# Cache compilations by paths relative to the checkout, so that another clone of the same sources (or
# the image build, tests/deploy/image_test.sh) finds them.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
# A test that fails is run once more before the run fails: two tests have been seen failing once under a
# loaded CI machine for known, open reasons (the storm test's early retries, and a SharePoint realm
# challenge answered 429 while connecting under the metric-names test's throttling); a real regression
# fails twice.
ctest --preset "$preset" --repeat until-pass:2 "$@"
