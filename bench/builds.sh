#!/usr/bin/env bash
# Two ferry builds against psql -1 on the 200 migrations of migrations.sh, alternating in each round
# (noise on a shared machine hits all three alike). BEFORE=/path/ferry AFTER=/path/ferry bash bench/builds.sh
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-7}
bench_cluster_start
W="$BENCH_DIR/work"; mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/project/migrations"
: > "$W/all.sql"
for i in $(seq 1 200); do
  v=$(printf '%04d' "$i")
  sql="CREATE TABLE t_$i (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now());"
  if (( i % 4 == 0 )); then j=$(( i / 2 )); sql="$sql
ALTER TABLE t_$j ADD COLUMN extra_$i text;
CREATE INDEX t_${j}_extra_${i}_idx ON t_$j (extra_$i);"; fi
  mkdir -p "$W/project/migrations/${v}_t_$i"
  printf '%s\n' "$sql" > "$W/project/migrations/${v}_t_$i/up.sql"
  printf 'DROP TABLE t_%s CASCADE;\n' "$i" > "$W/project/migrations/${v}_t_$i/down.sql"
  printf '%s\n' "$sql" >> "$W/all.sql"
done
echo "database: {name: bench, user: postgres, host: 127.0.0.1, port: $PGPORT}" > "$W/project/environments/bench.yaml"
printf 'stages: [bench]\nsteps:\n  - migrate: {lock_trace: never}\n' > "$W/project/playbooks/all.yaml"
P=(); B=(); A=()
one() {  # which: p, b or a
  fresh_db bench >/dev/null; sync
  case $1 in
    p) P+=($(time_ms psql -X -q -v ON_ERROR_STOP=1 -1 -d bench -f "$W/all.sql")) ;;
    b) B+=($(time_ms "$BEFORE" -C "$W/project" run all)) ;;
    a) A+=($(time_ms "$AFTER" -C "$W/project" run all)) ;;
  esac
}
order=(p b a)
for r in $(seq "$ROUNDS"); do  # the order rotates: none of the three always goes first
  for k in 0 1 2; do one "${order[$(( (r + k) % 3 ))]}"; done
done
echo "psql -1: ${P[*]} median $(median "${P[@]}")"
echo "BEFORE:  ${B[*]} median $(median "${B[@]}")"
echo "AFTER:   ${A[*]} median $(median "${A[@]}")"
# Each round's own ratio (its three commands ran seconds apart): the machine's speed drifts
# between rounds far more than within one, so the median of these is the steadier figure.
per_round() { local -n X=$1; local i out=(); for i in "${!P[@]}"; do out+=("$(awk -v a="${X[$i]}" -v b="${P[$i]}" 'BEGIN { printf "%.3f", a / b }')"); done; echo "${out[*]}"; }
rb=$(per_round B); ra=$(per_round A)
echo "BEFORE / psql -1 per round: $rb; median $(median $rb)"
echo "AFTER  / psql -1 per round: $ra; median $(median $ra)"
