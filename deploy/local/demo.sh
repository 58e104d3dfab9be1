#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs a whole cross-tenant OneDrive
# migration on loopback: the tenant emulator stands in for Microsoft's cloud (source contoso with a
# second geo contosoeur, target fabrikam), and the mesh (tenant-connector, orchestrator, two workers,
# mTLS between all of them) runs Microsoft's seven steps unattended.
#
#   deploy/local/demo.sh                 set up, build, run the demo, stop everything
#   deploy/local/demo.sh --keep-running  leave the mesh up for exploring; Ctrl-C stops it
#   deploy/local/demo.sh --short         40 users instead of 530 (what the test suite runs)
#   deploy/local/demo.sh --no-setup      skip the package check and the build
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
keep_running=0
setup=1
short=0
for arg in "$@"; do
  case "$arg" in
    --keep-running) keep_running=1 ;;
    --no-setup) setup=0 ;;
    --short) short=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)
programs="tenant-emulator tenant-connector orchestrator worker"

if [ "$setup" -eq 1 ]; then
  say "Set-up: Debian packages and tools"
  bash "$root/deploy/local/bootstrap.sh"
  say "Build"
  # shellcheck disable=SC2086
  (cd "$root" && cmake --preset default >/dev/null && cmake --build --preset default --target $programs)
fi

bin="$root/build/bin"
buf="$root/tools/node_modules/.bin/buf"
for program in $programs; do
  [ -x "$bin/$program" ] || { echo "demo: $bin/$program is missing; run without --no-setup" >&2; exit 1; }
done

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/crosstenant-demo.XXXXXX")
certs="$root/deploy/local/.certs"  # the sample seed names the app certificate made here
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

say "Development CA, mTLS certificates, the emulator's certificate for Microsoft's host names"
bash "$root/deploy/local/dev-certs.sh" "$certs"

json() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])' "$1" "$2"; }

# launch NAME PROGRAM ARGS...: starts a program that writes --ready-file, waits until it is ready.
launch() {
  local name=$1 program=$2
  shift 2
  "$bin/$program" --ready-file="$run_dir/$name.ready.json" "$@" 2>"$run_dir/$name.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 1000); do
    [ -s "$run_dir/$name.ready.json" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "demo: $name failed to start:" >&2; tail -20 "$run_dir/$name.log" >&2; exit 1; }
    sleep 0.02
  done
  echo "demo: $name did not become ready" >&2
  exit 1
}

# serve NAME PROGRAM ARGS...: a mesh server on free loopback ports, with mTLS.
serve() {
  local name=$1 program=$2
  shift 2
  launch "$name" "$program" --grpc-address=127.0.0.1:0 --metrics-address=127.0.0.1:0 --health-address=127.0.0.1:0 \
    --log-format=json --tls-cert="$certs/server.pem" --tls-key="$certs/server.key" --tls-ca="$certs/ca.pem" "$@"
  printf '  %-17s gRPC (mTLS) %-21s metrics http://%s/metrics\n' "$name" \
    "$(json "$run_dir/$name.ready.json" grpc_address)" "$(json "$run_dir/$name.ready.json" metrics_address)"
}

# client IDENTITY: flags for calling the mesh as that certificate.
client() {
  echo "--client-tls-ca=$certs/ca.pem --client-tls-cert=$certs/client-$1.pem --client-tls-key=$certs/client-$1.key"
  echo "--client-tls-server-name=localhost"
}

# call SERVER METHOD JSON: a gRPC call as the migratectl identity (grpcurl -cacert/-cert/-key does the same).
call() {
  "$buf" curl --protocol grpc --cacert "$certs/ca.pem" --cert "$certs/client-migratectl.pem" \
    --key "$certs/client-migratectl.key" --servername localhost \
    -d "$3" "https://$(json "$run_dir/$1.ready.json" grpc_address)/crosstenant.v1.$2"
}

time_scale=600
[ "$short" -eq 1 ] && time_scale=3000

say "Microsoft's cloud: the tenant emulator (deploy/local/emulator-seed.yaml, time x$time_scale)"
launch tenant-emulator tenant-emulator --seed "$root/deploy/local/emulator-seed.yaml" --address 127.0.0.1:0 \
  --tls-cert "$certs/emulator.pem" --tls-key "$certs/emulator.key" --time-scale "$time_scale"
emulator=$(json "$run_dir/tenant-emulator.ready.json" address)
echo "  login.microsoftonline.com, graph.microsoft.com, *.sharepoint.com -> https://$emulator"

say "The mesh"
mkdir -p "$run_dir/connector-state"
serve tenant-connector tenant-connector --state-dir="$run_dir/connector-state" \
  --upstream-connect-to="*:443:$emulator" --upstream-ca-file="$certs/ca.pem"
connector=$(json "$run_dir/tenant-connector.ready.json" grpc_address)
# shellcheck disable=SC2046
serve orchestrator orchestrator --sqlite-path="$run_dir/orchestrator.db" --connector-address="$connector" \
  --poll-interval=1s $(client orchestrator)
orchestrator=$(json "$run_dir/orchestrator.ready.json" grpc_address)
for n in 1 2; do
  # shellcheck disable=SC2046
  serve "worker-$n" worker --worker-id="worker-$n" --orchestrator-address="$orchestrator" \
    --connector-address="$connector" --concurrency=8 $(client worker)
done

say "Step 1: connect to the source and the target (Connect-SPOService, both at once, every geo)"
call tenant-connector TenantConnector/CreateConnection '{"connection_id":"contoso","role":"CONNECTION_ROLE_SOURCE",
  "admin_url":"https://contoso-admin.sharepoint.com","credential":{"client_secret":{
  "client_id":"11111111-1111-4111-8111-111111111111","secret":{"value":"contoso-migration-secret"}}}}' >/dev/null
call tenant-connector TenantConnector/CreateConnection '{"connection_id":"fabrikam","role":"CONNECTION_ROLE_TARGET",
  "admin_url":"https://fabrikam-admin.sharepoint.com","credential":{"client_secret":{
  "client_id":"22222222-2222-4222-8222-222222222222","secret":{"value":"fabrikam-migration-secret"}}}}' >/dev/null
call tenant-connector TenantConnector/ListConnections '{}' | /usr/bin/python3 -c '
import json, sys
for c in json.load(sys.stdin).get("connections", []):
    geos = ", ".join(g.get("locationCode", "?") + " " + g.get("adminUrl", "") for g in c.get("geos", []))
    print("  %-22s %-22s %-26s tenant %s (%s)\n  %22s geos: %s" % (c["name"], c.get("role", ""), c.get("state", ""),
          c.get("initialDomain", ""), c.get("tenantId", ""), "", geos))'

say "Steps 2-7: one migration plan; the orchestrator runs trust, verification, users, identity map, compatibility, moves"
csv="$run_dir/identity-map.csv"
tenant=7f1d1c1e-0000-4000-8000-000000000001
nam=500; eur=20
[ "$short" -eq 1 ] && { nam=30; eur=5; }
{
  for i in $(seq 1 "$nam"); do n=$(printf %03d "$i"); echo "User,$tenant,user$n@contoso.onmicrosoft.com,user$n@fabrikam.onmicrosoft.com,user$n@fabrikam.onmicrosoft.com,RegularUser"; done
  for i in $(seq 1 "$eur"); do n=$(printf %02d "$i"); echo "User,$tenant,euser$n@contoso.onmicrosoft.com,euser$n@fabrikam.onmicrosoft.com,euser$n@fabrikam.com,RegularUser"; done
  for u in taken readonly legalhold unlicensed huge manyitems nodrive flaky; do
    echo "User,$tenant,$u@contoso.onmicrosoft.com,$u@fabrikam.onmicrosoft.com,$u@fabrikam.onmicrosoft.com,RegularUser"
  done
} >"$csv"
echo "  identity map: $(wc -l <"$csv") users ($nam NAM, $eur EUR, 7 with a real blocker, 1 that Microsoft reschedules once) in $csv"
/usr/bin/python3 - "$csv" >"$run_dir/create.json" <<'EOF'
import json, sys
print(json.dumps({"migration_id": "merger", "display_name": "Contoso to Fabrikam",
                  "plan": {"source_connection": "connections/contoso", "target_connection": "connections/fabrikam",
                           "identity_map": {"csv": open(sys.argv[1]).read()}}}))
EOF
call orchestrator Orchestrator/CreateMigration "@$run_dir/create.json" >/dev/null

last=""
deadline=$(( $(date +%s) + (short ? 120 : 170) ))
while :; do
  status=$(call orchestrator Orchestrator/GetMigration '{"name":"migrations/merger"}' | /usr/bin/python3 -c '
import json, sys
m = json.load(sys.stdin)["migration"]
counts = " ".join("%s=%d" % (c["state"].replace("USER_MOVE_STATE_", "").lower(), c.get("count", 0))
                  for c in m.get("counts", {}).get("byState", []))
print("%s|%-32s %-22s %s" % (m["state"], m["phase"].replace("MIGRATION_PHASE_", ""),
      m["state"].replace("MIGRATION_STATE_", ""), counts))')
  state=${status%%|*}
  line=${status#*|}
  [ "$line" != "$last" ] && { printf '  %s  %s\n' "$(date +%H:%M:%S)" "$line"; last=$line; }
  case "$state" in MIGRATION_STATE_COMPLETED*|MIGRATION_STATE_FAILED|MIGRATION_STATE_CANCELLED) break ;; esac
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "demo: the migration did not finish in time; state: $line" >&2
    call orchestrator Orchestrator/GetMigration '{"name":"migrations/merger"}' >&2
    exit 1
  fi
  sleep 1
done

say "The report (users that did not move, and why)"
call orchestrator Orchestrator/GetMigrationReport '{"name":"migrations/merger","page_size":1000}' | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
rows = r.get("rows", [])
print("  %d users: %s" % (len(rows), ", ".join("%s %d" % (c["state"].replace("USER_MOVE_STATE_", "").lower(), c.get("count", 0))
                                              for c in r.get("counts", {}).get("byState", []))))
for row in rows:
    if row["state"] not in ("USER_MOVE_STATE_SUCCESS",):
        print("  %-36s %-12s %-24s %s" % (row["sourceUserPrincipalName"], row["state"].replace("USER_MOVE_STATE_", ""),
              row.get("errorCode", ""), row.get("errorMessage", "")[:70]))'
final=$(call orchestrator Orchestrator/GetMigration '{"name":"migrations/merger"}' | /usr/bin/python3 -c '
import json, sys; print(json.load(sys.stdin)["migration"]["state"])')

say "What Microsoft's side saw (the emulator's accounting)"
curl -fsS --connect-to "::$emulator" --cacert "$certs/ca.pem" https://login.microsoftonline.com/_emulator/accounting |
  /usr/bin/python3 -c '
import json, sys
a = json.load(sys.stdin)
requests, moves = a.get("requests", {}), a.get("moves", {})
print("  upstream requests     %s (%s)" % (requests.get("total", 0), ", ".join(
    "%s %s" % (status, count) for status, count in sorted(requests.get("by_status", {}).items()))))
print("  move starts           %s, duplicate starts %s" % (moves.get("starts", 0), moves.get("duplicates", 0)))
print("  early retries         %s (requests sent before a Retry-After had elapsed)" % a.get("retry_after", {}).get("early_retries", 0))'

say "Where to look"
echo "  logs:    $run_dir/*.log"
for name in tenant-connector orchestrator worker-1; do
  echo "  metrics: http://$(json "$run_dir/$name.ready.json" metrics_address)/metrics   ($name)"
done

if [ "$keep_running" -eq 1 ]; then
  say "The mesh stays up; press Ctrl-C to stop it"
  echo "  try: $buf curl --protocol grpc --cacert $certs/ca.pem --cert $certs/client-migratectl.pem \\"
  echo "         --key $certs/client-migratectl.key --servername localhost --list-methods https://$orchestrator"
  wait
fi
echo
echo "demo finished in $(( $(date +%s) - started )) s: migration $final"
case "$final" in MIGRATION_STATE_COMPLETED*) exit 0 ;; *) exit 1 ;; esac
