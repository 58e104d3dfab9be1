#!/usr/bin/env bash
# loadgen against a real server: the baseline echo server starts, both loads complete without errors,
# and the ratio line is printed. (Figures are for tests/bench, not asserted here.)
set -euo pipefail
BIN_DIR=${BIN_DIR:?set BIN_DIR to build/bin}
work=$(mktemp -d)
cd "$work"
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$BIN_DIR/worker" --grpc-address=127.0.0.1:0 --metrics-address= --ready-file=ready.json 2>worker.log &
pid=$!
for _ in $(seq 1 500); do [ -s ready.json ] && break; sleep 0.02; done
address=$(/usr/bin/python3 -c 'import json; print(json.load(open("ready.json"))["grpc_address"])')
"$BIN_DIR/loadgen" --target="$address" --method=/crosstenant.v1.Diagnostics/Echo --request="payload: 'abc'" \
  --baseline=true --in-flight=8 --warmup=200ms --duration=500ms --server-pid="$pid" | tee out.txt
grep -q '^bare echo' out.txt
grep -q '^/crosstenant.v1.Diagnostics/Echo' out.txt
grep -q '^ratio to bare echo: calls/s' out.txt
if "$BIN_DIR/loadgen" --target="$address" --method=/no.Such/Method 2>err.txt; then
  echo "FAIL: an unknown method was accepted"; exit 1
fi
grep -q 'is not a method this binary knows' err.txt
echo "loadgen smoke passed"
