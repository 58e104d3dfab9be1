#!/usr/bin/env bash
# The benchmark table: one run, one table, every row a ratio or a count measured in this run.
#
#   tests/bench/run_benchmarks.sh [--quick] [--only=ROWS] [--users=N] [--big-users=N] [--watch-users=N]
#
#   --quick          skip row 3 (the 250,000-user migration on both stores)
#   --only=1,3       run only these rows (1 GetConnection vs echo, 2 10k migration, 3 250k migration on SQLite
#                    and on PostgreSQL, 4 identity map validation, 5 1,000 watchers, 6 row 2 again on
#                    PostgreSQL; 6 runs 2 too)
#   --users=N        users of row 2 (default 10000); --big-users=N of row 3 (default 250000; 100000 is
#                    the quicker option)
#   --stores=S       the stores of row 3: sqlite, postgres or both (default both)
#   --watch-users=N  users of the migration watched in row 5 (default 500); --watchers=N (default 1000)
#   --stall=S        a migration whose status has not changed for S seconds fails its row (default 600)
#
# A missed target prints MISSED and does not fail the script; something broken (a service that does not
# start, a migration that does not end COMPLETED, in time or at all) fails its row and the script exits 1.
# Every process it starts is stopped at exit, also on Ctrl-C. CROSSTENANT_BIN_DIR picks the binaries
# (default build/bin); the run directory (logs, seeds, samples) is kept when KEEP=1. PROFILE=1 (with KEEP=1)
# records each process's CPU profile over each migration with perf (perf-NAME.data in its directory;
# `perf report -i FILE --time 90%-100%` shows where the last tenth of the run went); on PostgreSQL it also
# loads pg_stat_statements and writes the statements by total time (pg-statements.txt), the rows each table
# had inserted, updated (HOT: without new index entries), deleted and vacuumed (pg-tables.txt), and auto_explain,
# which logs the plan of each statement slower than PROFILE_PG_SLOW_MS (default 20) to pg-server.log, with
# what each step really read when PROFILE_PG_ANALYZE=1 (slower).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="${CROSSTENANT_BIN_DIR:-$root/build/bin}"
py=/usr/bin/python3
util="$root/tests/bench/bench_util.py"
rows="1,2,3,4,5,6"
users=10000
big_users=250000
big_stores=both
stall=600
failed=0  # 1 when a row failed: the script exits 1 after printing the table
watch_users=500
watchers=1000
for arg in "$@"; do
  case "$arg" in
    --quick) rows="1,2,4,5,6" ;;
    --only=*) rows="${arg#--only=}" ;;
    --users=*) users="${arg#--users=}" ;;
    --big-users=*) big_users="${arg#--big-users=}" ;;
    --stores=sqlite|--stores=postgres|--stores=both) big_stores="${arg#--stores=}" ;;
    --watch-users=*) watch_users="${arg#--watch-users=}" ;;
    --watchers=*) watchers="${arg#--watchers=}" ;;
    --stall=*) stall="${arg#--stall=}" ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_benchmarks: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
want() { case ",$rows," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
if want 6 && ! want 2; then rows="$rows,2"; fi  # row 6 is a ratio to row 2 of the same run

for program in tenant-emulator tenant-connector orchestrator worker migratectl loadgen identity_map_bench; do
  [ -x "$bin/$program" ] || { echo "run_benchmarks: $bin/$program is missing (build it first)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/crosstenant-bench.XXXXXX")
# a copy of the binaries: a rebuild of build/ during the run must not change (or briefly remove) them
mkdir -p "$work/bin"
for program in tenant-emulator tenant-connector orchestrator worker migratectl loadgen identity_map_bench; do
  cp "$bin/$program" "$work/bin/"
done
bin="$work/bin"
certs="$root/deploy/local/.certs"
bash "$root/deploy/local/dev-certs.sh" "$certs" >/dev/null
pids=()
store_flags=()  # the orchestrator's store: SQLite in its run directory unless use_postgres sets PostgreSQL
postgres_dir=""
postgres_database=""
table="$work/table.tsv"
: >"$table"

stop_pids() {  # stop_pids PID...: SIGTERM, then SIGKILL after 10 s
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  [ "${#pids[@]}" -gt 0 ] && stop_pids "${pids[@]}"
  [ -n "$postgres_dir" ] && bash "$root/tests/support/postgres_server.sh" stop "$postgres_dir" >/dev/null 2>&1
  if [ "${KEEP:-0}" = 1 ] || [ "$code" -ne 0 ]; then echo "run_benchmarks: logs kept in $work" >&2; else rm -rf "$work"; fi
  exit "$code"
}
trap cleanup EXIT
trap 'echo "run_benchmarks: interrupted" >&2; exit 130' INT TERM

now() { date +%s.%N; }
since() { "$py" -c "import sys, time; print('%.1f' % (time.time() - float(sys.argv[1])))" "$1"; }
json() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
# row NAME FIGURE TARGET VERDICT: one line of the table
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$table"; }

# launch DIR NAME PROGRAM ARGS...: starts a program that writes --ready-file, waits until it is ready.
launch() {
  local dir=$1 name=$2 program=$3
  shift 3
  "$bin/$program" --ready-file="$dir/$name.ready.json" "$@" 2>"$dir/$name.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 30000); do  # 10 minutes: the emulator generates every user of its seed before it is ready
    [ -s "$dir/$name.ready.json" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "run_benchmarks: $name failed to start:" >&2; tail -20 "$dir/$name.log" >&2; exit 1; }
    sleep 0.02
  done
  echo "run_benchmarks: $name did not become ready" >&2
  exit 1
}

# mesh DIR USERS: emulator (USERS users each side, instant moves), connector, orchestrator, 2 workers, plaintext,
# both tenants connected with the migration app's certificate (SharePoint refuses app-only tokens from a
# client secret), the identity map generated and a plan written to DIR/plan.yaml. Sets seed_s (the seed
# written and the emulator ready, every user created) and idmap_s (migratectl identity-map generate).
mesh() {
  local dir=$1 n=$2 t
  mkdir -p "$dir/connector-state"
  t=$(now)
  "$py" "$util" seed "$n" "$dir/seed.yaml" "$certs/migration-app.pem"
  launch "$dir" emulator tenant-emulator --seed "$dir/seed.yaml" --address 127.0.0.1:0 \
    --tls-cert "$certs/emulator.pem" --tls-key "$certs/emulator.key" --time-scale 10000
  emulator=$(json "$dir/emulator.ready.json" address)
  seed_s=$(since "$t")
  launch "$dir" connector tenant-connector --grpc-address=127.0.0.1:0 --metrics-address=127.0.0.1:0 --log-format=json \
    --state-dir="$dir/connector-state" --upstream-connect-to="*:443:$emulator" --upstream-ca-file="$certs/ca.pem" \
    --credential-file-dirs="$certs"
  connector=$(json "$dir/connector.ready.json" grpc_address)
  launch "$dir" orchestrator orchestrator --grpc-address=127.0.0.1:0 --metrics-address=127.0.0.1:0 --log-format=json \
    --sqlite-path="$dir/orchestrator.db" --connector-address="$connector" --poll-interval=200ms --recheck-max=1s \
    "${store_flags[@]}"
  orchestrator=$(json "$dir/orchestrator.ready.json" grpc_address)
  orchestrator_metrics=$(json "$dir/orchestrator.ready.json" metrics_address)
  local w
  for w in 1 2; do
    launch "$dir" "worker-$w" worker --grpc-address=127.0.0.1:0 --metrics-address=127.0.0.1:0 --log-format=json \
      --worker-id="worker-$w" --orchestrator-address="$orchestrator" --connector-address="$connector" --concurrency=16
  done
  export MIGRATECTL_CONNECTOR="$connector" MIGRATECTL_ORCHESTRATOR="$orchestrator"
  unset MIGRATECTL_TLS_CA MIGRATECTL_TLS_CERT MIGRATECTL_TLS_KEY
  local app_cert=(--certificate="$certs/migration-app.pem" --private-key-file="$certs/migration-app.key")
  "$bin/migratectl" connect --role=source https://contoso-admin.sharepoint.com --id=contoso \
    --client-id=11111111-1111-4111-8111-111111111111 "${app_cert[@]}" >"$dir/connect.out"
  "$bin/migratectl" connect --role=target https://fabrikam-admin.sharepoint.com --id=fabrikam \
    --client-id=22222222-2222-4222-8222-222222222222 "${app_cert[@]}" >>"$dir/connect.out"
  t=$(now)
  # bounded: a generation that hangs fails the run instead of wedging it (about 1,000 users/s at the least)
  timeout "$((120 + n / 1000))" "$bin/migratectl" identity-map generate --source=contoso --target=fabrikam \
    --output="$dir/identity-map.csv" >"$dir/generate.out" 2>&1 || {
    echo "run_benchmarks: identity-map generate failed or timed out:" >&2; tail -5 "$dir/generate.out" >&2; exit 1; }
  idmap_s=$(since "$t")
  # only the generated users: the seed's admin accounts have no OneDrive to move
  grep -v ',admin@contoso\.' "$dir/identity-map.csv" >"$dir/identity-map.users.csv"
  mv "$dir/identity-map.users.csv" "$dir/identity-map.csv"
  cat >"$dir/plan.yaml" <<EOF
migration: bench
source: contoso
target: fabrikam
identity_map: identity-map.csv
options:
  max_queued_per_source_geo: 4000
  remove_trust_when_done: false
  redirect_cleanup: keep
EOF
  mesh_pids="emulator=$(json "$dir/emulator.ready.json" pid) connector=$(json "$dir/connector.ready.json" pid)"
  mesh_pids+=" orchestrator=$(json "$dir/orchestrator.ready.json" pid)"
  mesh_pids+=" worker-1=$(json "$dir/worker-1.ready.json" pid) worker-2=$(json "$dir/worker-2.ready.json" pid)"
}
mesh_stop() { stop_pids "${pids[@]}"; pids=(); }

accounting() {  # accounting FILE: the emulator's accounting document
  curl -fsS --connect-to "::$emulator" --cacert "$certs/ca.pem" "https://login.microsoftonline.com/_emulator/accounting" >"$1"
}

# save_smaps DIR WHEN: with KEEP=1, each process's memory map (DIR/smaps-NAME-WHEN.txt), to tell what the RSS
# after a migration is made of: the heap, other anonymous mappings (malloc arenas, thread stacks) or files
save_smaps() {
  [ "${KEEP:-0}" = 1 ] || return 0
  local p
  for p in $mesh_pids; do cat "/proc/${p#*=}/smaps" >"$1/smaps-${p%=*}-$2.txt" 2>/dev/null || true; done
}

# migrate DIR USERS: migrate start, follow to the end; DIR/before.json, DIR/result.json (samples, peaks, the
# end), DIR/after.json (/proc 15 s after the end), DIR/acct-{before,after}.json. The follower gives up after
# 600 s + 1 s per 20 users, or after --stall seconds without a change of the migration's status.
migrate() {
  local dir=$1 n=$2
  # shellcheck disable=SC2086
  "$py" "$util" proc $(for p in $mesh_pids; do printf '%s ' "${p#*=}"; done) >"$dir/before.json"
  save_smaps "$dir" before
  accounting "$dir/acct-before.json"
  store_traffic "$dir/traffic-before.txt"
  if profiling_postgres; then
    postgres_admin "$postgres_database" -c "SELECT pg_stat_statements_reset(), pg_stat_reset(), pg_stat_reset_shared('wal')" >/dev/null
  fi
  database_cpu "$dir/database-cpu-before.txt"  # after the reset, which zeroes the counters it reads
  local t0 profilers=() p
  if [ "${PROFILE:-0}" = 1 ]; then  # a CPU profile of each process over the migration, in the run directory
    for p in $mesh_pids; do
      perf record -q -F 99 -g -T -o "$dir/perf-${p%=*}.data" -p "${p#*=}" 2>"$dir/perf-${p%=*}.log" &
      profilers+=("$!")
    done
  fi
  t0=$("$py" -c 'import time; print(time.time())')
  "$bin/migratectl" migrate start --plan="$dir/plan.yaml" >"$dir/start.out"
  # shellcheck disable=SC2086
  # in the background, so that Ctrl-C (or SIGTERM to this script) runs the trap at once
  "$py" "$util" follow "$dir/result.json" "$bin/migratectl" bench "$t0" "$((600 + n / 20))" "$stall" $mesh_pids &
  local follower=$!
  pids+=("$follower")
  wait "$follower" || { echo "run_benchmarks: following the migration failed" >&2; exit 1; }
  for p in "${profilers[@]}"; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  # The RSS after the end: the last results written, the services idle, and one round of their
  # housekeeping (every 10 s: SQLite page caches and idle database connections given back, malloc_trim).
  sleep 15
  # shellcheck disable=SC2086
  "$py" "$util" proc $(for p in $mesh_pids; do printf '%s ' "${p#*=}"; done) >"$dir/after.json"
  save_smaps "$dir" after
  accounting "$dir/acct-after.json"
  store_traffic "$dir/traffic-after.txt"
  save_metrics "$dir"
  database_cpu "$dir/database-cpu-after.txt"
  if profiling_postgres; then
    postgres_admin "$postgres_database" -c "SELECT calls, round(total_plan_time) AS plan_ms,
        round(total_exec_time) AS exec_ms, rows, shared_blks_hit AS blocks, wal_records, wal_fpi,
        wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
      FROM pg_stat_statements ORDER BY total_plan_time + total_exec_time DESC LIMIT 30" >"$dir/pg-statements.txt"
    postgres_admin "$postgres_database" -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,
        n_live_tup, n_dead_tup, autovacuum_count, autoanalyze_count
      FROM pg_stat_user_tables ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC" >"$dir/pg-tables.txt"
    postgres_admin "$postgres_database" -c "SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal" >>"$dir/pg-tables.txt"
    cp "$(postgres_server_dir)/server.log" "$dir/pg-server.log"  # with auto_explain's plans of the slow statements
  fi
}

# save_metrics DIR: each service's /metrics at the end of the run (DIR/metrics-NAME.txt): per-method call
# latencies (grpc_server_handling_seconds), the workers' task times by kind, the store's traffic
save_metrics() {
  local name address
  for name in connector orchestrator worker-1 worker-2; do
    address=$(json "$1/$name.ready.json" metrics_address)
    curl -fsS "http://$address/metrics" >"$1/metrics-$name.txt" || true
  done
}

# store_traffic FILE: the orchestrator's statements and round trips to PostgreSQL so far (none on SQLite)
store_traffic() {
  curl -fsS "http://$orchestrator_metrics/metrics" | grep -E '^orchestrator_store_(statements|round_trips)_total' >"$1" || true
}

# postgres_server_dir: where the PostgreSQL server's own files are (postgres_server.sh may put them under
# /tmp and name the place in server_dir)
postgres_server_dir() {
  if [ -f "$postgres_dir/server_dir" ]; then cat "$postgres_dir/server_dir"; else echo "$postgres_dir"; fi
}

# profiling_postgres: PROFILE=1 and the mesh's orchestrator on PostgreSQL
profiling_postgres() { [ "${PROFILE:-0}" = 1 ] && [ "${store_flags[0]:-}" = --store=postgres ]; }

# postgres_admin DATABASE PSQL-ARGS...: psql as the server's superuser, over its unix socket
postgres_admin() {
  local database=$1 server_dir port
  shift
  server_dir=$(postgres_server_dir)
  port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$postgres_dir/dsn")
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- psql -qX -h "$server_dir" -p "$port" -U postgres -d "$database" "$@"
  else
    psql -qX -h "$server_dir" -p "$port" -U "$(id -un)" -d "$database" "$@"
  fi
}

# database_cpu FILE: the PostgreSQL server's work so far, as "CPU_SECONDS WAL_BYTES BLOCKS SESSIONS": the CPU
# of its postmaster and every backend, the write-ahead log it wrote, the pages its queries read from its
# buffers or from disk in the benchmark's database, and the sessions opened on it. WAL and pages do not
# depend on how busy the machine is, so they compare two builds of the store where CPU seconds are within
# the run-to-run spread. "0 0 0 0" on SQLite, where the store runs inside the orchestrator and its CPU is the orchestrator's.
database_cpu() {
  if [ "${store_flags[0]:-}" != --store=postgres ]; then echo "0 0 0 0" >"$1"; return; fi
  local cpu work
  cpu=$("$py" "$util" tree_cpu "$(head -n 1 "$(postgres_server_dir)/data/postmaster.pid")")
  work=$(postgres_admin "$postgres_database" -At -F " " -c "SELECT (SELECT wal_bytes FROM pg_stat_wal),
      (SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = current_database()),
      (SELECT sessions FROM pg_stat_database WHERE datname = current_database())")
  echo "$cpu $work" >"$1"
}

summary() {  # summary DIR USERS: prints KEY=VALUE lines for the shell (figures of one migration)
  "$py" - "$1" "$2" "$mesh_pids" <<'EOF'
import json, sys
d, n, pids = sys.argv[1], int(sys.argv[2]), dict(p.split("=") for p in sys.argv[3].split())
r = json.load(open(d + "/result.json"))
before, after = json.load(open(d + "/before.json")), json.load(open(d + "/after.json"))
a0, a1 = json.load(open(d + "/acct-before.json")), json.load(open(d + "/acct-after.json"))
final = r["final"] or {}
print("state=%s" % final.get("state", "NOT_ENDED").replace("MIGRATION_STATE_", ""))
print("why='%s'" % (r.get("why") or "").replace("'", ""))
print("wall=%.2f" % r["wall_s"])
req = a1["requests"]["total"] - a0["requests"]["total"]
print("requests=%d" % req)
routes0 = a0["requests"].get("by_route", {})
routes = {k: v - routes0.get(k, 0) for k, v in a1["requests"].get("by_route", {}).items()}
top = sorted(((v, k) for k, v in routes.items() if v), reverse=True)  # every route with a request
print("routes='%s'" % "; ".join("%s %d" % (k, v) for v, k in top))
print("starts=%d" % (a1["moves"]["starts"] - a0["moves"]["starts"]))
print("duplicates=%d" % (a1["moves"]["duplicates"] - a0["moves"]["duplicates"]))
def traffic(name):  # name -> value of the orchestrator's store traffic counters
    return {l.split()[0]: float(l.split()[1]) for l in open(d + "/" + name) if l.strip()}
t0, t1 = traffic("traffic-before.txt"), traffic("traffic-after.txt")
for key in ("statements", "round_trips"):
    metric = "orchestrator_store_%s_total" % key
    print("store_%s=%d" % (key, t1.get(metric, 0) - t0.get(metric, 0)))
database = [[float(x) for x in open(d + "/database-%s.txt" % when).read().split()] for when in ("cpu-before", "cpu-after")]
for i, key in enumerate(("cpu_database", "wal_database", "blocks_database", "sessions_database")):
    print("%s=%.3f" % (key, database[1][i] - database[0][i]))
for name, pid in pids.items():
    b, e = before[pid], r["proc"][name]
    key = name.replace("-", "_")
    print("cpu_%s=%.3f" % (key, e["cpu_s"] - b["cpu_s"]))
    print("hwm_%s=%d" % (key, e["hwm_kb"]))
    print("rss0_%s=%d" % (key, b["rss_kb"]))
    print("rsspeak_%s=%d" % (key, r["rss_peak_kb"][name]))
    print("rssafter_%s=%d" % (key, after[pid]["rss_kb"]))
    print("anon0_%s=%d" % (key, b["anon_kb"]))
    print("anonafter_%s=%d" % (key, after[pid]["anon_kb"]))
    # the phase in which the RSS first came within 5% of its highest sample, and the RSS at the end
    peak = max((s["rss_kb"][name] for s in r["samples"]), default=0)
    phase = next((s["status"].get("phase", "?") for s in r["samples"] if s["rss_kb"][name] >= 0.95 * peak), "?")
    print("peakphase_%s=%s" % (key, phase.replace("MIGRATION_PHASE_", "")))
    print("rssend_%s=%d" % (key, e["rss_kb"]))
EOF
}

# server_work_per_user USERS: the PostgreSQL server's write-ahead log and pages read per user, and the
# sessions opened (after summary)
server_work_per_user() {
  "$py" -c "print('%.1f kB of WAL, %.0f pages read; %d sessions opened' % ($wal_database / 1000 / $1, $blocks_database / $1, $sessions_database))"
}

# store_per_user USERS: the orchestrator's statements and round trips to PostgreSQL per user (after summary)
store_per_user() {
  "$py" -c "print('%.2f statements in %.2f round trips (%d and %d, from migrate start to 15 s after the end)' % ($store_statements / $1, $store_round_trips / $1, $store_statements, $store_round_trips))"
}

# the moved count over time: users/s of the first and the last 10% of the users
rate_ratio() {
  "$py" - "$1" "$2" <<'EOF'
import json, sys
r, n = json.load(open(sys.argv[1] + "/result.json")), int(sys.argv[2])
FINAL = ("SUCCESS", "FAILED", "BLOCKED", "STOPPED", "CANCELLED", "VALIDATED")
def done(st):
    c = (st.get("counts") or {}).get("by_state", [])
    return sum(int(x.get("count", 0)) for x in c if x.get("state", "").replace("USER_MOVE_STATE_", "") in FINAL)
pts = [(s["t"], done(s["status"])) for s in r["samples"]]
def when(k):  # first time the count reached k (linear between samples)
    prev = (0.0, 0)
    for t, c in pts:
        if c >= k:
            if c == prev[1]:
                return t
            return prev[0] + (t - prev[0]) * (k - prev[1]) / (c - prev[1])
        prev = (t, c)
    return None
# the pace of each tenth (0 when unknown): the first and the last are the row's ratio; all ten tell a
# slowdown that grows with the migration from the machine's ups and downs
edges = [when(max(1, n * i // 10)) for i in range(11)]
pace = [(n * (i + 1) // 10 - n * i // 10) / (b - a) if a is not None and b is not None and b > a else 0
        for i, (a, b) in enumerate(zip(edges, edges[1:]))]
print("first10=%.0f last10=%.0f tenths='%s'" % (pace[0], pace[-1], " ".join("%.0f" % p if p else "-" for p in pace)))
# The mesh's CPU s per 1,000 users in the first and the last tenth (the emulator's apart): unlike users/s,
# a machine that other work slows down leaves it alone, so it tells a cost that grows with the migration.
def sample_at(t, key):  # `key` of the first sample taken at or after t that has it (None if none)
    if t is None:
        return None
    return next((s[key] for s in r["samples"] if s["t"] >= t and key in s), None)
def cpu_at(t, mesh):  # the CPU seconds the mesh (or the emulator) had used by t
    cpu = sample_at(t, "cpu_s")
    return None if cpu is None else sum(v for k, v in cpu.items() if (k != "emulator") == mesh)
def cpu_per_1000(i, mesh):
    ca, cb = cpu_at(edges[i], mesh), cpu_at(edges[i + 1], mesh)
    users = n * (i + 1) // 10 - n * i // 10
    return (cb - ca) * 1000 / users if ca is not None and cb is not None and users else 0
print("cpu_first10=%.3f cpu_last10=%.3f emulator_cpu_first10=%.3f emulator_cpu_last10=%.3f" % (
    cpu_per_1000(0, True), cpu_per_1000(9, True), cpu_per_1000(0, False), cpu_per_1000(9, False)))
# How busy the whole machine was in each tenth (0 to 1; 1: every CPU busy all the time)
def busy(i):
    a, b = sample_at(edges[i], "machine"), sample_at(edges[i + 1], "machine")
    if not a or not b:
        return 0
    spent = (b["busy_s"] - a["busy_s"]) + (b["idle_s"] - a["idle_s"])
    return (b["busy_s"] - a["busy_s"]) / spent if spent > 0 else 0
print("busy_tenths='%s'" % " ".join("%.2f" % busy(i) for i in range(10)))
EOF
}

# use_postgres DATABASE: the orchestrator of the next mesh stores in a fresh database of a PostgreSQL server
# in the run directory (started by the first call: initdb, loopback, fsync off, as in the tests).
use_postgres() {
  if [ -z "$postgres_dir" ]; then
    postgres_dir="$work/postgres"
    if [ "${PROFILE:-0}" = 1 ]; then
      export POSTGRES_SERVER_CONF="shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track_planning = on
session_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = '${PROFILE_PG_SLOW_MS:-20}ms'"
      if [ "${PROFILE_PG_ANALYZE:-0}" = 1 ]; then  # the plans with the rows and buffers each step really read
        POSTGRES_SERVER_CONF+="
auto_explain.log_analyze = on
auto_explain.log_buffers = on"
      fi
    fi
    bash "$root/tests/support/postgres_server.sh" start "$postgres_dir" >"$work/postgres-start.log" 2>&1 || {
      echo "run_benchmarks: PostgreSQL did not start:" >&2; tail -20 "$work/postgres-start.log" >&2; exit 1; }
  fi
  # a database of the test role's own (it may not create tables in the server's default database)
  psql -qX "$(cat "$postgres_dir/dsn")" -c "CREATE DATABASE $1" >/dev/null
  if [ "${PROFILE:-0}" = 1 ]; then postgres_admin "$1" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"; fi
  (umask 077 && sed "s/dbname=postgres/dbname=$1/" "$postgres_dir/dsn" >"$work/postgres-$1.dsn")
  store_flags=(--store=postgres --postgres-dsn-file="$work/postgres-$1.dsn")
  postgres_database=$1
}

verdict() {  # verdict EXPR: ok when the python expression is true
  if "$py" -c "import sys; sys.exit(0 if ($1) else 1)"; then echo ok; else echo MISSED; fi
}

# ---- 1. GetConnection (cached) against the bare echo server -------------------------------------------------
if want 1; then
  log "1. GetConnection vs echo (loadgen, 64 in flight, 2 channels, 10 s each)"
  bash "$root/tests/bench/connector_get_connection.sh" "$bin" 10s >"$work/getconnection.out" 2>&1 &
  gc=$!
  pids+=("$gc")
  wait "$gc" || { cat "$work/getconnection.out" >&2; exit 1; }
  sed -n '/^rpc/,$p' "$work/getconnection.out" >&2
  line=$(grep '^ratio to bare echo' "$work/getconnection.out")
  echo_rps=$(awk '/^bare echo/ {print $(NF-6)}' "$work/getconnection.out")
  gc_rps=$(awk '/GetConnection/ {print $(NF-6)}' "$work/getconnection.out")
  echo_p99=$(awk '/^bare echo/ {print $(NF-4)}' "$work/getconnection.out")
  gc_p99=$(awk '/GetConnection/ {print $(NF-4)}' "$work/getconnection.out")
  rps_ratio=$(echo "$line" | sed -n 's/.*calls\/s \([0-9.]*\).*/\1/p')
  p99_ratio=$(echo "$line" | sed -n 's/.*p99 \([0-9.]*\).*/\1/p')
  row "1 GetConnection/echo RPC/s" "$gc_rps / $echo_rps calls/s = $rps_ratio" ">= 0.8" "$(verdict "$rps_ratio >= 0.8")"
  row "1 GetConnection/echo p99" "$gc_p99 / $echo_p99 us = $p99_ratio" "(reported)" "-"
fi

# ---- 2. a 10,000-user migration with instant moves -----------------------------------------------------------
if want 2; then
  dir="$work/m$users"
  log "2. $users-user migration: starting the mesh, generating the identity map"
  mesh "$dir" "$users"
  log "2. migrate start"
  migrate "$dir" "$users"
  eval "$(summary "$dir" "$users")"
  mesh_stop
  log "2. $state in $wall s, $requests upstream requests ($routes)"
  [ "$state" = COMPLETED ] || { echo "run_benchmarks: the $users-user migration ended $state" >&2; exit 1; }
  ups=$("$py" -c "print('%.0f' % ($users / $wall))")
  rpu=$("$py" -c "print('%.2f' % ($requests / $users))")
  sqlite_wall=$wall sqlite_requests=$requests sqlite_cpu_orchestrator=$cpu_orchestrator
  row "2 migration $users users: wall time" "${wall} s (CreateMigration to COMPLETED)" "-" "-"
  row "2 users per second" "$ups users/s" ">= 1000/s" "$(verdict "$ups >= 1000")"
  row "2 upstream requests per user" "$rpu ($requests requests; move starts $starts, duplicates $duplicates)" "<= 2" \
    "$(verdict "$rpu <= 2")"
  for s in emulator connector orchestrator worker_1 worker_2; do
    c=$(eval echo "\$cpu_$s"); h=$(eval echo "\$hwm_$s")
    ph=$(eval echo "\$peakphase_$s")
    row "2 $s" "$("$py" -c "print('%.2f CPU s per 1,000 users, peak RSS %.1f MB' % ($c * 1000 / $users, $h / 1024))") (highest in $ph)" "-" "-"
  done
  echo "$routes" >"$work/routes-$users.txt"
fi

# ---- 6. row 2's migration again, the orchestrator on PostgreSQL -------------------------------------
if want 6; then
  dir="$work/m$users-postgres"
  log "6. $users-user migration on PostgreSQL: starting a PostgreSQL server and the mesh"
  use_postgres "bench$users"
  mesh "$dir" "$users"
  log "6. migrate start"
  migrate "$dir" "$users"
  eval "$(summary "$dir" "$users")"
  mesh_stop
  store_flags=()
  log "6. $state in $wall s on PostgreSQL ($sqlite_wall s on SQLite)"
  [ "$state" = COMPLETED ] || { echo "run_benchmarks: the $users-user migration on PostgreSQL ended $state" >&2; exit 1; }
  row "6 migration $users users on PostgreSQL: wall time" "${wall} s (SQLite: ${sqlite_wall} s)" "-" "-"
  row "6 users/s PostgreSQL / SQLite" "$("$py" -c "print('%.0f / %.0f users/s = %.2f' % ($users / $wall, $users / $sqlite_wall, $sqlite_wall / $wall))")" \
    ">= 0.8" "$(verdict "$sqlite_wall / $wall >= 0.8")"
  row "6 orchestrator CPU s per 1,000 users" "$("$py" -c "print('%.2f on PostgreSQL, %.2f on SQLite' % ($cpu_orchestrator * 1000 / $users, $sqlite_cpu_orchestrator * 1000 / $users))")" "-" "-"
  row "6 PostgreSQL server CPU s per 1,000 users" "$("$py" -c "print('%.2f (postmaster and backends)' % ($cpu_database * 1000 / $users))")" "(reported)" "-"
  row "6 PostgreSQL server work per user" \
    "$(server_work_per_user "$users")" "(reported)" "-"
  row "6 upstream requests per user" "$("$py" -c "print('%.2f on PostgreSQL, %.2f on SQLite' % ($requests / $users, $sqlite_requests / $users))")" "<= 2" \
    "$(verdict "$requests / $users <= 2")"
  row "6 PostgreSQL statements per user" "$(store_per_user "$users")" "(reported)" "-"
fi

# ---- 3. the big migration (250,000 users), on SQLite and then on PostgreSQL ------------------------------------
# big STORE: one run of row 3 on the store of store_flags, its rows in the table (STORE: SQLite or PostgreSQL).
# A migration that does not end COMPLETED (stalled, too slow, a service gone) fails the row; the next runs.
big() {
  local store=$1 n=$big_users dir="$work/m$big_users-$1"
  local label="3 $n users $store"
  log "3. $n-user migration on $store: starting the mesh, generating the identity map"
  mesh "$dir" "$n"
  log "3. seed and emulator ready in $seed_s s, identity map generated in $idmap_s s; migrate start"
  migrate "$dir" "$n"
  eval "$(summary "$dir" "$n")"
  eval "$(rate_ratio "$dir" "$n")"
  mesh_stop
  store_flags=()
  log "3. $store: $state in $wall s $why"
  if [ "$state" != COMPLETED ]; then
    row "$label" "ended $state after $wall s $why" "COMPLETED" "FAILED"
    failed=1
    return 0
  fi
  big_wall[$store]=$wall
  row "$label: wall time" "$wall s, $("$py" -c "print('%.0f' % ($n / $wall))") users/s (before the clock: seed and emulator ready in $seed_s s, identity map generated in $idmap_s s)" "-" "-"
  local rr
  rr=$("$py" -c "print('%.2f' % ($last10 / $first10 if $first10 else 0))")
  row "$label: users/s last 10% / first 10%" "$last10 / $first10 = $rr" ">= 0.95" "$(verdict "$rr >= 0.95")"
  row "$label: users/s of each tenth of the users" "$tenths" "(reported)" "-"
  row "$label: CPU s per 1,000 users, last 10% / first 10%" \
    "$("$py" -c "print('mesh %.2f / %.2f = %.2f; emulator %.2f / %.2f (not counted)' % ($cpu_last10, $cpu_first10, $cpu_last10 / $cpu_first10 if $cpu_first10 else 0, $emulator_cpu_last10, $emulator_cpu_first10))")" \
    "(reported)" "-"
  row "$label: the machine's busy share in each tenth" "$busy_tenths" "(reported)" "-"
  if [ "$store" = PostgreSQL ] && [ -n "${big_wall[SQLite]:-}" ]; then
    row "$label: users/s PostgreSQL / SQLite" \
      "$("$py" -c "print('%.0f / %.0f users/s = %.2f' % ($n / $wall, $n / ${big_wall[SQLite]}, ${big_wall[SQLite]} / $wall))")" \
      ">= 0.8" "$(verdict "${big_wall[SQLite]} / $wall >= 0.8")"
  fi
  if [ "$store" = PostgreSQL ]; then
    row "$label: statements per user" "$(store_per_user "$n")" "(reported)" "-"
    row "$label: PostgreSQL server CPU s per 1,000 users" \
      "$("$py" -c "print('%.2f (postmaster and backends; not in the total below)' % ($cpu_database * 1000 / $n))")" "(reported)" "-"
    row "$label: PostgreSQL server work per user" \
      "$(server_work_per_user "$n")" "(reported)" "-"
  fi
  local s limit h r0 rp ra a0 aa ph target v
  for s in connector orchestrator worker_1 worker_2; do
    case $s in connector) limit=64 ;; orchestrator) limit=150 ;; *) limit="" ;; esac
    h=$(eval echo "\$hwm_$s"); r0=$(eval echo "\$rss0_$s"); rp=$(eval echo "\$rsspeak_$s")
    ra=$(eval echo "\$rssafter_$s"); ph=$(eval echo "\$peakphase_$s")
    a0=$(eval echo "\$anon0_$s"); aa=$(eval echo "\$anonafter_$s")
    if [ -n "$limit" ]; then target="<= $limit MB"; v=$(verdict "$h / 1024 <= $limit"); else target="(reported)"; v=-; fi
    row "$label: $s peak memory" \
      "$("$py" -c "print('VmHWM %.1f MB, highest RSS sample %.1f MB (in $ph)' % ($h / 1024, $rp / 1024))")" "$target" "$v"
    row "$label: $s RSS after / before" \
      "$("$py" -c "print('%.1f / %.1f MB = %.2f (anonymous: %.1f / %.1f MB)' % ($ra / 1024, $r0 / 1024, $ra / $r0 if $r0 else 0, $aa / 1024, $a0 / 1024))")" \
      "<= 1.20" "$(verdict "$r0 and $ra <= 1.2 * $r0")"
  done
  local total
  total=$("$py" -c "print('%.2f' % (($cpu_connector + $cpu_orchestrator + $cpu_worker_1 + $cpu_worker_2) * 1000 / $n))")
  row "$label: CPU s per 1,000 users" \
    "$("$py" -c "k = 1000 / $n; print('connector %.2f + orchestrator %.2f + workers %.2f + %.2f = $total (emulator %.2f, not counted)' % ($cpu_connector * k, $cpu_orchestrator * k, $cpu_worker_1 * k, $cpu_worker_2 * k, $cpu_emulator * k))")" \
    "<= 1.4" "$(verdict "$total <= 1.4")"
  local rpu
  rpu=$("$py" -c "print('%.2f' % ($requests / $n))")
  row "$label: upstream requests per user" "$rpu ($requests requests; move starts $starts, duplicates $duplicates)" \
    "<= 1.27" "$(verdict "$rpu <= 1.27 and $duplicates == 0")"
  echo "$routes" >"$work/routes-$n-$store.txt"
}

if want 3; then
  declare -A big_wall=()
  case $big_stores in sqlite|both) big SQLite ;; esac
  case $big_stores in postgres|both) use_postgres "bench$big_users"; big PostgreSQL ;; esac
fi

# ---- 4. identity map validation of 100,000 rows -----------------------------------------------------------------
if want 4; then
  log "4. identity map validation (identity_map_bench)"
  "$bin/identity_map_bench" >"$work/identity_map.out"
  cat "$work/identity_map.out" >&2
  read_s=$(awk '/^plain read/ {print $(NF-1)}' "$work/identity_map.out")
  val_s=$(awk '/^read \+ parse/ {print $(NF-1)}' "$work/identity_map.out")
  ratio=$(sed -n 's/^ratio validate\/read: \([0-9.]*\)x.*/\1/p' "$work/identity_map.out")
  row "4 identity map 100,000 rows" "validate $val_s s vs plain read $read_s s = ${ratio}x" "(reported)" "-"
fi

# ---- 5. WatchMigration with 1,000 concurrent watchers -------------------------------------------------------------
if want 5; then
  dir="$work/watch"
  log "5. $watchers watchers of a $watch_users-user migration"
  mesh "$dir" "$watch_users"
  opid=$(json "$dir/orchestrator.ready.json" pid)
  rss_before=$("$py" "$util" proc "$opid" | "$py" -c 'import json,sys; print(list(json.load(sys.stdin).values())[0]["rss_kb"])')
  "$bin/migratectl" migrate start --plan="$dir/plan.yaml" >"$dir/start.out"
  "$py" "$util" watch "$orchestrator" migrations/bench "$watchers" "$dir/watch.json" &
  wpid=$!
  pids+=("$wpid")
  peak=0
  while kill -0 "$wpid" 2>/dev/null; do
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$opid/status")
    [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.2
  done
  wait "$wpid" || { echo "run_benchmarks: the watchers failed" >&2; exit 1; }
  sleep 1
  rss_after=$(awk '/^VmRSS:/ {print $2}' "/proc/$opid/status")
  st=$("$bin/migratectl" migrate status bench --format=json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["state"])')
  mesh_stop
  eval "$("$py" -c "
import json; w = json.load(open('$dir/watch.json'))
print('complete=%d last=%d errors=%d delivered=%d resumed=%d resumes=%d wwall=%.0f' % (w['complete'], w['last_sequence'], w['error_count'], w['events_delivered'], w.get('resumed_watchers', 0), w.get('resumes', 0), w['wall_s']))")"
  row "5 WatchMigration $watchers watchers ($watch_users users)" \
    "$complete/$watchers got every event up to #$last ($delivered events delivered in $wwall s, $errors errors, $resumed watchers cut off for reading too slowly and resumed $resumes times; ${st#MIGRATION_STATE_})" \
    "all" "$(verdict "$complete == $watchers")"
  row "5 orchestrator RSS before/peak/after" "$("$py" -c "print('%.1f / %.1f / %.1f MB' % ($rss_before/1024, $peak/1024, $rss_after/1024))")" \
    "(reported)" "-"
fi

# ---- the table ------------------------------------------------------------------------------------------------------
echo
echo "crosstenant benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
"$py" - "$table" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
head = ["name", "figure", "target", "verdict"]
w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
print(line(head))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows:
    print(line(r))
EOF
[ "$failed" -eq 0 ] || { echo "run_benchmarks: a row FAILED (see the table)" >&2; exit 1; }
