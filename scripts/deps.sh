#!/bin/sh
# Installs the Debian packages a make target needs, with apt-get, only when
# one is missing. Safe to run repeatedly. Usage: deps.sh GROUP...
#   build     the compiler, CMake, and the libraries cio links: OpenSSL
#             (libssl-dev), c-ares (libc-ares-dev), zlib (zlib1g-dev), cJSON
#             (libcjson-dev), and llhttp's C sources (node-llhttp), compiled
#             in; all that building cio takes (make build, make run)
#   test      build, plus python3 (the docs checks, the TLS tests' Python
#             peer), pkg-config (the installed-package test), and the real
#             peers the TLS and DNS tests start on loopback: openssl, curl,
#             dnsmasq-base (dnsmasq without a system service), and the HTTP
#             clients the HTTP tests start: python3-requests, wrk,
#             slowhttptest; python3-websockets (the WebSocket peer) and
#             nginx (the HTTP client's file server and proxy): make test,
#             ucontext, compat
#   browser   build, plus chromium, its WebDriver and python3-selenium: the
#             demo app's end-to-end test (make test-browser)
#   sanitize  test, plus the sanitizer runtimes (make asan, make tsan). On
#             Debian they come with gcc (libgcc-N-dev depends on libasan,
#             libtsan, libubsan), so this installs nothing more there; the
#             group exists so that only the sanitizer targets ask for them
#   bench     test, plus the peers: libuv, libevent (with its OpenSSL
#             bufferevents and evdns), Boost.Context, asyncio and uvloop,
#             nginx (the TLS handshake and HTTP peer), h2o, aiohttp, wrk,
#             libcurl (the client peer), libwebsockets and python3-websockets
#             (the WebSocket peers), and valgrind (callgrind)
#   stress    stress-ng (the suite under load)
#   format    clang-format (make format)
# A target installs only what it uses: `make build` never pulls in python3,
# `make test` never pulls in a peer.
set -e

# The sanitizer runtimes of the installed gcc (libasan8 libtsan2 libubsan1
# for gcc 12): the packages libgcc-N-dev depends on, so normally already
# there. Nothing when gcc is not installed yet (build-essential brings them).
sanitizer_runtimes() {
    v=$(gcc -dumpversion 2>/dev/null | cut -d. -f1) || return 0
    [ -n "$v" ] || return 0
    apt-cache depends "libgcc-$v-dev" 2>/dev/null |
        sed -n 's/^ *Depends: \(lib[at]san[0-9]*\|libubsan[0-9]*\)$/\1/p' | sort -u | tr '\n' ' '
}

PKGS=""
for group in "${@:-build}"; do
    case "$group" in
    build) PKGS="$PKGS build-essential cmake libssl-dev libc-ares-dev node-llhttp zlib1g-dev libcjson-dev" ;;
    test) PKGS="$PKGS build-essential cmake libssl-dev libc-ares-dev node-llhttp zlib1g-dev libcjson-dev pkg-config python3
                openssl curl dnsmasq-base python3-requests wrk slowhttptest python3-websockets nginx" ;;
    browser) PKGS="$PKGS build-essential cmake libssl-dev libc-ares-dev node-llhttp zlib1g-dev libcjson-dev python3
                chromium chromium-driver python3-selenium" ;;
    sanitize) PKGS="$PKGS build-essential cmake libssl-dev libc-ares-dev node-llhttp zlib1g-dev libcjson-dev pkg-config python3
                openssl curl dnsmasq-base python3-requests wrk slowhttptest python3-websockets nginx $(sanitizer_runtimes)" ;;
    bench) PKGS="$PKGS build-essential cmake libssl-dev libc-ares-dev node-llhttp zlib1g-dev libcjson-dev pkg-config python3
                 openssl dnsmasq-base valgrind libuv1-dev libevent-dev libboost-context-dev
                 python3-uvloop nginx wrk h2o python3-aiohttp libcurl4-openssl-dev
                 libwebsockets-dev python3-websockets" ;;
    stress) PKGS="$PKGS stress-ng" ;;
    format) PKGS="$PKGS clang-format" ;;
    *) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
    esac
done
missing=""
for p in $PKGS; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends $missing
