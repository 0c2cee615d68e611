#!/bin/sh
# Installs the build tree into a scratch prefix, then builds and runs a
# consumer three ways: pkg-config (shared), find_package (shared and static).
set -e
build="$1"; src="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir="$tmp/prefix/lib"; [ -d "$tmp/prefix/lib64" ] && libdir="$tmp/prefix/lib64"
[ -d "$libdir/pkgconfig" ] || libdir="$(dirname "$(find "$tmp/prefix" -name cio.pc)")/.."
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc "$src/consumer.c" $(pkg-config --cflags --libs cio) -o "$tmp/pc_consumer"
LD_LIBRARY_PATH="$libdir" "$tmp/pc_consumer"
cmake -S "$src" -B "$tmp/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DCIO_WANT="$(pkg-config --modversion cio)" >/dev/null
cmake --build "$tmp/b" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/b/consumer_shared"
"$tmp/b/consumer_static"
