#!/usr/bin/env bash
# ferry's demo, on this machine alone:
#   dev        a database in a local PostgreSQL cluster; the backend restarted locally
#   staging    "over SSH": sshd on loopback; the database through an SSH tunnel, pg_dump and
#              the backups on the far side, the backend restarted and probed through SSH
#   production "docker exec over SSH": PostgreSQL inside a container (podman), pg_dump run by
#              `docker exec` on the far side of SSH; protected, gated on staging
# Each has a real backend whose health depends on the schema. The demo promotes the example
# migrations through all three, shows status, then runs a migration that breaks the backend
# and shows the automatic, proven rollback. As non-root (no sshd, no podman), all three
# environments are local.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${FERRY_DEMO_PORT:-55432}
prod_port=${FERRY_DEMO_PROD_PORT:-55442}
ssh_port=${FERRY_DEMO_SSH_PORT:-47022}
# Outside the checkout: the SSH users must reach it even when the checkout is private.
state=${FERRY_DEMO_STATE:-/tmp/ferry-demo}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

bash scripts/install-deps.sh
if [ ! -x build/ferry ] || [ -n "${FERRY_REBUILD:-}" ] || find src CMakeLists.txt -newer build/ferry | grep -q .; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j2 --target ferry
fi
ferry_bin="$root/build/ferry"
remote=false
[ "$(id -u)" = 0 ] && command -v podman >/dev/null && remote=true

# --- clean up a previous demo
for env in dev staging production; do examples/backend/backend.sh stop "$state/backend-$env" 2>/dev/null || true; done
[ -d "$root/.demo" ] && { scripts/pg-cluster.sh stop "$root/.demo/pg" 2>/dev/null || true; rm -rf "$root/.demo"; }
[ -f "$state/ssh/sshd.pid" ] && kill "$(cat "$state/ssh/sshd.pid")" 2>/dev/null || true
command -v podman >/dev/null && podman rm -f -t 0 ferry-demo-pg >/dev/null 2>&1 || true
scripts/pg-cluster.sh stop "$state/pg" 2>/dev/null || true
rm -rf "$state"
mkdir -p "$state"
chmod 755 "$state"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$port" 3810{1,2,3} $($remote && echo "$prod_port $ssh_port"); do
  port_free "$p" || { echo "demo: port $p on 127.0.0.1 is in use (FERRY_DEMO_PORT, FERRY_DEMO_PROD_PORT and FERRY_DEMO_SSH_PORT choose others)" >&2; exit 1; }
done
echo "== demo state in $state"
echo "== PostgreSQL on 127.0.0.1:$port (dev, staging)"
scripts/pg-cluster.sh start "$state/pg" "$port"
psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE ferry_dev" -c "CREATE DATABASE ferry_staging"
if $remote; then
  echo "== PostgreSQL inside the container ferry-demo-pg on 127.0.0.1:$prod_port (production)"
  bash scripts/container-image.sh
  scripts/pg-cluster.sh init "$state/pg-prod"
  podman run -d --init --name ferry-demo-pg --user postgres -v /usr:/usr:ro -v /etc:/etc:ro \
    -v "$state/pg-prod:$state/pg-prod" --network host localhost/hostusr:1 \
    "$PGBIN/postgres" -D "$state/pg-prod/data" -p "$prod_port" -k /tmp -c listen_addresses=127.0.0.1 >/dev/null
  for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p "$prod_port" && break; sleep 0.1; done
  psql -X -q -h 127.0.0.1 -p "$prod_port" -U postgres -d postgres -c "CREATE DATABASE ferry_production"

  echo "== sshd on 127.0.0.1:$ssh_port (the staging and production 'hosts')"
  id ferrydemo >/dev/null 2>&1 || useradd -m -s /bin/sh -p '*' ferrydemo
  # uid 0 with a plain shell: the production deploy user may drive the container engine
  id ferrydemoroot >/dev/null 2>&1 || useradd -o -u 0 -g 0 -M -d /tmp -s /bin/sh -p '*' ferrydemoroot
  mkdir -p "$state/ssh" /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$state/ssh/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$state/ssh/id_ed25519"
  cp "$state/ssh/id_ed25519.pub" "$state/ssh/authorized_keys"; chmod 644 "$state/ssh/authorized_keys"
  cat > "$state/ssh/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $state/ssh/host_key
PidFile $state/ssh/sshd.pid
AuthorizedKeysFile $state/ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AllowTcpForwarding yes
CONF
  echo "[127.0.0.1]:$ssh_port $(cut -d' ' -f1,2 "$state/ssh/host_key.pub")" > "$state/ssh/known_hosts"
  /usr/sbin/sshd -f "$state/ssh/sshd_config" -E "$state/ssh/sshd.log"
fi

i=0
mkdir -p "$state/bin"
cp examples/backend/backend.sh examples/backend/backend.py "$state/bin/"
chmod 755 "$state/bin" "$state/bin/"*
for env in dev staging production; do
  i=$((i + 1))
  mkdir -p "$state/backend-$env" "$state/backups/$env"
  chmod 777 "$state/backend-$env" "$state/backups/$env"
  db_port=$port; [ "$env" = production ] && $remote && db_port=$prod_port
  cat > "$state/backend-$env/backend.env" <<ENV
PORT=3810$i
PGHOST=127.0.0.1
PGPORT=$db_port
PGDATABASE=ferry_$env
PGUSER=postgres
REQUIRE=tasks.title,tasks.due_date,tasks.priority_id
ENV
done
$remote || { echo "(not root, or no podman: staging and production are local too)"; }

# The demo's project lives in the state directory: the example playbooks and migrations are
# copied there and its environments written there, so the checkout is never modified.
project="$state/project"
mkdir -p "$project/environments"
cp -r playbooks migrations "$project/"
ferry() { "$ferry_bin" -C "$project" "$@"; }

restart() { echo "$state/bin/backend.sh restart $state/backend-$1"; }
health() {
  cat <<YAML
    health:
      url: http://127.0.0.1:3810$1/api/health
      expect_body: '"status": "ok"'
      timeout: 4s
      interval: 250ms
YAML
}
ssh_conn() {  # name user
  cat <<YAML
  $1:
    type: ssh
    host: 127.0.0.1
    port: $ssh_port
    user: $2
    identity: $state/ssh/id_ed25519
    known_hosts: $state/ssh/known_hosts
YAML
}

cat > "$project"/environments/dev.yaml <<YAML
# Written by scripts/demo.sh: the developer database, on this machine.
description: Developer database
database:
  name: ferry_dev
  user: postgres
  host: 127.0.0.1
  port: $port
backup:
  dir: $state/backups/dev
  keep: 3
services:
  backend:
    restart: $(restart dev)
$(health 1)
YAML

if $remote; then
  cat > "$project"/environments/staging.yaml <<YAML
# Written by scripts/demo.sh: staging, reached over SSH (ferrydemo@127.0.0.1:$ssh_port).
description: "Staging over SSH: gated on dev"
requires: [dev]
connections:
$(ssh_conn host ferrydemo)
database:
  name: ferry_staging
  user: postgres
  host: 127.0.0.1            # as seen from the SSH host
  port: $port
  tunnel: host               # libpq goes through the SSH session
  tools: host                # pg_dump runs on the SSH host
backup:
  on: host                   # the dump never crosses ferry's machine
  dir: $state/backups/staging
  keep: 3
services:
  backend:
    on: host
    restart: $(restart staging)
$(health 2)
      via: host
YAML
  cat > "$project"/environments/production.yaml <<YAML
# Written by scripts/demo.sh: production, PostgreSQL in the container ferry-demo-pg, reached
# by docker exec over SSH.
description: "Production: docker exec over SSH, gated on staging, protected"
protected: true
requires: [staging]
connections:
$(ssh_conn host ferrydemoroot)
  pg:
    type: docker
    container: ferry-demo-pg
    via: host
    engine: /usr/bin/docker
database:
  name: ferry_production
  user: postgres
  host: 127.0.0.1
  port: $prod_port
  tunnel: host
  tools: pg                  # pg_dump / psql by docker exec into the database's container
backup:
  on: host
  dir: $state/backups/production
  keep: 3
services:
  backend:
    on: host
    restart: $(restart production)
$(health 3)
      via: host
YAML
else
  for env in staging production; do
    n=2; req=dev; prot=false; [ "$env" = production ] && { n=3; req=staging; prot=true; }
    cat > "$project/environments/$env.yaml" <<YAML
# Written by scripts/demo.sh: a local stand-in for $env.
description: "$env (local)"
protected: $prot
requires: [$req]
database:
  name: ferry_$env
  user: postgres
  host: 127.0.0.1
  port: $port
backup:
  dir: $state/backups/$env
  keep: 3
services:
  backend:
    restart: $(restart "$env")
$(health "$n")
YAML
  done
fi

# The backends start before any migration: unhealthy until the schema they need exists.
"$state/bin/backend.sh" start "$state/backend-dev"
if $remote; then
  runuser -u ferrydemo -- "$state/bin/backend.sh" start "$state/backend-staging"
else
  "$state/bin/backend.sh" start "$state/backend-staging"
fi
"$state/bin/backend.sh" start "$state/backend-production"

echo
echo "== ferry validate"
ferry validate
echo
echo "== ferry plan promote"
ferry plan promote
echo
echo "== ferry run promote --yes   (production is protected: --yes confirms it)"
ferry run promote --yes
echo
echo "== ferry status"
ferry status
echo
echo "== a migration that breaks the backend (renames tasks.title): watch the rollback on dev"
cp -r examples/breaking/0005_rename_title "$project/migrations/"
set +e
ferry run hotfix --env dev
code=$?
echo "(exit code $code: 1 means failed, and the environment is proven as it was before)"
echo
echo "== and staging stays gated: dev never succeeded with it"
ferry run hotfix --env staging
code=$?
set -e
echo "(exit code $code: 3 means refused before changing anything)"
rm -rf "$project/migrations/0005_rename_title"
echo
echo "== ferry history dev"
ferry history dev
echo
echo "== ferry backups production"
ferry backups production
echo
echo "The demo's project (environments, playbooks, migrations, .ferry journals) is $project:"
echo "  build/ferry -C $project status"
echo "Everything is still running. Stop it with:"
echo "  scripts/demo-stop.sh"
