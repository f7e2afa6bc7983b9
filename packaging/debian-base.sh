#!/usr/bin/env bash
# A fresh Debian 12 root (debootstrap --variant=minbase from the Debian mirror), cached as a
# tarball under ~/.cache/ferry-test and imported into podman as localhost/ferry-debian12:base.
# No image registry is reachable on these machines, so this is the "debian:bookworm-slim" the
# package test and the Containerfile start from. Reruns reuse the cache (seconds).
# Usage: packaging/debian-base.sh [MIRROR]   (prints the image name; exit 1 when the mirror is unreachable)
set -euo pipefail
mirror=${1:-${FERRY_DEBIAN_MIRROR:-http://deb.debian.org/debian}}
image=localhost/ferry-debian12:base
cache=${FERRY_TEST_CACHE:-$HOME/.cache/ferry-test}
tarball=$cache/debian12-minbase.tar
if podman image exists "$image"; then echo "$image"; exit 0; fi
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { echo "debian-base: debootstrap is not installed" >&2; exit 1; }
  root=$(mktemp -d "$cache/root.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
    echo "debian-base: debootstrap from $mirror failed (see $cache/debootstrap.log)" >&2; exit 1; }
  # As slim as debian:bookworm-slim: its dpkg excludes (docs but copyrights, man pages, locales)
  # and no apt lists or caches.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/usr/share/lintian/*
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  printf 'deb %s bookworm main\n' "$mirror" >"$root/etc/apt/sources.list"
  tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
fi
podman import -q --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
echo "$image"
