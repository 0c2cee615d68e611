#!/bin/sh
# The shared library's soname follows the ABI rule of docs/api/README.md:
# libcio.so.0.<minor> while the major version is 0, libcio.so.<major> after.
# Usage: soname.sh path/to/libcio.so <project version>
set -e
lib="$1"; version="$2"
major="${version%%.*}"; rest="${version#*.}"; minor="${rest%%.*}"
if [ "$major" = 0 ]; then want="libcio.so.0.$minor"; else want="libcio.so.$major"; fi
got="$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')"
if [ "$got" != "$want" ]; then
    echo "soname of $lib is '$got', want '$want' (version $version)" >&2
    exit 1
fi
# The file the soname names is there (the link an installed program loads).
[ -e "$(dirname "$lib")/$want" ] || { echo "no $want beside $lib" >&2; exit 1; }
echo "soname $got for version $version"
