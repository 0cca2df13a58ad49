#!/usr/bin/env bash
# Makes the Python environments of the reference checks: .venv-reference/ from tests/reference/requirements.txt, and
# .venv-megatron/ (megatron-core on Debian's python3-torch) from tests/reference/requirements-megatron.txt.
# Idempotent: a venv made from the same requirements file is kept, and nothing is printed when there is nothing to
# do. Needs Debian's python3 with python3-venv (launch/setup-deps.sh) and the package index; .venv-megatron also
# needs python3-torch (launch/setup-deps.sh --reference): without it, one line says that its checks will be skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/pinned-venv.sh

make_pinned_venv tests/reference/requirements.txt .venv-reference
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  make_pinned_venv tests/reference/requirements-megatron.txt .venv-megatron --system-site-packages
else
  rm -rf .venv-megatron
  echo "reference-venv: Debian's python3-torch is not installed (launch/setup-deps.sh --reference), so" \
    ".venv-megatron is not made and the Megatron shard checks will be skipped" >&2
fi
