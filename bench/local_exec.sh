#!/usr/bin/env bash
# Per-command overhead of ferry's local transport: a playbook of N `run: true` steps on this
# machine (each one `/bin/sh -c true` started by ferry), the median step duration from the
# --report JSON and the whole run's wall time per command, against bash starting the same
# `/bin/sh -c true` N times (the floor). FERRY_BIN=path benches another ferry binary (before and
# after a change) without building. Medians of RUNS runs.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
N=${N:-200}
if [ -n "${FERRY_BIN:-}" ]; then FERRY=$FERRY_BIN; else bench_build; fi
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks"
fresh_db app
echo "database: {name: app, user: postgres, host: 127.0.0.1, port: $PGPORT}" > "$W/project/environments/bench.yaml"
{ echo "stages: [bench]"; echo "steps:"
  for i in $(seq 1 "$N"); do echo "  - run: {on: local, command: 'true'}"; done; } > "$W/project/playbooks/local.yaml"
med_step() { python3 - "$1" <<'PY'
import json, sys, statistics
ev = json.load(open(sys.argv[1]))["events"]
print("%.2f" % statistics.median([e["duration_ms"] for e in ev if e["event"] == "step_finished" and e["step"].startswith("run ")]))
PY
}
floor=(); wall=(); step=()
for r in $(seq 1 "$RUNS"); do
  floor+=("$(time_ms bash -c "for i in \$(seq 1 $N); do /bin/sh -c true; done")")
  wall+=("$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" run local --report "$W/report.json")")
  step+=("$(med_step "$W/report.json")")
done
f=$(median "${floor[@]}"); w=$(median "${wall[@]}"); s=$(printf '%s\n' "${step[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
per_floor=$(awk -v t="$f" -v n="$N" 'BEGIN { printf "%.2f", t / n }')
per_wall=$(awk -v t="$w" -v n="$N" 'BEGIN { printf "%.2f", t / n }')
echo
echo "ferry's local transport: $N 'true' commands (medians of $RUNS runs, $FERRY)"
printf '  %-52s %6s ms  (%s ms per command)\n' "bash: $N x /bin/sh -c true (the floor)" "$f" "$per_floor"
printf '  %-52s %6s ms  (%s ms per command, %s of the floor)\n' "ferry run: $N run steps, whole run" "$w" "$per_wall" "$(ratio "$per_wall" "$per_floor")"
printf '  %-52s %6s ms\n' "ferry: median duration of one run step (report)" "$s"
