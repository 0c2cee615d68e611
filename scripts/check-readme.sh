#!/bin/sh
# Compiles and runs the README's C programs as a user would.
#
#   scripts/check-readme.sh CC LIBRARY [FLAG...]
#
# Every ```c block of README.md that is a complete program (it defines main)
# is compiled with CC -std=c11 -Wall -Wextra -Werror against include/ and
# linked with LIBRARY (libcio.a or libcio.so) and -pthread -ldl -lm, plus any
# FLAGs (the sanitizer flags of a sanitized build); then it is run, and must
# exit 0 within 60 seconds. Blocks that are fragments are skipped.
set -e
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import sys
sys.path.insert(0, "scripts")
from mdblocks import fenced_blocks
import os, re, subprocess, sys, tempfile

if len(sys.argv) < 3:
    sys.exit("usage: scripts/check-readme.sh CC LIBRARY [FLAG...]")
cc, lib, extra = sys.argv[1], sys.argv[2], sys.argv[3:]

DOC = "README.md"
blocks = fenced_blocks(DOC)

MAIN = re.compile(r"^int main\s*\(", re.M)
programs = [(text, line) for info, text, line in blocks if info == "c" and MAIN.search(text)]
if not programs:
    sys.exit(f"{DOC}: no complete C program found")

errors = 0
with tempfile.TemporaryDirectory() as tmp:
    for text, line in programs:
        src = os.path.join(tmp, f"readme_{line}.c")
        exe = src[:-2]
        open(src, "w").write(text)
        cmd = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-Iinclude", *extra,
               "-o", exe, src, lib, "-lssl", "-lcrypto", "-lcares", "-lz", "-lcjson", "-pthread", "-ldl", "-lm"]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            errors += 1
            print(f"{DOC}:{line}: does not compile:\n{' '.join(cmd)}\n{r.stdout}", file=sys.stderr)
            continue
        try:
            r = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=60)
        except subprocess.TimeoutExpired:
            errors += 1
            print(f"{DOC}:{line}: timed out", file=sys.stderr)
            continue
        if r.returncode != 0:
            errors += 1
            print(f"{DOC}:{line}: exit status {r.returncode}:\n{r.stdout}", file=sys.stderr)
        else:
            print(f"{DOC}:{line}: ok: {r.stdout.strip()}")

print(f"check-readme: {len(programs)} programs compiled and run, {errors} problem(s)")
sys.exit(1 if errors else 0)
PY
