#!/usr/bin/env bash
# Makes the local image localhost/hostusr:1 for podman (no registry is reachable here): an
# empty root filesystem whose /usr and /etc are the host's, mounted read-only at run time.
set -euo pipefail
podman image exists localhost/hostusr:1 && exit 0
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d"/rootfs/{etc,proc,sys,dev,tmp,var,run,root,usr,home}
chmod 1777 "$d/rootfs/tmp"
ln -s usr/bin "$d/rootfs/bin"; ln -s usr/lib "$d/rootfs/lib"; ln -s usr/lib64 "$d/rootfs/lib64"; ln -s usr/sbin "$d/rootfs/sbin"
tar -C "$d/rootfs" -cf "$d/rootfs.tar" .
podman import "$d/rootfs.tar" localhost/hostusr:1 >/dev/null
