#!/usr/bin/env bash
# Benchmark: a verified backup of an application-like database (~400 MB of generated text,
# numbers and timestamps, two indexes per table), against plain `pg_dump -Fc` (zlib-bound) and
# `pg_dump -Fc -Z0`; its compression ratio; ferry's peak RSS while backing up; and the restore
# (`ferry rollback --backup`: one transaction, and `backup.restore: swap`, pg_restore -j (its
# default restore_jobs: the host's CPUs; or RESTORE_JOBS) into a new database, proven, swapped in; the replaced database
# dropped in the background, timed apart) against `pg_restore -j2` into an empty database.
# SIZE_ROWS scales the data (default 800,000 rows per table, 4 tables: a ~400 MB dump). The swap
# restore's phases (decompression, pg_restore, proof, swap) are printed from its -vv log, and the
# load average before and after (the machine may be shared).
source "$(dirname "$0")/lib.sh"
ROWS=${SIZE_ROWS:-800000}
bench_build
load_before=$(uptime | sed 's/.*load average: //')
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/dumps"
bench_events_db app "$ROWS"
db_size=$(psql -X -At -d app -c "SELECT pg_database_size('app')")
table_bytes=$(psql -X -At -d app -c "SELECT sum(pg_table_size(c.oid)) FROM pg_class c WHERE relname LIKE 'events_%' AND relkind = 'r'")
cat > "$W/project/environments/bench.yaml" <<YAML
database: {name: app, user: postgres, host: 127.0.0.1, port: $PGPORT}
backup: {dir: $W/backups}
YAML

t_fc=$(time_ms pg_dump -Fc -d app -f "$W/dumps/plain.dump")
t_z0=$(time_ms pg_dump -Fc -Z0 -d app -f "$W/dumps/z0.dump")
size_fc=$(stat -c %s "$W/dumps/plain.dump")
size_z0=$(stat -c %s "$W/dumps/z0.dump")
/usr/bin/time -f '%M' -o "$W/rss" "$FERRY" -C "$W/project" --state-dir "$W/state" backup bench >/dev/null
t_ferry=$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" backup bench)
rss_kb=$(cat "$W/rss")
file=$(ls -t "$W"/backups/*.dump.zst | head -n 1)
size_ferry=$(stat -c %s "$file")

# Restore: pg_restore -j2 of the -Z0 dump into an empty database, against ferry's restore.
fresh_db restored
t_pgr=$(time_ms pg_restore -j2 -d restored "$W/dumps/z0.dump")
# and of the zlib dump a by-hand checklist has (pg_dump -Fc): its workers decompress as they load
fresh_db restored
t_pgr_fc=$(time_ms pg_restore -j2 -d restored "$W/dumps/plain.dump")
psql -X -q -d postgres -c "DROP DATABASE restored"
rm -f "$W/dumps/plain.dump"
psql -X -q -d app -c "DROP TABLE events_4"
t_rest=$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" rollback bench --backup latest --no-restart)
JOBS=${RESTORE_JOBS:-$(nproc)}
printf 'database: {name: app, user: postgres, host: 127.0.0.1, port: %s}\nbackup: {dir: %s, restore: swap%s}\n' \
  "$PGPORT" "$W/backups" "${RESTORE_JOBS:+, restore_jobs: $RESTORE_JOBS}" > "$W/project/environments/bench.yaml"
psql -X -q -d app -c "DROP TABLE events_4" -c "CHECKPOINT"
t_swap=$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" -vv --log-file "$W/swap.log" rollback bench --backup latest --no-restart)
# The replaced database is dropped by a detached psql after ferry exits: how long until it is gone.
d0=$(now_ms)
until [ "$(psql -X -At -d postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'ferry\_replaced\_%'")" = 0 ]; do
  sleep 0.05
done
t_drop=$(($(now_ms) - d0))
[ "$(psql -X -At -d app -c "SELECT count(*) FROM events_4")" = "$ROWS" ] || { echo "swap restore lost rows" >&2; exit 1; }
echo
echo "ferry backup benchmark: database $((db_size / 1048576)) MB ($((table_bytes / 1048576)) MB of tables), uncompressed dump $((size_z0 / 1048576)) MB"
printf '  %-48s %7s ms  %6s MB\n' "pg_dump -Fc (zlib, the usual way)" "$t_fc" "$((size_fc / 1048576))"
printf '  %-48s %7s ms  %6s MB\n' "pg_dump -Fc -Z0" "$t_z0" "$((size_z0 / 1048576))"
printf '  %-48s %7s ms  %6s MB  %s of pg_dump -Fc (target <= 0.35x), ratio %s:1\n' "ferry backup (verified, zstd, sha256)" "$t_ferry" \
  "$((size_ferry / 1048576))" "$(ratio "$t_ferry" "$t_fc")" "$(awk -v a="$size_z0" -v b="$size_ferry" 'BEGIN{printf "%.1f", a/b}')"
printf '  %-48s %7s KB\n' "ferry peak RSS during the backup" "$rss_kb"
printf '  %-48s %7s ms\n' "pg_restore -j2 into an empty database" "$t_pgr"
printf '  %-48s %7s ms  %s of pg_restore -j2\n' "ferry rollback --backup (one transaction)" "$t_rest" "$(ratio "$t_rest" "$t_pgr")"
printf '  %-48s %7s ms\n' "pg_restore -j2 of the pg_dump -Fc (zlib) file" "$t_pgr_fc"
printf '  %-48s %7s ms  %s of pg_restore -j2 (target <= 1.0x)\n' "ferry rollback --backup (restore: swap, -j$JOBS)" "$t_swap" "$(ratio "$t_swap" "$t_pgr")"
printf '  %-48s %7s ms  %s of pg_restore -j2 of the -Fc file\n' "  the same swap restore" "$t_swap" "$(ratio "$t_swap" "$t_pgr_fc")"
printf '  %-48s %7s ms  after ferry exited\n' "the replaced database dropped in the background" "$t_drop"
echo "  the swap restore's phases (its -vv log):"
grep -o 'swap restore: .*' "$W/swap.log" | sed 's/^swap restore: /    /'
echo "  load average: before $load_before; after $(uptime | sed 's/.*load average: //')"
