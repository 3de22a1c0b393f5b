#!/usr/bin/env bash
# Installs everything dsconv needs to build and test, on Debian 12+ / Ubuntu 24.04+.
# The CUDA toolkit (nvcc, cudart, cuBLAS) and cuDNN 9 are expected to be installed already:
# they come from NVIDIA's repositories, not Debian's.
set -euo pipefail

apt_packages=(
  cmake ninja-build g++ pkg-config git
  libeigen3-dev          # CPU reference
  libgtest-dev libgmock-dev
  libbenchmark-dev       # Google Benchmark: the timing driver
  libbenchmark-tools     # Google Benchmark's tools/compare.py, which must read our JSON
  libcli11-dev           # command line
  nlohmann-json3-dev     # reports, golden cases
  libyaml-cpp-dev        # sweep specs
  libfmt-dev             # formatting of tables and messages
  python3 python3-pip
)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -q
  sudo_if_needed apt-get install -y -q --no-install-recommends "${apt_packages[@]}"
else
  echo "install-deps.sh: no apt-get here; install these by hand: ${apt_packages[*]}" >&2
  exit 2
fi

# Python side: plots (matplotlib), compare.py (numpy, scipy), spec reading (PyYAML).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python3 -m pip install -q -r "$here/requirements.txt" ||
  python3 -m pip install -q --break-system-packages -r "$here/requirements.txt"

if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "install-deps.sh: warning: nvcc not found; install the CUDA toolkit (12.4 or newer)" >&2
fi
