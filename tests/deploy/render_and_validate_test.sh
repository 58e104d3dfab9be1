#!/usr/bin/env bash
# Static checks of deploy/ with the tools a user has, offline:
#   - yamllint on every YAML file under deploy/k8s and deploy/prometheus;
#   - each overlay, and each variant (an overlay with optional components: prod+https-proxy,
#     prod+https-proxy+credentials, dev+retained-volumes, prod+retained-volumes), renders
#     (`kubectl kustomize`, or $KUSTOMIZE build) and every rendered object passes
#     the OpenAPI schema of its kind (tests/deploy/validate_manifests.mjs: Kubernetes, cert-manager and
#     Prometheus Operator schemas);
#   - `promtool check rules`, `promtool check config` and the rule unit tests (`promtool test rules`);
#   - the Prometheus Operator component's PrometheusRule holds exactly crosstenant-alerts.yml's groups.
# A missing tool fails the test with what to install; nothing is skipped.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${TOOLS_DIR:-$root/tools}
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

need() { command -v "$1" >/dev/null || { echo "FAIL: $1 not found: $2"; exit 1; }; }
need yamllint "install the Debian package yamllint (deploy/local/bootstrap.sh)"
need promtool "install the Debian package prometheus (deploy/local/bootstrap.sh)"
need node "install the Debian packages nodejs and npm (deploy/local/bootstrap.sh)"
if [ -n "${KUSTOMIZE:-}" ]; then
  render=("$KUSTOMIZE" build)
elif command -v kubectl >/dev/null; then
  render=(kubectl kustomize)
elif command -v kustomize >/dev/null; then
  render=(kustomize build)
else
  echo "FAIL: neither kubectl (1.27 or newer) nor kustomize (v5) is on PATH; Debian 12's apt has no usable one."
  echo "      Install kubectl from https://kubernetes.io/docs/tasks/tools/ or set KUSTOMIZE to a kustomize binary."
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if yamllint -s -c "$root/tests/deploy/yamllint.yaml" "$root/deploy/k8s" "$root/deploy/prometheus" >"$work/yamllint" 2>&1; then
  echo "ok: yamllint deploy/k8s deploy/prometheus"
else
  fail "yamllint:"; cat "$work/yamllint"
fi

# Variants: an overlay with optional components, as an operator's own overlay would add them (the same
# list as VARIANTS in deploy_lib.py), rendered through a kustomization in $work.
variant_dir() {  # OVERLAY COMPONENT...
  local dir="$work/variant-$1-${*:2}" relative
  dir=${dir// /-}
  mkdir -p "$dir"
  relative=$(realpath --relative-to="$dir" "$root/deploy/k8s")  # kustomize refuses absolute paths
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "namespace: crosstenant"
    echo "resources: [$relative/overlays/$1]"
    echo "components:"
    for component in "${@:2}"; do echo "  - $relative/components/$component"; done
  } >"$dir/kustomization.yaml"
  echo "$dir"
}
declare -A sources=([dev]="$root/deploy/k8s/overlays/dev" [prod]="$root/deploy/k8s/overlays/prod"
                    [prod+https-proxy]="$(variant_dir prod https-proxy)"
                    [prod+https-proxy+credentials]="$(variant_dir prod https-proxy https-proxy-credentials)"
                    [dev+retained-volumes]="$(variant_dir dev retained-volumes)"
                    [prod+retained-volumes]="$(variant_dir prod retained-volumes)")

for overlay in dev prod prod+https-proxy prod+https-proxy+credentials dev+retained-volumes prod+retained-volumes; do
  if ! "${render[@]}" "${sources[$overlay]}" >"$work/$overlay.yaml" 2>"$work/$overlay.err"; then
    fail "overlay $overlay does not render: $(cat "$work/$overlay.err")"
    continue
  fi
  echo "ok: overlay $overlay renders ($(grep -c '^kind:' "$work/$overlay.yaml") objects)"
  if node "$root/tests/deploy/validate_manifests.mjs" "$tools" "$work/$overlay.yaml" >"$work/$overlay.schema" 2>&1; then
    echo "ok: overlay $overlay: $(tail -1 "$work/$overlay.schema")"
  else
    fail "overlay $overlay fails the schema check:"; cat "$work/$overlay.schema"
  fi
done

# The strict field check fails on a misspelt field (so that its passes above mean something).
cat >"$work/misspelt.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: misspelt}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: "i:1"}]
      tolerationz: []
YAML
if node "$root/tests/deploy/validate_manifests.mjs" "$tools" "$work/misspelt.yaml" >"$work/misspelt.out" 2>&1 ||
   ! grep -q "unknown field(s) /spec/template/spec/tolerationz" "$work/misspelt.out"; then
  fail "the strict field check let a misspelt field through:"; cat "$work/misspelt.out"
else
  echo "ok: the strict field check refuses a misspelt field (/spec/template/spec/tolerationz)"
fi

# The examples an operator applies by hand (a migratectl Job) pass the same schema check.
for example in "$root"/deploy/k8s/examples/*.yaml; do
  if node "$root/tests/deploy/validate_manifests.mjs" "$tools" "$example" >"$work/example.schema" 2>&1; then
    echo "ok: ${example#"$root"/}: $(tail -1 "$work/example.schema")"
  else
    fail "${example#"$root"/} fails the schema check:"; cat "$work/example.schema"
  fi
done

cd "$root/deploy/prometheus"
for check in "check rules crosstenant-alerts.yml" "check config prometheus.yml" \
  "test rules crosstenant-alerts.test.yml crosstenant-alerts-week.test.yml"; do
  # shellcheck disable=SC2086
  if promtool $check >"$work/promtool" 2>&1; then
    echo "ok: promtool $check"
  else
    fail "promtool $check:"; cat "$work/promtool"
  fi
done

if /usr/bin/python3 "$root/deploy/prometheus/generate_prometheus_rule.py" --check >"$work/rule" 2>&1; then
  echo "ok: the PrometheusRule of components/prometheus-operator holds crosstenant-alerts.yml's rules"
else
  fail "$(cat "$work/rule")"
fi

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "deploy/ renders, validates and its rules pass their tests"
