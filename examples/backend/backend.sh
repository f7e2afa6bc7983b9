#!/usr/bin/env bash
# Runs the example backend as a daemon: backend.sh start|stop|restart STATE_DIR
# STATE_DIR/backend.env holds its settings (PORT, PGHOST, PGPORT, PGDATABASE, PGUSER, REQUIRE);
# the pid and log live beside it. `restart` is what ferry's restart step runs.
set -euo pipefail
cmd=${1:?usage: backend.sh start|stop|restart STATE_DIR}
state=${2:?missing STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
pidfile="$state/backend.pid"

stop() {
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    # Gone, or a zombie nobody reaps (containers without an init): either way, not serving.
    for _ in $(seq 1 50); do
      case "$(ps -o stat= -p "$pid" 2>/dev/null)" in ""|Z*) break ;; esac
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}
start() {
  set -a; . "$state/backend.env"; set +a
  nohup /usr/bin/python3 "$here/backend.py" >> "$state/backend.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  # wait until it listens (the health probe decides whether it is healthy)
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then exit 0; fi
    sleep 0.05
  done
  echo "backend did not start; see $state/backend.log" >&2
  exit 1
}
case "$cmd" in
  start) stop; start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: backend.sh start|stop|restart STATE_DIR" >&2; exit 64 ;;
esac
