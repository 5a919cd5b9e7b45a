#!/usr/bin/env bash
# Installs every Debian package that building, running and testing taskwire needs.
# Idempotent: packages already present are skipped by apt. Runs as root or through sudo.
set -euo pipefail

PACKAGES=(
  # toolchain (clang-14 only checks the lock annotations: scripts/check-thread-safety.sh)
  build-essential cmake ninja-build pkg-config git clang-14
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libsqlite3-dev libcurl4-openssl-dev
  libspdlog-dev libfmt-dev libcli11-dev libssl-dev
  # the postgres store (--store=postgres): libpqxx and libpq to build it; PostgreSQL 15 for its
  # tests, the HA e2e tests and the benchmarks, which start throwaway servers of their own
  # (tests/support/postgres_server.h, tests/e2e/postgres_server.py: a unix socket in a temp
  # dir, no TCP). Debian's postinst also makes a cluster 15/main and starts it where an init
  # system runs (not in a container without one); the tests never use it and cannot clash
  # with it. setpriv, which runs their postgres as "nobody" under root, is in util-linux
  # (Essential).
  libpqxx-dev libpq-dev postgresql-15
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3 python3-grpcio python3-grpc-tools python3-protobuf python3-pkg-resources
  procps curl ca-certificates openssl
  # deploy tests (tests/deploy): a live Prometheus and promtool, YAML parsing, the images'
  # init (the executor runs under it as PID 1 of a PID namespace)
  prometheus python3-yaml tini
)
# Only when missing: a newer kubectl, or a NodeSource node that bundles npm, must not be
# replaced by Debian's older packages (kubernetes-client 1.20 renders the manifests too).
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
