#!/usr/bin/env bash
# Benchmark: the cost of the lock trace (issue 9). The migrations.sh workload (N=200 migrations,
# one transaction: `all`) applied by ferry with `lock_trace: never` (the one-round-trip batches
# protected environments keep) and `lock_trace: always` (statement by statement, pg_locks and
# pg_class read after each statement, the trace stored), alternately on a fresh database each
# run. Prints medians of RUNS runs and the ratio.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
N=${N:-200}
bench_build
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/project/migrations"
for i in $(seq 1 "$N"); do bench_write_migration "$W/project/migrations" "$i" "$(bench_migration_sql "$i")"; done
printf 'database: {name: bench, user: postgres, host: 127.0.0.1, port: %s}\n' "$PGPORT" \
  > "$W/project/environments/bench.yaml"
for mode in never always; do
  printf 'stages: [bench]\nsteps:\n  - migrate: {lock_trace: %s}\n' "$mode" > "$W/project/playbooks/$mode.yaml"
done
never=(); always=()
for _ in $(seq 1 "$RUNS"); do
  fresh_db bench; never+=("$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" run never)")
  fresh_db bench; always+=("$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" run always)")
done
traced=$(psql -X -qAt -d bench -c "SELECT count(*), sum(jsonb_array_length(trace->'statements')) FROM ferry.lock_traces")
n=$(median "${never[@]}"); a=$(median "${always[@]}")
echo "lock trace cost: $N migrations, transaction: all (median of $RUNS runs, ms)"
printf '  %-44s %6s ms\n' "lock_trace: never (one round trip per batch)" "$n"
printf '  %-44s %6s ms  %s of never\n' "lock_trace: always (traced)" "$a" "$(ratio "$a" "$n")"
echo "  traces stored (migrations|statements): $traced"
