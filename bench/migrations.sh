#!/usr/bin/env bash
# Benchmark: 200 migrations applied to an empty database, and `status` on the result.
# Each migration creates table t_i (id bigserial primary key, name text not null, created_at
# timestamptz default now()); every 4th also adds a column and an index to an earlier table.
# Compared, on the same cluster and SQL: psql -1 -f all.sql (the floor), psql with one
# transaction per migration plus a history insert, ferry (transaction: all and each), and
# Alembic (Debian python3-alembic) and Sqitch (Debian sqitch). Prints medians of RUNS runs and ratios.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
N=${N:-200}
bench_build
command -v sqitch >/dev/null || apt-get install -y -qq --no-install-recommends sqitch libdbd-pg-perl >/dev/null
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/project/migrations" "$W/alembic/versions" \
  "$W/sqitch/deploy" "$W/sqitch/revert" "$W/sqitch/verify"
printf '%%syntax-version=1.0.0\n%%project=bench\n\n' > "$W/sqitch/sqitch.plan"
printf '[core]\n\tengine = pg\n' > "$W/sqitch/sqitch.conf"

# --- the workload, written once for every tool
: > "$W/all.sql"; : > "$W/each.sql"
echo "CREATE TABLE IF NOT EXISTS bench_history (version int PRIMARY KEY, applied_at timestamptz DEFAULT now());" > "$W/each_prelude.sql"
prev=None
for i in $(seq 1 "$N"); do
  v=$(printf '%04d' "$i")
  sql=$(bench_migration_sql "$i")
  bench_write_migration "$W/project/migrations" "$i" "$sql"
  printf '%s\n' "$sql" >> "$W/all.sql"
  printf 'BEGIN;\n%s\nCOMMIT;\n' "$sql" > "$W/sqitch/deploy/t_$i.sql"
  printf 'DROP TABLE t_%s CASCADE;\n' "$i" > "$W/sqitch/revert/t_$i.sql"
  printf 't_%s 2026-01-01T00:00:00Z Bench <bench@example.com> # t_%s\n' "$i" "$i" >> "$W/sqitch/sqitch.plan"
  printf 'BEGIN;\n%s\nINSERT INTO bench_history (version) VALUES (%s);\nCOMMIT;\n' "$sql" "$i" >> "$W/each.sql"
  cat > "$W/alembic/versions/r$v.py" <<PY
revision = "r$v"
down_revision = $( [ "$prev" = None ] && echo None || echo "\"$prev\"" )
from alembic import op
def upgrade():
    op.execute("""$sql""")
def downgrade():
    op.execute("DROP TABLE t_$i CASCADE")
PY
  prev="r$v"
done
cat > "$W/project/environments/bench.yaml" <<YAML
database: {name: bench, user: postgres, host: 127.0.0.1, port: $PGPORT}
YAML
# lock_trace: never: the one-round-trip batches a protected environment runs (bench is not
# protected, where `auto` would trace; lock_trace.sh measures that)
printf 'stages: [bench]\nsteps:\n  - migrate: {lock_trace: never}\n' > "$W/project/playbooks/all.yaml"
printf 'stages: [bench]\nsteps:\n  - migrate: {transaction: each, lock_trace: never}\n' > "$W/project/playbooks/each.yaml"
printf 'migrations: none\nstages: [bench]\nsteps:\n  - migrate\n' > "$W/project/playbooks/init.yaml"
cat > "$W/alembic/alembic.ini" <<INI
[alembic]
script_location = $W/alembic
sqlalchemy.url = postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/bench
INI
cat > "$W/alembic/env.py" <<'PY'
from alembic import context
from sqlalchemy import engine_from_config, pool
config = context.config
engine = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
PY

declare -A T
measure() {  # name, setup-fn, command...
  local name=$1 setup=$2; shift 2
  local times=()
  for _ in $(seq 1 "$RUNS"); do
    $setup
    times+=("$(time_ms "$@")")
  done
  T[$name]=$(median "${times[@]}")
}
fresh() { fresh_db bench; }
# a database ferry has run on before: its ledger tables exist (every run after the first)
fresh_ledger() { fresh_db bench; "$FERRY" -C "$W/project" --state-dir "$W/state" run init >/dev/null; psql -X -q -d postgres -c CHECKPOINT; }
fresh_each() { fresh_db bench; psql -X -q -d bench -f "$W/each_prelude.sql"; }

# The compared commands alternate round by round (noise on a shared machine hits them alike).
declare -A L
add() { L[$1]="${L[$1]:-} $2"; }
for _ in $(seq 1 "$RUNS"); do
  fresh; add psql_all "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -1 -d bench -f "$W/all.sql")"
  fresh; add ferry_all "$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" run all)"
  fresh_ledger; add ferry_all_ledger "$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" run all)"
  fresh_each; add psql_each "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -d bench -f "$W/each.sql")"
  fresh; add ferry_each "$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" run each)"
done
for k in "${!L[@]}"; do T[$k]=$(median ${L[$k]}); done
measure alembic_up fresh /usr/bin/alembic -c "$W/alembic/alembic.ini" upgrade head
export SQITCH_FULLNAME=bench SQITCH_EMAIL=bench@example.com
SQITCH_TARGET="db:pg://postgres@127.0.0.1:$PGPORT/bench"
measure sqitch_deploy fresh sh -c "cd $W/sqitch && sqitch --quiet deploy $SQITCH_TARGET"

# status on the fully migrated database
fresh; "$FERRY" -C "$W/project" --state-dir "$W/state" run all >/dev/null
/usr/bin/alembic -c "$W/alembic/alembic.ini" stamp head >/dev/null 2>&1
(cd "$W/sqitch" && sqitch --quiet deploy --log-only "$SQITCH_TARGET" >/dev/null 2>&1)
noop() { :; }
RUNS=$(( RUNS * 4 ))
for _ in $(seq 1 "$RUNS"); do
  add psql_select1 "$(time_ms psql -X -q -d bench -c 'select 1')"
  add ferry_status "$(time_ms "$FERRY" -C "$W/project" status)"
done
T[psql_select1]=$(median ${L[psql_select1]}); T[ferry_status]=$(median ${L[ferry_status]})
measure alembic_current noop /usr/bin/alembic -c "$W/alembic/alembic.ini" current
measure sqitch_status noop sh -c "cd $W/sqitch && sqitch --quiet status $SQITCH_TARGET"

echo "load average: $(cut -d" " -f1-3 /proc/loadavg)"
echo "ferry benchmark: $N migrations on an empty database (median of the runs, ms)"
printf '  %-44s %6s ms\n' "psql -1 -f all.sql (floor)" "${T[psql_all]}"
printf '  %-44s %6s ms  %s of the floor (target <= 1.00x)\n' "ferry run (transaction: all), first run" "${T[ferry_all]}" "$(ratio "${T[ferry_all]}" "${T[psql_all]}")"
printf '  %-44s %6s ms  %s of the floor\n' "ferry run (all), ledger tables already there" "${T[ferry_all_ledger]}" "$(ratio "${T[ferry_all_ledger]}" "${T[psql_all]}")"
printf '  %-44s %6s ms\n' "psql, a transaction + history row each" "${T[psql_each]}"
printf '  %-44s %6s ms  %s of that (target <= 1.10x)\n' "ferry run (transaction: each)" "${T[ferry_each]}" "$(ratio "${T[ferry_each]}" "${T[psql_each]}")"
printf '  %-44s %6s ms  %s of the floor\n' "alembic upgrade head" "${T[alembic_up]}" "$(ratio "${T[alembic_up]}" "${T[psql_all]}")"
printf '  %-44s %6s ms  %s of the floor\n' "sqitch deploy (psql per change)" "${T[sqitch_deploy]}" "$(ratio "${T[sqitch_deploy]}" "${T[psql_all]}")"
echo "status on the migrated database"
printf '  %-44s %6s ms\n' "psql -c 'select 1'" "${T[psql_select1]}"
printf '  %-44s %6s ms  %s (target <= 1.50x)\n' "ferry status" "${T[ferry_status]}" "$(ratio "${T[ferry_status]}" "${T[psql_select1]}")"
printf '  %-44s %6s ms  %s\n' "alembic current" "${T[alembic_current]}" "$(ratio "${T[alembic_current]}" "${T[psql_select1]}")"
printf '  %-44s %6s ms  %s\n' "sqitch status" "${T[sqitch_status]}" "$(ratio "${T[sqitch_status]}" "${T[psql_select1]}")"
