#!/usr/bin/env bash
# The installed size of ferry's .deb (issue 12): the package file, dpkg's Installed-Size, the sum
# of the files it installs (dpkg-deb -c), and the ferry binary inside it (stripped) against the
# RelWithDebInfo build the tests use (with and without its debug info). No database.
# Usage: bench/deb_size.sh [BUILD_DIR]  (default build-release: packaging/deb.sh's Release build);
# FROM=build: cpack from that existing build directory instead (as the package test does: the
# same install rules, stripped, without a second compile); DEB=path: a .deb already built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/ferry-debsize-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${DEB:-}" ]; then deb=$DEB
elif [ -n "${FROM:-}" ]; then
  (cd "$FROM" && cpack -G DEB -B "$tmp/package" --config "$FROM/CPackConfig.cmake" >"$tmp/cpack.log" 2>&1) ||
    { cat "$tmp/cpack.log" >&2; exit 1; }
  deb=$(ls "$tmp"/package/*.deb)
else deb=$(bash "$root/packaging/deb.sh" "${1:-$root/build-release}" 2>/dev/null | tail -n 1); fi
dpkg-deb -x "$deb" "$tmp/root"
files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { s += $3; n++ } END { printf "%d bytes in %d files", s, n }')
kib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
bin="$tmp/root/usr/bin/ferry"
echo "ferry .deb: $(basename "$deb")"
printf '  %-40s %10s bytes  (%s)\n' ".deb file" "$(stat -c %s "$deb")" "$(kib "$(stat -c %s "$deb")")"
printf '  %-40s %10s KiB\n' "Installed-Size (control)" "$(dpkg-deb -f "$deb" Installed-Size)"
printf '  %-40s %s\n' "files installed (dpkg-deb -c)" "$files"
printf '  %-40s %10s bytes  (%s)\n' "usr/bin/ferry (stripped)" "$(stat -c %s "$bin")" "$(kib "$(stat -c %s "$bin")")"
if [ -x "$root/build/ferry" ]; then
  strip -o "$tmp/ferry-dev" "$root/build/ferry"
  printf '  %-40s %10s bytes  (%s)\n' "build/ferry (RelWithDebInfo)" "$(stat -c %s "$root/build/ferry")" \
    "$(kib "$(stat -c %s "$root/build/ferry")")"
  printf '  %-40s %10s bytes  (%s)\n' "build/ferry stripped" "$(stat -c %s "$tmp/ferry-dev")" \
    "$(kib "$(stat -c %s "$tmp/ferry-dev")")"
fi
printf '  %-40s %s\n' "shared libraries loaded (ldd)" "$(ldd "$bin" | wc -l)"
printf '  %-40s %s\n' "Depends" "$(dpkg-deb -f "$deb" Depends)"
