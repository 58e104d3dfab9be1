#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs a whole cross-tenant OneDrive
# migration on loopback, driven step by step with migratectl: the tenant emulator stands in for
# Microsoft's cloud (source contoso with a second geo contosoeur, target fabrikam), and the mesh
# (tenant-connector, orchestrator, two workers, mTLS between all of them) does the work.
#
#   deploy/local/demo.sh                 set up, build, run the seven steps, stop everything
#   deploy/local/demo.sh --keep-running  leave the mesh up for exploring with migratectl; Ctrl-C stops it
#   deploy/local/demo.sh --short         44 users instead of 529 (what the test suite runs)
#   deploy/local/demo.sh --no-setup      skip the package check and the build
#
# CROSSTENANT_BIN_DIR picks the binaries (default build/bin).
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
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

bold=$'\033[1m'; dim=$'\033[2m'; plain=$'\033[0m'
[ -t 1 ] || { bold=""; dim=""; plain=""; }
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
step() {  # step N TITLE CMDLETS: the step and the cmdlets it replaces
  printf '\n%s== Step %s: %s%s\n' "$bold" "$1" "$2" "$plain"
  printf '   %sreplaces: %s%s\n' "$dim" "$3" "$plain"
}
started=$(date +%s)
programs="tenant-emulator tenant-connector orchestrator worker migratectl"

if [ "$setup" -eq 1 ]; then
  say "Set-up: Debian packages and tools"
  bash "$root/deploy/local/bootstrap.sh"
  say "Build"
  # shellcheck disable=SC2086
  (cd "$root" && cmake --preset default >/dev/null && cmake --build --preset default --target $programs)
fi

bin="${CROSSTENANT_BIN_DIR:-$root/build/bin}"
buf="$root/tools/node_modules/.bin/buf"
for program in $programs; do
  [ -x "$bin/$program" ] || { echo "demo: $bin/$program is missing; run without --no-setup" >&2; exit 1; }
done

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/crosstenant-demo.XXXXXX")
certs="$root/deploy/local/.certs"  # the sample seed names the app certificate made here
pids=()
stop_all() {
  local code=$?
  trap - EXIT INT TERM
  if [ "${#pids[@]}" -gt 0 ]; then
    say "Stopping the mesh (SIGTERM, graceful)"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "  every process stopped"
  fi
  echo "  logs kept in $run_dir"
  exit "$code"
}
trap stop_all EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

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

# serve NAME PROGRAM ARGS...: a mesh server on free loopback ports, with mTLS and the roles of
# deploy/local/config/PROGRAM.yaml.
serve() {
  local name=$1 program=$2
  shift 2
  launch "$name" "$program" --config="$root/deploy/local/config/$program.yaml" \
    --grpc-address=127.0.0.1:0 --metrics-address=127.0.0.1:0 --health-address=127.0.0.1:0 \
    --log-format=json --tls-cert="$certs/server.pem" --tls-key="$certs/server.key" --tls-ca="$certs/ca.pem" "$@"
  printf '  %-17s gRPC (mTLS) %-21s metrics http://%s/metrics\n' "$name" \
    "$(json "$run_dir/$name.ready.json" grpc_address)" "$(json "$run_dir/$name.ready.json" metrics_address)"
}

# client IDENTITY: flags for calling the mesh as that certificate.
client() {
  echo "--client-tls-ca=$certs/ca.pem --client-tls-cert=$certs/client-$1.pem --client-tls-key=$certs/client-$1.key"
  echo "--client-tls-server-name=localhost"
}

time_scale=600
[ "$short" -eq 1 ] && time_scale=3000

say "Microsoft's cloud: the tenant emulator (deploy/local/emulator-seed.yaml, time x$time_scale)"
launch tenant-emulator tenant-emulator --seed "$root/deploy/local/emulator-seed.yaml" --address 127.0.0.1:0 \
  --tls-cert "$certs/emulator.pem" --tls-key "$certs/emulator.key" --time-scale "$time_scale"
emulator=$(json "$run_dir/tenant-emulator.ready.json" address)
echo "  login.microsoftonline.com, graph.microsoft.com, *.sharepoint.com -> https://$emulator"
emulator_admin() {  # emulator_admin PATH [JSON]: the emulator's admin API (not Microsoft's)
  if [ $# -gt 1 ]; then
    curl -fsS --connect-to "::$emulator" --cacert "$certs/ca.pem" -H 'Content-Type: application/json' -d "$2" \
      "https://login.microsoftonline.com$1"
  else
    curl -fsS --connect-to "::$emulator" --cacert "$certs/ca.pem" "https://login.microsoftonline.com$1"
  fi
}

say "The mesh"
mkdir -p "$run_dir/connector-state"
serve tenant-connector tenant-connector --state-dir="$run_dir/connector-state" \
  --upstream-connect-to="*:443:$emulator" --upstream-ca-file="$certs/ca.pem" --credential-file-dirs="$certs"
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

# migratectl finds the mesh through its environment (every variable is also a flag, see migratectl --help).
export MIGRATECTL_CONNECTOR="$connector" MIGRATECTL_ORCHESTRATOR="$orchestrator"
export MIGRATECTL_TLS_CA="$certs/ca.pem" MIGRATECTL_TLS_CERT="$certs/client-migratectl.pem"
export MIGRATECTL_TLS_KEY="$certs/client-migratectl.key" MIGRATECTL_TLS_SERVER_NAME=localhost
# m ARGS...: runs migratectl visibly, as an admin would type it.
m() {
  printf '\n%s$ migratectl %s%s\n' "$bold" "$*" "$plain"
  "$bin/migratectl" "$@"
}
# expect CODE ARGS...: m, where exit code CODE is the expected answer (e.g. 10: users that did not move).
expect() {
  local want=$1 rc=0
  shift
  m "$@" || rc=$?
  [ "$rc" -eq "$want" ] || { echo "demo: migratectl $1 exited $rc, expected $want" >&2; exit 1; }
}

step 1 "connect to the source and the target, both at once, every geo" \
  "Connect-SPOService -Url https://contoso-admin.sharepoint.com, then again for fabrikam (one at a time)"
# The source connects as the migration app with its certificate (dev-certs.sh made it; the sample seed
# registers it on the app). SharePoint refuses app-only tokens obtained with a client secret, so an app
# needs a certificate for the SharePoint steps (trust, verify, compatibility, redirect sites); an admin's
# sign-in (device code, user name and password) works either way.
printf '%s(the source: the migration app with its certificate; SharePoint refuses app-only tokens from a client secret)%s\n' \
  "$dim" "$plain"
m connect --role=source https://contoso-admin.sharepoint.com --id=contoso \
  --client-id=11111111-1111-4111-8111-111111111111 \
  --certificate="$certs/migration-app.pem" --private-key-file="$certs/migration-app.key"
# The target admin signs in with a device code, as with MFA. The demo plays the admin: it reads the code
# from Microsoft's prompt and approves it on the emulator's stand-in for https://microsoft.com/devicelogin.
# Device codes live 15 emulated minutes: the emulator's clock slows down to x30 for the sign-in.
emulator_admin /_emulator/time '{"time_scale":30}' >/dev/null
printf '\n%s$ migratectl connect --role=target https://fabrikam-admin.sharepoint.com --id=fabrikam --device-code%s\n' \
  "$bold" "$plain"
"$bin/migratectl" connect --role=target https://fabrikam-admin.sharepoint.com --id=fabrikam --device-code \
  >"$run_dir/connect-fabrikam.out" 2>&1 &
connect_pid=$!
code=""
for _ in $(seq 1 500); do
  code=$(sed -n 's/.*enter the code \([A-Z0-9]*\) to authenticate.*/\1/p' "$run_dir/connect-fabrikam.out")
  [ -n "$code" ] && break
  kill -0 "$connect_pid" 2>/dev/null || break
  sleep 0.02
done
[ -n "$code" ] || { cat "$run_dir/connect-fabrikam.out" >&2; echo "demo: no device code prompt" >&2; exit 1; }
sed -n '1,2p' "$run_dir/connect-fabrikam.out"
printf '%s(the demo signs in as admin@fabrikam.onmicrosoft.com and enters %s)%s\n' "$dim" "$code" "$plain"
emulator_admin /_emulator/devicecode/approve "{\"user_code\":\"$code\",\"upn\":\"admin@fabrikam.onmicrosoft.com\"}" >/dev/null
wait "$connect_pid" || { cat "$run_dir/connect-fabrikam.out" >&2; echo "demo: device code sign-in failed" >&2; exit 1; }
sed -n '3,$p' "$run_dir/connect-fabrikam.out"
emulator_admin /_emulator/time "{\"time_scale\":$time_scale}" >/dev/null
m connections
m preflight --source=contoso --target=fabrikam --ignore=trust,compatibility

step 2 "establish trust on both sides, for every geo pair" \
  "Get-SPOCrossTenantHostUrl and Set-SPOCrossTenantRelationship -Scenario MnA, on each tenant and geo"
m trust establish --source=contoso --target=fabrikam

step 3 "verify the trust until it is GoodToProceed" \
  "Verify-SPOCrossTenantRelationship, on each side, again and again (DormantByPartner: up to 7 days)"
m trust verify --source=contoso --target=fabrikam --wait --interval=1s

step 4 "the target users: match every source user to the user pre-created for it" \
  "an identity-map CSV written by hand from two directory exports"
csv="$run_dir/identity-map.csv"
m identity-map generate --source=contoso --target=fabrikam --output="$csv"
if [ "$short" -eq 1 ]; then
  grep -E ',(user0(0[1-9]|[12][0-9]|30)|euser0[1-5]|taken|readonly|legalhold|unlicensed|huge|manyitems|longpaths|nodrive|flaky)@contoso' \
    "$csv" >"$csv.short"
  mv "$csv.short" "$csv"
  echo "(--short: the map keeps $(wc -l <"$csv") of those users)"
fi

step 5 "the identity map, on every target geo, and the compatibility check" \
  "Add-SPOTenantIdentityMap -IdentityMapPath (unchecked) and Get-SPOCrossTenantCompatibilityStatus"
m identity-map validate "$csv" --source=contoso
m identity-map upload "$csv" --target=fabrikam
m compatibility --source=contoso --target=fabrikam

step 6 "the moves: one plan, the orchestrator keeps each source geo's queue full, live progress" \
  "Start-SPOCrossTenantUserContentMove per user in batches of 4,000, polled with Get-SPOCrossTenantUserContentMoveState"
echo "plan: deploy/local/demo-plan.yaml"
# Exit 10: the migration ended COMPLETED_WITH_ERRORS, as it must: some users are blocked for real reasons.
final=0
m migrate start --plan="$root/deploy/local/demo-plan.yaml" --identity-map="$csv" --watch --timeout=170s || final=$?
[ "$final" -eq 0 ] || [ "$final" -eq 10 ] || { echo "demo: the migration did not finish (exit $final)" >&2; exit 1; }

say "The report: users that did not move, and why (migratectl migrate report merger --format=csv|json for all)"
m migrate report merger --state=blocked,failed,stopped

step 7 "post-migration: the redirect sites, then remove the trust" \
  "Get-SPOSite -Template RedirectSite#0 -IncludePersonalSite \$true, Remove-SPOSite, Remove-SPOCrossTenantRelationship"
m redirects list --source=contoso --geo=eur
first_redirect=$("$bin/migratectl" redirects list --source=contoso --geo=eur --format=csv | sed -n '2p' | cut -d, -f2)
[ -n "$first_redirect" ] && m redirects remove "$first_redirect" --source=contoso
m trust remove --source=contoso --target=fabrikam

say "What Microsoft's side saw (the emulator's accounting)"
emulator_admin /_emulator/accounting | /usr/bin/python3 -c '
import json, sys
a = json.load(sys.stdin)
requests, moves = a.get("requests", {}), a.get("moves", {})
print("  upstream requests     %s (%s)" % (requests.get("total", 0), ", ".join(
    "%s %s" % (status, count) for status, count in sorted(requests.get("by_status", {}).items()))))
print("  move starts           %s, duplicate starts %s" % (moves.get("starts", 0), moves.get("duplicates", 0)))
print("  early retries         %s (requests sent before a Retry-After had elapsed)" % a.get("retry_after", {}).get("early_retries", 0))'

say "Where to look"
echo "  logs:    $run_dir/*.log (one JSON line per event)"
for name in tenant-connector orchestrator worker-1 worker-2; do
  echo "  metrics: http://$(json "$run_dir/$name.ready.json" metrics_address)/metrics   ($name)"
done

state=$("$bin/migratectl" migrate status merger --format=json |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"].replace("MIGRATION_STATE_", ""))')
if [ "$keep_running" -eq 1 ]; then
  say "The mesh stays up; press Ctrl-C to stop it. Paste these into another shell:"
  cat <<EOT
  export MIGRATECTL_CONNECTOR=$connector MIGRATECTL_ORCHESTRATOR=$orchestrator
  export MIGRATECTL_TLS_CA=$certs/ca.pem MIGRATECTL_TLS_SERVER_NAME=localhost
  export MIGRATECTL_TLS_CERT=$certs/client-migratectl.pem MIGRATECTL_TLS_KEY=$certs/client-migratectl.key
  $bin/migratectl --help
  $bin/migratectl connections
  $bin/migratectl migrate status merger
  $bin/migratectl migrate report merger --format=csv
  $bin/migratectl preflight --source=contoso --target=fabrikam

  grpcurl -cacert $certs/ca.pem -cert $certs/client-migratectl.pem -key $certs/client-migratectl.key \\
    -servername localhost -d '{"name":"migrations/merger"}' $orchestrator crosstenant.v1.Orchestrator/GetMigration
  $buf curl --protocol grpc --cacert $certs/ca.pem --cert $certs/client-migratectl.pem \\
    --key $certs/client-migratectl.key --servername localhost -d '{"name":"migrations/merger"}' \\
    https://$orchestrator/crosstenant.v1.Orchestrator/GetMigration
EOT
  wait
fi
echo
echo "demo finished in $(( $(date +%s) - started )) s: migration merger $state"
case "$state" in COMPLETED*) exit 0 ;; *) exit 1 ;; esac
