#!/usr/bin/env bash
# Benchmark: `ferry lint --offline` on 200 migrations (the bench/migrations.sh workload: each
# creates table t_i; every 4th also adds a column and an index to an earlier table), against
# the parse alone (`ferry validate`: every statement through PostgreSQL's parser, no rules) and
# against squawk (npm squawk-cli, installed once into SQUAWK_DIR when npm can reach it).
# No database: offline lint reads files only. Prints medians of RUNS runs and ratios.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-11}
N=${N:-200}
SQUAWK_DIR=${SQUAWK_DIR:-/tmp/ferry-bench-squawk}
bench_build
BENCH_DIR=$(mktemp -d /tmp/ferry-bench-XXXXXX)
trap 'rm -rf "$BENCH_DIR"' EXIT
W="$BENCH_DIR/project"
mkdir -p "$W/environments" "$W/playbooks" "$W/migrations"

# --- the workload of bench/migrations.sh, native migrations only
for i in $(seq 1 "$N"); do
  sql=$(bench_migration_sql "$i")
  bench_write_migration "$W/migrations" "$i" "$sql"
done
printf 'database: {name: bench, user: postgres, host: 127.0.0.1, port: 5432}\n' > "$W/environments/bench.yaml"
printf 'stages: [bench]\nsteps:\n  - migrate\n' > "$W/playbooks/all.yaml"

SQUAWK=""
if [ -x "$SQUAWK_DIR/node_modules/.bin/squawk" ] || \
   (command -v npm >/dev/null && timeout 120 npm install --silent --prefix "$SQUAWK_DIR" squawk-cli >/dev/null 2>&1); then
  SQUAWK="$SQUAWK_DIR/node_modules/.bin/squawk"
fi

declare -A T
measure() {  # name, command... (its exit code ignored: a linter exits non-zero when it finds something)
  local name=$1; shift
  local times=()
  for _ in $(seq 1 "$RUNS"); do times+=("$(time_ms sh -c '"$@" >/dev/null 2>&1; true' sh "$@")"); done
  T[$name]=$(median "${times[@]}")
}
measure validate "$FERRY" -C "$W" validate
measure lint "$FERRY" -C "$W" lint all --offline
"$FERRY" -C "$W" lint all --offline | tail -1
if [ -n "$SQUAWK" ]; then
  measure squawk "$SQUAWK" "$W"/migrations/*/up.sql
  # the npm launcher is node; the native binary it starts, measured alone
  SQUAWK_BIN=$(find "$SQUAWK_DIR/node_modules" -path '*/bin/squawk' -type f | head -1)
  [ -n "$SQUAWK_BIN" ] && measure squawk_bin "$SQUAWK_BIN" "$W"/migrations/*/up.sql
fi

echo "ferry lint benchmark: $N migrations, offline (median of $RUNS runs, ms)"
printf '  %-44s %6s ms\n' "ferry validate (the parse alone)" "${T[validate]}"
printf '  %-44s %6s ms  %s of the parse alone (target: < 50 ms)\n' "ferry lint --offline" "${T[lint]}" "$(ratio "${T[lint]}" "${T[validate]}")"
if [ -n "$SQUAWK" ]; then
  printf '  %-44s %6s ms  ferry lint is %s of it (target < 2x)\n' "$("$SQUAWK" --version) (npm launcher)" "${T[squawk]}" "$(ratio "${T[lint]}" "${T[squawk]}")"
  [ -n "${T[squawk_bin]:-}" ] && printf '  %-44s %6s ms  ferry lint is %s of it\n' "squawk native binary alone" "${T[squawk_bin]}" "$(ratio "${T[lint]}" "${T[squawk_bin]}")"
else
  echo "  squawk: not installed (npm install squawk-cli failed or npm missing)"
fi
