#!/usr/bin/env bash
# Stops what scripts/demo.sh started: backends, sshd, the production container, the cluster.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
state=${FERRY_DEMO_STATE:-/tmp/ferry-demo}
for env in dev staging production; do "$root/examples/backend/backend.sh" stop "$state/backend-$env" 2>/dev/null; done
[ -f "$state/ssh/sshd.pid" ] && kill "$(cat "$state/ssh/sshd.pid")" 2>/dev/null
command -v podman >/dev/null && podman rm -f -t 0 ferry-demo-pg >/dev/null 2>&1
"$root/scripts/pg-cluster.sh" stop "$state/pg"
echo "demo stopped"
