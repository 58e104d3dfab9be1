"""Helpers shared by the tests of deploy/: rendering overlays, starting binaries, probing them.

Run with /usr/bin/python3 (Debian's python3-grpcio and python3-yaml; the pyenv python3 on PATH sees
neither).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

# The tests start servers (fork and exec) while gRPC channels are open. gRPC's fork handlers then wait
# for its thread pool to go idle, which can hang for minutes ("Waiting for thread pool to idle before
# forking"); the children exec at once and never use gRPC, so the handlers are not needed.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

try:
    import grpc
    import yaml
except ImportError as error:  # say what to install instead of a traceback
    sys.exit(f"FAIL: {error}; install the Debian packages python3-grpcio and python3-yaml "
             "and run the test with /usr/bin/python3")

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OVERLAYS = ("dev", "prod")
# Variants an operator renders by adding components to an overlay: name -> (overlay, components). Rendered
# through a temporary kustomization, as the operator's own overlay would include them.
VARIANTS = {"prod+https-proxy": ("prod", ("https-proxy",)),
            "prod+https-proxy+credentials": ("prod", ("https-proxy", "https-proxy-credentials")),
            "dev+retained-volumes": ("dev", ("retained-volumes",)),
            "prod+retained-volumes": ("prod", ("retained-volumes",))}

# grpc.health.v1.HealthCheckResponse.ServingStatus
SERVING = 1


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def kustomize_command():
    """kubectl kustomize, or a standalone kustomize named by $KUSTOMIZE; fails saying what to install."""
    if os.environ.get("KUSTOMIZE"):
        return [os.environ["KUSTOMIZE"], "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    fail("neither kubectl (1.27 or newer) nor kustomize (v5) is on PATH. Debian 12's apt has no usable one "
         "(kubernetes-client 1.20 cannot render the overlays); install kubectl from "
         "https://kubernetes.io/docs/tasks/tools/ or kustomize from https://kubectl.docs.kubernetes.io/installation/"
         ", or set KUSTOMIZE to a kustomize binary")


def render(overlay):
    """Renders deploy/k8s/overlays/OVERLAY, or a variant of VARIANTS; returns (text, list of objects)."""
    if overlay in VARIANTS:
        return render_variant(*VARIANTS[overlay])
    path = os.path.join(SOURCE_DIR, "deploy", "k8s", "overlays", overlay)
    result = subprocess.run(kustomize_command() + [path], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"rendering {path} failed: {result.stderr.strip()}")
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    return result.stdout, objects


def render_variant(overlay, components):
    """Renders overlays/OVERLAY with deploy/k8s/components/COMPONENTS added, in the overlay's namespace."""
    import tempfile
    k8s = os.path.join(SOURCE_DIR, "deploy", "k8s")
    with tempfile.TemporaryDirectory() as work:
        relative = os.path.relpath(k8s, work)  # kustomize refuses absolute paths to other kustomizations
        with open(os.path.join(work, "kustomization.yaml"), "w") as f:
            yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                            "namespace": "crosstenant",
                            "resources": [f"{relative}/overlays/{overlay}"],
                            "components": [f"{relative}/components/{c}" for c in components]}, f)
        result = subprocess.run(kustomize_command() + [work], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"rendering overlays/{overlay} with components {list(components)} failed: {result.stderr.strip()}")
    return result.stdout, [o for o in yaml.safe_load_all(result.stdout) if o]


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_check(address, service="", timeout=1.0, credentials=None, server_name=None):
    """grpc.health.v1.Health/Check as the kubelet's native gRPC probe sends it; returns the status number.

    The request and response are encoded by hand (field 1 of each), so no generated stubs are needed.
    Raises grpc.RpcError on a transport or status error.
    """
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    channel = (grpc.secure_channel(address, credentials, options) if credentials
               else grpc.insecure_channel(address))
    with channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        encoded = service.encode()
        request = (b"\x0a" + bytes([len(encoded)]) + encoded) if encoded else b""
        response = check(request, timeout=timeout)
    if len(response) >= 2 and response[0] == 0x08:
        return response[1]
    return 0  # UNKNOWN (field absent)


def raw_call(address, method, credentials, server_name, timeout=5.0):
    """A unary call with an empty request message; returns the response bytes or raises grpc.RpcError."""
    options = [("grpc.ssl_target_name_override", server_name)]
    with grpc.secure_channel(address, credentials, options) as channel:
        return channel.unary_unary(method)(b"", timeout=timeout)


def scrape(address, timeout=5.0):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as response:
        if response.status != 200:
            raise RuntimeError(f"GET http://{address}/metrics answered {response.status}")
        return response.read().decode()


def sample_names(text):
    """Metric names of every sample line (histograms give _bucket, _sum and _count) and every # TYPE."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(line.split("{")[0].split(" ")[0])
    return names


class Processes:
    """Started servers; all stopped (SIGTERM, then SIGKILL) when the test ends, whatever happens."""

    def __init__(self):
        self.running = []

    def start(self, name, argv, log_path, cwd=None, env=None):
        log = open(log_path, "w")
        if SETPRIV:
            # No preexec_fn: without one, Python starts the child with vfork and exec, so no fork
            # handler runs in it. With one it forks, and gRPC's (this process talks gRPC) could abort the
            # child before its exec ("Mutex::Fer with pending CondVar queueing") or hang it.
            process = subprocess.Popen([SETPRIV, "--pdeathsig", "KILL", "--", *argv], stdout=log,
                                       stderr=subprocess.STDOUT, cwd=cwd, env=env)
        else:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                       preexec_fn=_die_with_parent)
        self.running.append((name, process, log_path))
        return process

    def stop(self, process, grace, signalled=False):
        """SIGTERM (unless `signalled`: sent already); returns the exit code, or None if it had to be
        killed after `grace` seconds."""
        if process.poll() is not None:
            return process.returncode
        if not signalled:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None

    def stop_all(self):
        for _, process, _ in reversed(self.running):
            if process.poll() is None:
                self.stop(process, 10)


# util-linux's setpriv sets the parent-death signal and execs the server (same pid), so a server never
# outlives a crashed or timed-out test.
SETPRIV = shutil.which("setpriv")


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: a server never outlives a crashed or timed-out test.
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def log_tail(path, lines=15):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
