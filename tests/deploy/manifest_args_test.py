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

  BIN_DIR=build/bin /usr/bin/python3 tests/deploy/manifest_args_test.py
"""

import json
import os
import re
import secrets
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
        sans = ",".join([f"DNS:{d}" for d in spec.get("dnsNames", [])] + ["IP:127.0.0.1"])
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

    def __init__(self, overlay, deployment, objects, work, ca):
        self.name = deployment["metadata"]["name"]
        self.where = f"{overlay}: Deployment/{self.name}"
        self.deployment = deployment
        self.pod_spec = deployment["spec"]["template"]["spec"]
        self.container = self.pod_spec["containers"][0]
        self.root = os.path.join(work, overlay, self.name)
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
                if check(name in config_maps, f"{self.where}: ConfigMap {name} is not in the overlay"):
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
        for arg in self.container.get("args", []):
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
        """`value` with each SERVICE:PORT of a started Service replaced by where that port really is."""
        def replace(match):
            service, port = match.group(1), int(match.group(2))
            if service not in upstreams:
                return match.group(0)
            check(port in upstreams[service], f"{self.where}: {field} names {service}:{port}, but Service "
                                              f"{service} has ports {sorted(upstreams[service])}")
            return upstreams[service].get(port, match.group(0))
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
                service = config[key].rpartition(":")[0]
                if check(service in upstreams, f"{self.where}: {key} {config[key]} names no Service of the "
                                               "overlay started before it"):
                    config[key] = self.upstream(config[key], upstreams, key)
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

    def env(self):
        env = {"PATH": "/usr/bin:/bin", "HOSTNAME": f"{self.name}-test-pod"}
        for item in self.container.get("env", []):
            value = item.get("value", "")
            env[item["name"]] = self.host_path(value, f"env {item['name']}") if value.startswith("/") else value
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


def run_overlay(overlay, work):
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
    pods, upstreams = {}, {}
    try:
        migratectl_dir = os.path.join(work, overlay, "migratectl-tls")
        certificates = lib.by_kind(objects, "Certificate")
        if not check("migratectl" in certificates, f"{overlay}: no Certificate for migratectl, the operator's identity"):
            return
        ca.issue(certificates["migratectl"], migratectl_dir)
        for name in [n for n in ORDER if n in deployments]:
            pod = Pod(overlay, deployments[name], objects, work, ca)
            pods[name] = pod
            argv = pod.command(upstreams)
            if failures:
                return
            os.makedirs(os.path.join(pod.root, "workdir"), exist_ok=True)
            log = os.path.join(pod.root, "log.txt")
            process = processes.start(name, argv, log, cwd=os.path.join(pod.root, "workdir"), env=pod.env())
            pod.process = process
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                if not probe(pod, kind):
                    print(lib.log_tail(log), flush=True)
                    return
            service = services.get(name)
            if check(service is not None, f"{overlay}: no Service {name}"):
                upstreams[name] = {}
                for port in service["spec"]["ports"]:
                    target = port.get("targetPort", port["port"])
                    target_name = target if isinstance(target, str) else {p: n for n, p in pod.ports.items()}.get(target)
                    if check(target_name in pod.addresses, f"{overlay}: Service/{name} port {port.get('name')} targets "
                                                           f"{target}, where the container does not listen"):
                        upstreams[name][port["port"]] = pod.addresses[target_name]
            try:
                metrics = lib.scrape(pod.addresses["metrics"])
                prefix = name.replace("-", "_")
                check(f"{prefix}_build_info" in metrics, f"{pod.where}: /metrics has no {prefix}_build_info")
            except Exception as error:  # noqa: BLE001
                check(False, f"{pod.where}: GET /metrics on the metrics port failed: {error}")
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
                for port_name in ("grpc", "metrics"):
                    check(port_name in ports and ports[port_name].get("targetPort") in (port_name, pod.ports.get(port_name)),
                          f"{overlay}: Service/{name} has no port named {port_name} targeting the container's {port_name} port")
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
            print(f"ok: {overlay} {name}: started with the manifest's command, args and config; probes SERVING; "
                  "/metrics answers", flush=True)

        # Who may call whom: each caller's own certificate against each callee's allowed_peers.
        edges = [("migratectl", "tenant-connector"), ("migratectl", "orchestrator"), ("migratectl", "worker"),
                 ("orchestrator", "tenant-connector"), ("worker", "tenant-connector"), ("worker", "orchestrator")]
        for caller, callee in edges:
            credentials = pods["worker"].credentials(migratectl_dir if caller == "migratectl" else pods[caller].tls_dir)
            try:
                lib.raw_call(pods[callee].addresses["grpc"], READ_CALL[callee], credentials, server_name=callee)
                print(f"ok: {overlay} {caller} -> {callee} over mTLS (verified as {callee})", flush=True)
            except grpc.RpcError as error:
                check(False, f"{overlay}: {caller} -> {callee} {READ_CALL[callee]} failed with {caller}'s certificate: "
                             f"{error.code().name}: {error.details()}")
        # And one that must be refused: the orchestrator does not call workers.
        try:
            lib.raw_call(pods["worker"].addresses["grpc"], READ_CALL["worker"],
                         pods["worker"].credentials(pods["orchestrator"].tls_dir), server_name="worker")
            check(False, f"{overlay}: the worker let the orchestrator's certificate call it; allowed_peers is too wide")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.PERMISSION_DENIED,
                  f"{overlay}: orchestrator -> worker was refused with {error.code().name}, not PERMISSION_DENIED")

        # The worker's real traffic: it leases from the orchestrator with its certificate.
        def leasing():
            text = lib.scrape(pods["orchestrator"].addresses["metrics"])
            return any(line.startswith("grpc_server_started_total") and 'grpc_method="LeaseTasks"' in line
                       and not line.endswith(" 0") for line in text.splitlines())
        check(lib.wait_until(leasing, 15, 0.2), f"{overlay}: the worker never called LeaseTasks on the orchestrator")

        for name in reversed([n for n in ORDER if n in pods]):
            pod = pods[name]
            grace = pod.pod_spec.get("terminationGracePeriodSeconds", 30)
            started = time.monotonic()
            code = processes.stop(pod.process, grace)
            check(code == 0, f"{pod.where}: SIGTERM gave exit code {code} (None: still running after "
                             f"terminationGracePeriodSeconds={grace})")
            print(f"ok: {overlay} {name} stopped on SIGTERM in {time.monotonic() - started:.1f}s (grace {grace}s)",
                  flush=True)
    finally:
        processes.stop_all()
        if failures:
            for name, pod in pods.items():
                print(f"--- {overlay} {name} log:\n{lib.log_tail(os.path.join(pod.root, 'log.txt'))}", flush=True)


def main():
    with tempfile.TemporaryDirectory(prefix="crosstenant-deploy-") as work:
        for overlay in lib.OVERLAYS:
            run_overlay(overlay, work)
            if failures:
                break
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("the manifests' commands, args, config, ports, probes and certificates work with the binaries")


if __name__ == "__main__":
    main()
