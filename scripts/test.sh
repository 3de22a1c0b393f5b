#!/usr/bin/env bash
# Builds everything (CUDA code included) and runs every test. On a machine without a GPU the
# GPU tests report themselves skipped, with the reason. Usage: scripts/test.sh [preset]
# (default "ci": warnings are errors).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
preset="${1:-ci}"
export PATH="$PATH:/usr/local/cuda/bin"
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset" -j "$(nproc)"
