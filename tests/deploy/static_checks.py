#!/usr/bin/python3
"""Static checks of deploy/ that need no cluster and no Docker engine.

  static_checks.py pod-security   every rendered pod against the restricted Pod Security Standard, plus the
                                  project's rules (read-only root, requests and limits, native gRPC probes,
                                  no service-account token) and the references between objects
  static_checks.py dashboard      deploy/grafana/crosstenant-dashboard.json against the dashboard model
  static_checks.py dockerfile     deploy/docker/Dockerfile and .dockerignore (BIN_DIR: the binaries whose
                                  shared libraries the runtime stage must install)
  static_checks.py https-proxy    components/https-proxy on the prod overlay: the connector's proxy settings
                                  (accepted by the real binary, BIN_DIR), the proxy's port admitted on IPv4
                                  and IPv6, no direct egress to Microsoft left; with
                                  components/https-proxy-credentials, the credentials file a read-only
                                  mount of the Secret tenant-connector-proxy
  static_checks.py retained-volumes
                                  components/retained-volumes on dev and prod: every claim asks for a
                                  StorageClass of the render whose reclaimPolicy is Retain and which prunes
                                  keep; without the component no claim names a class (the cluster's default)
  static_checks.py orchestrator-ha
                                  the orchestrator's store per overlay (dev: SQLite, one replica on a claim;
                                  prod: PostgreSQL, several replicas, rolling, spread, a PDB, the connection
                                  string from a Secret, the pod name as replica id), its network policies,
                                  the upstream addresses and TLS names, and that every replica is scraped once

Each prints one line per problem, naming the object and field, and exits 1 if there is any.
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as lib  # noqa: E402

problems = []


def problem(message):
    problems.append(message)
    print(f"FAIL: {message}", flush=True)


# ------------------------------------------------------------------------------------------ pod security
# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted, latest)
IN_MEMORY_SINGLETONS = {"tenant-emulator"}  # its emulated tenants live in its memory
RESTRICTED_VOLUME_KINDS = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                           "projected", "secret"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def check_pod(where, pod, serves=True):
    """The restricted Pod Security Standard and the project's rules; `serves`: a long-running server,
    which must also have probes (a Job's pod has none)."""
    spec_sc = pod.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            problem(f"{where}: spec.{field} is true")
    if pod.get("automountServiceAccountToken") is not False:
        problem(f"{where}: automountServiceAccountToken must be false (no service calls the Kubernetes API)")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_KINDS:
            problem(f"{where}: volume {volume['name']} is {sorted(kinds)}, not allowed by the restricted standard")
    seccomp = spec_sc.get("seccompProfile", {}).get("type")
    pod_non_root = spec_sc.get("runAsNonRoot")
    if spec_sc.get("runAsUser") == 0:
        problem(f"{where}: securityContext.runAsUser is 0")
    containers = pod.get("initContainers", []) + pod.get("containers", [])
    for container in containers:
        cwhere = f"{where} container {container['name']}"
        sc = container.get("securityContext", {})
        if sc.get("privileged"):
            problem(f"{cwhere}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(f"{cwhere}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problem(f"{cwhere}: capabilities.drop must include ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problem(f"{cwhere}: adds capabilities {caps['add']}")
        if not (sc.get("runAsNonRoot") or (pod_non_root and sc.get("runAsNonRoot") is not False)):
            problem(f"{cwhere}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            problem(f"{cwhere}: runAsUser is 0")
        if (sc.get("seccompProfile", {}).get("type") or seccomp) not in ("RuntimeDefault", "Localhost"):
            problem(f"{cwhere}: seccompProfile must be RuntimeDefault or Localhost")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                problem(f"{cwhere}: hostPort {port['hostPort']}")
        # The project's own rules.
        if sc.get("readOnlyRootFilesystem") is not True:
            problem(f"{cwhere}: readOnlyRootFilesystem must be true")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problem(f"{cwhere}: resources.{kind}.{resource} is missing")
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe") if serves else ():
            spec = container.get(probe, {})
            if "health" not in ports:  # not a gRPC server of the mesh (the dev overlay's emulator)
                if spec.get("httpGet", {}).get("port") not in list(ports.values()) + list(ports):
                    problem(f"{cwhere}: {probe} must be an httpGet probe on a declared port (no health port)")
                continue
            grpc_probe = spec.get("grpc")
            if grpc_probe is None:
                problem(f"{cwhere}: {probe} must be a native gRPC probe")
            elif grpc_probe.get("port") != ports.get("health"):
                problem(f"{cwhere}: {probe} port {grpc_probe.get('port')} is not the port named health")
        if not re.match(r"^[^:@]+(:[^:]+|@sha256:[0-9a-f]{64})$", container.get("image", "")):
            problem(f"{cwhere}: image {container.get('image')} has no tag or digest")
        if container.get("image", "").endswith(":latest"):
            problem(f"{cwhere}: image tag latest")


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
        (labels.get(e["key"]) in e.get("values", [])) == (e["operator"] == "In")
        for e in selector.get("matchExpressions", []) if e["operator"] in ("In", "NotIn"))


def migratectl_job(objects):
    """The example migratectl Job runs under the restricted policy, with the label the network policies
    admit as the operator, and the operator's certificate Secret of the overlay."""
    path = os.path.join(lib.SOURCE_DIR, "deploy", "k8s", "examples", "migratectl-job.yaml")
    with open(path) as f:
        job = load_yaml(f.read())
    where = "examples/migratectl-job.yaml"
    template = job["spec"]["template"]
    check_pod(where, template["spec"], serves=False)
    labels = template["metadata"].get("labels", {})
    admitted = [p for p in lib.by_kind(objects, "NetworkPolicy").values()
                for rule in p["spec"].get("ingress", []) for peer in rule.get("from", [])
                if "podSelector" in peer and "namespaceSelector" not in peer and peer["podSelector"]
                and selects(peer["podSelector"], labels)]
    if not admitted:
        problem(f"{where}: no NetworkPolicy admits its pods (labels {labels})")
    secrets = {v["secret"]["secretName"] for v in template["spec"].get("volumes", []) if "secret" in v}
    issued = {c["spec"]["secretName"] for c in lib.by_kind(objects, "Certificate").values()}
    if not secrets <= issued:
        problem(f"{where}: mounts {sorted(secrets - issued)}, which no Certificate of the overlay issues")
    print(f"ok: {where}: restricted, admitted by {len(admitted)} network policy rule(s), its certificate issued",
          flush=True)


def pod_security():
    for overlay in lib.OVERLAYS + tuple(lib.VARIANTS):
        _, objects = lib.render(overlay)
        if overlay == "prod":
            migratectl_job(objects)
        pods = {}
        namespaces = [o for o in objects if o["kind"] == "Namespace"]
        if not any(n["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == "restricted"
                   for n in namespaces):
            problem(f"{overlay}: no Namespace enforcing pod-security.kubernetes.io/enforce=restricted")
        for o in objects:
            if o["kind"] in WORKLOAD_KINDS:
                template = o["spec"]["template"]
                where = f"{overlay}: {o['kind']}/{o['metadata']['name']}"
                check_pod(where, template["spec"])
                pods[o["metadata"]["name"]] = template
                if not selects(o["spec"]["selector"], template["metadata"].get("labels", {})):
                    problem(f"{where}: selector does not select its own pod template")
                sa = template["spec"].get("serviceAccountName")
                if sa not in lib.by_kind(objects, "ServiceAccount"):
                    problem(f"{where}: serviceAccountName {sa} is not in the overlay")
        # References between objects.
        for service in lib.by_kind(objects, "Service").values():
            where = f"{overlay}: Service/{service['metadata']['name']}"
            matched = [t for t in pods.values() if selects({"matchLabels": service["spec"].get("selector", {})},
                                                           t["metadata"].get("labels", {}))]
            if len(matched) != 1:
                problem(f"{where}: selects {len(matched)} pod templates, expected 1")
                continue
            names = {p.get("name") for c in matched[0]["spec"]["containers"] for p in c.get("ports", [])}
            for port in service["spec"]["ports"]:
                if isinstance(port.get("targetPort"), str) and port["targetPort"] not in names:
                    problem(f"{where}: targetPort {port['targetPort']} is no container port name")
        for kind in ("PodDisruptionBudget", "NetworkPolicy"):
            for o in lib.by_kind(objects, kind).values():
                selector = o["spec"].get("selector") or o["spec"].get("podSelector")
                if selector and selector.get("matchLabels", {}).get("app.kubernetes.io/name") == "migratectl":
                    continue  # the operator's pods (a Job or `kubectl run`), not part of the overlay
                if selector and selector != {} and not any(selects(selector, t["metadata"].get("labels", {}))
                                                           for t in pods.values()):
                    problem(f"{overlay}: {kind}/{o['metadata']['name']} selects no pod")
        for hpa in lib.by_kind(objects, "HorizontalPodAutoscaler").values():
            target = hpa["spec"]["scaleTargetRef"]["name"]
            if target not in pods:
                problem(f"{overlay}: HorizontalPodAutoscaler/{hpa['metadata']['name']} scales missing {target}")
            elif hpa["spec"].get("minReplicas", 1) < 1:
                problem(f"{overlay}: HorizontalPodAutoscaler/{target} minReplicas below 1")
        for name, template in pods.items():
            claims = [v for v in template["spec"].get("volumes", []) if "persistentVolumeClaim" in v]
            if claims or name in IN_MEMORY_SINGLETONS:
                deployment = lib.by_kind(objects, "Deployment")[name]
                if deployment["spec"].get("replicas") != 1 or deployment["spec"].get("strategy", {}).get("type") != "Recreate":
                    problem(f"{overlay}: Deployment/{name} must be 1 replica with strategy Recreate (its state is "
                            "a SQLite file on a ReadWriteOnce claim, or in memory)")
        policies = lib.by_kind(objects, "NetworkPolicy")
        if not any(p["spec"].get("podSelector") == {} and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
                   and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies.values()):
            problem(f"{overlay}: no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)")
        print(f"ok: {overlay}: {len(pods)} pod templates checked against the restricted Pod Security Standard",
              flush=True)


# ------------------------------------------------------------------------------------------ dashboard
def dashboard():
    path = os.path.join(lib.SOURCE_DIR, "deploy", "grafana", "crosstenant-dashboard.json")
    with open(path) as f:
        board = json.load(f)
    for field, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list), ("templating", dict),
                        ("time", dict), ("tags", list)):
        if not isinstance(board.get(field), kind):
            problem(f"dashboard: {field} must be a {kind.__name__}")
    if len(board.get("uid", "")) > 40:
        problem("dashboard: uid longer than 40 characters")
    if board.get("schemaVersion", 0) < 36:
        problem("dashboard: schemaVersion below 36 (datasource references by uid need 36 or later)")
    variables = {v["name"]: v for v in board.get("templating", {}).get("list", [])}
    datasource = variables.get("datasource")
    if not datasource or datasource.get("type") != "datasource" or datasource.get("query") != "prometheus":
        problem("dashboard: no variable `datasource` of type datasource for Prometheus")
    ids, titles = set(), set()
    panels = []

    def walk(items):
        for panel in items:
            panels.append(panel)
            walk(panel.get("panels", []))
    walk(board.get("panels", []))
    rows = [p for p in panels if p.get("type") == "row"]
    for panel in panels:
        where = f"dashboard panel {panel.get('id')} '{panel.get('title')}'"
        for field in ("id", "type", "title", "gridPos"):
            if field not in panel:
                problem(f"{where}: no {field}")
        if panel.get("id") in ids:
            problem(f"{where}: duplicate id")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")) or grid.get("x", 0) + grid.get("w", 0) > 24:
            problem(f"{where}: gridPos {grid} is not within the 24-column grid")
        if panel.get("type") == "row":
            continue
        if panel.get("type") not in ("timeseries", "stat", "bargauge", "gauge", "table", "text"):
            problem(f"{where}: unknown panel type {panel.get('type')}")
        if panel.get("title") in titles:
            problem(f"{where}: duplicate title")
        titles.add(panel.get("title"))
        for holder in [panel] + panel.get("targets", []):
            if holder.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                problem(f"{where}: datasource must be {{type: prometheus, uid: ${{datasource}}}} (a variable, never a fixed uid)")
        if not panel.get("targets"):
            problem(f"{where}: no queries")
        refs = [t.get("refId") for t in panel.get("targets", [])]
        if len(set(refs)) != len(refs) or not all(t.get("expr") for t in panel.get("targets", [])):
            problem(f"{where}: every query needs an expr and a distinct refId")
    text = json.dumps(board)
    for needed, what in (("grpc_server_started_total", "traffic"), ("grpc_server_handled_total", "errors"),
                         ("grpc_server_handling_seconds_bucket", "latency"), ("process_cpu_seconds_total", "saturation"),
                         ("orchestrator_user_moves", "migration progress by state"),
                         ("orchestrator_queue_depth", "queue depth per source geo"),
                         ("tenant_connector_upstream_requests_total{code=~", "throttling"),
                         ("tenant_connector_retry_after_wait_seconds", "Retry-After"),
                         ("tenant_connector_token_expiry_seconds", "token expiry"),
                         ("tenant_connector_credential_expiry_seconds", "credential expiry")):
        if needed not in text:
            problem(f"dashboard: nothing shows {what} ({needed})")
    if not any(r.get("repeat") == "job" for r in rows):
        problem("dashboard: the golden signals row is not repeated per service (repeat: job)")
    # Every query must be valid PromQL: promtool parses them as recording rules, with Grafana's variables
    # replaced the way Grafana would ($__rate_interval by a duration, $job by a regex).
    queries = [(p.get("title"), t["refId"], t["expr"]) for p in panels for t in p.get("targets", []) if t.get("expr")]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "2m").replace("$job", ".*")}
        for i, (_, _, expr) in enumerate(queries)]}]}
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        json.dump(rules, f)
        f.flush()
        result = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    if result.returncode != 0:
        for i, (title, ref, expr) in enumerate(queries):
            if f'"dashboard:query_{i}"' in result.stdout + result.stderr:
                problem(f"dashboard panel '{title}' {ref}: not valid PromQL: {expr}")
        problem(f"dashboard: promtool check rules on the queries: {(result.stdout + result.stderr).strip()[-600:]}")
    generator = os.path.join(lib.SOURCE_DIR, "deploy", "grafana", "generate_dashboard.py")
    result = subprocess.run([sys.executable, generator, "--check"], capture_output=True, text=True)
    if result.returncode != 0:
        problem(f"dashboard: {(result.stderr or result.stdout).strip()}")
    print(f"ok: dashboard: {len(panels)} panels, {len(variables)} variables", flush=True)


# ------------------------------------------------------------------------------------------ Dockerfile
BASE_IMAGE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}  # in debian:bookworm-slim already


def stages(text):
    text = re.sub(r"\\\n", " ", text)
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            result.append({"from": rest, "lines": []})
        elif result:
            result[-1]["lines"].append((instruction, rest.strip()))
    return result


def needed_packages(bin_dir, binaries):
    """Debian package -> the binaries that link one of its libraries (readelf NEEDED, then one dpkg -S)."""
    users = {}
    for binary in binaries:
        path = os.path.join(bin_dir, binary)
        if not os.access(path, os.X_OK):
            lib.fail(f"dockerfile: {path} does not exist (build it first)")
        dynamic = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
        for library in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic):
            users.setdefault(library, set()).add(binary)
    owners = subprocess.run(["dpkg", "-S", *(f"*/{library}" for library in users)], capture_output=True,
                            text=True).stdout
    packages = {}
    for library, binaries_using in sorted(users.items()):
        candidates = {line.split(":")[0] for line in owners.splitlines()
                      if line.endswith(f"/{library}") and ": " in line}
        amd = [c for c in candidates if not c.endswith("-i386") and not c.startswith("lib32") and "-dev" not in c]
        if not amd:
            problem(f"dockerfile: no Debian package owns {library} (needed by {sorted(binaries_using)})")
            continue
        packages.setdefault(sorted(amd)[0], set()).update(binaries_using)
    return packages


def dockerfile():
    bin_dir = os.environ.get("BIN_DIR") or lib.fail("set BIN_DIR to the build's bin directory")
    path = os.path.join(lib.SOURCE_DIR, "deploy", "docker", "Dockerfile")
    with open(path) as f:
        parsed = stages(f.read())
    if len(parsed) < 2:
        problem("Dockerfile: not multi-stage (a build stage and a runtime stage)")
        return
    build, runtime = parsed[0], parsed[-1]
    if not re.match(r"^debian:(bookworm|12)(@sha256:[0-9a-f]{64})?\s+AS\s+\w+", build["from"], re.I):
        problem(f"Dockerfile: the build stage is FROM {build['from']}, not Debian 12")
    if not re.match(r"^debian:bookworm-slim(@sha256:[0-9a-f]{64})?(\s+AS\s+\w+)?$", runtime["from"], re.I):
        problem(f"Dockerfile: the runtime stage is FROM {runtime['from']}, not debian:bookworm-slim")
    build_runs = " ".join(rest for instruction, rest in build["lines"] if instruction == "RUN")
    for needed, what in (("deploy/local/bootstrap.sh --build-only",
                          "installs the project's build packages alone (no Node.js tools, no npm download)"),
                         ("cmake --preset ci", "configures with the CI preset"),
                         ("ctest --preset ci -L unit", "runs the unit tests")):
        if needed not in build_runs:
            problem(f"Dockerfile: the build stage never {what} ({needed})")
    users = [rest for instruction, rest in runtime["lines"] if instruction == "USER"]
    if not users or not re.fullmatch(r"65532(:65532)?", users[-1]):
        problem(f"Dockerfile: the runtime stage must end as USER 65532 (got {users})")
    for instruction in ("ENTRYPOINT", "CMD"):
        for rest in [r for i, r in runtime["lines"] if i == instruction]:
            try:
                if not isinstance(json.loads(rest), list):
                    raise ValueError
            except ValueError:
                problem(f"Dockerfile: {instruction} {rest} is not in exec (JSON array) form")
    if not any(i == "ENTRYPOINT" for i, _ in runtime["lines"]):
        problem("Dockerfile: the runtime stage has no ENTRYPOINT")
    runs = " ".join(rest for instruction, rest in runtime["lines"] if instruction == "RUN")
    match = re.search(r"apt-get install (.*?)(&&|$)", runs)
    if not match:
        problem("Dockerfile: the runtime stage installs no packages with apt-get install")
        return
    words = match.group(1).split()
    if "--no-install-recommends" not in words:
        problem("Dockerfile: runtime apt-get install without --no-install-recommends")
    if "rm -rf /var/lib/apt/lists/*" not in runs:
        problem("Dockerfile: the runtime stage keeps the apt lists")
    installed = {w for w in words if not w.startswith("-")}
    binaries = ["tenant-connector", "orchestrator", "worker", "tenant-emulator", "loadgen", "migratectl"]
    needed = needed_packages(bin_dir, binaries)
    expected = (set(needed) - BASE_IMAGE_PACKAGES) | {"ca-certificates"}
    for package in sorted(expected - installed):
        problem(f"Dockerfile: runtime stage does not install {package} (needed by {sorted(needed.get(package, []))})")
    for package in sorted(installed - expected):
        problem(f"Dockerfile: runtime stage installs {package}, which no binary needs")
    copied = " ".join(rest for instruction, rest in runtime["lines"] if instruction == "COPY")
    if "/usr/local/bin/" not in copied:
        problem("Dockerfile: the runtime stage copies no binaries to /usr/local/bin/")
    build_text = " ".join(rest for _, rest in build["lines"])
    for binary in binaries:
        if binary not in build_text:
            problem(f"Dockerfile: the build stage does not install {binary}")
    # What the manifests run must be in the image.
    for overlay in lib.OVERLAYS:
        _, objects = lib.render(overlay)
        for deployment in lib.by_kind(objects, "Deployment").values():
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                command = container.get("command", [""])[0]
                if not command.startswith("/usr/local/bin/") or os.path.basename(command) not in binaries:
                    problem(f"{overlay}: Deployment/{deployment['metadata']['name']} runs {command}, not a binary of the image")
    ignore_path = os.path.join(lib.SOURCE_DIR, ".dockerignore")
    ignored = open(ignore_path).read().split() if os.path.exists(ignore_path) else []
    for needed_ignore in ("build/", "build-*/", "tools/", "deploy/local/.certs/"):
        if needed_ignore not in ignored:
            problem(f".dockerignore: {needed_ignore} is not ignored (local build trees, node tools or dev keys "
                    "would enter the image's context)")
    print(f"ok: Dockerfile: {len(parsed)} stages; runtime installs {len(installed)} packages = the libraries of "
          f"{len(binaries)} binaries + ca-certificates", flush=True)



# ------------------------------------------------------------------------------------------ orchestrator
# Which store each overlay's orchestrator uses: SQLite is one replica on a ReadWriteOnce claim; PostgreSQL
# is several replicas sharing a database (issue 9).
EXPECTED_STORE = {"dev": "sqlite", "prod": "postgres"}
# The keys an overlay's replacement config file may change from the base's file of the same name.
OVERLAY_CONFIG_CHANGES = {
    "orchestrator.yaml": {"store", "sqlite_path", "sqlite_max_size", "postgres_dsn_file", "postgres_pool_size",
                          "leader_lease"},
    "worker.yaml": {"orchestrator_address"},
}
# What a libpq connection string looks like (keyword=value or URI form).
DSN_PATTERN = re.compile(r"postgres(ql)?://|\b(password|dbname|sslmode|user)\s*=\s*\S", re.I)
UPSTREAMS = {"connector_address": "tenant-connector", "orchestrator_address": "orchestrator"}
POSTGRES_PORT = 5432


def load_yaml(text):
    import yaml
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def volume_for(pod_spec, container, path):
    """(the volume under whose mount `path` lies, the path inside that volume) or (None, None)."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    best = max((m for m in container.get("volumeMounts", [])
                if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")),
               key=lambda m: len(m["mountPath"]), default=None)
    if best is None:
        return None, None
    return volumes.get(best["name"]), path[len(best["mountPath"].rstrip("/")) + 1:]


def settings(objects, pod_spec, container):
    """The container's effective settings: its --config file from its ConfigMap, overridden by its flags
    (--some-key=value is the key some_key). Also returns the args as {flag: value}."""
    args = {}
    for arg in container.get("args", []):
        key, _, value = arg.partition("=")
        args[key.lstrip("-").replace("-", "_")] = value
    config = {}
    if args.get("config"):
        volume, key = volume_for(pod_spec, container, args["config"])
        config_maps = lib.by_kind(objects, "ConfigMap")
        if volume and "configMap" in volume and volume["configMap"]["name"] in config_maps:
            config = load_yaml(config_maps[volume["configMap"]["name"]].get("data", {}).get(key, "")) or {}
    merged = dict(config)
    merged.update({k: v for k, v in args.items() if k != "config"})
    return merged, args


def selects_pod(selector, template):
    return selects(selector or {}, template["metadata"].get("labels", {}))


def services_of(objects, template):
    return [svc for svc in lib.by_kind(objects, "Service").values()
            if svc["spec"].get("selector") and selects_pod({"matchLabels": svc["spec"]["selector"]}, template)]


def max_replicas(objects, deployment):
    hpas = [h for h in lib.by_kind(objects, "HorizontalPodAutoscaler").values()
            if h["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]]
    return max([deployment["spec"].get("replicas", 1)] + [h["spec"]["maxReplicas"] for h in hpas])


def policy_rules(objects, template, direction):
    """Every (peer list, port list) of the NetworkPolicies of `direction` (ingress/egress) selecting the pod."""
    key = "to" if direction == "egress" else "from"
    rules = []
    for policy in lib.by_kind(objects, "NetworkPolicy").values():
        spec = policy["spec"]
        if direction.capitalize() not in spec.get("policyTypes", []) or not selects_pod(spec.get("podSelector"), template):
            continue
        for rule in spec.get(direction, []) or []:
            rules.append((policy["metadata"]["name"], rule.get(key), rule.get("ports")))
    return rules


def check_orchestrator(overlay, objects, base_dir):
    where = f"{overlay}: Deployment/orchestrator"
    deployment = lib.by_kind(objects, "Deployment").get("orchestrator")
    if deployment is None:
        problem(f"{overlay}: no Deployment orchestrator")
        return
    template = deployment["spec"]["template"]
    pod_spec = template["spec"]
    container = next(c for c in pod_spec["containers"] if c["name"] == "orchestrator")
    config, args = settings(objects, pod_spec, container)
    store = config.get("store", "sqlite")
    replicas = deployment["spec"].get("replicas", 1)
    strategy = deployment["spec"].get("strategy", {})
    claims = [v for v in pod_spec.get("volumes", []) if "persistentVolumeClaim" in v]
    orchestrator_claims = [c for c in lib.by_kind(objects, "PersistentVolumeClaim").values()
                           if c["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "orchestrator"]
    if store != EXPECTED_STORE[overlay]:
        problem(f"{where}: store is {store}, expected {EXPECTED_STORE[overlay]} in the {overlay} overlay")
    if store == "sqlite":
        if replicas != 1 or strategy.get("type") != "Recreate":
            problem(f"{where}: on SQLite it must be 1 replica with strategy Recreate (got {replicas}, "
                    f"{strategy.get('type')})")
        volume, _ = volume_for(pod_spec, container, config.get("sqlite_path", ""))
        if not volume or "persistentVolumeClaim" not in volume:
            problem(f"{where}: sqlite_path {config.get('sqlite_path')} is not on a PersistentVolumeClaim")
        elif volume["persistentVolumeClaim"]["claimName"] not in {c["metadata"]["name"] for c in orchestrator_claims}:
            problem(f"{where}: the claim {volume['persistentVolumeClaim']['claimName']} is not in the overlay")
        print(f"ok: {overlay}: orchestrator on SQLite, 1 replica, Recreate, its file on a claim", flush=True)
    elif store == "postgres":
        check_postgres_orchestrator(overlay, objects, deployment, container, config, args, claims, orchestrator_claims)
    else:
        problem(f"{where}: unknown store {store}")
    # Egress: DNS, the connector and (PostgreSQL) the database; nothing to other replicas or anywhere else.
    # DNS may go to any address (NodeLocal DNSCache's node-local address, OpenShift's resolvers on 5353), but
    # only on the DNS ports.
    dns = {("UDP", 53), ("TCP", 53), ("UDP", 5353), ("TCP", 5353)}
    expected = dns | {("TCP", 50051)} | ({("TCP", POSTGRES_PORT)} if store == "postgres" else set())
    allowed = set()
    for name, peers, ports in policy_rules(objects, template, "egress"):
        if not peers and ports and {(p.get("protocol", "TCP"), p.get("port")) for p in ports} <= dns:
            allowed |= {(p.get("protocol", "TCP"), p.get("port")) for p in ports}
            continue
        if not peers or not ports:
            problem(f"{overlay}: NetworkPolicy/{name} lets the orchestrator reach {'any peer' if not peers else 'any port'}")
            continue
        for peer in peers:
            if "podSelector" in peer and "namespaceSelector" not in peer and selects_pod(peer["podSelector"], template):
                problem(f"{overlay}: NetworkPolicy/{name} lets orchestrator replicas call one another")
        allowed |= {(p.get("protocol", "TCP"), p.get("port")) for p in ports}
    if allowed != expected:
        problem(f"{overlay}: the orchestrator's egress ports are {sorted(allowed, key=str)}, expected "
                f"{sorted(expected, key=str)} (DNS, the connector{', PostgreSQL' if store == 'postgres' else ''})")
    for name, peers, _ in policy_rules(objects, template, "ingress"):
        for peer in peers or []:
            if "podSelector" in peer and "namespaceSelector" not in peer and selects_pod(peer["podSelector"], template):
                problem(f"{overlay}: NetworkPolicy/{name} lets orchestrator replicas call one another")
    print(f"ok: {overlay}: orchestrator egress only to ports {sorted({p for _, p in expected})}", flush=True)


def check_postgres_orchestrator(overlay, objects, deployment, container, config, args, claims, orchestrator_claims):
    where = f"{overlay}: Deployment/orchestrator"
    template = deployment["spec"]["template"]
    pod_spec = template["spec"]
    replicas = deployment["spec"].get("replicas", 1)
    strategy = deployment["spec"].get("strategy", {})
    if replicas < 2:
        problem(f"{where}: on PostgreSQL it must run several replicas (got {replicas})")
    if strategy.get("type") != "RollingUpdate" or str(strategy.get("rollingUpdate", {}).get("maxUnavailable")) != "1":
        problem(f"{where}: on PostgreSQL the strategy must be RollingUpdate with maxUnavailable 1 (got {strategy})")
    if claims or orchestrator_claims:
        problem(f"{where}: on PostgreSQL it keeps nothing on disk, but claims {[c['name'] for c in claims]} / "
                f"{[c['metadata']['name'] for c in orchestrator_claims]} are in the overlay")
    # Spread over nodes.
    spread = [c for c in pod_spec.get("topologySpreadConstraints", [])
              if c.get("topologyKey") == "kubernetes.io/hostname" and selects_pod(c.get("labelSelector"), template)]
    anti = pod_spec.get("affinity", {}).get("podAntiAffinity", {})
    anti_terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution", []) + [
        t.get("podAffinityTerm", {}) for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
    anti_terms = [t for t in anti_terms if t.get("topologyKey") == "kubernetes.io/hostname"
                  and selects_pod(t.get("labelSelector"), template)]
    if not spread and not anti_terms:
        problem(f"{where}: its replicas are not spread over nodes (no topologySpreadConstraints or "
                "podAntiAffinity on kubernetes.io/hostname selecting them)")
    for constraint in spread:
        if constraint.get("whenUnsatisfiable") == "DoNotSchedule" and constraint.get("nodeTaintsPolicy") != "Honor":
            problem(f"{where}: a DoNotSchedule spread over nodes must set nodeTaintsPolicy: Honor, or a tainted "
                    "node (control plane, NotReady) counts as an empty place and blocks scheduling")
    # A disruption budget that lets one replica go at a time and keeps the others.
    budgets = [b for b in lib.by_kind(objects, "PodDisruptionBudget").values() if selects_pod(b["spec"]["selector"], template)]
    if len(budgets) != 1:
        problem(f"{where}: {len(budgets)} PodDisruptionBudgets select it, expected 1")
    for budget in budgets:
        spec = budget["spec"]
        if "maxUnavailable" in spec and "minAvailable" in spec:
            problem(f"{overlay}: PodDisruptionBudget/{budget['metadata']['name']} sets both minAvailable and "
                    "maxUnavailable (the API server refuses it)")
        allowed = spec["maxUnavailable"] if "maxUnavailable" in spec else replicas - spec.get("minAvailable", replicas)
        if allowed != 1:
            problem(f"{overlay}: PodDisruptionBudget/{budget['metadata']['name']} allows {allowed} disruptions; "
                    "expected 1 (minAvailable replicas-1 or maxUnavailable 1)")
    # The connection string: a file from a Secret, never in the args, the env or a ConfigMap.
    dsn_file = config.get("postgres_dsn_file")
    if not dsn_file:
        problem(f"{where}: no postgres_dsn_file (the connection string must come from a mounted Secret)")
    else:
        volume, key = volume_for(pod_spec, container, dsn_file)
        if not volume or "secret" not in volume:
            problem(f"{where}: postgres_dsn_file {dsn_file} is not on a Secret volume")
        else:
            secret = volume["secret"]
            items = {i["path"]: i for i in secret.get("items", [])}
            secret_key = items[key]["key"] if key in items else key
            mode = items[key].get("mode", secret.get("defaultMode", 0o644)) if key in items else secret.get("defaultMode", 0o644)
            if secret["secretName"] != "orchestrator-postgres" or secret_key != "dsn":
                problem(f"{where}: postgres_dsn_file reads key {secret_key} of Secret {secret['secretName']}; the "
                        "documented Secret is orchestrator-postgres, key dsn")
            if secret.get("optional"):
                problem(f"{where}: the Secret {secret['secretName']} is optional; without it the replicas cannot start")
            if mode & 0o227:
                problem(f"{where}: the Secret {secret['secretName']} is mounted with mode {oct(mode)}; it holds a "
                        "password: 0440 at most (no write bit, nothing for others)")
    for flag, value in args.items():
        if flag.startswith("postgres_dsn") and flag != "postgres_dsn_file" or DSN_PATTERN.search(value):
            problem(f"{where}: the args carry a connection string (--{flag.replace('_', '-')}); mount it from the Secret")
    for item in container.get("env", []):
        if item["name"] == "CROSSTENANT_POSTGRES_DSN" and "value" in item or DSN_PATTERN.search(item.get("value", "")):
            problem(f"{where}: env {item['name']} carries a connection string in the manifest")
    for config_map in lib.by_kind(objects, "ConfigMap").values():
        for data_key, text in config_map.get("data", {}).items():
            parsed = load_yaml(text)
            values = list(strings(parsed)) if parsed is not None else [line for line in text.splitlines()
                                                                      if not line.lstrip().startswith("#")]
            if any(DSN_PATTERN.search(v) for v in values):
                problem(f"{overlay}: ConfigMap/{config_map['metadata']['name']} {data_key} holds a connection string")
    for secret in lib.by_kind(objects, "Secret").values():
        if "dsn" in secret.get("data", {}) or "dsn" in secret.get("stringData", {}):
            problem(f"{overlay}: Secret/{secret['metadata']['name']} with a dsn is committed; the operator creates it")
    # The replica id is the pod's name (downward API), unique per replica.
    replica_id = str(config.get("replica_id", ""))
    variable = re.fullmatch(r"\$\((\w+)\)", replica_id)
    env = {e["name"]: e for e in container.get("env", [])}
    if not variable or env.get(variable.group(1), {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
        problem(f"{where}: --replica-id is {replica_id or 'unset'}, not $(VAR) with VAR the pod's metadata.name "
                "from the downward API")
    # PostgreSQL is reachable: an egress rule for its port.
    if not any(any(p.get("port") == POSTGRES_PORT for p in ports or []) for _, _, ports in policy_rules(objects, template, "egress")):
        problem(f"{overlay}: no NetworkPolicy lets the orchestrator reach PostgreSQL on {POSTGRES_PORT}")
    print(f"ok: {overlay}: orchestrator on PostgreSQL: {replicas} replicas, rolling, spread over nodes, a PDB of one, "
          "no claim, the connection string from the Secret orchestrator-postgres, replica id = pod name", flush=True)


def check_upstreams_and_scrapes(overlay, objects):
    """Workers and the orchestrator reach their upstreams by a Service that selects them, verify a name of
    the upstream's certificate, and reach every replica of a replicated upstream (headless Service and a
    dns:/// target); every replica is scraped once, by a Service with a metrics port."""
    deployments = lib.by_kind(objects, "Deployment")
    certificates = lib.by_kind(objects, "Certificate")
    for caller in ("orchestrator", "worker"):
        deployment = deployments[caller]
        pod_spec = deployment["spec"]["template"]["spec"]
        config, _ = settings(objects, pod_spec, pod_spec["containers"][0])
        for key, callee in UPSTREAMS.items():
            if key not in config:
                continue
            target = str(config[key])
            match = re.fullmatch(r"(?:dns:///)?([a-z0-9.-]+):(\d+)", target)
            if not match:
                problem(f"{overlay}: {caller}'s {key} {target} is neither SERVICE:PORT nor dns:///SERVICE[.NAMESPACE.svc"
                        ".cluster.local]:PORT")
                continue
            host, port = match.group(1), int(match.group(2))
            service = lib.by_kind(objects, "Service").get(host.split(".")[0])
            callee_template = deployments[callee]["spec"]["template"]
            if service is None or not selects_pod({"matchLabels": service["spec"].get("selector", {})}, callee_template):
                problem(f"{overlay}: {caller}'s {key} {target} names no Service of {callee}")
                continue
            if port not in [p["port"] for p in service["spec"]["ports"]]:
                problem(f"{overlay}: {caller}'s {key} {target}: Service {service['metadata']['name']} has no port {port}")
            if host not in certificates.get(callee, {}).get("spec", {}).get("dnsNames", []):
                problem(f"{overlay}: {caller} verifies {callee} as {host}, which is not a DNS name of its Certificate")
            if max_replicas(objects, deployments[callee]) > 1 and (
                    service["spec"].get("clusterIP") != "None" or not target.startswith("dns:///")):
                problem(f"{overlay}: {caller}'s {key} {target}: {callee} runs several replicas, so it must be "
                        "dns:/// through a headless Service (a ClusterIP pins the connection to one replica)")
    for name, deployment in deployments.items():
        scraped = [s for s in services_of(objects, deployment["spec"]["template"])
                   if any(p.get("name") == "metrics" for p in s["spec"]["ports"])]
        if len(scraped) != 1:
            problem(f"{overlay}: {len(scraped)} Services with a metrics port select Deployment/{name}; expected 1 "
                    "(two would scrape every replica twice and double the sums)")
        elif max_replicas(objects, deployment) > 1 and scraped[0]["spec"].get("clusterIP") != "None":
            problem(f"{overlay}: Service/{scraped[0]['metadata']['name']} has the metrics port of the replicated "
                    f"Deployment/{name} but is not headless: a scrape through it reaches one replica at random")
    # Plain Prometheus: each job's SRV name is a Service with a metrics port, headless if replicated.
    with open(os.path.join(lib.SOURCE_DIR, "deploy", "prometheus", "prometheus.yml")) as f:
        prometheus = load_yaml(f.read())
    for job in prometheus["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for srv in sd["names"]:
                match = re.fullmatch(r"_metrics\._tcp\.([a-z0-9-]+)\.crosstenant\.svc\.cluster\.local", srv)
                service = lib.by_kind(objects, "Service").get(match.group(1)) if match else None
                if service is None or not any(p.get("name") == "metrics" for p in service["spec"]["ports"]):
                    problem(f"{overlay}: prometheus.yml job {job['job_name']} scrapes {srv}, no Service with a metrics port")
                    continue
                # The Deployments behind the Service (job names carry the application's prefix; the
                # Deployments do not).
                targets = [d for d in deployments.values()
                           if any(s["metadata"]["name"] == service["metadata"]["name"]
                                  for s in services_of(objects, d["spec"]["template"]))]
                if not targets:
                    problem(f"{overlay}: prometheus.yml job {job['job_name']} scrapes {srv}, which selects no Deployment")
                    continue
                if max(max_replicas(objects, d) for d in targets) > 1 and service["spec"].get("clusterIP") != "None":
                    problem(f"{overlay}: prometheus.yml job {job['job_name']} scrapes {srv} of a ClusterIP Service: "
                            "one replica at random each time")
    print(f"ok: {overlay}: upstream addresses, their TLS names and the scrape targets reach every replica once",
          flush=True)


def orchestrator_ha():
    base_dir = os.path.join(lib.SOURCE_DIR, "deploy", "k8s", "base", "config")
    # An overlay that replaces a config file changes only the keys it is there for.
    for overlay in lib.OVERLAYS:
        for name, changes in OVERLAY_CONFIG_CHANGES.items():
            path = os.path.join(lib.SOURCE_DIR, "deploy", "k8s", "overlays", overlay, "config", name)
            if not os.path.exists(path):
                continue
            with open(os.path.join(base_dir, name)) as f:
                base = load_yaml(f.read())
            with open(path) as f:
                mine = load_yaml(f.read())
            drifted = sorted(k for k in set(base) | set(mine) if k not in changes and base.get(k) != mine.get(k))
            if drifted:
                problem(f"overlays/{overlay}/config/{name}: {drifted} differ from base/config/{name}; only "
                        f"{sorted(changes)} may")
            else:
                print(f"ok: overlays/{overlay}/config/{name} is base/config/{name} but for {sorted(set(base) ^ set(mine) | {k for k in base if k in mine and base[k] != mine[k]})}",
                      flush=True)
    for overlay in lib.OVERLAYS:
        _, objects = lib.render(overlay)
        check_orchestrator(overlay, objects, base_dir)
        check_upstreams_and_scrapes(overlay, objects)
        check_autoscaled_replicas(overlay, objects)
        check_singletons_leave_lost_nodes(overlay, objects)
        check_kept_on_prune(overlay, objects)
        check_identities(overlay, objects)


def check_identities(overlay, objects):
    """Every identity a server admits is a SPIFFE ID of the namespace it is rendered into, issued to some
    Certificate of the overlay: a bare name ("migratectl") would admit a certificate of that name from any
    namespace sharing the CA."""
    issued = set()
    for certificate in lib.by_kind(objects, "Certificate").values():
        issued.update(certificate["spec"].get("uris", []))
    for deployment in lib.by_kind(objects, "Deployment").values():
        namespace = deployment["metadata"].get("namespace", "")
        pod_spec = deployment["spec"]["template"]["spec"]
        for container in pod_spec["containers"]:
            config, _ = settings(objects, pod_spec, container)
            authorization = config.get("authorization") or {}
            named = {"tls.allowed_peers": (config.get("tls") or {}).get("allowed_peers") or []}
            named.update({f"authorization.{role}": authorization.get(role) or []
                          for role in ("read", "operate", "administer")})
            where = f"{overlay}: Deployment/{deployment['metadata']['name']}"
            count = 0
            for key, identities in named.items():
                for identity in identities:
                    count += 1
                    prefix = "spiffe://"
                    if not identity.startswith(prefix) or f"/ns/{namespace}/sa/" not in identity:
                        problem(f"{where}: {key} admits {identity}, not a SPIFFE ID of namespace {namespace} "
                                f"(spiffe://<trust domain>/ns/{namespace}/sa/<name>)")
                    elif issued and identity not in issued:
                        problem(f"{where}: {key} admits {identity}, which no Certificate of the overlay carries")
            if count:
                print(f"ok: {where}: its {count} admitted identities are SPIFFE IDs of namespace {namespace}"
                      + (" issued by the overlay's Certificates" if issued else ""), flush=True)


PRUNE_PROTECTION = {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false",
                    "kustomize.toolkit.fluxcd.io/prune": "disabled"}


def check_kept_on_prune(overlay, objects):
    """The state a GitOps prune must never delete: every claim, and in prod the Namespace (its Secrets)."""
    kept = list(lib.by_kind(objects, "PersistentVolumeClaim").values())
    if overlay == "prod":
        kept += list(lib.by_kind(objects, "Namespace").values())
    for obj in kept:
        annotations = obj["metadata"].get("annotations", {})
        missing = [k for k, v in PRUNE_PROTECTION.items() if annotations.get(k) != v]
        where = f"{overlay}: {obj['kind']}/{obj['metadata']['name']}"
        if missing:
            problem(f"{where} is not protected from a GitOps prune (missing {missing})")
        else:
            print(f"ok: {where} is kept by Argo CD and Flux prunes", flush=True)


def check_autoscaled_replicas(overlay, objects):
    """A Deployment an HPA scales sets no `replicas`: each apply or GitOps sync would reset the HPA's count."""
    deployments = lib.by_kind(objects, "Deployment")
    for hpa in lib.by_kind(objects, "HorizontalPodAutoscaler").values():
        target = hpa["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            problem(f"{overlay}: HorizontalPodAutoscaler/{hpa['metadata']['name']} scales {target}, which is not rendered")
        elif "replicas" in deployments[target]["spec"]:
            problem(f"{overlay}: Deployment/{target} sets replicas beside its HorizontalPodAutoscaler; an apply "
                    "would undo the scaling")
        else:
            print(f"ok: {overlay}: Deployment/{target}'s replicas belong to its HorizontalPodAutoscaler", flush=True)


def check_singletons_leave_lost_nodes(overlay, objects):
    """A singleton (one replica, Recreate) gives up a lost node (NotReady or unreachable) within a minute,
    not Kubernetes' default 300 s: its replacement cannot start before (docs/deploy.md, "When a node is
    lost")."""
    for name, deployment in lib.by_kind(objects, "Deployment").items():
        spec = deployment["spec"]
        if spec.get("strategy", {}).get("type") != "Recreate" or max_replicas(objects, deployment) != 1:
            continue
        if name == "tenant-emulator":
            continue  # the dev overlay's stand-in for Microsoft, not a part of the mesh
        tolerations = spec["template"]["spec"].get("tolerations", [])
        for taint in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"):
            seconds = [t.get("tolerationSeconds") for t in tolerations
                       if t.get("key") == taint and t.get("effect") == "NoExecute"]
            if not seconds or seconds[0] is None or seconds[0] > 60:
                problem(f"{overlay}: singleton Deployment/{name} tolerates {taint} for {seconds[0] if seconds else 300} s "
                        "(more than 60): a lost node keeps it away for minutes longer")
            else:
                print(f"ok: {overlay}: singleton Deployment/{name} leaves a node that is {taint.split('/')[1]} "
                      f"after {seconds[0]} s", flush=True)


# ------------------------------------------------------------------------------------------ https proxy
# Addresses of Microsoft's endpoints (login.microsoftonline.com answered from these ranges): what the
# connector must reach directly without a proxy, and must not with one.
MICROSOFT_ADDRESSES = ("20.190.151.68", "2603:1037:1:c8::8")


def egress_allowed(objects, template, address, port):
    """Whether the NetworkPolicies let the pod open TCP to `address`:`port` outside the cluster (ipBlock
    peers, or rules with no peer; pod and namespace selectors never match an outside address)."""
    import ipaddress
    ip = ipaddress.ip_address(address)
    for _, peers, ports in policy_rules(objects, template, "egress"):
        if ports and not any(p.get("protocol", "TCP") == "TCP" and (p.get("port") == port or (
                isinstance(p.get("port"), int) and p["port"] <= port <= p.get("endPort", p["port"]))) for p in ports):
            continue
        if not peers:
            return True
        for peer in peers:
            block = peer.get("ipBlock")
            if not block:
                continue
            network = ipaddress.ip_network(block["cidr"])
            if ip.version == network.version and ip in network and not any(
                    ip.version == ipaddress.ip_network(e).version and ip in ipaddress.ip_network(e)
                    for e in block.get("except", [])):
                return True
    return False


def connector_of(overlay, objects):
    deployment = lib.by_kind(objects, "Deployment").get("tenant-connector")
    if not deployment:
        problem(f"{overlay}: no Deployment tenant-connector")
        return None, None, None
    template = deployment["spec"]["template"]
    container = next(c for c in template["spec"]["containers"] if c["name"] == "tenant-connector")
    merged, _ = settings(objects, template["spec"], container)
    return template, container, merged


def https_proxy():
    """components/https-proxy on the prod overlay: the connector's effective settings name the proxy, the
    real binary accepts them, and the policies admit the proxy's port on IPv4 and IPv6 and nothing else
    outside; the prod overlay alone reaches Microsoft directly (so that the evaluation can fail)."""
    from urllib.parse import urlsplit
    _, objects = lib.render("prod")
    template, _, merged = connector_of("prod", objects)
    if template:
        direct = [a for a in MICROSOFT_ADDRESSES if egress_allowed(objects, template, a, 443)]
        if len(direct) != len(MICROSOFT_ADDRESSES):
            problem(f"prod: the connector reaches only {direct} of Microsoft's {list(MICROSOFT_ADDRESSES)} on 443")
        if merged.get("upstream_proxy") or (merged.get("upstream") or {}).get("proxy"):
            problem("prod: the connector has a proxy without the https-proxy component")
        print("ok: prod: the connector reaches Microsoft on 443 directly, IPv4 and IPv6, with no proxy", flush=True)

    variant = "prod+https-proxy"
    _, objects = lib.render(variant)
    template, container, merged = connector_of(variant, objects)
    if not template:
        return
    url = merged.get("upstream_proxy") or (merged.get("upstream") or {}).get("proxy")
    no_proxy = merged.get("upstream_no_proxy") or ",".join((merged.get("upstream") or {}).get("no_proxy", []))
    if not url:
        problem(f"{variant}: the connector's settings have no upstream.proxy")
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port or parts.username:
        problem(f"{variant}: upstream.proxy {url} is not http(s)://HOST:PORT without credentials")
        return
    policy = lib.by_kind(objects, "NetworkPolicy").get("tenant-connector-egress-proxy")
    if not policy:
        problem(f"{variant}: no NetworkPolicy tenant-connector-egress-proxy")
        return
    import ipaddress
    blocks = [peer["ipBlock"]["cidr"] for rule in policy["spec"].get("egress", []) for peer in rule.get("to", [])
              if "ipBlock" in peer]
    families = {ipaddress.ip_network(b).version for b in blocks}
    if families != {4, 6}:
        problem(f"{variant}: NetworkPolicy/tenant-connector-egress-proxy names IPv{sorted(families)} only; "
                "expected an IPv4 and an IPv6 address of the proxy")
    for block in blocks:
        address = str(next(iter(ipaddress.ip_network(block))))
        if not egress_allowed(objects, template, address, parts.port):
            problem(f"{variant}: the connector may not reach the proxy at {address}, port {parts.port} of {url}")
        if egress_allowed(objects, template, address, parts.port + 1):
            problem(f"{variant}: the connector may reach {address} on other ports than the proxy's {parts.port}")
    for address in MICROSOFT_ADDRESSES:
        if egress_allowed(objects, template, address, 443):
            problem(f"{variant}: the connector still reaches Microsoft ({address}:443) around the proxy")
    print(f"ok: {variant}: the connector's upstream.proxy is {url} (no_proxy {no_proxy or 'none'}); the policies "
          f"admit it on {parts.port} at {', '.join(blocks)} and nothing else outside the cluster", flush=True)
    check_connector_accepts(variant, url, no_proxy)
    proxy_credentials(url, no_proxy)


def proxy_credentials(url, no_proxy):
    """components/https-proxy-credentials: the connector's upstream.proxy_credentials_file is a file of the
    Secret tenant-connector-proxy, mounted read-only, and the real binary starts with it."""
    variant = "prod+https-proxy+credentials"
    _, objects = lib.render(variant)
    template, container, merged = connector_of(variant, objects)
    if not template:
        return
    path = merged.get("upstream_proxy_credentials_file") or (merged.get("upstream") or {}).get(
        "proxy_credentials_file")
    if not path:
        problem(f"{variant}: the connector's settings have no upstream.proxy_credentials_file")
        return
    mount = next((m for m in container.get("volumeMounts", [])
                  if os.path.dirname(path) == m["mountPath"].rstrip("/")), None)
    volume = mount and next((v for v in template["spec"].get("volumes", []) if v["name"] == mount["name"]), None)
    secret = (volume or {}).get("secret", {}).get("secretName")
    if secret != "tenant-connector-proxy":
        problem(f"{variant}: {path} is not in a mounted volume of the Secret tenant-connector-proxy")
        return
    if not mount.get("readOnly"):
        problem(f"{variant}: the Secret tenant-connector-proxy is mounted writable at {mount['mountPath']}")
    if merged.get("upstream_proxy") != url:
        problem(f"{variant}: the proxy changed with the credentials: {merged.get('upstream_proxy')} != {url}")
    print(f"ok: {variant}: upstream.proxy_credentials_file {path} is the Secret tenant-connector-proxy, read-only",
          flush=True)
    check_connector_accepts(variant, url, no_proxy, credentials=True)


def check_connector_accepts(variant, url, no_proxy, credentials=False):
    """The real tenant-connector (BIN_DIR) starts with the rendered proxy settings (and a credentials file
    like the Secret's, when `credentials`)."""
    import tempfile
    import time
    binary = os.path.abspath(os.path.join(os.environ.get("BIN_DIR", ""), "tenant-connector"))
    if not os.access(binary, os.X_OK):
        problem(f"{binary} is not built (set BIN_DIR to the build's bin directory)")
        return
    with tempfile.TemporaryDirectory() as work:
        ready = os.path.join(work, "ready")
        argv = [binary, "--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
                f"--ready-file={ready}", f"--upstream-proxy={url}"] + ([f"--upstream-no-proxy={no_proxy}"]
                                                                       if no_proxy else [])
        if credentials:
            with open(os.path.join(work, "credentials"), "w") as file:
                file.write("egress:Pr0xy-Password\n")
            argv.append(f"--upstream-proxy-credentials-file={os.path.join(work, 'credentials')}")
        with open(os.path.join(work, "log"), "w") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        try:
            lib.wait_until(lambda: os.path.exists(ready) or process.poll() is not None, 20)
            if not os.path.exists(ready):
                problem(f"{variant}: tenant-connector refused the rendered proxy settings: "
                        f"{lib.log_tail(os.path.join(work, 'log'))}")
                return
        finally:
            process.terminate()
            process.wait(timeout=20)
    print(f"ok: {variant}: tenant-connector starts with the rendered proxy settings", flush=True)


def retained_volumes():
    """components/retained-volumes: the volume under every claim is kept when its claim is deleted."""
    for overlay in ("dev", "prod"):
        _, objects = lib.render(overlay)
        named = [n for n, c in lib.by_kind(objects, "PersistentVolumeClaim").items() if "storageClassName" in c["spec"]]
        if named or lib.by_kind(objects, "StorageClass"):
            problem(f"{overlay}: claims {named} name a StorageClass without the retained-volumes component")
        variant = f"{overlay}+retained-volumes"
        _, objects = lib.render(variant)
        classes = lib.by_kind(objects, "StorageClass")
        claims = lib.by_kind(objects, "PersistentVolumeClaim")
        if not claims:
            problem(f"{variant}: renders no PersistentVolumeClaim")
        for name, claim in claims.items():
            wanted = claim["spec"].get("storageClassName")
            storage_class = classes.get(wanted)
            where = f"{variant}: PersistentVolumeClaim/{name}"
            if storage_class is None:
                problem(f"{where} asks for StorageClass {wanted!r}, which the render does not hold")
                continue
            if storage_class.get("reclaimPolicy") != "Retain":
                problem(f"{where}: StorageClass/{wanted} has reclaimPolicy {storage_class.get('reclaimPolicy')!r}, "
                        "not Retain")
                continue
            print(f"ok: {where} is bound through StorageClass/{wanted}, whose volumes outlive their claims",
                  flush=True)
        for name, storage_class in classes.items():
            annotations = storage_class["metadata"].get("annotations", {})
            missing = [k for k, v in PRUNE_PROTECTION.items() if annotations.get(k) != v]
            if missing:
                problem(f"{variant}: StorageClass/{name} is not protected from a GitOps prune (missing {missing})")
            if not storage_class.get("provisioner"):
                problem(f"{variant}: StorageClass/{name} has no provisioner")


def main():
    checks = {"pod-security": pod_security, "dashboard": dashboard, "dockerfile": dockerfile,
              "orchestrator-ha": orchestrator_ha, "https-proxy": https_proxy, "retained-volumes": retained_volumes}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        sys.exit(f"usage: static_checks.py {'|'.join(checks)}")
    checks[sys.argv[1]]()
    if problems:
        print(f"{len(problems)} problem(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
