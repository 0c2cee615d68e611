#!/bin/sh
# examples/resolve against a dnsmasq this script starts on 127.0.0.1 and a
# port of its own (no upstream servers, no /etc/hosts, names under .test):
#   run-resolve.sh RESOLVE_PROGRAM
# Checks the forward form (both families, -4, -6, a port), a name that does
# not exist (exit 1 and the error), the reverse form, and a numeric host
# with the default resolver (no query). Readiness of the server is the
# first answered lookup, polled with a bound; dnsmasq is killed and reaped
# on every exit.
set -u
prog=$1
tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
    echo "FAIL: $*"
    [ -f "$tmp/log" ] && sed 's/^/dnsmasq log: /' "$tmp/log"
    exit 1
}
dnsmasq=
for p in /usr/sbin/dnsmasq /usr/bin/dnsmasq /sbin/dnsmasq; do
    [ -x "$p" ] && dnsmasq=$p && break
done
[ -n "$dnsmasq" ] || fail "dnsmasq is not installed (Debian: dnsmasq-base)"

free_port() {
    python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

ready=
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port=$(free_port) || fail "no free port"
    "$dnsmasq" --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
        --no-poll --listen-address=127.0.0.1 --bind-interfaces --user=root --group=root \
        --pid-file= --local=/test/ --local=/in-addr.arpa/ --port="$port" \
        --host-record=four.test,127.0.0.5 --host-record=both.test,127.0.0.6,::6 \
        --log-facility=/dev/null </dev/null >/dev/null 2>"$tmp/log" &
    pid=$!
    server=127.0.0.1:$port
    i=0
    while [ $i -lt 400 ]; do # polled, at most about 20 s
        if out=$("$prog" --server "$server" four.test 2>/dev/null) && [ "$out" = "127.0.0.5:0" ]; then
            ready=1
            break
        fi
        kill -0 "$pid" 2>/dev/null || break # exited: the port was taken meanwhile
        sleep 0.05
        i=$((i + 1))
    done
    [ -n "$ready" ] && break
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
done
[ -n "$ready" ] || fail "dnsmasq did not answer"

check() { # expected-output args...
    want=$1
    shift
    got=$("$prog" "$@" 2>&1) || fail "resolve $*: exit $?: $got"
    [ "$got" = "$want" ] || fail "resolve $*: printed '$got', expected '$want'"
}
check "127.0.0.5:80" --server "$server" four.test 80
check "127.0.0.6:0" -4 --server "$server" both.test
check "[::6]:443" -6 --server "$server" both.test 443
got=$("$prog" --server "$server" both.test 7 | sort | tr '\n' ' ')
[ "$got" = "127.0.0.6:7 [::6]:7 " ] || fail "resolve both.test printed '$got'"
check "four.test" --server "$server" --reverse 127.0.0.5
check "[::1]:22" --server "$server" ::1 22
check "127.0.0.1:0" 127.0.0.1
if got=$("$prog" --server "$server" nothere.test 2>&1); then
    fail "resolve nothere.test succeeded: $got"
fi
[ "$got" = "resolve: nothere.test: No such file or directory" ] ||
    fail "resolve nothere.test printed '$got'"
if got=$("$prog" -6 --server "$server" four.test 2>&1); then
    fail "resolve -6 four.test succeeded: $got"
fi
[ "$got" = "resolve: four.test: No data available" ] || fail "resolve -6 four.test printed '$got'"
"$prog" >/dev/null 2>&1 && fail "resolve without a name succeeded"
echo "resolve example: all checks passed"
