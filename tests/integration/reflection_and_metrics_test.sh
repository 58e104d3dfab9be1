#!/usr/bin/env bash
# What a user sees with standard tools against each real server binary:
#   - buf curl lists the services by reflection (v1 and v1alpha, each alone) and calls through it;
#   - grpc.health.v1.Health/Check answers SERVING per service;
#   - /metrics passes `promtool check metrics`.
set -euo pipefail

BUF=${BUF:?set BUF to the buf binary}
BIN_DIR=${BIN_DIR:?set BIN_DIR to build/bin}
[ -x "$BUF" ] || { echo "FAIL: buf not found at $BUF (run deploy/local/bootstrap.sh)"; exit 1; }
command -v promtool >/dev/null || { echo "FAIL: promtool not found (run deploy/local/bootstrap.sh)"; exit 1; }

work=$(mktemp -d)
cd "$work"  # the servers' relative state files (orchestrator.db) land here
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

json_field() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

check_binary() {
  local binary=$1 service=$2
  local ready="$work/$binary.ready.json"
  "$BIN_DIR/$binary" --grpc-address=127.0.0.1:0 --metrics-address=127.0.0.1:0 --ready-file="$ready" \
    2>"$work/$binary.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 500); do [ -s "$ready" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
  [ -s "$ready" ] || { fail "$binary did not become ready: $(cat "$work/$binary.log")"; return; }
  local grpc metrics
  grpc=$(json_field "$ready" grpc_address)
  metrics=$(json_field "$ready" metrics_address)
  local curl=("$BUF" curl --protocol grpc --http2-prior-knowledge)

  # Both reflection versions, each asked alone (buf tries v1 first and would hide a v1 failure).
  local protocol listed methods
  for protocol in grpc-v1 grpc-v1alpha; do
    listed=$("${curl[@]}" --reflect-protocol "$protocol" --list-services "http://$grpc") ||
      { fail "$binary: buf curl --list-services over $protocol reflection failed"; return; }
    for expected in "$service" crosstenant.v1.Diagnostics grpc.health.v1.Health grpc.reflection.v1alpha.ServerReflection \
                    grpc.reflection.v1.ServerReflection; do
      grep -qx "$expected" <<<"$listed" || fail "$binary: $protocol reflection does not list $expected (got: $listed)"
    done
    methods=$("${curl[@]}" --reflect-protocol "$protocol" --list-methods "http://$grpc") ||
      { fail "$binary: buf curl --list-methods over $protocol reflection failed"; return; }
    grep -q "^$service/" <<<"$methods" || fail "$binary: $protocol: no methods listed for $service (got: $methods)"
    # A call whose request and response types come from reflection: the whole file set must resolve.
    local echo_answer
    echo_answer=$("${curl[@]}" --reflect-protocol "$protocol" -d '{"payload":"cGluZw=="}' \
                  "http://$grpc/crosstenant.v1.Diagnostics/Echo") || true
    grep -q '"cGluZw=="' <<<"$echo_answer" || fail "$binary: Echo over $protocol reflection said: $echo_answer"
  done

  for name in "" "$service"; do
    local answer
    answer=$("${curl[@]}" -d "{\"service\":\"$name\"}" "http://$grpc/grpc.health.v1.Health/Check") || true
    grep -q '"SERVING"' <<<"$answer" || fail "$binary: Health/Check('$name') said: $answer"
  done
  local info
  info=$("${curl[@]}" "http://$grpc/crosstenant.v1.Diagnostics/GetServerInfo") || true
  grep -q "\"service\": \"$binary\"" <<<"$info" || fail "$binary: GetServerInfo said: $info"

  curl -fsS "http://$metrics/metrics" >"$work/$binary.metrics" || fail "$binary: /metrics unreachable"
  promtool check metrics <"$work/$binary.metrics" >"$work/$binary.promtool" 2>&1 ||
    fail "$binary: promtool check metrics: $(cat "$work/$binary.promtool")"
  grep -q '^grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health"' \
    "$work/$binary.metrics" || fail "$binary: no grpc_server_handled_total for the health checks"

  kill -TERM "$pid"
  local code=0
  wait "$pid" || code=$?
  [ "$code" -eq 0 ] || fail "$binary: exit code $code after SIGTERM"
  echo "ok: $binary"
}

check_binary tenant-connector crosstenant.v1.TenantConnector
check_binary orchestrator crosstenant.v1.Orchestrator
check_binary worker crosstenant.v1.Worker

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all reflection, health and metrics checks passed"
