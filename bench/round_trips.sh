#!/usr/bin/env bash
# What ferry sends, statement by statement, read from the server's log (log_min_duration_statement
# = 0: every statement and its time): `ferry status`, a no-op `ferry run` (nothing pending) and a
# run of the 200 migrations of migrations.sh. Prints, per command, the number of statements, their
# summed server time, and the slowest ones. FERRY_BIN=... for another build. No timings of ferry
# itself: bench/status.sh and bench/builds.sh compare wall clocks.
source "$(dirname "$0")/lib.sh"
N=${N:-200}
if [ -z "${FERRY_BIN:-}" ]; then bench_build; fi
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/project/migrations"
for i in $(seq 1 "$N"); do bench_write_migration "$W/project/migrations" "$i" "$(bench_migration_sql "$i")"; done
echo "database: {name: bench, user: postgres, host: 127.0.0.1, port: $PGPORT}" > "$W/project/environments/bench.yaml"
printf 'stages: [bench]\nsteps:\n  - migrate: {lock_trace: never}\n' > "$W/project/playbooks/all.yaml"
printf 'migrations: none\nstages: [bench]\nsteps:\n  - migrate\n' > "$W/project/playbooks/init.yaml"
log="$BENCH_DIR/pg/log"
psql -X -q -d postgres -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
# logged: runs CMD..., prints what the server logged for application_name ferry meanwhile
logged() {
  local title=$1 n0; shift
  sleep 0.3; n0=$(wc -l < "$log")
  "$@" >/dev/null 2>&1 || true
  sleep 0.3
  tail -n +"$((n0 + 1))" "$log" > "$W/cmd.log"
  python3 - "$title" "$W/cmd.log" <<'PY'
import re, sys
title, path = sys.argv[1], sys.argv[2]
text = open(path, errors="replace").read()
items = re.findall(r"duration: ([0-9.]+) ms\s+(?:statement|execute [^:]*): (.*?)(?=\n\S|\Z)", text, re.S)
total = sum(float(d) for d, _ in items)
print(f"{title}: {len(items)} statements, {total:.1f} ms of server time")
for d, s in sorted(items, key=lambda x: -float(x[0]))[:6]:
    print(f"  {float(d):8.2f} ms  {' '.join(s.split())[:110]}")
PY
}
fresh_db bench >/dev/null
logged "ferry run (200 migrations)" "$FERRY" -C "$W/project" --state-dir "$W/state" run all
logged "ferry run (nothing pending)" "$FERRY" -C "$W/project" --state-dir "$W/state" run all
logged "ferry status" "$FERRY" -C "$W/project" status
fresh_db bench >/dev/null; "$FERRY" -C "$W/project" --state-dir "$W/state" run init >/dev/null
logged "ferry run (200 migrations, ledger already there)" "$FERRY" -C "$W/project" --state-dir "$W/state" run all
