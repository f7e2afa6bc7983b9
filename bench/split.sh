#!/usr/bin/env bash
# Statement splitting on a huge migration: `ferry validate` (the real parser, every statement,
# line:col kept) on a generated up.sql of SIZE_MB (default 200) MB of small statements, against
# reading the file alone (`wc -l`, `sha256sum`). Prints seconds, MB/s and peak RSS.
# No database is needed. Knobs: SIZE_MB, SIZES (several sizes, e.g. "1 8 200").
set -euo pipefail
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY="$BENCH_ROOT/build/ferry"
[ -x "$FERRY" ] || cmake --build "$BENCH_ROOT/build" -j2 --target ferry >/dev/null
SIZES=${SIZES:-${SIZE_MB:-200}}
WORK=$(mktemp -d /tmp/ferry-bench-split-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# generate MB DIR: migrations/0001_big/up.sql of about MB megabytes; every 50th statement spans
# lines, every 1000th is a dollar-quoted function body holding semicolons.
generate() {
  local mb=$1 dir=$2
  mkdir -p "$dir/migrations/0001_big" "$dir/environments"
  echo "DROP TABLE t;" > "$dir/migrations/0001_big/down.sql"
  awk -v limit=$((mb * 1024 * 1024)) 'BEGIN {
    print "CREATE TABLE t (id bigint PRIMARY KEY, note text);"
    for (i = 1; bytes < limit; i++) {
      if (i % 1000 == 0)
        s = "CREATE FUNCTION f" i "() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM 1; RETURN " i ";\nEND;\n$$;"
      else if (i % 50 == 0)
        s = "INSERT INTO t (id, note)\n  VALUES (" i ", E'\''row\\n" i "; -- not a comment'\'');"
      else
        s = "INSERT INTO t (id, note) VALUES (" i ", '\''row " i "; /* not a comment */'\'');"
      print s
      bytes += length(s) + 1
    }
  }' > "$dir/migrations/0001_big/up.sql"
}

# measure CMD...: "SECONDS PEAK_RSS_MB" of one run
measure() {
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@" >&2 || true; exit 1; }
  awk '{printf "%.2f %.0f\n", $1, $2 / 1024}' "$WORK/time"
}

printf '%-8s %-16s %9s %9s %10s\n' size command seconds MB/s peak_MB
for mb in $SIZES; do
  dir="$WORK/p$mb"
  generate "$mb" "$dir"
  up="$dir/migrations/0001_big/up.sql"
  real_mb=$(awk -v b="$(stat -c %s "$up")" 'BEGIN {printf "%.1f", b / 1048576}')
  for name in wc sha256sum validate; do
    case $name in
      wc) cmd=(wc -l "$up") ;;
      sha256sum) cmd=(sha256sum "$up") ;;
      validate) cmd=("$FERRY" -C "$dir" validate) ;;
    esac
    read -r secs rss < <(measure "${cmd[@]}")
    rate=$(awk -v m="$real_mb" -v s="$secs" 'BEGIN {printf "%.1f", (s > 0 ? m / s : 0)}')
    printf '%-8s %-16s %9s %9s %10s\n' "${real_mb}MB" "$name" "$secs" "$rate" "$rss"
  done
  echo "  statements: $(grep -c ';$' "$up") (lines ending in ';'), $(wc -l < "$up") lines"
  rm -rf "$dir"
done
