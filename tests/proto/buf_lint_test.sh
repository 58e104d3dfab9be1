#!/usr/bin/env bash
# Lints the crosstenant.v1 contracts with `buf lint` (rules in the repo's buf.yaml: STANDARD + COMMENTS).
#
#   bash tests/proto/buf_lint_test.sh
#
# Uses the buf binary named by $BUF (a path, or a command on PATH); empty or unset means the repo-local
# install <repo>/tools/node_modules/.bin/buf (deploy/local/bootstrap.sh puts it there).
# Exit status: 0 when lint is clean; 1 on any finding, when buf is missing, or when buf sees no contract
# files (a broken module path would otherwise pass vacuously).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
buf="${BUF:-${repo_root}/tools/node_modules/.bin/buf}"

if [[ "${buf}" != */* ]]; then
  # A bare command name: resolve it on PATH.
  buf="$(command -v "${buf}" || true)"
fi
if [[ -z "${buf}" || ! -x "${buf}" ]]; then
  echo "FAIL: buf not found (BUF='${BUF:-}', looked for '${buf:-<not on PATH>}')." >&2
  echo "      Install it with: npm install --prefix '${repo_root}/tools' @bufbuild/buf" >&2
  echo "      (or run deploy/local/bootstrap.sh), or point BUF at a buf binary." >&2
  exit 1
fi

cd "${repo_root}"

if [[ ! -f buf.yaml ]]; then
  echo "FAIL: ${repo_root}/buf.yaml is missing." >&2
  exit 1
fi

# buf must see the contracts; otherwise a wrong module path would lint nothing and pass.
if ! files="$("${buf}" ls-files 2>&1)"; then
  echo "FAIL: 'buf ls-files' failed:" >&2
  echo "${files}" >&2
  exit 1
fi
for required in proto/crosstenant/v1/tenant_connector.proto proto/crosstenant/v1/orchestrator.proto \
                proto/crosstenant/v1/worker.proto; do
  if ! grep -qxF "${required}" <<<"${files}"; then
    echo "FAIL: buf does not see ${required}; check the module path in buf.yaml." >&2
    exit 1
  fi
done
count="$(grep -c '\.proto$' <<<"${files}")"

if ! findings="$("${buf}" lint --error-format=text 2>&1)"; then
  echo "FAIL: buf lint found problems in the contracts:" >&2
  echo "${findings}" >&2
  exit 1
fi
if [[ -n "${findings}" ]]; then
  # buf exits 0 only when clean; anything printed anyway is treated as a finding.
  echo "FAIL: buf lint printed output although it exited 0:" >&2
  echo "${findings}" >&2
  exit 1
fi

echo "buf lint: ${count} files, 0 findings ($("${buf}" --version))"
