# Shared helpers for ferry's benchmarks: a throwaway cluster, timing, ratios.
set -euo pipefail
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY="${FERRY_BIN:-$BENCH_ROOT/build/ferry}"  # FERRY_BIN: compare another build

bench_build() {
  bash "$BENCH_ROOT/scripts/install-deps.sh" >/dev/null
  cmake -S "$BENCH_ROOT" -B "$BENCH_ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BENCH_ROOT/build" -j2 --target ferry >/dev/null
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bench_cluster_start() {  # sets PGPORT, BENCH_DIR
  BENCH_DIR=$(mktemp -d /tmp/ferry-bench-XXXXXX); chmod 755 "$BENCH_DIR"
  PGPORT=$(free_port)
  "$BENCH_ROOT/scripts/pg-cluster.sh" start "$BENCH_DIR/pg" "$PGPORT"
  export PGHOST=127.0.0.1 PGPORT PGUSER=postgres
  trap bench_cluster_stop EXIT
}
bench_cluster_stop() {
  "$BENCH_ROOT/scripts/pg-cluster.sh" stop "$BENCH_DIR/pg" || true
  rm -rf "$BENCH_DIR"
}

# A new empty database, then a checkpoint, so that no run pays for the previous one's writes.
fresh_db() { psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" -c "CHECKPOINT"; }

now_ms() { date +%s%3N; }

# time_ms CMD...: milliseconds of one run of CMD (its output discarded)
time_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "benchmark command failed: $*" >&2; "$@" >&2 || true; exit 1; }
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2fx", a / b }'; }

# The workload every migration benchmark uses: migration I's SQL (a table; every 4th also adds a
# column and an index to an earlier table).
bench_migration_sql() {
  local i=$1 j
  printf 'CREATE TABLE t_%s (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now());' "$i"
  if (( i % 4 == 0 )); then
    j=$(( i / 2 ))
    printf '\nALTER TABLE t_%s ADD COLUMN extra_%s text;\nCREATE INDEX t_%s_extra_%s_idx ON t_%s (extra_%s);' \
      "$j" "$i" "$j" "$i" "$j" "$i"
  fi
}
# Writes migration I as a ferry migration directory under MIGRATIONS, with its down.sql.
bench_write_migration() {  # MIGRATIONS I SQL
  local d; d="$1/$(printf '%04d' "$2")_t_$2"
  mkdir -p "$d"
  printf '%s\n' "$3" > "$d/up.sql"
  printf 'DROP TABLE t_%s CASCADE;\n' "$2" > "$d/down.sql"
}

# backup.sh's application-like database in DB: 4 tables x ROWS rows of generated text,
# numbers and timestamps, two indexes each (~400 MB of dump at 800,000).
bench_events_db() {  # DB ROWS
  local k
  fresh_db "$1"
  echo "generating 4 tables x $2 rows..."
  for k in 1 2 3 4; do
    psql -X -q -d "$1" <<SQL
CREATE TABLE events_$k (id bigserial PRIMARY KEY, account_id int NOT NULL, kind text NOT NULL,
  payload text NOT NULL, amount numeric(12,2), created_at timestamptz NOT NULL);
INSERT INTO events_$k (account_id, kind, payload, amount, created_at)
SELECT ((g::bigint * 7919) % 100000)::int, (ARRAY['signup','login','purchase','refund','update'])[1 + g % 5],
       'order ' || g || ' for account ' || (g::bigint * 7919) % 100000 || ': ' || md5(g::text),
       ((g::bigint * 37) % 100000) / 100.0, timestamptz '2026-01-01' + (g || ' seconds')::interval
FROM generate_series(1, $2) g;
CREATE INDEX ON events_$k (account_id);
CREATE INDEX ON events_$k (created_at);
SQL
  done
}
