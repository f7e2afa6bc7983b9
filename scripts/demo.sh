#!/usr/bin/env bash
# ferry's demo: three environments (dev, staging, production) as three databases in one local
# PostgreSQL cluster on loopback, each with a real backend service whose health depends on
# the schema. It promotes the example migrations through all three stages, shows status,
# then runs a migration that breaks the backend and shows the automatic, proven rollback.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${FERRY_DEMO_PORT:-55432}
state="$root/.demo"

bash scripts/install-deps.sh
if [ ! -x build/ferry ] || [ -n "${FERRY_REBUILD:-}" ] || find src CMakeLists.txt -newer build/ferry | grep -q .; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j2 --target ferry
fi
ferry="$root/build/ferry"

echo "== starting PostgreSQL on 127.0.0.1:$port (data in .demo/pg)"
scripts/pg-cluster.sh stop "$state/pg" 2>/dev/null || true
for env in dev staging production; do examples/backend/backend.sh stop "$state/backend-$env" 2>/dev/null || true; done
rm -rf "$state"
mkdir -p "$state"
scripts/pg-cluster.sh start "$state/pg" "$port"

i=0
for env in dev staging production; do
  i=$((i + 1))
  psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE ferry_$env"
  mkdir -p "$state/backend-$env"
  cat > "$state/backend-$env/backend.env" <<ENV
PORT=3810$i
PGHOST=127.0.0.1
PGPORT=$port
PGDATABASE=ferry_$env
PGUSER=postgres
REQUIRE=tasks.title,tasks.due_date,tasks.priority_id
ENV
  case $env in
    dev) protected=false; requires="[]"; desc="Developer database" ;;
    staging) protected=false; requires="[dev]"; desc="Staging: gated on dev" ;;
    production) protected=true; requires="[staging]"; desc="Production: gated on staging, protected" ;;
  esac
  cat > "environments/$env.yaml" <<YAML
# Written by scripts/demo.sh: a local stand-in for a real $env stack.
description: "$desc"
protected: $protected
requires: $requires
database:
  name: ferry_$env
  user: postgres
  host: 127.0.0.1
  port: $port
backup:
  dir: .demo/backups/$env
  keep: 3
services:
  backend:
    restart: examples/backend/backend.sh restart .demo/backend-$env
    health:
      url: http://127.0.0.1:3810$i/api/health
      expect_body: '"status": "ok"'
      timeout: 10s
      interval: 250ms
YAML
done

echo
echo "== ferry validate"
"$ferry" validate
echo
echo "== ferry plan promote"
"$ferry" plan promote
echo
echo "== ferry run promote --yes   (production is protected: --yes confirms it)"
"$ferry" run promote --yes
echo
echo "== ferry status"
"$ferry" status
echo
echo "== a migration that breaks the backend (renames tasks.title): watch the rollback"
cp -r examples/breaking/0005_rename_title migrations/
set +e
"$ferry" run hotfix --env dev
code=$?
set -e
rm -rf migrations/0005_rename_title
echo "(exit code $code: 1 means failed, and the environment is proven as it was before)"
echo
echo "== ferry history dev"
"$ferry" history dev
echo
echo "== ferry backups dev"
"$ferry" backups dev
echo
echo "The backends and the cluster are still running. Stop them with:"
echo "  for e in dev staging production; do examples/backend/backend.sh stop .demo/backend-\$e; done; scripts/pg-cluster.sh stop .demo/pg"
