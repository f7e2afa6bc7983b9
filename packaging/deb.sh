#!/usr/bin/env bash
# The release .deb: a Release build of ferry alone (no tests) in build-release/, stripped and
# packaged by CPack (DEB, Depends from dpkg-shlibdeps plus the programs ferry runs).
# Usage: packaging/deb.sh [BUILD_DIR]   prints the .deb's path on the last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-release}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$build" --target ferry ferry_man -j"$(nproc)"
out=$build/package
rm -rf "$out" && mkdir -p "$out"
(cd "$build" && cpack -G DEB -B "$out" >/dev/null)
deb=$(ls "$out"/*.deb)
echo "deb: $(stat -c %s "$deb") bytes, installed size $(dpkg-deb -f "$deb" Installed-Size) KiB" >&2
echo "$deb"
