#!/bin/sh
# examples/echo_server against examples/echo_client, in all four pairings of
# styles (task per connection or protocol, on each side):
#   run-echo.sh EXAMPLES_DIR [COUNT]
# For each pairing: start the server on 127.0.0.1:0, read its "listening on
# ADDR" line (through a FIFO: ordered by the server's own output, not by a
# sleep), run the client, which must print "ok COUNT", then stop the server
# with SIGTERM, which must close gracefully and exit 0.
set -u
dir=$1
count=${2:-200}
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$tmp/err" ] && cat "$tmp/err"
    exit 1
}
for sflag in "" --protocol; do
    for cflag in "" --protocol; do
        what="server ${sflag:-(tasks)}, client ${cflag:-(tasks)}"
        rm -f "$tmp/fifo"
        mkfifo "$tmp/fifo" || fail "mkfifo"
        "$dir/echo_server" $sflag >"$tmp/fifo" 2>"$tmp/err" &
        pid=$!
        line=
        read -r line <"$tmp/fifo"
        case "$line" in
        "listening on "*) addr=${line#listening on } ;;
        *) fail "$what: the server printed '$line'" ;;
        esac
        out=$("$dir/echo_client" $cflag "$addr" "$count" 2>&1) || fail "$what: client: $out"
        [ "$out" = "ok $count" ] || fail "$what: client printed '$out'"
        kill -TERM "$pid" || fail "$what: the server is gone"
        wait "$pid"
        rc=$?
        pid=
        [ "$rc" -eq 0 ] || fail "$what: the server exited with $rc"
        echo "ok: $what"
    done
done
echo "echo example: all four pairings passed"
