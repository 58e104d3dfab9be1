#!/usr/bin/env python3
"""Every C++ file of the repository is formatted as .clang-format says.

    check_format.py ROOT          lists each file clang-format would change, with the first changed lines;
                                  exits 1 if there is any (fix: clang-format -i FILE)
    check_format.py --self-test   a badly formatted file must be caught, a well formatted one must pass

The files are the tracked *.cc and *.h files (git ls-files), so build trees and tools/ never count.
"""
import difflib
import os
import shutil
import subprocess
import sys
import tempfile

CLANG_FORMAT = shutil.which("clang-format") or shutil.which("clang-format-14")


def formatted(path, root):
    """clang-format's output for `path`, with the style file of `root`."""
    result = subprocess.run([CLANG_FORMAT, f"--style=file:{os.path.join(root, '.clang-format')}", path],
                            capture_output=True, text=True, check=True)
    return result.stdout


def unformatted(root, files):
    problems = []
    for relative in files:
        path = os.path.join(root, relative)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        want = formatted(path, root)
        if text != want:
            diff = list(difflib.unified_diff(text.splitlines(), want.splitlines(), relative, relative + " (formatted)",
                                             n=0, lineterm=""))
            problems.append((relative, diff[2:8]))
    return problems


def tracked(root):
    result = subprocess.run(["git", "-C", root, "ls-files", "*.cc", "*.h"], capture_output=True, text=True, check=True)
    return [f for f in result.stdout.splitlines() if f and not f.startswith("tools/")]


def main():
    if CLANG_FORMAT is None:
        sys.exit("check_format: clang-format is not installed (Debian package clang-format; deploy/local/bootstrap.sh)")
    if sys.argv[1:] == ["--self-test"]:
        here = os.path.dirname(os.path.abspath(__file__))
        root = os.path.dirname(os.path.dirname(here))
        with tempfile.TemporaryDirectory() as work:
            shutil.copy(os.path.join(root, ".clang-format"), work)
            with open(os.path.join(work, "good.cc"), "w") as f:
                f.write("int Add(int a, int b) { return a + b; }\n")
            with open(os.path.join(work, "bad.cc"), "w") as f:
                f.write("int  Add( int a,int b ){return a+b;}\n")
            found = [name for name, _ in unformatted(work, ["good.cc", "bad.cc"])]
        if found != ["bad.cc"]:
            sys.exit(f"check_format self-test: expected only bad.cc to be caught, got {found}")
        print("ok: check_format catches a badly formatted file and passes a formatted one")
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    files = tracked(root)
    problems = unformatted(root, files)
    for name, diff in problems:
        print(f"FAIL {name}: not formatted (clang-format -i {name}):")
        for line in diff:
            print(f"    {line}")
    if problems:
        print(f"{len(problems)} of {len(files)} files need clang-format")
        sys.exit(1)
    print(f"ok: {len(files)} C++ files formatted as .clang-format says")


if __name__ == "__main__":
    main()
