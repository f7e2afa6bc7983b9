#!/usr/bin/env bash
# Where `ferry status` spends its time, against `psql -c 'select 1'` (issue 8's W1: <= 1.5x), on
# the 200 migrations of migrations.sh, interleaved round by round (RUNS, default 21):
#   psql -c 'select 1'           process start + connect + one round trip (the floor)
#   ferry --version              ferry's process start alone (43 shared libraries, no work)
#   ferry status                 + YAML, the migration files (checksums), ~10 queries, the fingerprint
#                                (remembered in ferry.fingerprints: the catalogs' stamp, then the pair)
#   ferry status after a change  a COMMENT before it (not timed): the stamp moved, so the
#                                fingerprint is computed and remembered (the first status after a change)
#   psql -f fingerprint.sql      the schema fingerprint's query alone, as psql runs it
#   ferry status (as today), run again with FERRY_BIN=... for another build.
# Prints medians, the load average before and after, and ferry's CPU time (perf stat) if perf exists.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-21}
N=${N:-200}
if [ -n "${FERRY_BIN:-}" ]; then FERRY=$FERRY_BIN; else bench_build; fi
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/project/migrations"
for i in $(seq 1 "$N"); do bench_write_migration "$W/project/migrations" "$i" "$(bench_migration_sql "$i")"; done
echo "database: {name: bench, user: postgres, host: 127.0.0.1, port: $PGPORT}" > "$W/project/environments/bench.yaml"
printf 'stages: [bench]\nsteps:\n  - migrate\n' > "$W/project/playbooks/all.yaml"
fresh_db bench
"$FERRY" -C "$W/project" --state-dir "$W/state" run all >/dev/null
# The statements ferry status sends, and the fingerprint's query exactly as sent (server log).
log="$BENCH_DIR/pg/log"
psql -X -q -d bench -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5; n0=$(wc -l < "$log")
"$FERRY" -C "$W/project" status >/dev/null
sleep 0.5; tail -n +"$((n0 + 1))" "$log" > "$W/status.log"
psql -X -q -d bench -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null
queries=$(grep -cE 'duration: .* (statement|execute)' "$W/status.log" || true)
python3 - "$W/status.log" "$W/fingerprint.sql" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
# the fingerprint's query: its sha256 computed by the server around the description (since the
# catalog stamp it is sent in one statement with the stamp: only the fingerprint's part is taken)
# (every name in it schema-qualified since 2026-12: pg_catalog.encode(...), COLLATE pg_catalog."C")
q = r"(?:pg_catalog\.)?"
m = re.search(r"(SELECT " + q + r"encode\(" + q + r"sha256\(" + q + r"convert_to\(coalesce\(" + q +
              r"string_agg.*?WITH ns AS \(.*?\) x ORDER BY line COLLATE " + q + r"\"C\"\) d)", text, re.S)
open(sys.argv[2], "w").write((m.group(1) if m else "SELECT 1") + ";\n")
PY
echo "load before: $(uptime)"
P=(); V=(); S=(); Q=(); C=()
for r in $(seq 1 "$RUNS"); do
  P+=("$(time_ms psql -X -q -d bench -c 'select 1')")
  V+=("$(time_ms "$FERRY" --version)")
  S+=("$(time_ms "$FERRY" -C "$W/project" status)")
  psql -X -q -d bench -c "COMMENT ON TABLE t_1 IS 'round $r'"
  C+=("$(time_ms "$FERRY" -C "$W/project" status)")
  Q+=("$(time_ms psql -X -q -d bench -f "$W/fingerprint.sql")")
done
echo "load after:  $(uptime)"
mp=$(median "${P[@]}"); ms=$(median "${S[@]}")
echo "ferry status on $N applied migrations (medians of $RUNS interleaved rounds, ms)"
printf '  %-44s %6s ms\n' "psql -c 'select 1' (floor)" "$mp"
printf '  %-44s %6s ms  %s (target <= 1.50x)\n' "ferry status" "$ms" "$(ratio "$ms" "$mp")"
printf '  %-44s %6s ms  %s\n' "ferry status after a change (stamp moved)" "$(median "${C[@]}")" \
  "$(ratio "$(median "${C[@]}")" "$mp")"
printf '  %-44s %6s ms\n' "ferry --version (process start only)" "$(median "${V[@]}")"
printf '  %-44s %6s ms  (the query alone: %s ms over select 1)\n' "psql -f fingerprint.sql" "$(median "${Q[@]}")" \
  "$(( $(median "${Q[@]}") - mp ))"
printf '  %-44s %6s\n' "statements ferry status sent (server log)" "$queries"
if command -v perf >/dev/null; then
  cpu() { perf stat -x, -r 10 -e task-clock "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ { printf "%.1f", $1 }'; }
  printf '  %-44s %6s ms\n' "CPU of psql -c 'select 1' (perf stat)" "$(cpu psql -X -q -d bench -c 'select 1')"
  printf '  %-44s %6s ms\n' "CPU of ferry status (perf stat)" "$(cpu "$FERRY" -C "$W/project" status)"
fi
