#!/bin/sh
# examples/cat.c against cat(1)'s contract: files made here (a 3 MB one,
# larger than cat's buffer, a small one, an empty one) concatenated to a
# file and to a pipe, "-" for standard input, and a missing name reported
# on stderr with exit status 1 while the other files are still copied.
#   tests/net/run-cat.sh BUILD/examples/cat
set -eu
cat_prog=$1
dir=$(mktemp -d /tmp/cio-cat-XXXXXX)
trap 'rm -rf "$dir"' EXIT

head -c 3000000 /dev/urandom > "$dir/big"
printf 'hello\nworld\n' > "$dir/small"
: > "$dir/empty"
cat "$dir/big" "$dir/small" "$dir/empty" "$dir/small" > "$dir/expect"

fail() { echo "run-cat: $*" >&2; exit 1; }

"$cat_prog" "$dir/big" "$dir/small" "$dir/empty" "$dir/small" > "$dir/out"
cmp "$dir/expect" "$dir/out" || fail "output to a file differs"

# Standard output a pipe (cio_fd_write waits while it is full).
"$cat_prog" "$dir/big" "$dir/small" "$dir/empty" "$dir/small" | cmp "$dir/expect" - ||
  fail "output to a pipe differs"

# "-" is standard input, here a pipe too; no name at all is the same.
cat "$dir/small" | "$cat_prog" "$dir/big" - "$dir/empty" "$dir/small" > "$dir/out"
cmp "$dir/expect" "$dir/out" || fail "standard input in the middle differs"
"$cat_prog" < "$dir/big" > "$dir/out"
cmp "$dir/big" "$dir/out" || fail "standard input alone differs"

# A missing file: reported, skipped, status 1.
status=0
"$cat_prog" "$dir/small" "$dir/missing" "$dir/small" > "$dir/out" 2> "$dir/err" || status=$?
[ "$status" = 1 ] || fail "exit status $status for a missing file, expected 1"
grep -q "missing" "$dir/err" || fail "no message for the missing file: $(cat "$dir/err")"
printf 'hello\nworld\nhello\nworld\n' | cmp - "$dir/out" || fail "files around a missing one differ"
echo "cat ok"
