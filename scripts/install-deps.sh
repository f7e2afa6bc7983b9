#!/usr/bin/env bash
# Installs every Debian 12 package that ferry's build, tests, demo and benchmarks need.
# Idempotent and non-interactive; skips apt entirely when everything is already present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libpq-dev libpqxx-dev libssh2-1-dev libssl-dev libyaml-cpp-dev
  libboost-dev libboost-filesystem-dev libboost-system-dev
  libspdlog-dev libfmt-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev libpg-query-dev
  postgresql postgresql-client openssh-server
  python3 python3-psycopg2 python3-alembic python3-sqlalchemy alembic
  zstd procps curl
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postgresql package starts a system cluster on 5432; ferry's tests and demo run their
# own clusters on other ports, so the system one is left alone.
echo "install-deps: done"
