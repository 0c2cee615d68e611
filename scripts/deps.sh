#!/bin/sh
# Installs the Debian packages a make target needs, with apt-get, only when
# one is missing. Safe to run repeatedly. Usage: deps.sh GROUP...
#   build   the compiler and CMake (every target)
#   test    build, plus python3 (the tutorial check)
#   bench   test, plus the peers: libuv, libevent, Boost.Context, asyncio and
#           uvloop, and valgrind (callgrind instruction counts)
#   stress  stress-ng (the suite under load)
# A target installs only what it uses: `make test` never pulls in a peer.
set -e
PKGS=""
for group in "${@:-build}"; do
    case "$group" in
    build) PKGS="$PKGS build-essential cmake pkg-config" ;;
    test) PKGS="$PKGS build-essential cmake pkg-config python3" ;;
    bench) PKGS="$PKGS build-essential cmake pkg-config python3 valgrind
                 libuv1-dev libevent-dev libboost-context-dev python3-uvloop" ;;
    stress) PKGS="$PKGS stress-ng" ;;
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
