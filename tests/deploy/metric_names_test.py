#!/usr/bin/python3
"""Every metric the alert rules and the dashboard name is one the services really export.

Runs the demo mesh on loopback with the real binaries: the tenant emulator (with a share of throttled
answers, so Retry-After waits happen), tenant-connector, orchestrator and a worker; connects the source
and the target with the migration app's certificate (SharePoint refuses app-only tokens obtained with a
client secret; the certificate's end date makes the credential expiry gauge exist), runs a
small migration to its end, and scrapes every /metrics endpoint all along (some series exist only while
a migration is live). Then each PromQL expression of deploy/prometheus/crosstenant-alerts.yml and of
deploy/grafana/crosstenant-dashboard.json is taken apart: every metric name must appear in the scrapes,
and every label a selector matches on must be a label of that metric (job and instance come from
Prometheus; `up` is Prometheus' own).

  BIN_DIR=build/bin BUF=tools/node_modules/.bin/buf /usr/bin/python3 tests/deploy/metric_names_test.py
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as lib  # noqa: E402
import yaml  # noqa: E402

BIN_DIR = os.environ.get("BIN_DIR") or lib.fail("set BIN_DIR to the build's bin directory")
BUF = os.environ.get("BUF") or os.path.join(lib.SOURCE_DIR, "tools", "node_modules", ".bin", "buf")
if not os.access(BUF, os.X_OK):
    lib.fail(f"buf not found at {BUF} (run deploy/local/bootstrap.sh)")
RULES = os.path.join(lib.SOURCE_DIR, "deploy", "prometheus", "crosstenant-alerts.yml")
DASHBOARD = os.path.join(lib.SOURCE_DIR, "deploy", "grafana", "crosstenant-dashboard.json")
TARGET_LABELS = {"job", "instance", "namespace", "pod", "__name__"}
PROMETHEUS_OWN = {"up"}
# Label values the orchestrator derives from crosstenant.v1 enums (lower case, prefix dropped): the rules'
# and the dashboard's matchers on them are checked against the proto, since one run cannot show them all.
ENUM_LABELS = {("orchestrator_migrations", "phase"): "MIGRATION_PHASE_",
               ("orchestrator_migrations", "state"): "MIGRATION_STATE_",
               ("orchestrator_user_moves", "state"): "USER_MOVE_STATE_",
               ("orchestrator_tasks_completed_total", "kind"): "TASK_KIND_",
               ("orchestrator_tasks_completed_total", "outcome"): "TASK_OUTCOME_"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}


def expressions():
    """(where, expr) for every rule and every dashboard query and variable."""
    found = []
    with open(RULES) as f:
        for group in yaml.safe_load(f)["groups"]:
            for rule in group["rules"]:
                found.append((f"crosstenant-alerts.yml {rule.get('alert') or rule.get('record')}", rule["expr"]))
    with open(DASHBOARD) as f:
        dashboard = json.load(f)

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((f"dashboard panel '{panel['title']}' {target['refId']}", target["expr"]))
            walk(panel.get("panels", []))
    walk(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        query = variable.get("definition") or ""
        match = re.match(r"label_values\((\w+)\s*,\s*(\w+)\)", query)
        if match:
            found.append((f"dashboard variable {variable['name']}", f"{match.group(1)}{{{match.group(2)}!=\"\"}}"))
    return found


def selectors(expr):
    """(metric name, [label names matched]) for each vector selector of a PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)        # string literals out (label values, $vars)
    text = re.sub(r"\[[^\]]*\]", "", text)                  # range and subquery durations out
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = []
    for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?", text):
        name, braces, call = match.group(1), match.group(2), match.group(3)
        if call and not braces:
            continue  # a function such as rate( or histogram_quantile(
        if name.lower() in KEYWORDS or re.fullmatch(r"[0-9.e+]+", name):
            continue
        labels = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", braces or "")
        found.append((name, labels))
    return found


def enum_values(prefix):
    values = set()
    for proto in ("migration.proto", "task.proto"):
        with open(os.path.join(lib.SOURCE_DIR, "proto", "crosstenant", "v1", proto)) as f:
            values.update(v.lower() for v in re.findall(prefix + r"([A-Z0-9_]+)\s*=", f.read()))
    values.discard("unspecified")
    return values


def enum_matchers(expr):
    """(metric, label, value) for each `metric{label="value"}` or `=~"a|b"` matcher on an enum label."""
    for metric, body in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}", expr):
        for label, op, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"', body):
            if (metric, label) in ENUM_LABELS:
                for alternative in value.split("|") if op in ("=~", "!~") else [value]:
                    yield metric, label, alternative


def call(address, method, body):
    result = subprocess.run([BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", json.dumps(body),
                             f"http://{address}/crosstenant.v1.{method}"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        lib.fail(f"{method}: {result.stderr.strip() or result.stdout.strip()}")
    return json.loads(result.stdout or "{}")


def start(processes, work, name, argv):
    ready = os.path.join(work, f"{name}.ready.json")
    log = os.path.join(work, f"{name}.log")
    process = processes.start(name, [os.path.join(BIN_DIR, argv[0]), f"--ready-file={ready}", *argv[1:]], log, cwd=work)
    if not lib.wait_until(lambda: os.path.exists(ready) and os.path.getsize(ready) > 0 or process.poll() is not None, 20):
        lib.fail(f"{name} did not become ready:\n{lib.log_tail(log)}")
    if process.poll() is not None:
        lib.fail(f"{name} exited with {process.returncode}:\n{lib.log_tail(log)}")
    with open(ready) as f:
        return json.load(f)


def run_mesh(work):
    certs = os.path.join(work, ".certs")
    subprocess.run(["bash", os.path.join(lib.SOURCE_DIR, "deploy", "local", "dev-certs.sh"), certs], check=True,
                   capture_output=True)
    shutil.copy(os.path.join(lib.SOURCE_DIR, "deploy", "local", "emulator-seed.yaml"), work)  # names .certs/...
    processes = lib.Processes()
    names, labels = set(), {}
    try:
        emulator = start(processes, work, "tenant-emulator", [
            "tenant-emulator", f"--seed={work}/emulator-seed.yaml", "--address=127.0.0.1:0",
            f"--tls-cert={certs}/emulator.pem", f"--tls-key={certs}/emulator.key", "--time-scale=3000",
            "--metrics-address=127.0.0.1:0", "--fault-throttle-ratio=0.2", "--fault-retry-after=1"])
        common = ["--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0", "--health-address=127.0.0.1:0"]
        os.makedirs(os.path.join(work, "connector-state"))
        connector = start(processes, work, "tenant-connector", [
            "tenant-connector", *common, f"--state-dir={work}/connector-state",
            f"--upstream-connect-to=*:443:{emulator['address']}", f"--upstream-ca-file={certs}/ca.pem",
            "--upstream-backoff-base=200ms", f"--credential-file-dirs={certs}"])
        orchestrator = start(processes, work, "orchestrator", [
            "orchestrator", *common, f"--sqlite-path={work}/orchestrator.db",
            f"--connector-address={connector['grpc_address']}", "--poll-interval=1s"])
        worker = start(processes, work, "worker", [
            "worker", *common, "--worker-id=worker-1", f"--orchestrator-address={orchestrator['grpc_address']}",
            f"--connector-address={connector['grpc_address']}", "--concurrency=8"])
        endpoints = [s["metrics_address"] for s in (connector, orchestrator, worker)]
        if emulator.get("metrics_address"):
            endpoints.append(emulator["metrics_address"])

        def scrape_all():
            for address in endpoints:
                text = lib.scrape(address)
                names.update(lib.sample_names(text))
                for line in text.splitlines():
                    if line and not line.startswith("#") and "{" in line:
                        metric, rest = line.split("{", 1)
                        labels.setdefault(metric, set()).update(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', rest.split("}")[0]))

        for connection_id, role, client_id in [
                ("contoso", "CONNECTION_ROLE_SOURCE", "11111111-1111-4111-8111-111111111111"),
                ("fabrikam", "CONNECTION_ROLE_TARGET", "22222222-2222-4222-8222-222222222222")]:
            call(connector["grpc_address"], "TenantConnector/CreateConnection", {
                "connection_id": connection_id, "role": role, "admin_url": f"https://{connection_id}-admin.sharepoint.com",
                "credential": {"certificate": {"client_id": client_id,
                                               "certificate_file": f"{certs}/migration-app.pem",
                                               "private_key": {"file_path": f"{certs}/migration-app.key"}}}})
        tenant = "7f1d1c1e-0000-4000-8000-000000000001"
        users = [f"user{n:03d}" for n in range(1, 13)] + ["euser01", "euser02", "taken", "readonly", "flaky"]
        csv = "".join(f"User,{tenant},{u}@contoso.onmicrosoft.com,{u}@fabrikam.onmicrosoft.com,"
                      f"{u}@fabrikam.onmicrosoft.com,RegularUser\n" for u in users)
        call(orchestrator["grpc_address"], "Orchestrator/CreateMigration", {
            "migration_id": "deploy-test", "plan": {"source_connection": "connections/contoso",
                                                    "target_connection": "connections/fabrikam",
                                                    "identity_map": {"csv": csv}}})
        deadline = time.monotonic() + 120
        state = ""
        while time.monotonic() < deadline:
            scrape_all()
            state = call(orchestrator["grpc_address"], "Orchestrator/GetMigration",
                         {"name": "migrations/deploy-test"})["migration"]["state"]
            if state.startswith("MIGRATION_STATE_COMPLETED") or state in ("MIGRATION_STATE_FAILED",
                                                                           "MIGRATION_STATE_CANCELLED"):
                break
            time.sleep(0.3)
        scrape_all()
        upstream = {"all": 0.0, "throttled": 0.0}
        for line in lib.scrape(connector["metrics_address"]).splitlines():
            if line.startswith("tenant_connector_upstream_requests_total{"):
                upstream["all"] += float(line.rsplit(" ", 1)[1])
                if re.search(r'code="(429|503)"', line):
                    upstream["throttled"] += float(line.rsplit(" ", 1)[1])
        print(f"migration ended {state}; {upstream['all']:.0f} upstream requests, {upstream['throttled']:.0f} of them "
              f"throttled; {len(names)} metric names scraped from {len(endpoints)} endpoints", flush=True)
        if not state.startswith("MIGRATION_STATE_COMPLETED"):
            lib.fail(f"the migration did not complete (state {state}); the mesh did not run as in the demo")
    finally:
        processes.stop_all()
    return names, labels


def main():
    used = expressions()
    with tempfile.TemporaryDirectory(prefix="crosstenant-metrics-") as work:
        names, labels = run_mesh(work)
    problems = 0
    checked = set()
    for where, expr in used:
        for name, matched in selectors(expr):
            checked.add(name)
            if name in PROMETHEUS_OWN:
                continue
            if name not in names:
                problems += 1
                print(f"FAIL: {where}: metric {name} is not exported by any service")
                continue
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            known = labels.get(name, set()) | labels.get(family, set()) | TARGET_LABELS
            for label in matched:
                if label not in known:
                    problems += 1
                    print(f"FAIL: {where}: {name} has no label {label} (it has {sorted(labels.get(name, set()))})")
    for where, expr in used:
        for metric, label, value in enum_matchers(expr):
            if value not in enum_values(ENUM_LABELS[(metric, label)]):
                problems += 1
                print(f"FAIL: {where}: {metric}{{{label}=\"{value}\"}} matches nothing: {label} is one of "
                      f"{sorted(enum_values(ENUM_LABELS[(metric, label)]))}")
    print(f"{len(used)} expressions, {len(checked)} metric names checked: {', '.join(sorted(checked))}")
    if problems:
        print(f"{problems} problem(s)")
        sys.exit(1)
    print("every metric and label named by the rules and the dashboard is exported")


if __name__ == "__main__":
    main()
