#!/usr/bin/env bash
# Benchmark: a fleet of FLEET_N databases (default 1000) on one local cluster, each migrated by a
# three-migration workload (a table, a column, an index) with a backup first and a row count after.
# Compared, interleaved round by round so that load on the machine falls on all alike:
#   floor    a shell script per database (pg_dump -Fc, psql -1 -f of the SQL, a row count) through
#            `xargs -P PARALLEL`: what users do today;
#   ferry    one `ferry run` over the fleet, `fleet: {parallel: PARALLEL}` (backup, migrate, verify
#            row counts; ferry also locks, records the ledger and proves each member);
#   ferry-1  the same with `fleet: {parallel: 1}`, at SMALL_N only (it is serial: N=1000 is too slow).
# At two sizes (FLEET_N and SMALL_N, default FLEET_N/10) ferry's peak RSS is printed: the fleet
# parent's own (VmHWM from /proc, sampled every 100 ms) and the largest of its process tree
# (/usr/bin/time's maximum, a pg_dump or a member ferry), to show the parent's memory flat in N.
# Where a member's time goes (medians over the members of the last parallel run at SMALL_N, from
# their journals' timestamps and the fleet record's durations): the child's start (process,
# project, connect, lock, ledger, baseline: until its first step), each step, and its end (proof,
# ledger, exit; between steps too). Peak connections on the server (pg_stat_activity by application_name
# ferry/RUN_ID/DATABASE, sampled every 50 ms) are printed beside it.
# Times are printed, never asserted. Knobs: FLEET_N, SMALL_N, PARALLEL (8), RUNS (1); FERRY_BIN_B: a
# second build, run `parallel: PARALLEL` in every round right after the first (A/B on one cluster).
source "$(dirname "$0")/lib.sh"
FLEET_N=${FLEET_N:-1000}
SMALL_N=${SMALL_N:-$((FLEET_N / 10))}
PARALLEL=${PARALLEL:-8}
RUNS=${RUNS:-1}
((SMALL_N >= 1 && SMALL_N <= FLEET_N)) || { echo "SMALL_N must be 1..FLEET_N" >&2; exit 64; }
[ -n "${FERRY_BIN:-}" ] || bench_build  # FERRY_BIN: an already built binary
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/project/migrations" "$W/backups" "$W/floor"

# --- the fleet: one template with a little data, FLEET_N copies of it
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE fleet_tpl"
psql -X -q -v ON_ERROR_STOP=1 -d fleet_tpl \
  -c "CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL, created_at timestamptz DEFAULT now())" \
  -c "INSERT INTO accounts (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 1000) g"
for i in $(seq 1 "$FLEET_N"); do printf 'tenant_%04d\n' "$i"; done > "$W/all-names.txt"
t0=$(now_ms)
sed 's/.*/CREATE DATABASE & TEMPLATE fleet_tpl STRATEGY FILE_COPY;/' "$W/all-names.txt" |
  psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null
echo "created $FLEET_N databases in $(($(now_ms) - t0)) ms"

# --- the workload: three migrations, as ferry migrations and as one SQL file for the floor
write_mig() {  # DIR UP DOWN
  mkdir -p "$W/project/migrations/$1"
  printf '%s\n' "$2" > "$W/project/migrations/$1/up.sql"
  printf '%s\n' "$3" > "$W/project/migrations/$1/down.sql"
  printf '%s\n' "$2" >> "$W/all.sql"
}
: > "$W/all.sql"
write_mig 0001_orders "CREATE TABLE orders (id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, total numeric(12,2) NOT NULL DEFAULT 0);" \
  "DROP TABLE orders;"
write_mig 0002_accounts_note "ALTER TABLE accounts ADD COLUMN note text;" "ALTER TABLE accounts DROP COLUMN note;"
write_mig 0003_orders_account_idx "CREATE INDEX orders_account_idx ON orders (account_id);" "DROP INDEX orders_account_idx;"

cat > "$W/floor.sh" <<'SH'
#!/usr/bin/env bash
# One database by hand (its name is $1, an argument: never spliced into shell text).
set -euo pipefail
pg_dump -Fc -d "$1" -f "$FLOOR_DIR/$1.dump"
psql -X -q -v ON_ERROR_STOP=1 -1 -d "$1" -f "$FLOOR_SQL"
psql -X -At -d "$1" -c 'SELECT count(*) FROM accounts' >/dev/null
SH
export FLOOR_DIR="$W/floor" FLOOR_SQL="$W/all.sql"
floor() { xargs -P "$PARALLEL" -n 1 bash "$W/floor.sh" < "$W/names.txt"; }

cat > "$W/project/environments/fleet.yaml" <<YAML
database:
  names_file: $W/names.txt
  user: postgres
  host: 127.0.0.1
  port: $PGPORT
backup: {dir: $W/backups}
YAML
for p in "$PARALLEL" 1; do
  cat > "$W/project/playbooks/p$p.yaml" <<YAML
migrations: migrations
stages: [fleet]
fleet: {parallel: $p}
steps:
  - backup
  - migrate
  - verify: {row_counts: all}
YAML
done

# --- between runs: the first N databases back as they were, and no files left
use_names() { head -n "$1" "$W/all-names.txt" > "$W/names.txt"; }
reset() {
  xargs -P 4 -I{} psql -X -q -d {} -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS orders" \
    -c "ALTER TABLE accounts DROP COLUMN IF EXISTS note" -c "DROP SCHEMA IF EXISTS ferry CASCADE" < "$W/names.txt"
  rm -rf "${W:?}"/backups/* "$W"/floor/* "$W/state"
  psql -X -q -d postgres -c CHECKPOINT
}

# The member journals of the last run: median ms of each phase (see the header).
breakdown() {
  python3 - "$W/state" <<'PY'
import glob, json, os, statistics, sys
from datetime import datetime
state = sys.argv[1]
ts = lambda e: datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000
rec = json.load(open(max(glob.glob(os.path.join(state, "fleets", "*.json")), key=os.path.getmtime)))
took = {d["run_id"]: d["duration_ms"] for d in rec["databases"] if d.get("run_id")}
phases = {}
for path in glob.glob(os.path.join(state, "runs", "*.jsonl")):
    ev = [json.loads(l) for l in open(path)]
    rid = next((e["run_id"] for e in ev if e["event"] == "run_started"), None)
    if rid not in took: continue
    t0, t1 = ts(ev[0]), ts(ev[-1])
    steps = [e for e in ev if e["event"] in ("step_started", "step_finished")]
    if not steps: continue
    add = lambda k, v: phases.setdefault(k, []).append(v)
    lock = next((ts(e) for e in steps if e["step"] == "lock"), t0)
    first = next((ts(e) for e in steps if e["event"] == "step_started"), lock)
    add("0 process start + exit (outside the journal)", took[rid] - (t1 - t0))
    add("1 run_started -> lock held (connect, lock, ferry's schema)", lock - t0)
    add("2 lock held -> first step (baseline, plan, preflight)", first - lock)
    for e in ev:
        if e["event"] == "step_finished" and e["step"] != "lock":
            add("3 step " + e["step"].split(" ")[0], e["duration_ms"])
    add("4 last step -> run_finished (proof, ledger)", t1 - ts(steps[-1]))
    add("5 whole member", took[rid])
for k in sorted(phases):
    print("  %-62s %7.0f ms (median of %d)" % (k[2:], statistics.median(phases[k]), len(phases[k])))
PY
}
# Peak of ferry/ sessions on the server at once, sampled until the file STOP exists.
watch_sessions() {
  local peak=0 v
  while [ ! -e "$W/stop-watch" ]; do
    v=$(psql -X -At -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'ferry/%'" 2>/dev/null || echo 0)
    ((v > peak)) && peak=$v
    sleep 0.05
  done
  echo "$peak" > "$W/peak-sessions"
}

# ferry_run PLAYBOOK [BINARY]: prints "ms parent_peak_kb tree_peak_kb"
ferry_run() {
  local t0 t1 tp child hwm=0 v bin=${2:-$FERRY}
  t0=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$W/time.out" "$bin" -C "$W/project" --state-dir "$W/state" run "$1" --yes \
    > "$W/ferry.out" 2>&1 &
  tp=$!
  while kill -0 "$tp" 2>/dev/null; do
    child=${child:-$(pgrep -P "$tp" || true)}
    if [ -n "$child" ]; then
      v=$(awk '/^VmHWM:/ {print $2}' "/proc/$child/status" 2>/dev/null || true)
      [ -n "$v" ] && ((v > hwm)) && hwm=$v
    fi
    sleep 0.1
  done
  wait "$tp" || { echo "ferry run $1 failed:" >&2; tail -n 30 "$W/ferry.out" >&2; exit 1; }
  t1=$(date +%s%N)
  echo "$(((t1 - t0) / 1000000)) $hwm $(tail -n 1 "$W/time.out")"
}

use_names 1; reset
FERRY_OK=1
if ! "$FERRY" -C "$W/project" validate > "$W/validate.out" 2>&1; then
  FERRY_OK=0
  echo "ferry does not run fleets in this build (ferry validate: $(head -n 3 "$W/validate.out" | tr '\n' ' ')): floor only"
fi

declare -A T RSS TREE SESS
bench_size() {  # N WITH_SERIAL
  local n=$1 serial=$2 f=() p=() s=() b=() out wpid
  use_names "$n"
  for _ in $(seq 1 "$RUNS"); do
    reset; f+=("$(time_ms floor)")
    if ((FERRY_OK)); then
      reset; rm -f "$W/stop-watch"; watch_sessions & wpid=$!
      out=$(ferry_run "p$PARALLEL"); p+=("${out%% *}")
      touch "$W/stop-watch"; wait "$wpid"; SESS[$n]=$(cat "$W/peak-sessions")
      ((n == SMALL_N)) && breakdown > "$W/breakdown.txt"
      RSS[$n]=$(echo "$out" | cut -d' ' -f2); TREE[$n]=$(echo "$out" | cut -d' ' -f3)
      if [ -n "${FERRY_BIN_B:-}" ]; then reset; out=$(ferry_run "p$PARALLEL" "$FERRY_BIN_B"); b+=("${out%% *}"); fi
      if ((serial)); then reset; out=$(ferry_run p1); s+=("${out%% *}"); fi
    fi
  done
  T[floor$n]=$(median "${f[@]}")
  ((FERRY_OK)) || return 0
  T[ferry$n]=$(median "${p[@]}")
  ((serial)) && T[serial$n]=$(median "${s[@]}")
  [ -n "${FERRY_BIN_B:-}" ] && T[b$n]=$(median "${b[@]}")
  return 0
}
bench_size "$SMALL_N" 1
((FLEET_N != SMALL_N)) && bench_size "$FLEET_N" 0

echo
echo "== fleet: backup + 3 migrations + row count per database, parallel $PARALLEL, RUNS=$RUNS (medians, ms)"
SIZES=("$SMALL_N"); ((FLEET_N != SMALL_N)) && SIZES+=("$FLEET_N")
for n in "${SIZES[@]}"; do
  [ -n "${T[floor$n]:-}" ] || continue
  printf 'N=%-5s floor (xargs -P %s)      %8s ms  (%s ms per database)\n' "$n" "$PARALLEL" "${T[floor$n]}" \
    "$(awk -v t="${T[floor$n]}" -v n="$n" 'BEGIN { printf "%.1f", t / n }')"
  ((FERRY_OK)) || continue
  printf 'N=%-5s ferry parallel %-2s        %8s ms  %s of the floor; peak RSS: parent %s kB, largest in tree %s kB\n' \
    "$n" "$PARALLEL" "${T[ferry$n]}" "$(ratio "${T[ferry$n]}" "${T[floor$n]}")" "${RSS[$n]}" "${TREE[$n]}"
  [ -n "${T[b$n]:-}" ] && printf 'N=%-5s B: %s parallel %-2s  %8s ms  %s of the floor, %s of A\n' \
    "$n" "$FERRY_BIN_B" "$PARALLEL" "${T[b$n]}" "$(ratio "${T[b$n]}" "${T[floor$n]}")" "$(ratio "${T[b$n]}" "${T[ferry$n]}")"
  [ -n "${T[serial$n]:-}" ] && printf 'N=%-5s ferry parallel 1          %8s ms  %s of the floor, %s of parallel %s\n' \
    "$n" "${T[serial$n]}" "$(ratio "${T[serial$n]}" "${T[floor$n]}")" "$(ratio "${T[serial$n]}" "${T[ferry$n]}")" "$PARALLEL"
done
if ((FERRY_OK)); then
  for n in "${SIZES[@]}"; do
    [ -n "${SESS[$n]:-}" ] && echo "N=$n peak ferry/ sessions on the server at once: ${SESS[$n]} (parallel $PARALLEL)"
  done
  echo "where a member's time goes, N=$SMALL_N parallel $PARALLEL:"
  cat "$W/breakdown.txt"
fi
if ((FERRY_OK)) && ((FLEET_N != SMALL_N)); then
  echo "parent peak RSS N=$FLEET_N / N=$SMALL_N: $(ratio "${RSS[$FLEET_N]}" "${RSS[$SMALL_N]}")"
fi
