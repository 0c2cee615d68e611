#!/bin/sh
# The demo app of `make run` (examples/app, docs/demo.md), end to end
# without a browser (`make test-browser` has the browser's):
#   test_demo_app.sh APP STATIC_DIR
# Starts APP on 127.0.0.1 port 0 (it prints the URL it got) with its
# uploads in a temporary directory, fetches /, /hello, /json, /time, a
# static file, /events; uploads a file with curl and compares its listed
# size and SHA-256, downloads it back; runs the chat's checks with
# python3-websockets (tests/http/demo_app_ws.py); then SIGTERM: a graceful
# exit with status 0 that removes the upload directory. The app is killed
# on every exit. Exits 77 (skip) without curl or python3-websockets.
set -u
app=${1:?usage: test_demo_app.sh APP STATIC_DIR}
static=${2:?usage: test_demo_app.sh APP STATIC_DIR}
here=$(cd "$(dirname "$0")" && pwd)
command -v curl >/dev/null 2>&1 || { echo "skip: no curl"; exit 77; }
command -v sha256sum >/dev/null 2>&1 || { echo "skip: no sha256sum"; exit 77; }
# Debian's python3 has python3-websockets; a python3 earlier on PATH (pyenv,
# a virtualenv) may not.
py=""
for p in python3 /usr/bin/python3; do
    if "$p" -c "import websockets" 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "skip: no python3 with websockets (python3-websockets)"; exit 77; }
[ -x "$app" ] || { echo "FAIL: no $app"; exit 1; }

tmp=$(mktemp -d /tmp/cio-demo-test.XXXXXX)
pid="" hold="" stream="" timereq=""
cleanup() {
    for p in $pid $hold $stream $timereq; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() {
    echo "FAIL: $*"
    for f in "$tmp"/out "$tmp"/err; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done
    exit 1
}
# get PATH: the body of a GET (bounded; fails on a status >= 400).
get() { curl -sS --fail --max-time 30 --noproxy '*' "$url${1#/}"; }

# The command line: --help, and bad arguments refused with status 2.
"$app" --help | grep '^usage: cio-demo' >/dev/null || fail "--help"
"$app" --port 70000 >/dev/null 2>&1
[ $? = 2 ] || fail "--port 70000: not refused with status 2"
"$app" --nonsense >/dev/null 2>&1
[ $? = 2 ] || fail "--nonsense: not refused with status 2"
PORT=x "$app" >/dev/null 2>&1
[ $? = 2 ] || fail "PORT=x: not refused with status 2"

mkdir "$tmp/t"
TMPDIR="$tmp/t" "$app" --port 0 --static "$static" >"$tmp/out" 2>"$tmp/err" &
pid=$!
url=""
i=0
while [ $i -lt 600 ]; do
    url=$(sed -n 's/^cio demo app: \(http:\/\/[^ ]*\)$/\1/p' "$tmp/out" | head -n 1)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || fail "exited before serving"
    sleep 0.1
    i=$((i + 1))
done
[ -n "$url" ] || fail "no URL printed within 60 s"
case "$url" in http://127.0.0.1:[0-9]*/) ;; *) fail "odd URL '$url'" ;; esac
ls -d "$tmp"/t/cio-demo-uploads.* >/dev/null 2>&1 || fail "no upload directory under TMPDIR"

# The page and its static files.
get / | grep '<title>cio demo</title>' >/dev/null || fail "/: not the page"
get /static/app.js | grep "new WebSocket" >/dev/null || fail "/static/app.js"
ct=$(curl -sS --max-time 30 --noproxy '*' -o /dev/null -w '%{content_type}' "${url}static/style.css")
case "$ct" in text/css*) ;; *) fail "/static/style.css: Content-Type '$ct'" ;; esac
code=$(curl -sS --max-time 30 --noproxy '*' -o /dev/null -w '%{http_code}' --path-as-is \
    "${url}static/../main.c")
[ "$code" = 404 ] || fail "/static/../main.c: status $code, expected 404"
echo "page and static files: ok"

# The small endpoints.
[ "$(get /hello)" = "Hello from cio!" ] || fail "/hello: '$(get /hello)'"
get /json | grep '"message":"Hello, JSON!"' >/dev/null || fail "/json: $(get /json)"
ct=$(curl -sS --max-time 30 --noproxy '*' -o /dev/null -w '%{content_type}' "${url}json")
case "$ct" in application/json*) ;; *) fail "/json: Content-Type '$ct'" ;; esac
get "/time?delay=0.1" | grep '"time":"20[0-9][0-9]-' >/dev/null || fail "/time: $(get /time)"
code=$(curl -sS --max-time 30 --noproxy '*' -o /dev/null -w '%{http_code}' "${url}time?delay=9")
[ "$code" = 400 ] || fail "/time?delay=9: status $code"
echo "hello, json, time: ok"

# Server-sent events: two ticks, then the stream ends (?count=2).
get "/events?count=2" >"$tmp/events" || fail "/events"
[ "$(grep -c '^event: tick$' "$tmp/events")" = 2 ] || fail "/events: $(cat "$tmp/events")"
grep -q '^data: {"n":2,' "$tmp/events" || fail "/events: no second tick"
# HEAD is answered with the head alone (the handler does not stream on).
curl -sS -I --max-time 30 --noproxy '*' "${url}events" >"$tmp/head" || fail "HEAD /events"
grep -qi '^content-type: text/event-stream' "$tmp/head" || fail "HEAD /events: $(cat "$tmp/head")"
# A client that leaves mid-stream ends its handler (the server goes on).
curl -sS -N --max-time 2 --noproxy '*' "${url}events" >/dev/null 2>&1
i=0
while [ $i -lt 600 ]; do
    get /json | grep '"event_streams":0[,}]' >/dev/null && break
    sleep 0.1
    i=$((i + 1))
done
[ $i -lt 600 ] || fail "an event stream whose client left is still open after 60 s"
echo "events: ok"

# Uploads: a binary file and a second field, streamed, hashed, listed.
head -c 700000 /dev/urandom >"$tmp/blob.bin"
sum=$(sha256sum "$tmp/blob.bin" | cut -d' ' -f1)
curl -sS --fail --max-time 60 --noproxy '*' -F "note=hi" -F "file=@$tmp/blob.bin;filename=blob one.bin" \
    "${url}upload" >"$tmp/up.json" || fail "upload"
grep -q "\"name\":\"blob one.bin\",\"size\":700000,\"sha256\":\"$sum\"" "$tmp/up.json" ||
    fail "upload answer: $(cat "$tmp/up.json")"
get /uploads | grep "\"sha256\":\"$sum\"" >/dev/null || fail "/uploads: $(get /uploads)"
get /uploads/1 >"$tmp/back.bin" || fail "download"
cmp -s "$tmp/blob.bin" "$tmp/back.bin" || fail "the download differs from the upload"
code=$(curl -sS --max-time 30 --noproxy '*' -o /dev/null -w '%{http_code}' "${url}uploads/99")
[ "$code" = 404 ] || fail "/uploads/99: status $code"
code=$(curl -sS --max-time 30 --noproxy '*' -o /dev/null -w '%{http_code}' -F "other=x" "${url}upload")
[ "$code" = 400 ] || fail "an upload without a file: status $code"
code=$(curl -sS --max-time 30 --noproxy '*' -o /dev/null -w '%{http_code}' -d "x=1" "${url}upload")
[ "$code" = 400 ] || fail "a urlencoded upload: status $code"
ls "$tmp"/t/cio-demo-uploads.*/1 >/dev/null 2>&1 || fail "the upload is not in the upload directory"
# 100 more files in one form: 100 are kept, the oldest (id 1) goes, file too.
printf 'small\n' >"$tmp/small.txt"
set --
i=0
while [ $i -lt 100 ]; do set -- "$@" -F "file=@$tmp/small.txt"; i=$((i + 1)); done
curl -sS --fail --max-time 60 --noproxy '*' "$@" "${url}upload" >"$tmp/many.json" || fail "100 files"
[ "$(grep -o '"sha256"' "$tmp/many.json" | wc -l)" = 100 ] || fail "100 files: $(head -c 300 "$tmp/many.json")"
[ "$(get /uploads | grep -o '"sha256"' | wc -l)" = 100 ] || fail "/uploads does not keep 100"
code=$(curl -sS --max-time 30 --noproxy '*' -o /dev/null -w '%{http_code}' "${url}uploads/1")
[ "$code" = 404 ] || fail "/uploads/1 after 100 more: status $code"
ls "$tmp"/t/cio-demo-uploads.*/1 >/dev/null 2>&1 && fail "the oldest upload's file is left behind"
[ "$(ls "$tmp"/t/cio-demo-uploads.* | wc -l)" = 100 ] || fail "not 100 files stored"
echo "uploads: ok"

# The chat over WebSocket.
code=$(curl -sS --max-time 30 --noproxy '*' -o /dev/null -w '%{http_code}' "${url}chat")
case "$code" in 400|426) ;; *) fail "/chat without an upgrade: status $code" ;; esac
ws="ws://${url#http://}chat"
env -u http_proxy -u https_proxy -u all_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY \
    "$py" "$here/demo_app_ws.py" "$ws" >"$tmp/ws.out" 2>&1 || fail "chat: $(cat "$tmp/ws.out")"
grep -q "^ws ok$" "$tmp/ws.out" || fail "chat: $(cat "$tmp/ws.out")"
grep -q "fell 64 messages behind: dropped" "$tmp/err" || fail "chat: no drop in the log"
echo "chat: ok"

# A graceful exit with a chat member and an event stream still connected:
# both are ended (the member with 1001, going away), status 0, the upload
# directory gone.
env -u http_proxy -u https_proxy -u all_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY \
    "$py" "$here/demo_app_ws.py" "$ws" --hold "$tmp/held" >"$tmp/hold.out" 2>&1 &
hold=$!
curl -sS -N --max-time 120 --noproxy '*' "${url}events" >"$tmp/stream" 2>&1 &
stream=$!
i=0
while [ $i -lt 600 ]; do
    [ -s "$tmp/held" ] && grep -q '^event: tick' "$tmp/stream" && break
    kill -0 "$hold" 2>/dev/null || fail "chat member: $(cat "$tmp/hold.out")"
    sleep 0.1
    i=$((i + 1))
done
[ -s "$tmp/held" ] || fail "the chat member did not join within 60 s"
# And a /time request whose timer has not fired yet: the shutdown cancels
# its handler, which cancels the timer and frees the job (ASan's leak check
# sees it when the app is built with it).
curl -sS --max-time 120 --noproxy '*' "${url}time?delay=5" >/dev/null 2>&1 &
timereq=$!
i=0
while [ $i -lt 600 ]; do
    get /json | grep '"time_waiting":1[,}]' >/dev/null && break
    sleep 0.1
    i=$((i + 1))
done
[ $i -lt 600 ] || fail "the /time request did not arrive within 60 s"
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 "$pid" 2>/dev/null && fail "still running 60 s after SIGTERM"
wait "$pid"
status=$?
pid=""
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
grep -q "shutting down" "$tmp/out" || fail "no shutdown message"
wait "$hold" || fail "chat member: $(cat "$tmp/hold.out")"
grep -q "^closed 1001$" "$tmp/hold.out" || fail "chat member at shutdown: $(cat "$tmp/hold.out")"
wait "$stream"
[ $? != 28 ] || fail "the event stream outlived the server" # 28: curl's --max-time
wait "$timereq"
hold="" stream="" timereq=""
ls -d "$tmp"/t/cio-demo-uploads.* >/dev/null 2>&1 && fail "the upload directory is left behind"
[ -s "$tmp/err" ] && grep -v "fell 64 messages behind" "$tmp/err" | grep . >/dev/null &&
    fail "unexpected output on stderr"
echo "demo app: all checks passed"
