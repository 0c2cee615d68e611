#!/bin/sh
# Installs the Debian packages cio needs to build, test and benchmark, with
# apt-get, only when one is missing. Safe to run repeatedly.
set -e
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev valgrind
      libuv1-dev libevent-dev libboost-context-dev python3 python3-uvloop"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends $missing
