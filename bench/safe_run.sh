#!/usr/bin/env bash
# Benchmark: the whole checklist on Pagila — backup, migrate one migration, verify row counts,
# restart the backend, probe its health — as ferry does it, as a bare bash script (the floor),
# and as an Ansible playbook (-c local, Debian's ansible). Then the time from a failed health
# probe to a proven rollback. Medians of RUNS runs.
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
if [ -n "${FERRY_BIN:-}" ]; then FERRY=$FERRY_BIN; else bench_build; fi  # FERRY_BIN: a build already made
command -v ansible-playbook >/dev/null || apt-get install -y -qq --no-install-recommends ansible >/dev/null
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/project/migrations/0001_loyalty" "$W/backups" "$W/backend"
chmod 777 "$W/backend"
PAGILA=${PAGILA:-$BENCH_ROOT/../shared/data/pagila}  # in a worktree: PAGILA=/work/shared/data/pagila
fresh_db app
psql -X -q -v ON_ERROR_STOP=1 -d app -f "$PAGILA/pagila-schema.sql" -f "$PAGILA/pagila-data.sql" >/dev/null
HPORT=$(free_port)
cat > "$W/backend/backend.env" <<ENV
PORT=$HPORT
PGHOST=127.0.0.1
PGPORT=$PGPORT
PGDATABASE=app
PGUSER=postgres
REQUIRE=customer.email
ENV
RESTART="$BENCH_ROOT/examples/backend/backend.sh restart $W/backend"
HEALTH="http://127.0.0.1:$HPORT/api/health"
$RESTART
echo "ALTER TABLE customer ADD COLUMN loyalty_points integer NOT NULL DEFAULT 0;" > "$W/project/migrations/0001_loyalty/up.sql"
echo "ALTER TABLE customer DROP COLUMN loyalty_points;" > "$W/project/migrations/0001_loyalty/down.sql"
cat > "$W/project/environments/bench.yaml" <<YAML
database: {name: app, user: postgres, host: 127.0.0.1, port: $PGPORT}
backup: {dir: $W/backups}
services:
  backend:
    restart: $RESTART
    health: {url: "$HEALTH", timeout: 10s, interval: 100ms}
YAML
cat > "$W/project/playbooks/run.yaml" <<'YAML'
stages: [bench]
steps:
  - backup
  - migrate
  - verify: {row_counts: all}
  - restart: backend
  - health: backend
YAML
COUNTS="SELECT string_agg(format('%s=%s', c.relname, (xpath('/row/n/text()', query_to_xml('select count(*) as n from public.' || quote_ident(c.relname), false, true, '')))[1]::text), ',' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
cat > "$W/floor.sh" <<SH
#!/usr/bin/env bash
# The checklist by hand, as fast as bash can do it.
set -euo pipefail
pg_dump -Fc -d app -f $W/floor.dump
pg_restore --list $W/floor.dump > /dev/null
before=\$(psql -X -At -d app -c "$COUNTS")
psql -X -q -v ON_ERROR_STOP=1 -1 -d app -f $W/project/migrations/0001_loyalty/up.sql
after=\$(psql -X -At -d app -c "$COUNTS")
[ "\$before" = "\$after" ]
$RESTART
for i in \$(seq 1 100); do curl -sf -o /dev/null $HEALTH && exit 0; sleep 0.1; done
exit 1
SH
cat > "$W/play.yml" <<YAML
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: backup
      shell: pg_dump -Fc -d app -f $W/ansible.dump && pg_restore --list $W/ansible.dump > /dev/null
    - name: counts before
      command: psql -X -At -d app -c "$COUNTS"
      register: before
    - name: migrate
      command: psql -X -q -v ON_ERROR_STOP=1 -1 -d app -f $W/project/migrations/0001_loyalty/up.sql
    - name: counts after
      command: psql -X -At -d app -c "$COUNTS"
      register: after
    - name: verify row counts
      assert: {that: "before.stdout == after.stdout"}
    - name: restart
      command: $RESTART
    - name: health
      uri: {url: "$HEALTH", status_code: 200}
      register: h
      until: h.status == 200
      retries: 100
      delay: 0.1
YAML
reset() {
  psql -X -q -d app -c "ALTER TABLE customer DROP COLUMN IF EXISTS loyalty_points" \
    -c "DO \$\$ BEGIN IF to_regclass('ferry.migrations') IS NOT NULL THEN DELETE FROM ferry.migrations; END IF; END \$\$"
  rm -rf "$W"/backups/* "$W"/*.dump
}
declare -A T
measure() {
  local name=$1; shift
  local times=()
  for _ in $(seq 1 "$RUNS"); do reset; times+=("$(time_ms "$@")"); done
  T[$name]=$(median "${times[@]}")
}
measure floor bash "$W/floor.sh"
measure ferry "$FERRY" -C "$W/project" --state-dir "$W/state" run run
measure ansible ansible-playbook -i localhost, "$W/play.yml"

# The same run unattended: a webhook (a local receiver answering 200) on every outcome,
# --metrics-file and -vv --log-file; interleaved with the plain run, so that load on the machine
# falls on both alike.
cp -r "$W/project" "$W/project-u"
RPORT=$(free_port)
cat >> "$W/project-u/environments/bench.yaml" <<YAML
notify:
  - {url: "http://127.0.0.1:$RPORT/hook", on: [success, failure]}
YAML
python3 - "$RPORT" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
PY
RECEIVER=$!
for _ in $(seq 1 50); do curl -s -o /dev/null -X POST "http://127.0.0.1:$RPORT/" && break; sleep 0.1; done
plain=(); unattended=()
for _ in $(seq 1 "$RUNS"); do
  reset; plain+=("$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" run run)")
  reset; unattended+=("$(time_ms "$FERRY" -C "$W/project-u" --state-dir "$W/state" -vv --log-file "$W/ferry.log" \
    --metrics-file "$W/ferry.prom" run run)")
done
kill "$RECEIVER"
T[plain]=$(median "${plain[@]}")
T[unattended]=$(median "${unattended[@]}")

# From the failed health probe to the proven rollback: a migration that breaks the backend.
reset
echo "ALTER TABLE customer RENAME COLUMN email TO email_address;" > "$W/project/migrations/0001_loyalty/up.sql"
echo "ALTER TABLE customer RENAME COLUMN email_address TO email;" > "$W/project/migrations/0001_loyalty/down.sql"
sed -i 's/timeout: 10s/timeout: 1s/' "$W/project/environments/bench.yaml"
rb=()
for _ in $(seq 1 "$RUNS"); do
  reset
  "$FERRY" -C "$W/project" --state-dir "$W/state" run run --report "$W/report.json" >/dev/null || true
  rb+=("$(python3 - "$W/report.json" <<'PY'
import json, sys
from datetime import datetime
ev = json.load(open(sys.argv[1]))["events"]
t = lambda e: datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%fZ")
failed = next(e for e in ev if e["event"] == "step_failed" and e["step"].startswith("health"))
proven = next(e for e in ev if e["event"] == "step_finished" and e["step"] == "proof")
print(int((t(proven) - t(failed)).total_seconds() * 1000))
PY
)")
done
echo
echo "ferry safe-run benchmark on Pagila (backup, migrate 1, verify row counts, restart, health); median of $RUNS, ms"
printf '  %-40s %6s ms\n' "bash script, same five commands (floor)" "${T[floor]}"
printf '  %-40s %6s ms  %s of the floor (target <= 1.10x)\n' "ferry run" "${T[ferry]}" "$(ratio "${T[ferry]}" "${T[floor]}")"
printf '  %-40s %6s ms  %s of the floor\n' "ansible-playbook -c local" "${T[ansible]}" "$(ratio "${T[ansible]}" "${T[floor]}")"
printf '  %-40s %6s ms  (down SQL, restart, health, fingerprint + row counts)\n' "failed health -> proven rollback" "$(median "${rb[@]}")"
printf '  %-40s %6s ms\n' "ferry run (interleaved pair: plain)" "${T[plain]}"
printf '  %-40s %6s ms  %s of plain (target < 1.05x)\n' "  + notify, metrics, -vv --log-file" "${T[unattended]}" "$(ratio "${T[unattended]}" "${T[plain]}")"
"$BENCH_ROOT/examples/backend/backend.sh" stop "$W/backend"
