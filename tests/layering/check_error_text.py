#!/usr/bin/env python3
"""Fails when code under services/ or clients/ decides on what an error message says.

Messages are for people and may be reworded; decisions read the status code and the google.rpc.ErrorInfo
reason (docs/architecture.md, Errors). Looks for a message() or error_message() searched with StrContains,
StartsWith, EndsWith, find or ==. Run from anywhere: check_error_text.py [REPO_ROOT]; --self-test plants
each pattern in a scratch tree and fails unless each is reported (and a harmless use is not).
"""
import pathlib
import re
import sys
import tempfile

MESSAGE = r"(?:error_)?message\(\)"
PATTERNS = [
    re.compile(r"(?:StrContains|StartsWith|EndsWith|StrContainsIgnoreCase|EqualsIgnoreCase)\([^;]*" + MESSAGE),
    re.compile(MESSAGE + r"\s*\.\s*(?:find|rfind|starts_with|ends_with|compare)\s*\("),
    re.compile(MESSAGE + r"\s*[=!]=\s*\""),
]


def findings(root):
    for source in sorted(list(root.glob("services/**/*")) + list(root.glob("clients/**/*"))):
        if source.suffix not in (".h", ".cc") or not source.is_file():
            continue
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("//"):
                continue
            if any(p.search(line) for p in PATTERNS):
                yield f"{source.relative_to(root).as_posix()}:{number}: decides on message text: {line.strip()}"


SELF_TEST = [
    ('if (absl::StrContains(status.message(), "expired")) return;', True),
    ('if (status.message().find("belongs") != std::string::npos) return;', True),
    ('if (absl::StartsWith(s.error_message(), "Socket")) return;', True),
    ('if (status.message() == "gone") return;', True),
    ('log::Info("x", {{"error", std::string(status.message())}});', False),
]


def self_test():
    wrong = []
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        (root / "services" / "x").mkdir(parents=True)
        for i, (line, bad) in enumerate(SELF_TEST):
            (root / "services" / "x" / f"case{i}.cc").write_text(line + "\n", encoding="utf-8")
        reported = {f.split(":", 1)[0] for f in findings(root)}
        for i, (line, bad) in enumerate(SELF_TEST):
            if (f"services/x/case{i}.cc" in reported) != bad:
                wrong.append(line)
    for line in wrong:
        print(f"self-test: judged wrongly: {line}")
    print("self-test:", "FAILED" if wrong else f"all {len(SELF_TEST)} cases judged right")
    return 1 if wrong else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[2]).resolve()
    found = list(findings(root))
    for f in found:
        print(f)
    if found:
        print(f"{len(found)} decision(s) on message text; give the error an ErrorInfo reason (services/common/errors.h)")
        return 1
    print("error text: no code decides on what a message says")
    return 0


if __name__ == "__main__":
    sys.exit(main())
