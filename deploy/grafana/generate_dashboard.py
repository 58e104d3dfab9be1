#!/usr/bin/python3
"""Writes deploy/grafana/crosstenant-dashboard.json, the mesh's Grafana dashboard.

  deploy/grafana/generate_dashboard.py           rewrite the JSON
  deploy/grafana/generate_dashboard.py --check   exit 1 if the JSON differs from what this writes

Edit the panels here rather than in the JSON (or export from Grafana and port the change back), so the
layout stays computed. Every metric named here must exist: tests/deploy/metric_names_test.py checks them
against the live mesh. The datasource is the variable ${datasource}; the golden-signals row repeats per
job (crosstenant-tenant-connector, crosstenant-orchestrator, crosstenant-worker).
"""
import json
import os
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
next_id = [1]
y = [0]

def pid():
    next_id[0] += 1
    return next_id[0] - 1

def row(title, repeat=None, collapsed=False):
    p = {"type": "row", "id": pid(), "title": title, "collapsed": collapsed, "panels": [],
         "gridPos": {"h": 1, "w": 24, "x": 0, "y": y[0]}}
    if repeat:
        p["repeat"] = repeat
    panels.append(p)
    y[0] += 1

def ts(title, targets, x, w, h=8, unit="short", description="", stack=False, thresholds=None, min0=True):
    p = {"type": "timeseries", "id": pid(), "title": title, "description": description, "datasource": DS,
         "gridPos": {"h": h, "w": w, "x": x, "y": y[0]},
         "fieldConfig": {"defaults": {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                                                "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                                                                "showPoints": "never"}},
                         "overrides": []},
         "options": {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True, "calcs": ["lastNotNull", "max"]},
                     "tooltip": {"mode": "multi", "sort": "desc"}},
         "targets": [{"datasource": DS, "refId": chr(65 + i), "expr": e, "legendFormat": l, "range": True}
                     for i, (e, l) in enumerate(targets)]}
    if min0:
        p["fieldConfig"]["defaults"]["min"] = 0
    if thresholds:
        p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": thresholds}
        p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = {"mode": "line+area"}
    panels.append(p)
    return p

def stat(kind, title, targets, x, w, h=8, unit="short", description="", thresholds=None, extra=None):
    p = {"type": kind, "id": pid(), "title": title, "description": description, "datasource": DS,
         "gridPos": {"h": h, "w": w, "x": x, "y": y[0]},
         "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": thresholds or [{"color": "green", "value": None}]}},
                         "overrides": []},
         "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
         "targets": [{"datasource": DS, "refId": chr(65 + i), "expr": e, "legendFormat": l, "instant": True, "range": False}
                     for i, (e, l) in enumerate(targets)]}
    if extra:
        p["options"].update(extra)
    panels.append(p)
    return p

J = 'job=~"$job"'
# ---- golden signals, one row per service (repeated for each selected job)
row("Golden signals: $job", repeat="job")
ts("Traffic: RPCs started per second", [
    (f'sum by (grpc_service, grpc_method) (rate(grpc_server_started_total{{{J}}}[$__rate_interval]))', "{{grpc_service}}/{{grpc_method}}")],
   0, 6, unit="reqps", description="grpc_server_started_total by method (go-grpc-prometheus).")
ts("Errors: share of RPCs not OK", [
    (f'sum by (grpc_service, grpc_code) (rate(grpc_server_handled_total{{{J},grpc_code!="OK"}}[$__rate_interval])) / ignoring (grpc_code) group_left sum by (grpc_service) (rate(grpc_server_handled_total{{{J}}}[$__rate_interval]))',
     "{{grpc_service}} {{grpc_code}}")],
   6, 6, unit="percentunit", description="Handled RPCs by gRPC code other than OK, as a share of all handled RPCs of the service. InvalidArgument and FailedPrecondition are callers' errors; Unavailable, Internal, Unknown and DeadlineExceeded are ours (alert CrosstenantGrpcServerErrors).")
ts("Latency: p50 / p99 per service", [
    (f'histogram_quantile(0.99, sum by (grpc_service, le) (rate(grpc_server_handling_seconds_bucket{{{J},grpc_type="unary"}}[$__rate_interval])))', "p99 {{grpc_service}}"),
    (f'histogram_quantile(0.50, sum by (grpc_service, le) (rate(grpc_server_handling_seconds_bucket{{{J},grpc_type="unary"}}[$__rate_interval])))', "p50 {{grpc_service}}")],
   12, 6, unit="s", description="grpc_server_handling_seconds of unary RPCs (long polls such as LeaseTasks and streams such as WatchMigration are server-streaming or wait on purpose).")
ts("Saturation: CPU, memory, file descriptors", [
    (f'sum by (instance) (rate(process_cpu_seconds_total{{{J}}}[$__rate_interval]))', "CPU cores {{instance}}"),
    (f'max by (instance) (process_open_fds{{{J}}} / process_max_fds{{{J}}})', "fds used {{instance}}")],
   18, 6, unit="short", description="CPU in cores (compare with the container limit) and the share of file descriptors in use.")
y[0] += 8
ts("Memory (resident)", [(f'sum by (instance) (process_resident_memory_bytes{{{J}}})', "{{instance}}")], 0, 8, h=6, unit="bytes")
ts("Threads", [(f'sum by (instance) (process_threads{{{J}}})', "{{instance}}")], 8, 8, h=6)
stat("stat", "Build", [(f'count by (job, version, revision) (tenant_connector_build_info{{{J}}} or orchestrator_build_info{{{J}}} or worker_build_info{{{J}}})', "{{job}} {{version}} {{revision}}")], 16, 8, h=6,
     description="Versions running (the *_build_info gauges).", extra={"textMode": "name", "colorMode": "none"})
y[0] += 6

# ---- migrations
row("Migrations")
# orchestrator_migrations, _user_moves, _queue_depth and _queue_limit count the whole store, and every
# orchestrator replica reports them (the prod overlay runs three on one database): take the max over the
# replicas, never the sum.
stat("bargauge", "Users by state (live migrations)", [("max by (state) (orchestrator_user_moves)", "{{state}}")], 0, 8, h=9,
     description="orchestrator_user_moves: the users of running, waiting or paused migrations by state (every replica reports the whole store: max over them).",
     extra={"displayMode": "basic", "orientation": "horizontal", "showUnfilled": True})
ts("Migration progress by state", [("max by (state) (orchestrator_user_moves)", "{{state}}")], 8, 10, h=9, stack=True,
   description="Users per state over time; success growing and queued shrinking is progress (alert MigrationNoProgress).")
stat("stat", "Migrations by phase and state", [("max by (phase, state) (orchestrator_migrations)", "{{phase}} / {{state}}")], 18, 6, h=9,
     description="orchestrator_migrations. A migration waiting in trust_verification for seven days fires TrustDormantPastSevenDays.",
     extra={"textMode": "value_and_name", "colorMode": "none", "orientation": "horizontal"})
y[0] += 9
ts("Task completions by kind and outcome", [("sum by (kind, outcome) (rate(orchestrator_tasks_completed_total[$__rate_interval]))", "{{kind}} {{outcome}}")],
   0, 8, unit="ops", description="Results the workers reported and the orchestrator applied.")
ts("Worker tasks: in flight and p95 time", [
    ("sum(worker_tasks_in_flight)", "in flight (all workers)"),
    ("histogram_quantile(0.95, sum by (kind, le) (rate(worker_task_seconds_bucket[$__rate_interval])))", "p95 seconds {{kind}}")],
   8, 8, description="worker_tasks_in_flight against the workers' concurrency shows their saturation; worker_task_seconds from lease to completion.")
ts("Failed moves and lease errors", [
    ('sum(increase(orchestrator_tasks_completed_total{kind="start_move",outcome="failed"}[$__rate_interval]))', "start refused by Microsoft"),
    ('max(orchestrator_user_moves{state="failed"})', "users failed (live migrations)"),
    ("sum(increase(worker_lease_errors_total[$__rate_interval]))", "worker lease errors"),
    ("sum(increase(orchestrator_stale_completions_total[$__rate_interval]))", "stale completions (lease expired)")],
   16, 8)
y[0] += 8
ts("Orchestrator replicas leading", [("sum(orchestrator_leader)", "replicas leading (1, or an alert fires)")], 0, 12, h=6,
   description="The sum of orchestrator_leader over the replicas: exactly one drives the migrations' phases. 0 for a minute fires CrosstenantOrchestratorNoLeader, over 1 CrosstenantOrchestratorSeveralLeaders; a failover shows as a short dip.",
   thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}, {"color": "red", "value": 2}])
ts("Orchestrator leadership term per replica", [("max by (instance) (orchestrator_leadership_term)", "{{instance}}")], 12, 12, h=6,
   description="The term each replica leads in (0: it does not lead). The term grows by one at each change of leader: steps mean failovers or rolling updates.")
y[0] += 6

# ---- queues
row("Queues per source geo")
ts("Queue depth per source geo, against its limit", [
    ("max by (source_geo) (orchestrator_queue_depth)", "depth {{source_geo}}"),
    ("max by (source_geo) (orchestrator_queue_limit)", "limit {{source_geo}}")],
   0, 16, description="Users active at Microsoft (or handed to a worker to start) per source geo; Microsoft accepts at most 4,000 queued per source geo.")
stat("bargauge", "Queue use per source geo", [("max by (source_geo) (orchestrator_queue_depth) / on (source_geo) max by (source_geo) (orchestrator_queue_limit)", "{{source_geo}}")],
     16, 8, unit="percentunit", thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 0.9}],
     extra={"displayMode": "gradient", "orientation": "horizontal", "min": 0, "max": 1})
y[0] += 8

# ---- Microsoft
row("Microsoft: requests, throttling, Retry-After")
ts("Upstream requests by API and HTTP status", [("sum by (api, code) (rate(tenant_connector_upstream_requests_total[$__rate_interval]))", "{{api}} {{code}}")],
   0, 8, unit="reqps", description="HTTPS requests the connector sent to Entra ID, Graph and SharePoint admin (code 0: no response).")
ts("Throttled share of upstream requests (429, 503)", [
    ('sum by (api) (rate(tenant_connector_upstream_requests_total{code=~"429|503"}[$__rate_interval])) / sum by (api) (rate(tenant_connector_upstream_requests_total[$__rate_interval]))', "{{api}}")],
   8, 8, unit="percentunit", thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 0.3}],
   description="Over 30% for 30 minutes is Microsoft's escalation threshold (alert TenantThrottledOver30Percent).")
ts("Retry-After waits", [
    ("histogram_quantile(0.99, sum by (api, le) (rate(tenant_connector_retry_after_wait_seconds_bucket[$__rate_interval])))", "p99 wait {{api}}"),
    ("sum by (api) (rate(tenant_connector_retry_after_wait_seconds_count[$__rate_interval]))", "waits/s {{api}}"),
    ("sum by (api) (rate(tenant_connector_upstream_throttled_total[$__rate_interval]))", "retried/s {{api}}")],
   16, 8, description="How long callers waited for Microsoft's Retry-After (or the back-off when none was sent), and how often responses were retried.")
y[0] += 8

# ---- credentials
row("Connections, tokens and credentials")
stat("bargauge", "Credential expiry per connection", [("min by (connection) (tenant_connector_credential_expiry_seconds)", "{{connection}}")],
     0, 8, unit="s", thresholds=[{"color": "red", "value": None}, {"color": "orange", "value": 86400}, {"color": "green", "value": 604800}],
     description="Time until each connection's certificate or client secret expires (alerts at 7 days and 1 day).",
     extra={"displayMode": "basic", "orientation": "horizontal"})
ts("Access token expiry per connection", [("min by (connection) (tenant_connector_token_expiry_seconds)", "{{connection}}")],
   8, 8, unit="s", thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 60}], min0=False,
   description="Seconds until the earliest cached access token expires; a sawtooth is healthy renewal, a line reaching zero is not (alert TenantTokenNotRenewed).")
ts("Connections by role and state; sign-ins", [
    ("sum by (role, state) (tenant_connector_connections)", "{{role}} {{state}}"),
    ("sum by (kind, result) (increase(tenant_connector_sign_ins_total[$__rate_interval]))", "sign-ins {{kind}} {{result}}")],
   16, 8)
y[0] += 8

dashboard = {
    "uid": "crosstenant-mesh",
    "title": "crosstenant: cross-tenant OneDrive migration mesh",
    "description": "Golden signals of tenant-connector, orchestrator and workers; migration progress; queues per source geo; Microsoft throttling and Retry-After; token and credential expiry.",
    "tags": ["crosstenant", "grpc", "migration"],
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "time": {"from": "now-6h", "to": "now"},
    "refresh": "30s",
    "timezone": "browser",
    "links": [],
    "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
                              "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
    "templating": {"list": [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "refresh": 1,
         "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "regex": ""},
        {"name": "job", "label": "Service", "type": "query", "datasource": DS,
         "query": {"query": "label_values(grpc_server_started_total{job=~\"crosstenant-.*\"}, job)", "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
         "definition": "label_values(grpc_server_started_total{job=~\"crosstenant-.*\"}, job)",
         "refresh": 2, "includeAll": True, "multi": True, "current": {}, "options": [], "regex": "", "sort": 1, "hide": 0},
    ]},
    "panels": panels,
}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crosstenant-dashboard.json")
text = json.dumps(dashboard, indent=2) + "\n"
if sys.argv[1:] == ["--check"]:
    with open(path) as f:
        if f.read() != text:
            sys.exit(f"{path} differs from what {os.path.basename(__file__)} writes; run it and commit the result")
    print(f"{path} is up to date")
else:
    with open(path, "w") as f:
        f.write(text)
