#!/bin/sh
# cio-serve (tools/cio-serve.c) from the build tree and from an installed
# prefix: serving, the access log, the listing, HTTPS with ALPN http/1.1,
# SIGTERM, --help and the errors for bad arguments (exit 2).
#   test_cio_serve.sh BUILD_DIR SOURCE_DIR
# Starts its servers on 127.0.0.1 port 0 (cio-serve prints the port it
# got) and kills them on every exit. Exits 77 (skip) without curl.
set -u
build=${1:?usage: test_cio_serve.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: test_cio_serve.sh BUILD_DIR SOURCE_DIR}
build=$(cd "$build" && pwd) src=$(cd "$src" && pwd)
serve="$build/tools/cio-serve"
command -v curl >/dev/null 2>&1 || { echo "skip: no curl"; exit 77; }
[ -x "$serve" ] || { echo "FAIL: no $serve"; exit 1; }

tmp=$(mktemp -d /tmp/cio-serve-test.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() { echo "FAIL: $*"; for f in "$tmp"/out*; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

mkdir -p "$tmp/www/dir" "$tmp/www/plain"
printf 'hello from cio-serve\n' > "$tmp/www/hello.txt"
printf '<p>index</p>\n' > "$tmp/www/dir/index.html"
printf 'x' > "$tmp/www/plain/<x>.txt"
head -c 300000 /dev/urandom > "$tmp/www/big.bin"

# start NAME ARGS...: runs cio-serve ARGS with stdout in $tmp/out.NAME,
# waits (bounded) for its "Serving ... at URL" line, sets $url and $pid.
start() {
    name=$1; shift
    out="$tmp/out.$name"
    # SIGINT and SIGTERM at their defaults whatever this shell inherited
    # (a background job's SIGINT is ignored otherwise).
    perl -e '$SIG{INT} = "DEFAULT"; $SIG{TERM} = "DEFAULT"; exec @ARGV or die "exec: $!"' \
        "$@" >"$out" 2>"$out.err" &
    pid=$!
    pids="$pids $pid"
    url=""
    i=0
    while [ $i -lt 600 ]; do
        url=$(sed -n 's/^Serving .* at \(https*:\/\/[^ ]*\)$/\1/p' "$out" | head -n 1)
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || fail "$name: exited before serving: $(cat "$out.err")"
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$url" ] || fail "$name: no Serving line"
}

# get URL [curl options]: the body, retrying while the loops are not yet
# listening (the URL is printed once the port is reserved).
get() {
    u=$1; shift
    i=0
    while [ $i -lt 300 ]; do
        body=$(curl -sS --max-time 30 "$@" "$u" 2>"$tmp/curl.err") && { printf '%s' "$body"; return 0; }
        grep -q "Connection refused\|Failed to connect\|Couldn't connect" "$tmp/curl.err" || { cat "$tmp/curl.err" >&2; return 1; }
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# stop: SIGTERM, then the exit status must be 0 (graceful shutdown).
stop() {
    kill -TERM "$pid"
    wait "$pid"
    st=$?
    [ $st -eq 0 ] || fail "exit status $st after SIGTERM"
}

check_serving() {
    label=$1 bin=$2
    start "$label" "$bin" "$tmp/www" --port 0 --threads 2
    case "$url" in http://127.0.0.1:[0-9]*/) ;; *) fail "$label: URL $url" ;; esac
    grep -q "^Serving $tmp/www at $url\$" "$tmp/out.$label" || fail "$label: Serving line"
    [ "$(get "${url}hello.txt")" = "hello from cio-serve" ] || fail "$label: GET hello.txt"
    get "${url}big.bin" -o "$tmp/big.got" >/dev/null || fail "$label: GET big.bin"
    cmp -s "$tmp/big.got" "$tmp/www/big.bin" || fail "$label: big.bin differs"
    [ "$(get "${url}dir/")" = "<p>index</p>" ] || fail "$label: index"
    code=$(curl -s -o /dev/null -w '%{http_code}' "${url}dir") ; [ "$code" = 301 ] || fail "$label: dir redirect $code"
    # Python's http.server lists directories; so does cio-serve (escaped).
    get "${url}plain/" | grep -q '<a href="%3Cx%3E.txt">&lt;x&gt;.txt</a>' || fail "$label: listing"
    code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "${url}../etc/passwd")
    [ "$code" = 404 ] || [ "$code" = 400 ] || fail "$label: traversal got $code"
    [ "$(get "${url}hello.txt" -r 0-4)" = "hello" ] || fail "$label: range"
    stop
    # One access log line per request, combined format, on stdout.
    grep -q '^127\.0\.0\.1 - - \[[^]]*\] "GET /hello.txt HTTP/1.1" 200 21 "-" "curl/' "$tmp/out.$label" ||
        fail "$label: access log"
    [ "$(grep -c '"GET ' "$tmp/out.$label")" -ge 7 ] || fail "$label: access log lines"
}

# ---- the build tree ------------------------------------------------------------
check_serving build "$serve"

# --no-listing, --quiet, --log common, --index, --bind ::1 (when the machine has it)
start opts "$serve" "$tmp/www" --port=0 --no-listing --log common --threads 1
code=$(get "${url}plain/" -o /dev/null -w '%{http_code}') ; [ "$code" = 403 ] || fail "no-listing: $code"
stop
grep -q '"GET /plain/ HTTP/1.1" 403 [0-9]*$' "$tmp/out.opts" || fail "common log format"
start quiet "$serve" "$tmp/www" --port 0 --quiet --index hello.txt
[ "$(get "$url")" = "hello from cio-serve" ] || fail "--index"
stop
[ "$(wc -l < "$tmp/out.quiet")" -eq 1 ] || fail "--quiet logged"
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    start v6 "$serve" "$tmp/www" --port 0 --bind ::1
    case "$url" in http://\[::1\]:[0-9]*/) ;; *) fail "IPv6 URL $url" ;; esac
    [ "$(get "${url}hello.txt" -g)" = "hello from cio-serve" ] || fail "IPv6 GET"
    stop
fi

# The default directory is the current one.
(cd "$tmp/www/dir" && exec perl -e 'exec @ARGV' "$serve" --port 0 >"$tmp/out.cwd" 2>&1) &
pid=$!; pids="$pids $pid"
i=0; while [ $i -lt 600 ] && ! grep -q '^Serving \. at' "$tmp/out.cwd"; do sleep 0.1; i=$((i + 1)); done
url=$(sed -n 's/^Serving \. at \(http:[^ ]*\)$/\1/p' "$tmp/out.cwd")
[ -n "$url" ] || fail "default directory: $(cat "$tmp/out.cwd")"
[ "$(get "$url")" = "<p>index</p>" ] || fail "default directory index"
stop

# HTTPS with a certificate from tests/net/tls-certs.sh; ALPN http/1.1.
if command -v openssl >/dev/null 2>&1; then
    mkdir "$tmp/certs"
    sh "$src/tests/net/tls-certs.sh" "$tmp/certs" >/dev/null || fail "tls-certs.sh"
    start tls "$serve" "$tmp/www" --port 0 --tls-cert "$tmp/certs/server.pem" --tls-key "$tmp/certs/server.key"
    case "$url" in https://127.0.0.1:[0-9]*/) ;; *) fail "TLS URL $url" ;; esac
    [ "$(get "${url}hello.txt" --cacert "$tmp/certs/ca.pem")" = "hello from cio-serve" ] || fail "HTTPS GET"
    curl -sS -v --cacert "$tmp/certs/ca.pem" -o /dev/null "${url}hello.txt" 2>&1 |
        grep -q "ALPN.*accepted http/1.1\|ALPN, server accepted to use http/1.1" || fail "ALPN http/1.1"
    stop
    grep -q '"GET /hello.txt HTTP/1.1" 200' "$tmp/out.tls" || fail "TLS access log"
fi

# ---- arguments -------------------------------------------------------------------
"$serve" --help >"$tmp/help" 2>&1 || fail "--help exit status"
grep -q '^usage: cio-serve \[DIR\]' "$tmp/help" || fail "--help text"
"$serve" -h >/dev/null 2>&1 || fail "-h"
bad() {
    "$serve" "$@" >"$tmp/bad.out" 2>"$tmp/bad.err" </dev/null
    st=$?
    [ $st -eq 2 ] || fail "cio-serve $*: exit $st, not 2"
    grep -q '^cio-serve: ' "$tmp/bad.err" || fail "cio-serve $*: no message"
    [ ! -s "$tmp/bad.out" ] || fail "cio-serve $*: printed on stdout"
}
bad --port abc
bad --port 65536
bad --port -1
bad --port
bad --bind nowhere
bad --bind 999.1.1.1
bad --threads x
bad --threads -2
bad --log fancy
bad --frobnicate
bad "$tmp/www" "$tmp/www"
bad --tls-cert "$tmp/certs/server.pem"
bad --tls-key "$tmp/certs/server.key"
bad "$tmp/no-such-dir"
bad "$tmp/www/hello.txt"
bad --index a/b
# Names cio_http_app_static refuses are argument errors too (exit 2, the
# option named), not a serving failure (1) blamed on the directory.
bad --index ..
bad --index .
bad --index 'a\b'
grep -q -- '--index' "$tmp/bad.err" || fail "--index 'a\\b': the message does not name --index"
bad --threads 1025
bad --tls-cert /nonexistent.pem --tls-key /nonexistent.key

# A port already taken: exit 1 with a message, nothing printed on stdout.
start first "$serve" "$tmp/www" --port 0 --threads 1
port=$(echo "$url" | sed 's/.*:\([0-9]*\)\/$/\1/')
get "${url}hello.txt" >/dev/null || fail "first server"
"$serve" "$tmp/www" --port "$port" >"$tmp/busy.out" 2>"$tmp/busy.err"
st=$?
[ $st -eq 1 ] || fail "busy port: exit $st"
grep -q "cannot listen on 127.0.0.1 port $port" "$tmp/busy.err" || fail "busy port message: $(cat "$tmp/busy.err")"
[ ! -s "$tmp/busy.out" ] || fail "busy port: printed on stdout"
stop

# ---- an installed prefix ---------------------------------------------------------
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null || fail "cmake --install"
[ -x "$tmp/prefix/bin/cio-serve" ] || fail "no bin/cio-serve in the prefix"
# It must find the prefix's libcio, not the build tree's.
env -u LD_LIBRARY_PATH ldd "$tmp/prefix/bin/cio-serve" | grep "libcio" | grep -q "$tmp/prefix/" ||
    fail "installed cio-serve does not use the prefix's libcio: $(ldd "$tmp/prefix/bin/cio-serve" | grep cio)"
check_serving installed "$tmp/prefix/bin/cio-serve"

echo "cio-serve: all checks passed"
