#!/usr/bin/env bash
# Installs what CnnCluster's runs and tests need on a Debian machine with the .NET 10 SDK:
# the Fashion-MNIST IDX files (Debian package dataset-fashion-mnist). Safe to run again.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

packages=(dataset-fashion-mnist)
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
echo "setup: ready (Fashion-MNIST in /usr/share/datasets/fashion-mnist)"
