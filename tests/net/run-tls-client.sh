#!/bin/sh
# The TLS acceptance check: examples/tls_client fetches a page from a local
# `openssl s_server -www`:
#   run-tls-client.sh TLS_CLIENT TLS_CERTS_SH
# Makes the certificates (tests/net/tls-certs.sh) in a temporary directory,
# starts s_server on 127.0.0.1 and a port it picks (read from its "ACCEPT"
# line: a bounded poll of its output, a hang guard only), then runs the
# client three times: trusting the test CA (the page must come, with the
# session s_server describes on it), against a server whose certificate
# expired, and against one for another host (both must fail, saying why).
# s_server is killed and reaped at the end, whatever happened. Exit 77
# (skipped) only when the openssl command is missing.
set -u
client=$1
certs=$2
if ! command -v openssl >/dev/null 2>&1; then
    echo "skipped: the openssl command is not installed (scripts/deps.sh test installs it)"
    exit 77
fi
tmp=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() {
    echo "FAIL: $*"
    for f in "$tmp"/*.log; do
        [ -f "$f" ] && { echo "--- $f"; cat "$f"; }
    done
    exit 1
}
sh "$certs" "$tmp" >/dev/null || fail "tls-certs.sh"

# start_server NAME CERT: s_server -www with CERT.pem/CERT.key; sets port.
start_server() {
    openssl s_server -accept 127.0.0.1:0 -cert "$tmp/$2.pem" -key "$tmp/$2.key" -www \
        </dev/null >"$tmp/$1.log" 2>&1 &
    pids="$pids $!"
    port=
    i=0
    while [ $i -lt 600 ]; do
        port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/$1.log")
        [ -n "$port" ] && return 0
        kill -0 "$!" 2>/dev/null || fail "s_server ($1) ended"
        sleep 0.1
        i=$((i + 1))
    done
    fail "s_server ($1) printed no ACCEPT line in 60 s"
}

# fetch PORT [CA]: runs the client on https://localhost:PORT/.
fetch() {
    if [ $# -ge 2 ]; then
        timeout 60 "$client" --ca "$2" "https://localhost:$1/"
    else
        timeout 60 "$client" "https://localhost:$1/"
    fi
}

start_server good server
good=$port
out=$(fetch "$good" "$tmp/ca.pem" 2>&1) || fail "the client failed against the good server: $out"
case "$out" in
*"HTTP/1.0 200 ok"*"New, TLSv1.3, Cipher is TLS_"*) ;;
*) fail "the page is not s_server's: $out" ;;
esac
echo "ok: the page from s_server (TLS 1.3, verified against the test CA)"

# The system's store does not know the test CA.
out=$(fetch "$good" 2>&1) && fail "the client trusted an unknown CA: $out"
case "$out" in
*"issuer"* | *"certificate"*) ;;
*) fail "no reason given for the unknown CA: $out" ;;
esac
echo "ok: the test CA is not trusted without --ca"

start_server expired expired
out=$(fetch "$port" "$tmp/ca.pem" 2>&1) && fail "the client accepted an expired certificate: $out"
case "$out" in
*"expired"*) ;;
*) fail "the expired certificate's error does not say so: $out" ;;
esac
echo "ok: an expired certificate is refused"

start_server wrong wronghost
out=$(fetch "$port" "$tmp/ca.pem" 2>&1) && fail "the client accepted the wrong host: $out"
case "$out" in
*"hostname mismatch"*) ;;
*) fail "the wrong host's error does not say so: $out" ;;
esac
echo "ok: a certificate for another host is refused"
echo "tls_client example: ok"
