#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster on loopback.
#   scripts/pg-cluster.sh start DIR PORT [PASSWORD]   (trust auth on the socket; scram on TCP when PASSWORD is given)
#   scripts/pg-cluster.sh init DIR                     (initdb only: for a postgres run elsewhere, e.g. in a container)
#   scripts/pg-cluster.sh stop DIR
# As root, initdb and postgres run as the `postgres` OS user (they refuse root).
set -euo pipefail
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cmd=${1:?usage: pg-cluster.sh start|stop DIR [PORT]}
dir=${2:?missing DIR}
case "$cmd" in
  init)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    [ -f "$dir/data/PG_VERSION" ] || as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    ;;
  start)
    port=${3:?missing PORT}
    password=${4:-}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      if [ -n "$password" ]; then
        printf '%s\n' "$password" > "$dir/pw"; [ "$(id -u)" = 0 ] && chown postgres "$dir/pw"
        as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --auth-host=scram-sha-256 \
          --pwfile="$dir/pw" -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
        rm -f "$dir/pw"
      else
        as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
      fi
    fi
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off" start >/dev/null
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    ;;
  *) echo "usage: pg-cluster.sh start|stop DIR [PORT]" >&2; exit 64 ;;
esac
