#!/usr/bin/env bash
# Per-command overhead of ferry's kubectl transport against its docker transport, through the
# SAME podman container: two environments of one playbook of N `run: true` steps, one on a
# `type: docker` connection (podman's docker CLI), one on a `type: kubectl` connection whose
# client is the stand-in (tests/support/kubectl-standin: parses kubectl's exec syntax, then
# `podman exec`). Runs interleaved (docker, kubectl, docker, ...), medians of RUNS runs of the
# median step duration from --report. No cluster runs here: a real kubectl's API round trips
# are not in these figures; the difference is ferry's own script (environment on stdin, cd,
# sh -c) plus the stand-in's parsing. Needs root and podman. FERRY_BIN=path: another build.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
N=${N:-30}
if [ -n "${FERRY_BIN:-}" ]; then FERRY=$FERRY_BIN; else bench_build; fi
command -v podman >/dev/null || { echo "needs podman" >&2; exit 1; }
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks"
fresh_db app
if ! podman image exists localhost/hostusr:1; then  # the tests' image: the host's /usr, no registry
  R="$W/rootfs"; mkdir -p "$R"/{etc,proc,sys,dev,tmp,var,run,root,usr,home}; chmod 1777 "$R/tmp"
  ln -s usr/bin "$R/bin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"; ln -s usr/sbin "$R/sbin"
  tar -C "$R" -cf "$W/rootfs.tar" . && podman import "$W/rootfs.tar" localhost/hostusr:1 >/dev/null
fi
C="ferry-bench-kubectl-$$"
podman run -d --init --name "$C" -v /usr:/usr:ro -v /etc:/etc:ro --network host localhost/hostusr:1 sleep infinity >/dev/null
cleanup() { podman rm -f -t 0 "$C" >/dev/null 2>&1 || true; bench_cluster_stop; }
trap cleanup EXIT
echo "- - deployment/backend $C" > "$W/map"
export KUBECTL_STANDIN_MAP="$W/map"
db="database: {name: app, user: postgres, host: 127.0.0.1, port: $PGPORT}"
printf 'connections:\n  app: {type: docker, container: %s, engine: /usr/bin/docker}\n%s\n' "$C" "$db" \
  > "$W/project/environments/docker.yaml"
printf 'connections:\n  app: {type: kubectl, target: deployment/backend, kubectl: %s}\n%s\n' \
  "$BENCH_ROOT/tests/support/kubectl-standin" "$db" > "$W/project/environments/kubectl.yaml"
for e in docker kubectl; do
  { echo "stages: [$e]"; echo "steps:"
    for i in $(seq 1 "$N"); do echo "  - run: {on: app, command: 'true'}"; done; } > "$W/project/playbooks/$e.yaml"
done
med_step() { python3 - "$1" <<'PY'
import json, sys, statistics
ev = json.load(open(sys.argv[1]))["events"]
print("%.1f" % statistics.median([e["duration_ms"] for e in ev if e["event"] == "step_finished" and e["step"].startswith("run ")]))
PY
}
d=(); k=()
for r in $(seq 1 "$RUNS"); do
  for e in docker kubectl; do
    "$FERRY" -C "$W/project" --state-dir "$W/state" run "$e" --report "$W/$e.json" >/dev/null 2>&1 \
      || { echo "ferry run $e failed" >&2; "$FERRY" -C "$W/project" --state-dir "$W/state" run "$e" >&2; exit 1; }
  done
  d+=("$(med_step "$W/docker.json")"); k+=("$(med_step "$W/kubectl.json")")
done
md=$(printf '%s\n' "${d[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
mk=$(printf '%s\n' "${k[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo
echo "one 'true' command through the same podman container (median step, medians of $RUNS interleaved runs of $N)"
printf '  %-44s %7s ms\n' "docker transport (docker exec)" "$md"
printf '  %-44s %7s ms\n' "kubectl transport (stand-in kubectl exec)" "$mk"
printf '  %-44s %7s    (%s ms more per command; target: within 5 ms)\n' "kubectl / docker" "$(ratio "$mk" "$md")" \
  "$(awk -v a="$mk" -v b="$md" 'BEGIN { printf "%.1f", a - b }')"
# The stand-in's own cost (bash parsing kubectl's syntax, then podman exec), without ferry:
# the same `true` through `docker exec` and through the stand-in, interleaved.
sd=(); sk=()
for _ in $(seq 1 "$N"); do
  sd+=("$(time_ms /usr/bin/docker exec "$C" true)")
  sk+=("$(time_ms "$BENCH_ROOT/tests/support/kubectl-standin" exec deployment/backend -- true)")
done
printf '  %-44s %7s ms\n' "docker exec C true (no ferry)" "$(median "${sd[@]}")"
printf '  %-44s %7s ms    (the stand-in alone adds %s ms)\n' "kubectl-standin exec ... -- true (no ferry)" \
  "$(median "${sk[@]}")" "$(( $(median "${sk[@]}") - $(median "${sd[@]}") ))"
# Ferry's own script in the pod, without podman's ~0.3-0.6 s per exec: a recording kubectl keeps
# the words after `--` and the stdin ferry sent for one `run: true` step; they are replayed with
# the local sh RUNS*20 times against docker's `sh -c 'bash -o pipefail -c true'` (its environment
# goes by -e, no stdin), interleaved; CPU of the processes started, per command.
mkdir -p "$W/rec" "$W/project-rec/environments" "$W/project-rec/playbooks"
printf '#!/bin/bash\nwhile [ "$1" != -- ]; do shift; done; shift\nprintf "%%s\\0" "$@" > %s/argv; cat > %s/stdin\n' \
  "$W/rec" "$W/rec" > "$W/rec/kubectl"; chmod +x "$W/rec/kubectl"
printf 'connections:\n  app: {type: kubectl, target: deployment/backend, kubectl: %s}\n%s\n' "$W/rec/kubectl" "$db" \
  > "$W/project-rec/environments/kubectl.yaml"
printf 'stages: [kubectl]\nsteps:\n  - run: {on: app, command: "true"}\n' > "$W/project-rec/playbooks/kubectl.yaml"
"$FERRY" -C "$W/project-rec" --state-dir "$W/state" run kubectl >/dev/null
python3 - "$W/rec" $(( RUNS * 20 )) <<'PY'
import os, statistics, subprocess, sys, time
d, n = sys.argv[1], int(sys.argv[2])
words = [w.decode() for w in open(d + "/argv", "rb").read().split(b"\0")[:-1]]
cases = {"ferry's kubectl script (as sent)": (words, open(d + "/stdin", "rb").read()),
         "docker's sh -c 'bash -o pipefail -c true'": (["sh", "-c", "bash -o pipefail -c true"], b"")}
wall = {k: [] for k in cases}; cpu = {k: 0.0 for k in cases}
for _ in range(n):
    for k, (argv, data) in cases.items():
        c0, t0 = os.times(), time.perf_counter()
        subprocess.run(argv, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t1, c1 = time.perf_counter(), os.times()
        wall[k].append((t1 - t0) * 1000)
        cpu[k] += (c1.children_user - c0.children_user + c1.children_system - c0.children_system) * 1000
for k in cases:
    print("  %-44s %7.1f ms wall (median), %.1f ms CPU per command (%d runs)" % (k, statistics.median(wall[k]), cpu[k] / n, n))
PY
