#!/usr/bin/env bash
# Installs what CnnCluster's runs and tests need on a Debian machine with the .NET 10 SDK:
#   the Fashion-MNIST IDX files (Debian package dataset-fashion-mnist);
#   with --test-deps, also what the tests use: a PostgreSQL server on 127.0.0.1:5432, started, with a
#   role `cnn` (password `cnn`) owning the database `cnncluster`; chromium (the dashboard's tests drive it
#   headless; libnss3-tools gives it the cluster's CA); a Docker engine (docker.io, started here when none
#   answers) with docker-compose, and the base images the compose file builds on (deploy/base-images/make.sh:
#   the real ones where a registry answers, else local stand-ins made from Debian packages with debootstrap).
# Safe to run again.
set -euo pipefail

postgres=0
for arg in "$@"; do
  case "$arg" in
    --test-deps) postgres=1 ;;
    *) echo "setup: unknown option '$arg' (valid: --test-deps)" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

packages=(dataset-fashion-mnist)
[ "$postgres" -eq 1 ] && packages+=(postgresql docker.io docker-compose debootstrap chromium libnss3-tools)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || {
  echo "setup: Fashion-MNIST is not under /usr/share/datasets/fashion-mnist after installing dataset-fashion-mnist" >&2
  exit 1
}
echo "setup: Fashion-MNIST in /usr/share/datasets/fashion-mnist"

if [ "$postgres" -eq 1 ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | grep -q "^$version main"; then
    $SUDO pg_createcluster "$version" main >/dev/null
  fi
  if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
    $SUDO pg_ctlcluster "$version" main start
  fi
  for i in $(seq 30); do
    as_postgres psql -qtAc "SELECT 1" >/dev/null 2>&1 && break
    sleep 1
  done
  as_postgres psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname = 'cnn'" | grep -q 1 \
    || as_postgres psql -qc "CREATE ROLE cnn LOGIN PASSWORD 'cnn' CREATEDB"
  as_postgres psql -qtAc "SELECT 1 FROM pg_database WHERE datname = 'cnncluster'" | grep -q 1 \
    || as_postgres psql -qc "CREATE DATABASE cnncluster OWNER cnn"
  echo "setup: PostgreSQL $version on 127.0.0.1:5432, database cnncluster, role cnn/cnn"
fi

if [ "$postgres" -eq 1 ]; then
  if ! $SUDO docker info >/dev/null 2>&1; then
    echo "setup: starting dockerd (log in /var/log/dockerd.log)"
    $SUDO sh -c 'nohup dockerd > /var/log/dockerd.log 2>&1 &'
    for i in $(seq 60); do $SUDO docker info >/dev/null 2>&1 && break; sleep 1; done
    $SUDO docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
  fi
  echo "setup: Docker engine $($SUDO docker version --format '{{.Server.Version}}')"
  $SUDO "$(dirname "$0")/../deploy/base-images/make.sh"
fi
