#!/usr/bin/env bash
# Benchmark over SSH (sshd on loopback, a test user with a plain shell): SSH handshakes per run
# (from sshd's own log), the median overhead of one command on the open session (journal
# durations of 50 `run: true` steps over ssh against the same steps run locally), and a
# backup streamed over SSH into ferry's machine against OpenSSH `ssh host pg_dump -Fc > file`.
# Needs root (sshd, a test user). SIZE_ROWS scales the database (default 1,000,000 rows).
source "$(dirname "$0")/lib.sh"
ROWS=${SIZE_ROWS:-1000000}
[ "$(id -u)" = 0 ] || { echo "bench/ssh.sh needs root"; exit 1; }
bench_build
bench_cluster_start
W="$BENCH_DIR/work"
mkdir -p "$W/project/environments" "$W/project/playbooks" "$W/ssh" "$W/backups" /run/sshd
chmod 755 "$W" "$W/ssh"; chmod 777 "$W/backups"
id ferrytest >/dev/null 2>&1 || useradd -m -s /bin/sh -p '*' ferrytest
SSH_PORT=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/id"
cp "$W/ssh/id.pub" "$W/ssh/authorized_keys"; chmod 644 "$W/ssh/authorized_keys"
printf 'ListenAddress 127.0.0.1\nPort %s\nHostKey %s\nPidFile %s\nAuthorizedKeysFile %s\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nAllowTcpForwarding yes\nLogLevel INFO\n' \
  "$SSH_PORT" "$W/ssh/host_key" "$W/ssh/sshd.pid" "$W/ssh/authorized_keys" > "$W/ssh/sshd_config"
echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$W/ssh/host_key.pub")" > "$W/ssh/known_hosts"
/usr/sbin/sshd -f "$W/ssh/sshd_config" -E "$W/ssh/sshd.log"
trap 'kill $(cat "$W/ssh/sshd.pid") 2>/dev/null; bench_cluster_stop' EXIT
sleep 0.3

fresh_db app
psql -X -q -d app <<SQL
CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL, payload text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO events (account_id, payload, created_at)
SELECT (g::bigint * 7919 % 100000)::int, 'order ' || g || ': ' || md5(g::text), timestamptz '2026-01-01' + (g || ' seconds')::interval
FROM generate_series(1, $ROWS) g;
CREATE INDEX ON events (account_id);
SQL

conn() {
  cat <<YAML
connections:
  host:
    type: ssh
    host: 127.0.0.1
    port: $SSH_PORT
    user: ferrytest
    identity: $W/ssh/id
    known_hosts: $W/ssh/known_hosts
YAML
}
{ conn; cat <<YAML
database: {name: app, user: postgres, host: 127.0.0.1, port: $PGPORT, tunnel: host, tools: host}
backup: {on: host, dir: $W/backups/remote}
YAML
} > "$W/project/environments/remote.yaml"
{ conn; cat <<YAML
database: {name: app, user: postgres, host: 127.0.0.1, port: $PGPORT, tunnel: host, tools: host}
backup: {dir: $W/backups/streamed}
YAML
} > "$W/project/environments/streamed.yaml"

# 1. handshakes per run: a run that tunnels libpq, backs up on the host, and runs commands there
{ echo "stages: [remote]"; echo "steps:"; echo "  - backup"; echo "  - migrate"
  for i in $(seq 1 50); do echo "  - run: {on: host, command: 'true'}"; done; } > "$W/project/playbooks/ssh.yaml"
{ echo "stages: [remote]"; echo "steps:"
  for i in $(seq 1 50); do echo "  - run: {on: local, command: 'true'}"; done; } > "$W/project/playbooks/local.yaml"
before=$(grep -c "Accepted publickey" "$W/ssh/sshd.log" || true)
"$FERRY" -C "$W/project" --state-dir "$W/state" run ssh --report "$W/ssh-report.json" >/dev/null
after=$(grep -c "Accepted publickey" "$W/ssh/sshd.log" || true)
"$FERRY" -C "$W/project" --state-dir "$W/state" run local --report "$W/local-report.json" >/dev/null
med() { python3 - "$1" <<'PY'
import json, sys, statistics
ev = json.load(open(sys.argv[1]))["events"]
print(statistics.median([e["duration_ms"] for e in ev if e["event"] == "step_finished" and e["step"].startswith("run ")]))
PY
}
ssh_cmd=$(med "$W/ssh-report.json")
local_cmd=$(med "$W/local-report.json")

# 3. streamed backup: pg_dump on the host, the file on ferry's machine, against OpenSSH.
ssh_opts=(-i "$W/ssh/id" -p "$SSH_PORT" -o UserKnownHostsFile="$W/ssh/known_hosts" -o BatchMode=yes)
t_ossh=$(time_ms sh -c "ssh ${ssh_opts[*]} ferrytest@127.0.0.1 'pg_dump -Fc -h 127.0.0.1 -p $PGPORT -U postgres -d app' > $W/openssh.dump")
t_ossh_raw=$(time_ms sh -c "ssh ${ssh_opts[*]} ferrytest@127.0.0.1 'pg_dump -Fc -Z0 -h 127.0.0.1 -p $PGPORT -U postgres -d app' > $W/openssh-raw.dump")
raw_size=$(stat -c %s "$W/openssh-raw.dump")
t_stream=$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" backup streamed)
t_remote=$(time_ms "$FERRY" -C "$W/project" --state-dir "$W/state" backup remote)
size=$(stat -c %s "$W/openssh.dump")
echo
echo "ferry over SSH (sshd on loopback)"
printf '  %-52s %s\n' "SSH handshakes in one run (tunnel, backup, 50 commands)" "$((after - before)) (target: 1 per host)"
printf '  %-52s %s ms (local: %s ms; target < 5 ms overhead)\n' "median duration of one 'true' command over ssh" "$ssh_cmd" "$local_cmd"
printf '  %-52s %6s ms  (%s MB)\n' "ssh host pg_dump -Fc > file (OpenSSH)" "$t_ossh" "$((size / 1048576))"
printf '  %-52s %6s ms  (%s MB: the same bytes ferry carries)\n' "ssh host pg_dump -Fc -Z0 > file (OpenSSH)" "$t_ossh_raw" "$((raw_size / 1048576))"
printf '  %-52s %6s ms  %s of OpenSSH -Fc time, %s of OpenSSH -Z0 time (target: time <= 1.11x)\n' "ferry backup, streamed over SSH into this machine" "$t_stream" "$(ratio "$t_stream" "$t_ossh")" "$(ratio "$t_stream" "$t_ossh_raw")"
printf '  %-52s %6s ms  %s\n' "ferry backup, kept on the host (never crosses)" "$t_remote" "$(ratio "$t_remote" "$t_ossh")"
