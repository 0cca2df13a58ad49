#!/usr/bin/env bash
# Builds Diverge, makes the reference venv, and runs the whole test suite through CTest (prints CTest's "N tests
# passed" summary line). Without the venv (no package index, say) the reference checks are skipped, and this says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/build.sh "$@"
if ! bash launch/reference-venv.sh; then
  echo "run-tests: the reference venv could not be made; the reference checks (ctest -L reference) will be skipped" >&2
fi
ctest --test-dir build --output-on-failure -j"$(nproc)"
