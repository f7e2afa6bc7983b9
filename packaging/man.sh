#!/usr/bin/env bash
# Generates the man page ferry.1 from the built binary's own help texts: help2man on
# `ferry --help`, plus one section per subcommand (`ferry SUB --help`, and SUB's own
# subcommands) and the hand-written sections in man-extra.h2m (exit status, files).
# Usage: packaging/man.sh BUILT_FERRY OUT.1
set -euo pipefail
ferry=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
inc=$(mktemp)
trap 'rm -f "$inc"' EXIT
# Names listed under "Subcommands:" in a CLI11 help text.
subcommands() { "$@" --help | awk '/^Subcommands:/{on=1; next} on && /^  [a-z]/{print $1}'; }
# A help text as man source: verbatim, leading dots and backslashes escaped.
verbatim() { printf '.nf\n'; "$@" --help | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; printf '.fi\n'; }
{
  echo "[COMMANDS]"
  for sub in $(subcommands "$ferry"); do
    printf '.SS "ferry %s"\n' "$sub"
    verbatim "$ferry" "$sub"
    for nested in $(subcommands "$ferry" "$sub"); do
      printf '.SS "ferry %s %s"\n' "$sub" "$nested"
      verbatim "$ferry" "$sub" "$nested"
    done
  done
  cat "$here/man-extra.h2m"
} >"$inc"
version=$("$ferry" --version | awk '{print $2}')
help2man --no-info --section=1 --name="carry PostgreSQL schema migrations dev -> staging -> production" \
  --version-string="$version" --include="$inc" --output="$out" "$ferry"
