#!/usr/bin/env bash
# Builds Diverge, makes the reference venvs, and runs the whole test suite through CTest (prints CTest's "N tests
# passed" summary line). Without a venv (no package index, say) its reference checks are skipped, and this says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/build.sh "$@"
if ! bash launch/setup-deps.sh --reference; then
  echo "run-tests: Debian's python3-torch could not be installed" >&2
fi
if ! bash launch/reference-venv.sh; then
  echo "run-tests: the reference venvs could not be made; the reference checks (ctest -L reference) will be skipped" >&2
fi
ctest --test-dir build --output-on-failure -j"$(nproc)"
