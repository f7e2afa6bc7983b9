#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh Debian 12 machine:
# install dependencies, build (warnings are errors), run unit and integration tests.
# Integration tests start their own PostgreSQL clusters, sshd and HTTP services.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure --timeout 600 -j1 "$@"
