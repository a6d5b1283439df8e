#!/usr/bin/env bash
# Installs the build and test dependencies from Debian's packages (run as root, or with sudo).
# The CUDA toolkit (nvcc, cuBLAS, cuDNN, NCCL) is not a Debian package here: where /usr/local/cuda
# exists the CUDA backend is built too; without it the CPU build is complete on its own.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
pkgs="build-essential cmake pkg-config libcjson-dev libyaml-dev libcriterion-dev libopenblas-dev libutf8proc-dev libzip-dev libcurl4-openssl-dev xz-utils
      libopenmpi-dev openmpi-bin"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
