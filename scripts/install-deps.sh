#!/usr/bin/env bash
# Installs every Debian 12 package that ferry's build, tests, demo and benchmarks need.
# Idempotent and non-interactive; skips apt entirely when everything is already present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libpq-dev libpqxx-dev libssh2-1-dev libssl-dev libyaml-cpp-dev libzstd-dev
  libboost-dev libboost-filesystem-dev libboost-system-dev
  libspdlog-dev libfmt-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev libpg-query-dev
  postgresql postgresql-client openssh-server
  python3 python3-psycopg2 python3-jsonschema python3-yaml python3-alembic python3-sqlalchemy alembic python3-prometheus-client
  zstd procps curl systemd
  podman podman-docker runc catatonit
  help2man dpkg-dev debootstrap zsh man-db python3-yaml
)
# Packaging tests: the man page (help2man), the .deb's Depends (dpkg-shlibdeps), a fresh Debian
# root (debootstrap), zsh completion, manifests (python3-yaml) and kubectl's offline tools
# (Debian's kubernetes-client unless a kubectl is already installed).
command -v kubectl >/dev/null 2>&1 || PKGS+=(kubernetes-client)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

configure_podman() {
  # podman as a docker-compatible engine on these machines (see ../shared/ENVIRONMENT.md):
  # runc as the runtime, no default ulimits, and the docker shim's notice silenced.
  if [ ! -f /etc/containers/containers.conf ] || ! grep -q 'runtime = "runc"' /etc/containers/containers.conf; then
    mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' > /etc/containers/containers.conf
  fi
  touch /etc/containers/nodocker
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  [ "$(id -u)" -eq 0 ] && configure_podman
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
[ "$(id -u)" -eq 0 ] && configure_podman
echo "install-deps: done"
