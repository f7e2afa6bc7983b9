#!/usr/bin/env bash
# The swap restore alone, interleaved round by round against its floor, on backup.sh's database
# (4 tables x SIZE_ROWS rows, two indexes each; ~400 MB of dump at the default 800,000):
#   pg_restore -j2 of `pg_dump -Fc -Z0` into an empty database   (the strict floor)
#   pg_restore -j2 of `pg_dump -Fc` (zlib)                       (what a by-hand checklist restores)
#   ferry rollback --backup ID (backup.restore: swap), FERRY_BIN  (and FERRY_BIN_B right after it)
# Every round restores the same ferry backup; the replaced database's background drop is waited
# for (untimed) before the next command, each restored database is dropped (the floor's) or
# vacuumed (the swapped-in one) untimed so that its autovacuum does not run during the next
# command, and dirty pages are written out (CHECKPOINT, sync) before each timed one. Prints medians of ROUNDS (default 5) and ratios, and
# the swap's phases from the last round's -vv log.
source "$(dirname "$0")/lib.sh"
ROWS=${SIZE_ROWS:-800000}
ROUNDS=${ROUNDS:-5}
[ -n "${FERRY_BIN:-}" ] || bench_build
FERRY_B=${FERRY_BIN_B:-}
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/dumps"
bench_events_db app "$ROWS"
psql -X -q -d app -c "VACUUM (ANALYZE)"  # settled, as a database in service is
printf 'database: {name: app, user: postgres, host: 127.0.0.1, port: %s}\nbackup: {dir: %s, restore: swap}\n' \
  "$PGPORT" "$W/backups" > "$W/project/environments/bench.yaml"
pg_dump -Fc -Z0 -d app -f "$W/dumps/z0.dump"
pg_dump -Fc -d app -f "$W/dumps/fc.dump"
"$FERRY" -C "$W/project" --state-dir "$W/state" backup bench >/dev/null
id=$("$FERRY" -C "$W/project" --state-dir "$W/state" backups bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

wait_dropped() {
  until [ "$(psql -X -At -d postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'ferry\_replaced\_%'")" = 0 ]; do
    sleep 0.05
  done
  psql -X -q -d postgres -c CHECKPOINT
}
# Every timed command starts with the server's and the kernel's dirty pages written out: none
# pays for the writes of the one before it.
settle() { psql -X -q -d postgres -c CHECKPOINT; sync; }
# A restored database's autovacuum (3.2M fresh rows: VACUUM and ANALYZE of every table) would run
# during the next timed command: the floor's copy is dropped and the swapped-in one vacuumed
# before anything else is timed.
bare() {
  local t
  fresh_db restored; settle; t=$(time_ms pg_restore -j2 -d restored "$1")
  psql -X -q -d postgres -c "DROP DATABASE restored WITH (FORCE)"
  echo "$t"
}
swap() {
  local t
  settle
  rm -f "$W/swap-$2.log"
  t=$(time_ms "$1" -C "$W/project" --state-dir "$W/state" -vv --log-file "$W/swap-$2.log" rollback bench --backup "$id" --no-restart)
  # this round's decompression and pg_restore phases, beside its floor (the machine drifts)
  echo "$2 $t $(grep -o 'decompress and sha256 check [0-9]*' "$W/swap-$2.log" | grep -o '[0-9]*$') $(grep -o 'pg_restore -j[0-9]* (of [0-9]* CPUs) [0-9]*' "$W/swap-$2.log" | grep -o '[0-9]*$')" >> "$W/phases"
  wait_dropped
  psql -X -q -d app -c "VACUUM (ANALYZE)"
  echo "$t"
}
echo "load before: $(uptime)"
Z=(); F=(); A=(); B=()
for _ in $(seq 1 "$ROUNDS"); do
  Z+=("$(bare "$W/dumps/z0.dump")")
  echo "floor ${Z[-1]}" >> "$W/phases"
  F+=("$(bare "$W/dumps/fc.dump")")
  A+=("$(swap "$FERRY" a)")
  [ -n "$FERRY_B" ] && B+=("$(swap "$FERRY_B" b)")
done
echo "load after:  $(uptime)"
[ "$(psql -X -At -d app -c "SELECT count(*) FROM events_4")" = "$ROWS" ] || { echo "swap restore lost rows" >&2; exit 1; }
mz=$(median "${Z[@]}"); mf=$(median "${F[@]}"); ma=$(median "${A[@]}")
echo "swap restore of a $(( $(stat -c %s "$W/dumps/z0.dump") / 1048576 )) MB dump (medians of $ROUNDS interleaved rounds, ms)"
printf '  %-44s %6s ms   rounds: %s\n' "pg_restore -j2 of the -Z0 dump (floor)" "$mz" "${Z[*]}"
printf '  %-44s %6s ms   rounds: %s\n' "pg_restore -j2 of the pg_dump -Fc file" "$mf" "${F[*]}"
printf '  %-44s %6s ms   %s of the floor, %s of -Fc (target <= 1.0x); rounds: %s\n' "ferry swap restore ($FERRY)" \
  "$ma" "$(ratio "$ma" "$mz")" "$(ratio "$ma" "$mf")" "${A[*]}"
if [ -n "$FERRY_B" ]; then
  mb=$(median "${B[@]}")
  printf '  %-44s %6s ms   %s of the floor, %s of -Fc; rounds: %s\n' "ferry swap restore ($FERRY_B)" "$mb" \
    "$(ratio "$mb" "$mz")" "$(ratio "$mb" "$mf")" "${B[*]}"
fi
echo "  each round: the floor, then each swap's total, decompression and pg_restore phase (ms):"
awk '$1 == "floor" { if (line) print line; line = "    floor " $2 } $1 != "floor" { line = line ";  " $1 ": " $2 " (decompress " $3 ", pg_restore " $4 ")" } END { print line }' "$W/phases"
for l in "$W"/swap-*.log; do
  echo "  phases of the last round, $(basename "$l" .log):"
  grep -o 'swap restore: .*' "$l" | sed 's/^swap restore: /    /'
done
