#!/usr/bin/python3
"""The manifests' command, args, config, ports, probes and certificates work with the real binaries.

For each overlay, renders it and starts tenant-connector, orchestrator and worker the way the kubelet
would: the container's command and args, the ConfigMap's config file, the env, every mounted Secret,
ConfigMap, claim and emptyDir as a temporary directory at the mount path's place (paths are rewritten
into it), the TLS Secrets issued by a test CA with exactly the names of the overlay's cert-manager
Certificates. Listening addresses must use the container's declared ports on 0.0.0.0; they are moved to
free loopback ports, and Service names in upstream addresses to those loopback ports. Then:
  - startup, readiness and liveness probes are sent as the kubelet sends them (plaintext
    grpc.health.v1 on the probe's port, with the probe's service name) and must answer SERVING;
  - the main gRPC port refuses plaintext and serves mTLS with the migratectl certificate;
  - each edge of the mesh works with the caller's own certificate (its Secret) and the callee's
    allowed_peers: orchestrator and worker -> connector, worker -> orchestrator;
  - GET /metrics on the metrics port answers the service's *_build_info;
  - in the dev overlay, the tenant emulator starts from its manifest too, and the connector, with the
    overlay's connect-to rule and CA, signs in to it (CreateConnection for the source and the target);
  - SIGTERM stops each server with exit code 0 within terminationGracePeriodSeconds.
The orchestrator starts as many replicas as its Deployment declares (the prod overlay: three on
PostgreSQL). Env from the downward API gets the pod's name, and $(VAR) in args is expanded as the kubelet
does (--replica-id=$(POD_NAME)). The Secret orchestrator-postgres gets the connection string of a fresh
database on the test server (CROSSTENANT_TEST_POSTGRES_DSN_FILE, the ctest fixture `postgres`); a headless
Service's dns:/// target becomes an ipv4: target listing every replica. Then, for several replicas:
  - exactly one leads (orchestrator_leader summed over them is 1), and its log names its pod;
  - the worker leases from every replica (round_robin over the headless Service's target);
  - the leader killed with SIGKILL is replaced by another within about leader_lease, and the worker
    leases on from the others; a leader stopped with SIGTERM hands over at once.

  BIN_DIR=build/bin /usr/bin/python3 tests/deploy/manifest_args_test.py
  (on PostgreSQL also CROSSTENANT_TEST_POSTGRES_DSN_FILE=build/tests/postgres/dsn, as ctest sets it)
"""

import json
import os
import re
import secrets
import shlex
import signal
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as lib  # noqa: E402
import grpc  # noqa: E402
import yaml  # noqa: E402

BIN_DIR = os.environ.get("BIN_DIR") or lib.fail("set BIN_DIR to the build's bin directory")
ORDER = ("tenant-emulator", "tenant-connector", "orchestrator", "worker")  # upstreams start first
REQUIRED = ("tenant-connector", "orchestrator", "worker")  # the emulator is only in the dev overlay
BUF = os.environ.get("BUF") or os.path.join(lib.SOURCE_DIR, "tools", "node_modules", ".bin", "buf")
LISTEN = re.compile(r"^(0\.0\.0\.0|\[::\]):(\d+)$")
SERVICE_ADDRESS = re.compile(r"\b([a-z][a-z0-9-]*):(\d+)\b")
LISTEN_KEYS = {"grpc_address": "grpc", "metrics_address": "metrics", "health_address": "health"}
UPSTREAM_KEYS = ("connector_address", "orchestrator_address")
PROBE_SERVICE = {"tenant-connector": "crosstenant.v1.TenantConnector", "orchestrator": "crosstenant.v1.Orchestrator",
                 "worker": "crosstenant.v1.Worker"}
# A read-only call per server, for checking who may call whom over mTLS.
READ_CALL = {"tenant-connector": "/crosstenant.v1.TenantConnector/ListConnections",
             "orchestrator": "/crosstenant.v1.Orchestrator/ListMigrations",
             "worker": "/crosstenant.v1.Worker/GetWorkerStatus"}
# Deployments whose replicas work together (the orchestrators share a store and elect a leader): every
# declared replica is started. Of the others, one pod stands for all.
ALL_REPLICAS = {"orchestrator"}
MAX_REPLICAS = 3
# dns:///SERVICE:PORT or dns:///SERVICE.NAMESPACE.svc.cluster.local:PORT (a headless Service: every replica).
DNS_TARGET = re.compile(r"^dns:///([a-z][a-z0-9-]*)(\.[a-z0-9-]+\.svc\.cluster\.local)?:(\d+)$")
# The downward API fields the test can give a pod.
FIELD_REFS = {"metadata.name": lambda pod: pod.pod_name, "metadata.namespace": lambda pod: pod.namespace,
              "status.podIP": lambda pod: "127.0.0.1", "spec.nodeName": lambda pod: "test-node"}

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"FAIL: {message}", flush=True)
    return condition


def openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        lib.fail(f"openssl {' '.join(args)}: {result.stderr.strip()}")


class TestDatabase:
    """A fresh database on the test PostgreSQL server (the ctest fixture `postgres`), made on first use:
    what the Secret orchestrator-postgres holds in the test. Dropped at the end."""

    def __init__(self):
        self.name = None
        self.server = None

    def _psql(self, sql):
        psql = shutil.which("psql") or lib.fail("psql not found: install Debian's postgresql-client")
        # The password goes through the environment, not the command line.
        keys = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "sslmode": "PGSSLMODE"}
        env = dict(os.environ, PGDATABASE=self.server.get("dbname", "postgres"),
                   **{keys[k]: v for k, v in self.server.items() if k in keys})
        result = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], env=env,
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            lib.fail(f"psql {sql}: {result.stderr.strip()}")

    def dsn(self):
        if self.name is None:
            path = os.environ.get("CROSSTENANT_TEST_POSTGRES_DSN_FILE")
            if not path or not os.path.exists(path):
                lib.fail("the overlay's orchestrator keeps its migrations in PostgreSQL: run this test through ctest "
                         "(fixture postgres, tests/postgres.cmake), or start tests/support/postgres_server.sh and set "
                         "CROSSTENANT_TEST_POSTGRES_DSN_FILE to its dsn file")
            with open(path) as f:
                self.server = dict(item.split("=", 1) for item in shlex.split(f.read().strip()))
            name = f"deploy_manifest_args_{secrets.token_hex(4)}"
            self._psql(f"CREATE DATABASE {name}")
            self.name = name
        fields = dict(self.server, dbname=self.name)
        quoted = {k: v.replace("\\", "\\\\").replace("'", "\\'") for k, v in fields.items()}
        return " ".join(f"{k}='{v}'" for k, v in quoted.items()) + "\n"

    def drop(self):
        if self.name is not None:
            self._psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            self.name = None


def expand(text, variables):
    """$(VAR) in command and args, as the kubelet expands it: from the container's env; $$ is a $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else variables.get(m.group(1), m.group(0)), text)


class TestCa:
    """Issues what cert-manager would for each Certificate: tls.crt, tls.key, ca.crt in a directory."""

    def __init__(self, directory):
        self.directory = directory
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=crosstenant test CA", "-keyout", "ca.key", "-out", "ca.crt",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                cwd=directory)

    def issue(self, certificate, out_dir):
        spec = certificate["spec"]
        name = certificate["metadata"]["name"]
        usages = {"server auth": "serverAuth", "client auth": "clientAuth"}
        eku = ",".join(usages[u] for u in spec.get("usages", []) if u in usages) or "serverAuth,clientAuth"
        # The test reaches every server on 127.0.0.1 instead of its Service name, hence the extra IP SAN.
        sans = ",".join([f"DNS:{d}" for d in spec.get("dnsNames", [])] + [f"URI:{u}" for u in spec.get("uris", [])]
                        + ["IP:127.0.0.1"])
        ext = os.path.join(self.directory, f"{name}.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={sans}\nextendedKeyUsage={eku}\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    "basicConstraints=CA:FALSE\n")
        os.makedirs(out_dir, exist_ok=True)
        key, csr, crt = (os.path.join(out_dir, n) for n in ("tls.key", "tls.csr", "tls.crt"))
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", f"/CN={spec.get('commonName', name)}", "-keyout", key, "-out", csr, cwd=self.directory)
        openssl("x509", "-req", "-in", csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
                "-extfile", ext, "-out", crt, cwd=self.directory)
        os.remove(csr)
        with open(os.path.join(self.directory, "ca.crt")) as src, open(os.path.join(out_dir, "ca.crt"), "w") as dst:
            dst.write(src.read())


class Pod:
    """One Deployment's container, laid out on disk and started like the kubelet would."""

    def __init__(self, overlay, deployment, objects, work, ca, database, replica=0, replicas=1):
        self.name = deployment["metadata"]["name"]
        self.pod_name = f"{self.name}-test-{replica}"
        self.namespace = deployment["metadata"].get("namespace", "default")
        self.where = f"{overlay}: Deployment/{self.name}" + (f" pod {self.pod_name}" if replicas > 1 else "")
        self.deployment = deployment
        self.pod_spec = deployment["spec"]["template"]["spec"]
        self.container = self.pod_spec["containers"][0]
        self.database = database
        self.root = os.path.join(work, overlay, self.pod_name)
        self.mounts = {}  # mountPath -> (host directory, read-only)
        self.ports = {p["name"]: p["containerPort"] for p in self.container.get("ports", [])}
        self.addresses = {}  # grpc/metrics/health -> 127.0.0.1:port
        self.tls_dir = None
        self._lay_out_volumes(objects, ca)

    def _lay_out_volumes(self, objects, ca):
        config_maps = lib.by_kind(objects, "ConfigMap")
        claims = lib.by_kind(objects, "PersistentVolumeClaim")
        certificates = {c["spec"]["secretName"]: c for c in lib.by_kind(objects, "Certificate").values()}
        volumes = {v["name"]: v for v in self.pod_spec.get("volumes", [])}
        for mount in self.container.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if not check(volume is not None, f"{self.where}: volumeMount {mount['name']} names no volume"):
                continue
            check("subPath" not in mount, f"{self.where}: {mount['name']} uses subPath, which never sees updates "
                                          "(rotated certificates, changed config)")
            host = os.path.join(self.root, "volumes", mount["name"])
            os.makedirs(host, exist_ok=True)
            read_only = bool(mount.get("readOnly"))
            if "configMap" in volume:
                name = volume["configMap"]["name"]
                if name not in config_maps and volume["configMap"].get("optional"):
                    pass  # an optional ConfigMap the operator may create (orchestrator-postgres-ca): absent here
                elif check(name in config_maps, f"{self.where}: ConfigMap {name} is not in the overlay"):
                    for key, value in config_maps[name].get("data", {}).items():
                        with open(os.path.join(host, key), "w") as f:
                            f.write(value)
            elif "secret" in volume:
                secret = volume["secret"]["secretName"]
                if secret in certificates:
                    ca.issue(certificates[secret], host)
                    if mount["mountPath"].endswith("/tls"):
                        self.tls_dir = host
                elif secret.endswith("-seal-key"):
                    with open(os.path.join(host, "seal.key"), "w") as f:
                        f.write(secrets.token_hex(32) + "\n")
                elif secret == "orchestrator-postgres":
                    # The connection string the operator puts in the Secret, key dsn: here a fresh database
                    # on the test server. Mode as the kubelet sets it (defaultMode, or an item's mode).
                    items = {i["key"]: i for i in volume["secret"].get("items", [])} or {"dsn": {"path": "dsn"}}
                    check("dsn" in items, f"{self.where}: Secret {secret} is mounted without its key dsn")
                    for key, item in items.items():
                        path = os.path.join(host, item["path"])
                        with open(path, "w") as f:
                            f.write(self.database.dsn() if key == "dsn" else "")
                        os.chmod(path, item.get("mode", volume["secret"].get("defaultMode", 0o644)) & 0o777)
                else:
                    check(volume["secret"].get("optional", False),
                          f"{self.where}: Secret {secret} is neither issued by a Certificate of the overlay nor "
                          "optional nor known to the test (the seal key)")
            elif "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                check(claim in claims, f"{self.where}: PersistentVolumeClaim {claim} is not in the overlay")
            elif "projected" in volume:
                for source in volume["projected"]["sources"]:
                    token = source.get("serviceAccountToken")
                    if token:
                        with open(os.path.join(host, token["path"]), "w") as f:
                            f.write("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl\n")
            elif "emptyDir" not in volume:
                check(False, f"{self.where}: volume {mount['name']} is of a kind the test does not know")
            self.mounts[mount["mountPath"].rstrip("/")] = (host, read_only)

    def host_path(self, path, field, writable=False):
        """The temporary path for a path in the container; a path on no volume fails (read-only root)."""
        best = max((m for m in self.mounts if path == m or path.startswith(m + "/")), key=len, default=None)
        if not check(best is not None, f"{self.where}: {field} = {path} is on no volume: the root filesystem is "
                                       "read-only and the file is not in the image"):
            return path
        host, read_only = self.mounts[best]
        check(not (writable and read_only), f"{self.where}: {field} = {path} must be writable but its volume is "
                                            "mounted readOnly")
        return host + path[len(best):]

    def command(self, upstreams):
        """argv for the container, with its config file rewritten; `upstreams` maps Service -> (addr, port)."""
        command = self.container.get("command", [])
        check(len(command) == 1 and command[0].startswith("/usr/local/bin/"),
              f"{self.where}: command must be the binary's path in the image, /usr/local/bin/NAME (got {command})")
        binary = os.path.join(BIN_DIR, os.path.basename(command[0]) if command else self.name)
        if not os.access(binary, os.X_OK):
            lib.fail(f"{self.where}: {binary} does not exist (build it first)")
        argv = [binary]
        names_by_port = {number: name for name, number in self.ports.items()}
        variables = self.manifest_env()
        for arg in self.container.get("args", []):
            arg = expand(arg, variables)
            check("$(" not in arg, f"{self.where}: arg {arg} names a variable the container's env does not define")
            key, _, value = arg.partition("=")
            listen = LISTEN.match(value)
            if key == "--config":
                argv.append(f"--config={self.rewrite_config(value, upstreams)}")
            elif listen:
                port_name = names_by_port.get(int(listen.group(2)))
                if check(port_name is not None, f"{self.where}: {key} listens on {listen.group(2)}, which is no "
                                                "declared container port"):
                    self.addresses[port_name] = f"127.0.0.1:{lib.free_port()}"
                    argv.append(f"{key}={self.addresses[port_name]}")
            elif value.startswith("/"):
                argv.append(f"{key}={self.host_path(value, key)}")
            else:
                argv.append(f"{key}={self.upstream(value, upstreams, key)}" if value else arg)
        return argv

    def upstream(self, value, upstreams, field):
        """`value` with each SERVICE:PORT of a started Service replaced by where that port really is: one
        address for a ClusterIP Service, and for dns:/// through a headless Service an ipv4: target listing
        every replica (what its DNS name resolves to)."""
        target = DNS_TARGET.match(value)
        if target:
            service, domain, port = target.group(1), target.group(2), int(target.group(3))
            check(domain in (None, f".{self.namespace}.svc.cluster.local"),
                  f"{self.where}: {field} {value} is not in the namespace {self.namespace}")
            if not check(service in upstreams and port in upstreams[service],
                         f"{self.where}: {field} {value} names no port of a started Service"):
                return value
            addresses = upstreams[service][port]
            return "ipv4:" + ",".join(addresses)

        def replace(match):
            service, port = match.group(1), int(match.group(2))
            if service not in upstreams:
                return match.group(0)
            check(port in upstreams[service], f"{self.where}: {field} names {service}:{port}, but Service "
                                              f"{service} has ports {sorted(upstreams[service])}")
            return upstreams[service].get(port, [match.group(0)])[0]
        return SERVICE_ADDRESS.sub(replace, value)

    def rewrite_config(self, path, upstreams):
        host_config = self.host_path(path, "--config")
        with open(host_config) as f:
            config = yaml.safe_load(f) or {}
        for key, port_name in LISTEN_KEYS.items():
            address = config.get(key, "")
            if not check(address, f"{self.where}: {os.path.basename(path)} has no {key}"):
                continue
            host, _, port = address.rpartition(":")
            check(host in ("0.0.0.0", "[::]"), f"{self.where}: {key} {address} must listen on every address "
                                               "(0.0.0.0 or [::]): probes and scrapes come to the pod IP")
            check(int(port) == self.ports.get(port_name), f"{self.where}: {key} port {port} is not the "
                  f"container port named {port_name} ({self.ports.get(port_name)})")
            self.addresses[port_name] = f"127.0.0.1:{lib.free_port()}"
            config[key] = self.addresses[port_name]
        for key in UPSTREAM_KEYS:
            if key in config:
                target = DNS_TARGET.match(config[key])
                service = target.group(1) if target else config[key].rpartition(":")[0]
                if check(service in upstreams, f"{self.where}: {key} {config[key]} names no Service of the "
                                               "overlay started before it"):
                    config[key] = self.upstream(config[key], upstreams, key)
        if any(str(config.get(key, "")).startswith("ipv4:") and "," in config[key] for key in UPSTREAM_KEYS):
            # gRPC verifies a target's TLS name against its authority, which for an ipv4: list is the whole
            # list. Here every test certificate also names 127.0.0.1 (what a single rewritten address is
            # verified as); the real name, the headless Service's, is checked below on every replica.
            client_tls = config.setdefault("client_tls", {})
            check("server_name" not in client_tls, f"{self.where}: client_tls.server_name is set; it would apply "
                                                   "to every upstream")
            client_tls["server_name"] = "127.0.0.1"
        writable = {"state_dir", "sqlite_path"}

        def remap(node, field):
            if isinstance(node, dict):
                return {k: remap(v, f"{field}.{k}" if field else k) for k, v in node.items()}
            if isinstance(node, list):
                return [remap(v, field) for v in node]
            if isinstance(node, str) and node.startswith("/"):
                is_writable = field in writable
                mapped = self.host_path(os.path.dirname(node) if field == "sqlite_path" else node, field, is_writable)
                return os.path.join(mapped, os.path.basename(node)) if field == "sqlite_path" else mapped
            return node

        config = remap(config, "")
        rewritten = os.path.join(self.root, "config.yaml")
        with open(rewritten, "w") as f:
            yaml.safe_dump(config, f)
        return rewritten

    def manifest_env(self):
        """The container's env as the kubelet sets it: values with $(VAR) expanded, the downward API's fields."""
        env = {}
        for item in self.container.get("env", []):
            if "valueFrom" in item:
                field = item["valueFrom"].get("fieldRef", {}).get("fieldPath")
                if not check(field in FIELD_REFS, f"{self.where}: env {item['name']} comes from {item['valueFrom']}, "
                                                  "which the test cannot give"):
                    continue
                env[item["name"]] = FIELD_REFS[field](self)
            else:
                env[item["name"]] = expand(item.get("value", ""), env)
        return env

    def env(self):
        env = {"PATH": "/usr/bin:/bin", "HOSTNAME": self.pod_name}
        for name, value in self.manifest_env().items():
            env[name] = self.host_path(value, f"env {name}") if value.startswith("/") else value
        return env

    def credentials(self, tls_dir=None):
        tls_dir = tls_dir or self.tls_dir
        read = lambda n: open(os.path.join(tls_dir, n), "rb").read()  # noqa: E731
        return grpc.ssl_channel_credentials(read("ca.crt"), read("tls.key"), read("tls.crt"))


def probe(pod, kind):
    """Sends the container's probe of `kind` like the kubelet: until success or failureThreshold."""
    spec = pod.container.get(kind)
    if spec is not None and "httpGet" in spec and "health" not in pod.ports:
        return http_probe(pod, kind, spec)
    if not check(spec is not None and "grpc" in spec, f"{pod.where}: no native gRPC {kind}"):
        return False
    port = spec["grpc"]["port"]
    check(port == pod.ports.get("health"), f"{pod.where}: {kind} port {port} is not the container port named "
                                           f"health ({pod.ports.get('health')}), the plaintext health-only port")
    service = spec["grpc"].get("service", "")
    period, threshold = spec.get("periodSeconds", 10), spec.get("failureThreshold", 3)
    timeout = spec.get("timeoutSeconds", 1)
    # Scaled down: a probe every 0.1 s instead of periodSeconds, within the same number of attempts'
    # worth of time as the manifest allows (capped at 20 s for the test).
    deadline = time.monotonic() + min(period * threshold, 20)
    last = None
    while time.monotonic() < deadline:
        try:
            status = lib.health_check(pod.addresses["health"], service, timeout=timeout)
            if status == lib.SERVING:
                return True
            last = f"status {status}"
        except grpc.RpcError as error:
            last = f"{error.code().name}: {error.details()}"
        time.sleep(0.1)
    return check(False, f"{pod.where}: {kind} (grpc port {port}, service '{service}') did not succeed: {last}")


def http_probe(pod, kind, spec):
    """An httpGet probe (the emulator, which is not a gRPC server): 200-399 before failureThreshold."""
    port = spec["httpGet"]["port"]
    name = port if isinstance(port, str) else {n: p for p, n in pod.ports.items()}.get(port)
    if not check(name in pod.addresses, f"{pod.where}: {kind} port {port} is no port the container listens on"):
        return False
    url = f"http://{pod.addresses[name]}{spec['httpGet'].get('path', '/')}"
    deadline = time.monotonic() + min(spec.get("periodSeconds", 10) * spec.get("failureThreshold", 3), 20)
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=spec.get("timeoutSeconds", 1)) as response:
                if 200 <= response.status < 400:
                    return True
                last = f"HTTP {response.status}"
        except OSError as error:
            last = str(error)
        time.sleep(0.1)
    return check(False, f"{pod.where}: {kind} GET {spec['httpGet'].get('path')} on port {port} did not succeed: {last}")


def buf_call(pod, method, body, tls_dir):
    """A call with JSON through reflection (buf curl), as the operator's migratectl identity."""
    result = subprocess.run([BUF, "curl", "--protocol", "grpc", "--cacert", f"{tls_dir}/ca.crt", "--cert",
                             f"{tls_dir}/tls.crt", "--key", f"{tls_dir}/tls.key", "--servername", pod.name,
                             "-d", json.dumps(body), f"https://{pod.addresses['grpc']}/{method}"],
                            capture_output=True, text=True, timeout=60)
    return result.returncode, (result.stdout + result.stderr).strip()


def metric_value(pod, name):
    """The value of an unlabelled sample `name` on the pod's /metrics, or None if absent or unreachable."""
    try:
        text = lib.scrape(pod.addresses["metrics"], timeout=2)
    except Exception:  # noqa: BLE001
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def lease_calls(pod):
    try:
        text = lib.scrape(pod.addresses["metrics"], timeout=2)
    except Exception:  # noqa: BLE001
        return 0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("grpc_server_started_total") and 'grpc_method="LeaseTasks"' in line)


def leaders(replicas):
    """The running replicas that report orchestrator_leader 1, or None if one of them cannot be read."""
    values = {pod.pod_name: metric_value(pod, "orchestrator_leader") for pod in replicas if pod.process.poll() is None}
    if None in values.values():
        return None
    return [pod for pod in replicas if values.get(pod.pod_name) == 1]


def duration_seconds(text, default):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", str(text or ""))
    if not match:
        return default
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[match.group(2)]


def check_leadership(overlay, replicas, lease):
    """Exactly one replica leads, its log names its pod (the replica id); killing it hands the lead to
    another within about the lease. Returns the replicas still running."""
    found = []

    def one_leader():
        found[:] = leaders(replicas) or []
        return len(found) == 1
    if not check(lib.wait_until(one_leader, 2 * lease + 10, 0.2),
                 f"{overlay}: {len(found)} orchestrator replicas report orchestrator_leader 1, expected exactly one"):
        return None
    leader = found[0]
    with open(os.path.join(leader.root, "log.txt")) as f:
        named = [line for line in f if "drives the migrations" in line and leader.pod_name in line]
    check(named, f"{overlay}: the leader's log does not name it {leader.pod_name} (--replica-id from the pod name)")
    print(f"ok: {overlay}: one of {len(replicas)} orchestrator replicas leads ({leader.pod_name}, named by its "
          "pod in its log)", flush=True)
    return leader


def check_failover(overlay, replicas, leader, lease):
    """SIGKILL the leader: another replica must lead within about the lease (it never resigned)."""
    leader.process.kill()
    leader.process.wait()
    killed = time.monotonic()
    survivors = [pod for pod in replicas if pod is not leader]
    found = []

    def taken_over():
        found[:] = leaders(survivors) or []
        return len(found) == 1
    bound = 2 * lease + 10  # the lease lapses, then the next campaign (every lease/4) takes it; a busy machine
    if check(lib.wait_until(taken_over, bound, 0.1), f"{overlay}: no orchestrator replica took over within {bound:.0f}s "
                                                     f"of the leader's SIGKILL (leader_lease {lease:.0f}s)"):
        print(f"ok: {overlay}: leader {leader.pod_name} killed (SIGKILL); {found[0].pod_name} leads "
              f"{time.monotonic() - killed:.1f}s later (leader_lease {lease:.0f}s)", flush=True)
    return survivors


def run_overlay(overlay, work, database):
    print(f"== overlay {overlay}", flush=True)
    _, objects = lib.render(overlay)
    deployments = lib.by_kind(objects, "Deployment")
    services = lib.by_kind(objects, "Service")
    if not check(set(REQUIRED) <= set(deployments), f"{overlay}: Deployments {sorted(deployments)} lack one of "
                                                     f"{REQUIRED}"):
        return
    ca_dir = os.path.join(work, overlay, "ca")
    os.makedirs(ca_dir)
    ca = TestCa(ca_dir)
    processes = lib.Processes()
    pods, upstreams, replica_sets, selecting = {}, {}, {}, {}
    killed = set()
    try:
        migratectl_dir = os.path.join(work, overlay, "migratectl-tls")
        certificates = lib.by_kind(objects, "Certificate")
        if not check("migratectl" in certificates, f"{overlay}: no Certificate for migratectl, the operator's identity"):
            return
        ca.issue(certificates["migratectl"], migratectl_dir)
        for name in [n for n in ORDER if n in deployments]:
            declared = deployments[name]["spec"].get("replicas", 1)
            count = min(declared, MAX_REPLICAS) if name in ALL_REPLICAS else 1
            replica_sets[name] = []
            for replica in range(count):
                pod = Pod(overlay, deployments[name], objects, work, ca, database, replica, count)
                argv = pod.command(upstreams)
                if failures:
                    return
                os.makedirs(os.path.join(pod.root, "workdir"), exist_ok=True)
                log = os.path.join(pod.root, "log.txt")
                pod.process = processes.start(pod.pod_name, argv, log, cwd=os.path.join(pod.root, "workdir"),
                                              env=pod.env())
                replica_sets[name].append(pod)
                for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                    if not probe(pod, kind):
                        print(lib.log_tail(log), flush=True)
                        return
            pod = pods[name] = replica_sets[name][0]
            # Every Service selecting the pods: a ClusterIP one reaches one replica, a headless one all.
            service = services.get(name)
            check(service is not None, f"{overlay}: no Service {name}")
            labels = deployments[name]["spec"]["template"]["metadata"].get("labels", {})
            for svc_name, svc in services.items():
                selector = svc["spec"].get("selector") or {}
                if not selector or any(labels.get(k) != v for k, v in selector.items()):
                    continue
                headless = svc["spec"].get("clusterIP") == "None"
                selecting.setdefault(name, []).append(svc)
                upstreams[svc_name] = {}
                for port in svc["spec"]["ports"]:
                    target = port.get("targetPort", port["port"])
                    target_name = target if isinstance(target, str) else {p: n for n, p in pod.ports.items()}.get(target)
                    if check(target_name in pod.addresses, f"{overlay}: Service/{svc_name} port {port.get('name')} "
                                                           f"targets {target}, where the container does not listen"):
                        replicas = replica_sets[name] if headless else replica_sets[name][:1]
                        upstreams[svc_name][port["port"]] = [r.addresses[target_name] for r in replicas]
            for replica in replica_sets[name]:
                try:
                    metrics = lib.scrape(replica.addresses["metrics"])
                    prefix = name.replace("-", "_")
                    check(f"{prefix}_build_info" in metrics, f"{replica.where}: /metrics has no {prefix}_build_info")
                except Exception as error:  # noqa: BLE001
                    check(False, f"{replica.where}: GET /metrics on the metrics port failed: {error}")
            if name == "tenant-emulator":
                print(f"ok: {overlay} {name}: started with the manifest's command and args; probes answer", flush=True)
                continue
            check(pod.container["livenessProbe"]["grpc"].get("service") in (None, "", PROBE_SERVICE[name]),
                  f"{pod.where}: livenessProbe service is not a name the server reports")
            # The main port: mTLS only, and the operator's certificate is let in.
            try:
                lib.health_check(pod.addresses["grpc"], timeout=2)
                check(False, f"{pod.where}: the main gRPC port answered plaintext; it must require mTLS")
            except grpc.RpcError:
                pass
            if service is not None:
                ports = {p.get("name"): p for p in service["spec"]["ports"]}
                check("grpc" in ports and ports["grpc"].get("targetPort") in ("grpc", pod.ports.get("grpc")),
                      f"{overlay}: Service/{name} has no port named grpc targeting the container's grpc port")
            scraped = [svc for svc in selecting.get(name, [])
                       if any(p.get("name") == "metrics" and p.get("targetPort") in ("metrics", pod.ports.get("metrics"))
                              for p in svc["spec"]["ports"])]
            check(scraped, f"{overlay}: no Service of {name} has a port named metrics targeting the container's "
                           "metrics port (Prometheus scrapes through it)")
            if name == "tenant-connector" and "tenant-emulator" in pods:
                for connection_id, role, client_id in [
                        ("contoso", "CONNECTION_ROLE_SOURCE", "11111111-1111-4111-8111-111111111111"),
                        ("fabrikam", "CONNECTION_ROLE_TARGET", "22222222-2222-4222-8222-222222222222")]:
                    code, output = buf_call(pod, "crosstenant.v1.TenantConnector/CreateConnection", {
                        "connection_id": connection_id, "role": role,
                        "admin_url": f"https://{connection_id}-admin.sharepoint.com",
                        "credential": {"client_secret": {"client_id": client_id,
                                                         "secret": {"value": f"{connection_id}-migration-secret"}}}},
                        migratectl_dir)
                    if check(code == 0 and "CONNECTION_STATE_CONNECTED" in output,
                             f"{overlay}: CreateConnection {connection_id} through the overlay's emulator: {output[:400]}"):
                        print(f"ok: {overlay} tenant-connector signed in to {connection_id} on the emulator "
                              "(connect-to rule and CA from the overlay)", flush=True)
            print(f"ok: {overlay} {name}: {len(replica_sets[name])} pod(s) started with the manifest's command, args "
                  "and config; probes SERVING; /metrics answers", flush=True)

        orchestrators = replica_sets["orchestrator"]
        orchestrator_config = yaml.safe_load(open(os.path.join(orchestrators[0].root, "config.yaml")))
        lease = duration_seconds(orchestrator_config.get("leader_lease"), 6.0)
        leader = check_leadership(overlay, orchestrators, lease) if len(orchestrators) > 1 else None
        if failures:
            return

        # Who may call whom: each caller's own certificate against each callee's allowed_peers, verifying
        # the callee under the name the caller's config gives it (a Service name, or the headless
        # Service's full name that workers dial).
        edges = [("migratectl", "tenant-connector"), ("migratectl", "orchestrator"), ("migratectl", "worker"),
                 ("orchestrator", "tenant-connector"), ("worker", "tenant-connector"), ("worker", "orchestrator")]
        manifest_worker_config = yaml.safe_load(open(pods["worker"].host_path(
            next(a for a in pods["worker"].container["args"] if a.startswith("--config=")).partition("=")[2], "--config")))
        for caller, callee in edges:
            server_name = callee
            if caller == "worker":
                key = "orchestrator_address" if callee == "orchestrator" else "connector_address"
                target = str(manifest_worker_config.get(key, ""))
                dns = DNS_TARGET.match(target)
                server_name = (dns.group(1) + (dns.group(2) or "")) if dns else target.rpartition(":")[0]
            credentials = pods["worker"].credentials(migratectl_dir if caller == "migratectl" else pods[caller].tls_dir)
            for callee_pod in replica_sets[callee]:
                try:
                    lib.raw_call(callee_pod.addresses["grpc"], READ_CALL[callee], credentials, server_name=server_name)
                except grpc.RpcError as error:
                    check(False, f"{overlay}: {caller} -> {callee_pod.pod_name} {READ_CALL[callee]} failed with "
                                 f"{caller}'s certificate, verifying it as {server_name}: {error.code().name}: "
                                 f"{error.details()}")
                    break
            else:
                print(f"ok: {overlay} {caller} -> {callee} over mTLS (verified as {server_name}"
                      f"{f', {len(replica_sets[callee])} replicas' if len(replica_sets[callee]) > 1 else ''})", flush=True)
        # And one that must be refused: the orchestrator does not call workers.
        try:
            lib.raw_call(pods["worker"].addresses["grpc"], READ_CALL["worker"],
                         pods["worker"].credentials(pods["orchestrator"].tls_dir), server_name="worker")
            check(False, f"{overlay}: the worker let the orchestrator's certificate call it; allowed_peers is too wide")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.PERMISSION_DENIED,
                  f"{overlay}: orchestrator -> worker was refused with {error.code().name}, not PERMISSION_DENIED")

        # The worker's real traffic: it leases from the orchestrator with its certificate, from every
        # replica when there are several (round_robin over the headless Service's target).
        unreached = []

        def leasing():
            unreached[:] = [pod.pod_name for pod in orchestrators if lease_calls(pod) == 0]
            return not unreached
        wait = 15 + 10 * (len(orchestrators) - 1)  # LeaseTasks waits up to 5 s for work when there is none
        if check(lib.wait_until(leasing, wait, 0.2), f"{overlay}: the worker never called LeaseTasks on "
                                                     f"{', '.join(unreached)} within {wait}s"):
            if len(orchestrators) > 1:
                print(f"ok: {overlay}: the worker leases from all {len(orchestrators)} orchestrator replicas", flush=True)
        if leader is not None and not failures:
            survivors = check_failover(overlay, orchestrators, leader, lease)
            killed.add(leader.pod_name)
            before = {pod.pod_name: lease_calls(pod) for pod in survivors}
            check(lib.wait_until(lambda: any(lease_calls(pod) > before[pod.pod_name] for pod in survivors), 20, 0.2),
                  f"{overlay}: after the leader's death the worker leased from no other replica within 20s")

        for name in reversed([n for n in ORDER if n in pods]):
            running = [pod for pod in replica_sets[name] if pod.pod_name not in killed]
            # Replicas: the leader first, so that a rolling update's handover is seen (it resigns).
            current = leaders(running) if len(running) > 1 else None
            if current:
                running.sort(key=lambda pod: pod not in current)
            for index, pod in enumerate(running):
                grace = pod.pod_spec.get("terminationGracePeriodSeconds", 30)
                started = time.monotonic()
                if current and index == 0 and len(running) > 1:
                    # A rolling update's SIGTERM: the leader resigns at once, so another leads within a
                    # renewal (lease/4), long before its lease would have lapsed.
                    pod.process.send_signal(signal.SIGTERM)
                    rest = running[1:]
                    if check(lib.wait_until(lambda: len(leaders(rest) or []) == 1, lease, 0.05),
                             f"{overlay}: the leader got SIGTERM, and no replica led within leader_lease "
                             f"({lease:.0f}s): it should resign and hand over at once"):
                        print(f"ok: {overlay}: the leader {pod.pod_name} resigned on SIGTERM; "
                              f"{leaders(rest)[0].pod_name} leads {time.monotonic() - started:.1f}s after the signal",
                              flush=True)
                code = processes.stop(pod.process, max(0.1, grace - (time.monotonic() - started)),
                                      signalled=bool(current and index == 0 and len(running) > 1))
                check(code == 0, f"{pod.where}: SIGTERM gave exit code {code} (None: still running after "
                                 f"terminationGracePeriodSeconds={grace})")
                print(f"ok: {overlay} {pod.pod_name} stopped on SIGTERM in {time.monotonic() - started:.1f}s "
                      f"(grace {grace}s)", flush=True)
    finally:
        processes.stop_all()
        if failures:
            for name, replicas in replica_sets.items():
                for pod in replicas:
                    print(f"--- {overlay} {pod.pod_name} log:\n{lib.log_tail(os.path.join(pod.root, 'log.txt'))}",
                          flush=True)


def main():
    database = TestDatabase()
    try:
        with tempfile.TemporaryDirectory(prefix="crosstenant-deploy-") as work:
            for overlay in lib.OVERLAYS:
                run_overlay(overlay, work, database)
                if failures:
                    break
    finally:
        database.drop()
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("the manifests' commands, args, config, ports, probes and certificates work with the binaries")


if __name__ == "__main__":
    main()
