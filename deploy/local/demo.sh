#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the mesh on loopback.
#
# Today (foundation) it starts tenant-connector, orchestrator and two workers with mTLS on, shows
# each one answering health, reflection, diagnostics and /metrics the way an operator would check
# them (buf curl, curl), and stops everything cleanly. It grows into the seven-step migration demo
# as the connector, the emulator and the orchestrator land.
#
#   deploy/local/demo.sh                 set up, build, run the demo, stop
#   deploy/local/demo.sh --keep-running  leave the mesh up for exploring; Ctrl-C stops it
#   deploy/local/demo.sh --no-setup      skip the package check and the build (used by the tests)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
keep_running=0
setup=1
for arg in "$@"; do
  case "$arg" in
    --keep-running) keep_running=1 ;;
    --no-setup) setup=0 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

if [ "$setup" -eq 1 ]; then
  say "Set-up: Debian packages and tools"
  bash "$root/deploy/local/bootstrap.sh"
  say "Build"
  (cd "$root" && cmake --preset default >/dev/null && cmake --build --preset default --target tenant-connector orchestrator worker)
fi

bin="$root/build/bin"
buf="$root/tools/node_modules/.bin/buf"
for program in tenant-connector orchestrator worker; do
  [ -x "$bin/$program" ] || { echo "demo: $bin/$program is missing; run without --no-setup" >&2; exit 1; }
done

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/crosstenant-demo.XXXXXX")
certs="$run_dir/certs"
pids=()
stop_all() {
  trap - EXIT INT TERM
  if [ "${#pids[@]}" -gt 0 ]; then
    say "Stopping the mesh (SIGTERM, graceful)"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  fi
  echo "logs kept in $run_dir"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

say "Development CA and mTLS certificates"
bash "$root/deploy/local/dev-certs.sh" "$certs"

json_field() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# start NAME PROGRAM [extra flags...]: starts a server on free loopback ports, waits for its ready file.
start() {
  local name=$1 program=$2
  shift 2
  "$bin/$program" --grpc-address=127.0.0.1:0 --metrics-address=127.0.0.1:0 --health-address=127.0.0.1:0 \
    --ready-file="$run_dir/$name.ready.json" --log-format=json \
    --tls-cert="$certs/server.pem" --tls-key="$certs/server.key" --tls-ca="$certs/ca.pem" \
    "$@" 2>"$run_dir/$name.log" &
  pids+=($!)
  local pid=$!
  for _ in $(seq 1 500); do
    [ -s "$run_dir/$name.ready.json" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "demo: $name failed to start:" >&2; cat "$run_dir/$name.log" >&2; exit 1; }
    sleep 0.02
  done
  [ -s "$run_dir/$name.ready.json" ] || { echo "demo: $name did not become ready" >&2; exit 1; }
  printf '  %-17s gRPC (mTLS) %-21s metrics http://%s/metrics  health %s\n' "$name" \
    "$(json_field "$run_dir/$name.ready.json" grpc_address)" "$(json_field "$run_dir/$name.ready.json" metrics_address)" \
    "$(json_field "$run_dir/$name.ready.json" health_address)"
}

say "Starting the mesh"
start tenant-connector tenant-connector
start orchestrator orchestrator --sqlite-path="$run_dir/orchestrator.db"
connector_address=$(json_field "$run_dir/tenant-connector.ready.json" grpc_address)
orchestrator_address=$(json_field "$run_dir/orchestrator.ready.json" grpc_address)
for n in 1 2; do
  start "worker-$n" worker --worker-id="worker-$n" --orchestrator-address="$orchestrator_address" \
    --connector-address="$connector_address" --client-tls-ca="$certs/ca.pem" \
    --client-tls-cert="$certs/client-worker.pem" --client-tls-key="$certs/client-worker.key" \
    --client-tls-server-name=localhost
done

# grpcurl equivalent: grpcurl -cacert ca.pem -cert client.pem -key client.key ADDR list
mesh_curl() {
  "$buf" curl --protocol grpc --cacert "$certs/ca.pem" --cert "$certs/client-migratectl.pem" \
    --key "$certs/client-migratectl.key" --servername localhost "$@"
}

say "What each server answers (buf curl over mTLS, as the migratectl identity)"
for name in tenant-connector orchestrator worker-1 worker-2; do
  address=$(json_field "$run_dir/$name.ready.json" grpc_address)
  echo "-- $name ($address)"
  echo "   services: $(mesh_curl --list-services "https://$address" | tr '\n' ' ')"
  echo "   health:   $(mesh_curl -d '{"service":""}' "https://$address/grpc.health.v1.Health/Check" | tr -d '\n ')"
  echo "   info:     $(mesh_curl "https://$address/crosstenant.v1.Diagnostics/GetServerInfo" |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["service"], d["version"], "rev", d["revision"], "caller", d.get("callerIdentities"))')"
done

say "The workers lease tasks from the orchestrator over mTLS"
for name in worker-1 worker-2; do
  address=$(json_field "$run_dir/$name.ready.json" grpc_address)
  mesh_curl "https://$address/crosstenant.v1.Worker/GetWorkerStatus" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)["status"]
print("  %-9s state %-14s orchestrator reachable: %s" % (s["workerId"], s["state"], s.get("orchestrator", {}).get("reachable", False)))'
done

say "A client without a certificate is refused"
address=$(json_field "$run_dir/orchestrator.ready.json" grpc_address)
if "$buf" curl --protocol grpc --cacert "$certs/ca.pem" --servername localhost --list-services "https://$address" >/dev/null 2>&1; then
  echo "demo: the orchestrator accepted a client without a certificate" >&2
  exit 1
fi
echo "  refused, as it should be"

say "Prometheus metrics (orchestrator, excerpt)"
curl -fsS "http://$(json_field "$run_dir/orchestrator.ready.json" metrics_address)/metrics" |
  grep -E '^(grpc_server_handled_total\{grpc_code="OK",grpc_method="Check"|orchestrator_build_info|process_resident_memory_bytes)' || true

say "Not yet: the seven migration steps"
echo "  The tenant emulator, the connector's sign-in and the orchestrator's phases are being built (issues 3-6);"
echo "  today every crosstenant.v1 API method answers UNIMPLEMENTED. Logs: $run_dir/*.log"

if [ "$keep_running" -eq 1 ]; then
  say "The mesh stays up; press Ctrl-C to stop it"
  echo "  try: $buf curl --protocol grpc --cacert $certs/ca.pem --cert $certs/client-migratectl.pem \\"
  echo "         --key $certs/client-migratectl.key --servername localhost --list-methods https://$address"
  wait
fi
echo
echo "demo finished in $(( $(date +%s) - started )) s"
