#!/usr/bin/env bash
# The connector's speed figure: a cached GetConnection on the real connector (connected to the emulator)
# against a bare echo server of the same build, same load, one run, with the ratio.
#
#   tests/bench/connector_get_connection.sh [BIN_DIR] [DURATION]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/bin}
duration=${2:-10s}
certs="$root/deploy/local/.certs"
bash "$root/deploy/local/dev-certs.sh" "$certs" >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
wait_ready() { for _ in $(seq 1 500); do [ -s "$1" ] && return 0; sleep 0.02; done; echo "not ready: $1" >&2; exit 1; }
json() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

"$bin/tenant-emulator" --seed "$root/deploy/local/emulator-seed.yaml" --address 127.0.0.1:0 \
  --tls-cert "$certs/emulator.pem" --tls-key "$certs/emulator.key" --ready-file "$work/emulator.json" 2>"$work/emulator.log" &
pids+=($!)
wait_ready "$work/emulator.json"
"$bin/tenant-connector" --grpc-address=127.0.0.1:0 --metrics-address= --ready-file="$work/connector.json" \
  --state-dir="$work" --upstream-connect-to="*:443:$(json "$work/emulator.json" address)" \
  --upstream-ca-file="$certs/ca.pem" --credential-file-dirs="$certs" 2>"$work/connector.log" &
pids+=($!)
wait_ready "$work/connector.json"
connector=$(json "$work/connector.json" grpc_address)
# The migration app's certificate (registered by the sample seed), as every connection that may run
# SharePoint steps must use: SharePoint refuses app-only tokens obtained with a client secret.
"$root/tools/node_modules/.bin/buf" curl --protocol grpc --http2-prior-knowledge \
  "http://$connector/crosstenant.v1.TenantConnector/CreateConnection" -d '{"connection_id":"contoso",
  "role":"CONNECTION_ROLE_SOURCE","admin_url":"https://contoso-admin.sharepoint.com","credential":{"certificate":{
  "client_id":"11111111-1111-4111-8111-111111111111","certificate_file":"'"$certs/migration-app.pem"'",
  "private_key":{"file_path":"'"$certs/migration-app.key"'"}}}}' >/dev/null
"$bin/loadgen" --target="$connector" --method=/crosstenant.v1.TenantConnector/GetConnection \
  --request="name: 'connections/contoso'" --baseline=true --in-flight=64 --channels=2 --warmup=2s \
  --duration="$duration" --server-pid="$(json "$work/connector.json" pid)"
