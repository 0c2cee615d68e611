#!/bin/sh
# cio-bench (tools/cio-bench.c) from the build tree and from an installed
# prefix, against cio-serve (from the build tree) on 127.0.0.1: --json
# fields, the client and the pipelined paths, -R, HEAD, a body, errors by
# kind (4xx, connect, timeout, TLS verification), the text output, and the
# argument errors (exit 2). Never asserts a rate; the one bound on a count
# (-R) follows from the schedule, not from timing; the other runs use -n
# (an exact count) with -d 60 only as a bound against hangs.
#   test_cio_bench.sh BUILD_DIR SOURCE_DIR
# Exits 77 (skip) without python3 (it reads the JSON).
set -u
build=${1:?usage: test_cio_bench.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: test_cio_bench.sh BUILD_DIR SOURCE_DIR}
build=$(cd "$build" && pwd) src=$(cd "$src" && pwd)
bench="$build/tools/cio-bench"
serve="$build/tools/cio-serve"
command -v python3 >/dev/null 2>&1 || { echo "skip: no python3"; exit 77; }
[ -x "$bench" ] || { echo "FAIL: no $bench"; exit 1; }
[ -x "$serve" ] || { echo "FAIL: no $serve"; exit 1; }
# No proxy from the environment (cio-bench ignores it anyway).
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY

tmp=$(mktemp -d /tmp/cio-bench-test.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() {
    echo "FAIL: $*"
    for f in "$tmp"/out* "$tmp"/run*; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
    exit 1
}

mkdir -p "$tmp/www"
printf 'hello from cio-bench\n' > "$tmp/www/hello.txt" # 21 bytes
head -c 1000 /dev/urandom > "$tmp/body.bin"

# serve NAME ARGS...: cio-serve $tmp/www ARGS ($quiet too) in the
# background; sets $url once its "Serving ... at URL" line is out (bounded
# wait).
quiet=--quiet
serve() {
    name=$1; shift
    out="$tmp/out.$name"
    "$serve" "$tmp/www" --port 0 $quiet --threads 1 "$@" >"$out" 2>"$out.err" &
    pid=$!
    pids="$pids $pid"
    url=""
    i=0
    while [ $i -lt 600 ]; do
        url=$(sed -n 's/^Serving .* at \(https*:\/\/[^ ]*\)$/\1/p' "$out" | head -n 1)
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || fail "$name: cio-serve exited: $(cat "$out.err")"
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$url" ] || fail "$name: no Serving line"
}

# run NAME BIN ARGS...: runs cio-bench, stdout in $tmp/run.NAME, stderr in
# $tmp/run.NAME.err, exit status in $st.
run() {
    name=$1 bin=$2; shift 2
    "$bin" "$@" >"$tmp/run.$name" 2>"$tmp/run.$name.err" </dev/null
    st=$?
}

# check NAME PYTHON-EXPRESSION...: each expression, on the run's JSON as j,
# must be true (one python3 for all of them).
check() {
    python3 - "$tmp/run.$1" "$@" <<'EOF' || fail "$1: $(cat "$tmp/check.failed")"
import json, sys
j = json.load(open(sys.argv[1]))
for e in sys.argv[3:]:
    if not eval(e):
        open(sys.argv[1].rsplit("/", 1)[0] + "/check.failed", "w").write(e)
        sys.exit(1)
EOF
}

# A run that must succeed with no error at all.
clean_run() {
    name=$1
    [ $st -eq 0 ] || fail "$name: exit status $st: $(cat "$tmp/run.$name.err")"
    # A latency is at most the run (with -R: from a due time inside it) or
    # the request's budget (10 s): a wrapped-around difference is caught.
    check "$name" 'j["requests"] > 0 and j["errors"]["total"] == 0' \
        'all(j["errors"][k] == 0 for k in ("connect", "timeout", "read", "parse", "status_4xx", "status_5xx"))' \
        'j["status"]["2xx"] == j["requests"] and j["requests_per_s"] > 0' \
        '0 < j["latency_us"]["min"] <= j["latency_us"]["p50"] <= j["latency_us"]["p90"] <= j["latency_us"]["p99"] <= j["latency_us"]["p99_9"] <= j["latency_us"]["max"]' \
        'j["latency_us"]["max"] <= (j["duration"] + 10) * 1e6'
    # No progress line when stderr is not a terminal.
    [ ! -s "$tmp/run.$name.err" ] || fail "$name: printed on stderr: $(cat "$tmp/run.$name.err")"
}

check_bench() {
    label=$1 bin=$2
    serve "$label"
    u="${url}hello.txt"
    # The client path, two threads.
    run "$label.client" "$bin" "$u" -c 4 -t 2 -n 40 -d 60 --json
    clean_run "$label.client"
    check "$label.client" 'j["requests"] == 40 and j["bytes"] == 21 * 40 and j["connections"] == 4 and j["threads"] == 2'
    check "$label.client" 'j["url"] == "'"$u"'" and j["pipeline"] == 1 and j["client"] is True'
    # The pipelined path.
    run "$label.pipe" "$bin" "$u" -c 2 -n 41 -d 60 --pipeline 4 --json
    clean_run "$label.pipe"
    check "$label.pipe" 'j["requests"] == 41 and j["bytes"] == 21 * 41 and j["pipeline"] == 4 and j["client"] is False'
    # --raw: the stream path at depth 1.
    run "$label.raw" "$bin" "$u" -c 2 -t 2 -n 40 -d 60 --raw --json
    clean_run "$label.raw"
    check "$label.raw" 'j["requests"] == 40 and j["bytes"] == 21 * 40 and j["pipeline"] == 1 and j["client"] is False'
}

# ---- the build tree ----------------------------------------------------------
check_bench build "$bench"
u="${url}hello.txt"

# -R: constant rate; no more requests than the schedule has due times
# before the end (rate x duration, plus one per connection). Under load
# there may be none (exit 1), never more.
run rate "$bench" "$u" -c 2 -d 1 -R 40 --json
[ $st -le 1 ] || fail "rate: exit status $st"
check rate 'j["requests"] <= 40 * 1 + 2 and j["rate"] == 40 and j["errors"]["total"] == 0'
# -n: an exact count, whatever the timing.
run rate_n "$bench" "$u" -c 2 -n 10 -d 60 -R 200 --json --latency
clean_run rate_n
check rate_n 'j["requests"] == 10 and j["rate"] == 200'
check rate_n 'len(j["latency_us"]["distribution"]) == 8 and j["latency_us"]["distribution"][-1]["us"] == j["latency_us"]["max"]'
run rate_pipe1 "$bench" "$u" -c 1 -n 5 -d 60 -R 100 --raw --json
clean_run rate_pipe1
check rate_pipe1 'j["requests"] == 5'

run rate_threads "$bench" "$u" -c 3 -t 2 -n 9 -d 60 -R 100 --json
clean_run rate_threads
check rate_threads 'j["requests"] == 9'

# HEAD: responses without a body; a request body (cio-serve answers 405
# to a POST: counted as status_4xx, the run still exits 0).
run head "$bench" "$u" -c 2 -n 20 -d 60 --method HEAD --json
clean_run head
check head 'j["bytes"] == 0 and j["requests"] == 20'
run head_pipe "$bench" "$u" -c 1 -n 20 -d 60 --method HEAD --pipeline 3 --json
clean_run head_pipe
check head_pipe 'j["bytes"] == 0 and j["requests"] == 20'
run post "$bench" "$u" -c 2 -n 20 -d 60 --body "$tmp/body.bin" -H 'X-Test: 1' --json
[ $st -eq 0 ] || fail "post: exit status $st"
check post 'j["requests"] == 20 and j["errors"]["status_4xx"] == j["requests"] == j["errors"]["total"]'

# 404: status_4xx errors, exit 0 (responses came).
run notfound "$bench" "${url}no-such-file" -c 2 -n 20 -d 60 --json
[ $st -eq 0 ] || fail "404: exit status $st"
check notfound 'j["requests"] == 20 and j["errors"]["status_4xx"] == j["requests"] and j["status"]["4xx"] == j["requests"]'
run notfound_pipe "$bench" "${url}no-such-file" -c 1 -n 20 -d 60 --pipeline 2 --json
check notfound_pipe 'j["requests"] == 20 and j["errors"]["status_4xx"] == j["requests"]'

# The text output: the summary lines; the first error of a kind named.
run text "$bench" "$u" -c 2 -n 20 -d 60 --latency
[ $st -eq 0 ] || fail "text: exit status $st"
grep -q "^cio-bench $u: 2 connections, 1 thread, " "$tmp/run.text" || fail "text: header"
grep -q "^  20 requests in .* requests/s" "$tmp/run.text" || fail "text: requests line"
grep -q "^  latency (us): min .* p50 .* p90 .* p99 .* p99.9 .* max " "$tmp/run.text" || fail "text: latency"
grep -q "^     100.000%" "$tmp/run.text" || fail "text: --latency distribution"
grep -q "^  errors: 0, connect 0, timeout 0, read 0, parse 0, status_4xx 0, status_5xx 0$" "$tmp/run.text" ||
    fail "text: errors line"
[ ! -s "$tmp/run.text.err" ] || fail "text: stderr not empty (no terminal)"

# The progress line: only on a terminal (util-linux's script gives it one):
# "[   Ns] R requests, X requests/s, E errors" refreshed with \r, erased
# before the results. A 3 s run has at least one (the first comes after 1 s).
if command -v script >/dev/null 2>&1; then
    script -qec "'$bench' '$u' -c 2 -d 3 --json" /dev/null >"$tmp/run.tty" 2>&1 </dev/null ||
        fail "progress: exit status $?"
    grep -q "$(printf '\r')\[ *[0-9]*s\] [0-9]* requests, [0-9]* requests/s, 0 errors" "$tmp/run.tty" ||
        fail "progress: no progress line on a terminal"
    tr '\r' '\n' <"$tmp/run.tty" | sed -n 's/^\x1b\[K\({.*\)$/\1/p' | tr -d '\r' >"$tmp/run.ttyjson"
    check ttyjson 'j["requests"] > 0 and j["errors"]["total"] == 0'
fi

# SIGINT and SIGTERM stop a long run early; the results of the time run
# are printed and the exit status is 0. The signal is sent once the server
# has logged three requests of the run: with two connections, one of them
# then sent a second request, so it had read (and counted) a response.
quiet=""
serve logged --log common
quiet=--quiet
# Each run asks for its own query string: the log's lines of an earlier
# run (written late) do not count for the next.
logged() { grep -c "\"GET /hello.txt?sig$sig " "$tmp/out.logged"; }
for sig in INT TERM; do
    perl -e '$SIG{INT} = "DEFAULT"; $SIG{TERM} = "DEFAULT"; exec @ARGV or die "exec: $!"' \
        "$bench" "${url}hello.txt?sig$sig" -c 2 -d 120 --json >"$tmp/run.sig$sig" 2>"$tmp/run.sig$sig.err" &
    bpid=$!
    pids="$pids $bpid"
    i=0
    while [ $i -lt 600 ] && [ "$(logged)" -lt 3 ]; do sleep 0.1; i=$((i + 1)); done
    [ "$(logged)" -ge 3 ] || fail "SIG$sig: the run never reached the server"
    kill -$sig $bpid
    wait $bpid
    st=$?
    [ $st -eq 0 ] || fail "SIG$sig: exit status $st: $(cat "$tmp/run.sig$sig.err")"
    check "sig$sig" 'j["requests"] > 0 and 0 < j["duration"] < 120 and j["errors"]["total"] == 0'
done
url=$(echo "$u" | sed 's/hello.txt$//')

# Connection refused: a port nothing listens on (bound, then closed).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for depth in 1 2; do
    run refused "$bench" "http://127.0.0.1:$port/" -c 2 -n 5 -d 60 --pipeline $depth --json
    [ $st -eq 1 ] || fail "refused (pipeline $depth): exit status $st, not 1"
    check refused 'j["requests"] == 0 and j["errors"]["connect"] == 5 and j["errors"]["total"] == 5'
    run refused_text "$bench" "http://127.0.0.1:$port/" -c 1 -n 1 -d 60 --pipeline $depth
    grep -q "first connect error: .*(ECONNREFUSED)" "$tmp/run.refused_text" || fail "refused: first error not named"
done

# A server that accepts and never answers: timeouts (--timeout 0.2, -n 4:
# four on the client path; on the stream path one per batch tried). It
# runs until killed.
cat > "$tmp/mute.py" <<'EOF'
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(128)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    held.append(s.accept()[0])
EOF
python3 "$tmp/mute.py" "$tmp/mute.port" &
pids="$pids $!"
i=0; while [ $i -lt 300 ] && [ ! -s "$tmp/mute.port" ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/mute.port" ] || fail "mute server did not start"
mport=$(cat "$tmp/mute.port")
for depth in 1 2; do
    run mute "$bench" "http://127.0.0.1:$mport/" -c 2 -n 4 -d 60 --timeout 0.2 --pipeline $depth --json
    [ $st -eq 1 ] || fail "mute (pipeline $depth): exit status $st, not 1"
    check mute 'j["requests"] == 0 and j["errors"]["timeout"] > 0 and j["errors"]["total"] == j["errors"]["timeout"]'
    [ $depth -eq 2 ] || check mute 'j["errors"]["timeout"] == 4'
done

# IPv6 (when the machine has ::1): a bracketed literal.
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    serve v6 --bind ::1
    case "$url" in http://\[::1\]:[0-9]*/) ;; *) fail "IPv6 URL $url" ;; esac
    run v6 "$bench" "${url}hello.txt" -c 2 -n 10 -d 60 --json
    clean_run v6
    run v6raw "$bench" "${url}hello.txt" -c 2 -n 10 -d 60 --pipeline 2 --json
    clean_run v6raw
fi

# A misbehaving server (one thread per connection, keep-alive): "503"
# answers every request with a 503 (status_5xx); "garbage" with a status
# line outside the grammar (parse); "close" closes the connection after
# reading a request, before any response byte (read). Runs until killed.
cat > "$tmp/bad_server.py" <<'EOF2'
import socket, sys, threading
mode, portfile = sys.argv[1], sys.argv[2]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(128)
open(portfile + ".tmp", "w").write(str(s.getsockname()[1]))
import os
os.rename(portfile + ".tmp", portfile)
def serve(c):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            buf = buf[buf.index(b"\r\n\r\n") + 4:]
            if mode == "503":
                c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
            elif mode == "garbage":
                c.sendall(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")
            else:
                return
    except OSError:
        pass
    finally:
        c.close()
while True:
    c = s.accept()[0]
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF2
for mode in 503 garbage close; do
    python3 "$tmp/bad_server.py" $mode "$tmp/bad.$mode.port" &
    pids="$pids $!"
    i=0; while [ $i -lt 300 ] && [ ! -s "$tmp/bad.$mode.port" ]; do sleep 0.1; i=$((i + 1)); done
    [ -s "$tmp/bad.$mode.port" ] || fail "bad_server.py $mode did not start"
    bport=$(cat "$tmp/bad.$mode.port")
    for path in --pipeline=1 --raw --pipeline=2; do
        run "bad_$mode" "$bench" "http://127.0.0.1:$bport/" -c 2 -n 10 -d 60 $path --json
        case $mode in
        503)
            [ $st -eq 0 ] || fail "503 ($path): exit status $st"
            check bad_503 'j["requests"] == 10 and j["errors"]["status_5xx"] == j["requests"] == j["errors"]["total"] and j["status"]["5xx"] == j["requests"] and j["bytes"] == 4 * j["requests"]' ;;
        garbage)
            [ $st -eq 1 ] || fail "garbage ($path): exit status $st, not 1"
            check bad_garbage 'j["requests"] == 0 and j["errors"]["parse"] > 0 and j["errors"]["total"] == j["errors"]["parse"]' ;;
        close)
            [ $st -eq 1 ] || fail "close ($path): exit status $st, not 1"
            check bad_close 'j["requests"] == 0 and j["errors"]["read"] > 0 and j["errors"]["total"] == j["errors"]["read"]' ;;
        esac
    done
done

# HTTPS: cio-serve with a certificate of tests/net/tls-certs.sh; its CA is
# not trusted, so without -k every connection fails verification
# (connect errors), with -k it works.
if command -v openssl >/dev/null 2>&1; then
    mkdir "$tmp/certs"
    sh "$src/tests/net/tls-certs.sh" "$tmp/certs" >/dev/null || fail "tls-certs.sh"
    serve tls --tls-cert "$tmp/certs/server.pem" --tls-key "$tmp/certs/server.key"
    case "$url" in https://127.0.0.1:*) ;; *) fail "TLS URL $url" ;; esac
    run tls_k "$bench" "${url}hello.txt" -c 2 -n 10 -d 60 -k --json
    clean_run tls_k
    run tls_k_pipe "$bench" "${url}hello.txt" -c 2 -n 10 -d 60 -k --pipeline 2 --json
    clean_run tls_k_pipe
    run tls_verify "$bench" "${url}hello.txt" -c 1 -n 3 -d 60 --json
    [ $st -eq 1 ] || fail "tls verification: exit status $st, not 1"
    check tls_verify 'j["requests"] == 0 and j["errors"]["connect"] == 3 and j["errors"]["total"] == 3'
fi

# ---- arguments -----------------------------------------------------------------
"$bench" --help >"$tmp/help" 2>&1 || fail "--help exit status"
grep -q '^usage: cio-bench URL' "$tmp/help" || fail "--help text"
"$bench" -h >/dev/null 2>&1 || fail "-h"
bad() {
    "$bench" "$@" >"$tmp/bad.out" 2>"$tmp/bad.err" </dev/null
    st=$?
    [ $st -eq 2 ] || fail "cio-bench $*: exit $st, not 2"
    grep -q '^cio-bench: ' "$tmp/bad.err" || fail "cio-bench $*: no message"
    [ ! -s "$tmp/bad.out" ] || fail "cio-bench $*: printed on stdout"
}
bad
bad ftp://127.0.0.1/
bad 127.0.0.1:8080
bad http://
bad http:///path
bad http://127.0.0.1:/
bad http://127.0.0.1:0/
bad http://127.0.0.1:65536/
bad http://127.0.0.1:80x/
bad 'http://[::1/'
bad 'http://user@127.0.0.1/'
bad 'http://127.0.0.1/a#frag'
bad 'http://127.0.0.1/a b'
bad "$u" "$u"
bad "$u" -c 0
bad "$u" -c -1
bad "$u" -c x
bad "$u" -c
bad "$u" -c 1 -t 2
grep -q -- '-c 1 is fewer connections than -t 2 threads' "$tmp/bad.err" || fail "-c < -t message"
bad "$u" -t 0
bad "$u" -d 0
bad "$u" -d abc
bad "$u" --pipeline 0
bad "$u" --pipeline 1025
bad "$u" -R 0
bad "$u" -n 0
bad "$u" -n x
bad "$u" -R 10 --pipeline 2
bad "$u" --timeout 0
bad "$u" --frobnicate
grep -q "unknown option '--frobnicate'" "$tmp/bad.err" || fail "unknown option message"
bad "$u" -x
bad "$u" --json=yes
bad "$u" --raw=1
bad "$u" -H NoColon
bad "$u" -H ': value'
bad "$u" -H 'Bad Name: x'
bad "$u" -H "$(printf 'X-A: a\rb')"
bad "$u" -H 'Content-Length: 5'
bad "$u" -H 'Transfer-Encoding: chunked'
bad "$u" --method 'GE T'
bad "$u" --method ''
bad "$u" --body "$tmp/no-such-file"
bad "$u" --body "$tmp"

# ---- an installed prefix ---------------------------------------------------------
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null || fail "cmake --install"
[ -x "$tmp/prefix/bin/cio-bench" ] || fail "no bin/cio-bench in the prefix"
env -u LD_LIBRARY_PATH ldd "$tmp/prefix/bin/cio-bench" | grep "libcio" | grep -q "$tmp/prefix/" ||
    fail "installed cio-bench does not use the prefix's libcio: $(ldd "$tmp/prefix/bin/cio-bench" | grep cio)"
check_bench installed "$tmp/prefix/bin/cio-bench"

echo "cio-bench: all checks passed"
