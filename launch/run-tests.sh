#!/usr/bin/env bash
# Builds Diverge and runs the whole test suite through CTest (prints CTest's "N tests passed" summary line).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/build.sh "$@"
ctest --test-dir build --output-on-failure -j"$(nproc)"
