#!/usr/bin/env bash
# Builds ferry's container image with podman: localhost/ferry:VERSION and localhost/ferry:latest,
# from the .deb of BUILD_DIR (default: packaging/deb.sh's Release build) and the Containerfile.
# The base is FERRY_IMAGE_BASE, else debian:bookworm-slim when podman has it, else a Debian 12
# root debootstrapped from the Debian mirror (packaging/debian-base.sh; no image registry here).
# Prints the .deb's size and the image's size.
# Usage: scripts/image.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
label=()
if [ $# -ge 1 ]; then
  build=$(cd "$1" && pwd)
  # Which binary the image carries (the tests reuse an image built from the same binary).
  label=(--label "ferry.build-sha256=$(sha256sum "$build/ferry" | cut -c1-64)")
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  (cd "$build" && cpack -G DEB -B "$ctx/cpack" >/dev/null)
  deb=$(ls "$ctx"/cpack/*.deb)
else
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  deb=$(bash "$root/packaging/deb.sh" | tail -1)
fi
cp "$deb" "$ctx/ferry.deb"
cp "$root/Containerfile" "$ctx/Containerfile"
version=$(dpkg-deb -f "$deb" Version)
base=${FERRY_IMAGE_BASE:-}
if [ -z "$base" ]; then
  if podman image exists docker.io/library/debian:bookworm-slim; then
    base=docker.io/library/debian:bookworm-slim
  else
    base=$(bash "$root/packaging/debian-base.sh")
  fi
fi
# --network host: apt inside the build reaches the Debian mirror as the host does.
podman build -q --network host "${label[@]}" --build-arg "BASE=$base" -t "localhost/ferry:$version" -t localhost/ferry:latest \
  -f "$ctx/Containerfile" "$ctx" >/dev/null
echo "deb: $(basename "$deb") $(stat -c %s "$deb") bytes (installed $(dpkg-deb -f "$deb" Installed-Size) KiB)"
echo "image: localhost/ferry:$version $(podman image inspect --format '{{.Size}}' "localhost/ferry:$version") bytes (base $base)"
