#!/usr/bin/env python3
"""Fails when an #include crosses a line that docs/architecture.md forbids.

Every source file under services/ and clients/ belongs to one part (see part_of). Each part may include
only the parts listed for it in ALLOWED. Run from anywhere: check_layering.py [REPO_ROOT].
Prints one line per forbidden include (file:line: part -> part: the include) and exits 1 if any.
check_layering.py --self-test plants one include of each forbidden kind in a scratch tree and fails
unless every one is reported (and an allowed one is not).
"""
import pathlib
import re
import sys
import tempfile

SERVICES = ("orchestrator", "tenant_connector", "worker")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def part_of(path):
    """The part a repository file (or an included header, by its include path) belongs to."""
    p = path.split("/")
    if path.startswith("crosstenant/v1/"):
        return "proto.grpc" if path.endswith(".grpc.pb.h") else "proto.messages"
    if path.startswith(("grpcpp/", "grpc/")):
        return "grpc"
    if p[0] == "services" and len(p) > 2:
        if p[1] in ("common", "identity_map"):
            return p[1]
        if p[1] == "tenant_emulator":
            return "emulator"
        if p[1] in SERVICES:
            layer = p[2] if len(p) > 3 else "main"
            if layer == "core" and path.endswith("_internal.h"):
                return f"{p[1]}.core-private"
            return f"{p[1]}.{layer}"
    if p[0] == "clients" and len(p) > 2:
        return f"client.{p[1]}"
    return None  # the standard library, Abseil and other third-party headers: allowed everywhere


def allowed(part):
    """The parts `part` may include (itself always)."""
    if part in ("common",):
        return {"proto.messages", "proto.grpc", "grpc"}
    if part == "identity_map":
        return {"common", "proto.messages"}
    if part == "emulator":
        return {"common"}
    if part.startswith("client."):
        return {"common", "identity_map", "proto.messages", "proto.grpc", "grpc"}
    service, layer = part.split(".", 1)
    own = lambda *layers: {f"{service}.{l}" for l in layers}
    base = {"common", "identity_map", "proto.messages"}
    if layer == "store":
        return base
    if layer in ("core", "core-private"):
        return base | own("store", "core", "core-private")
    if layer == "grpc":  # an adapter: public core headers, never the core's private ones
        return base | own("store", "core") | {"proto.grpc", "grpc"}
    if layer == "main":
        return base | own("store", "core", "grpc") | {"proto.grpc", "grpc"}
    return set()


def violations(root):
    for source in sorted(root.glob("services/**/*")) + sorted(root.glob("clients/**/*")):
        if source.suffix not in (".h", ".cc") or not source.is_file():
            continue
        rel = source.relative_to(root).as_posix()
        part = part_of(rel)
        if part is None:
            continue
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            target = part_of(match.group(2))
            if target is None or target == part or target in allowed(part):
                continue
            yield f"{rel}:{number}: {part} -> {target}: {match.group(2)}"


# (file, include, forbidden?): one case per kind of line the check guards.
SELF_TEST_CASES = [
    ("services/worker/core/a.cc", "services/worker/grpc/worker_service.h", True),        # core -> adapter
    ("services/worker/core/b.cc", "grpcpp/grpcpp.h", True),                               # core -> gRPC
    ("services/worker/core/c.cc", "crosstenant/v1/worker.grpc.pb.h", True),               # core -> stubs
    ("services/orchestrator/core/d.cc", "services/tenant_connector/core/connector.h", True),  # service -> service
    ("services/orchestrator/store/e.cc", "services/orchestrator/core/phase_driver.h", True),  # store -> core
    ("services/tenant_connector/grpc/f.cc", "services/tenant_connector/core/connector_internal.h", True),
    ("clients/migratectl/g.cc", "services/orchestrator/core/migration_service.h", True),  # client -> internals
    ("services/common/h.cc", "services/worker/core/task_runner.h", True),                 # common -> a service
    ("services/worker/grpc/i.cc", "services/worker/core/task_runner.h", False),           # adapter -> own core
    ("clients/migratectl/j.cc", "crosstenant/v1/worker.grpc.pb.h", False),                # client -> stubs
]


def self_test():
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        for file, include, _ in SELF_TEST_CASES:
            (root / file).parent.mkdir(parents=True, exist_ok=True)
            (root / file).write_text(f'#include "{include}"\n', encoding="utf-8")
        reported = {line.split(":", 1)[0] for line in violations(root)}
    wrong = [(file, include) for file, include, forbidden in SELF_TEST_CASES if (file in reported) != forbidden]
    for file, include in wrong:
        print(f"self-test: {file} including {include} was judged wrongly")
    print("self-test:", "FAILED" if wrong else f"all {len(SELF_TEST_CASES)} cases judged right")
    return 1 if wrong else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[2]).resolve()
    found = list(violations(root))
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} include(s) cross a forbidden line; docs/architecture.md says which arrows exist.")
        return 1
    print("layering: every include follows docs/architecture.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
