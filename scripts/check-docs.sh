#!/bin/sh
# Keeps docs/tutorial.md and docs/examples/*.c the same. (Programs in
# subdirectories of docs/examples, such as api/, belong to the reference
# pages: tests/docs/check-api checks those, and CTest runs each one.)
#
#   scripts/check-docs.sh              every ```c block of the tutorial must equal one
#                                      docs/examples/*.c file, and every such file must
#                                      appear in the tutorial
#   scripts/check-docs.sh --run DIR    also runs each example, DIR/NAME for
#                                      docs/examples/NAME.c: it must exit 0, and print
#                                      exactly the ```output block that follows its code
#                                      in the tutorial, if there is one, except for
#                                      timing figures (see below)
#
# Timing figures ("0.2 s": a decimal number, a space, "s") show what an idle machine
# prints, and a loaded one runs timers late: a printed figure may be higher than the
# tutorial's, never lower (timers never fire early), so it must be at least the
# tutorial's figure less half its last digit. Everything else must match exactly.
#
# Exits non-zero, with a diff, on the first kind of mismatch it finds in each block.
# To change an example, edit both the file and the tutorial (or edit the file and paste
# it into the tutorial); this script says which one is behind.
set -e
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import sys
sys.path.insert(0, "scripts")
from mdblocks import fenced_blocks
import difflib, glob, os, re, subprocess, sys

args = sys.argv[1:]
run_dir = None
if args[:1] == ["--run"] and len(args) == 2:
    run_dir = args[1]
elif args:
    sys.exit("usage: scripts/check-docs.sh [--run DIR]")

DOC = "docs/tutorial.md"
files = {os.path.basename(p)[:-2]: open(p).read() for p in sorted(glob.glob("docs/examples/*.c"))}

# Fenced blocks: (info string, text, first line number).
blocks = fenced_blocks(DOC)

errors = 0
def fail(msg):
    global errors
    errors += 1
    print(msg, file=sys.stderr)

def diff(a, b, fa, fb):
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), fa, fb))

TIME = re.compile(r"\b(\d+\.\d+) s\b")
def same_output(expected, actual):
    """Equal once the timing figures are masked, each printed figure at least the
    expected one (less half a unit of its last digit: rounding)."""
    if TIME.sub("# s", expected) != TIME.sub("# s", actual):
        return False
    for e, a in zip(TIME.findall(expected), TIME.findall(actual)):
        half = 0.5 * 10 ** -len(e.split(".")[1])
        if float(a) < float(e) - half:
            return False
    return True

# Pair every c block with its file, and with the output block after it.
examples = []  # (name, line, expected output or None)
for i, (info, text, line) in enumerate(blocks):
    if info != "c":
        continue
    names = [name for name, body in files.items() if body == text]
    if not names:
        # Name the file the block claims to be (its first comment) in the diff.
        first = text.split("\n", 1)[0]
        guess = next((n for n in files if first.startswith(f"/* {n}.c")), None)
        if guess:
            fail(f"{DOC}:{line}: differs from docs/examples/{guess}.c:\n"
                 + diff(files[guess], text, f"docs/examples/{guess}.c", f"{DOC} (line {line})"))
        else:
            fail(f"{DOC}:{line}: a c block that is no docs/examples file (first line: {first})")
        continue
    expected = None
    if i + 1 < len(blocks) and blocks[i + 1][0] == "output":
        expected = blocks[i + 1][1]
    examples.append((names[0], line, expected))

shown = {name for name, _, _ in examples}
for name in files:
    if name not in shown:
        fail(f"docs/examples/{name}.c does not appear in {DOC}")

if run_dir:
    for name, line, expected in examples:
        exe = os.path.join(run_dir, name)
        if not os.access(exe, os.X_OK):
            fail(f"{exe}: not built")
            continue
        try:
            r = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=60)
        except subprocess.TimeoutExpired:
            fail(f"{name}: timed out")
            continue
        if r.returncode != 0:
            fail(f"{name}: exit status {r.returncode}\n{r.stderr}")
        elif expected is not None and not same_output(expected, r.stdout):
            fail(f"{name}: prints other than {DOC}:{line} says:\n"
                 + diff(expected, r.stdout, f"{DOC} (output)", f"{name} (stdout)"))

what = "checked and run" if run_dir else "checked"
print(f"check-docs: {len(examples)} examples {what}, {errors} problem(s)")
sys.exit(1 if errors else 0)
PY
