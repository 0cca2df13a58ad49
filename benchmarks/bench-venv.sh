#!/usr/bin/env bash
# Makes .venv-bench/, the benchmarks' current PyTorch, from benchmarks/requirements-bench.txt (several GB; not CI's).
# Idempotent: a venv made from the same requirements file is kept, and nothing is printed then.
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/pinned-venv.sh
make_pinned_venv benchmarks/requirements-bench.txt .venv-bench
