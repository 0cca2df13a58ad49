#!/usr/bin/env bash
# Runs a reference venv's Python (launch/reference-venv.sh) on the arguments: how CTest runs the reference checks.
# Usage: venv-python.sh [--venv .venv-megatron] ARGS...   (default .venv-reference)
# Without the venv it prints one line and exits 77, which CTest reports as a skip; a venv made from another
# version of its requirements file is an error, so that a check never runs against versions other than the pinned
# ones.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$repo/.venv-reference"
if [[ "${1:-}" == "--venv" ]]; then
  venv="$repo/$2"
  shift 2
fi

if [[ ! -x "$venv/bin/python" || ! -f "$venv/requirements.sha256" ]]; then
  echo "SKIPPED: no venv at $venv (make it with launch/reference-venv.sh)"
  exit 77
fi
cd "$repo"
if ! sha256sum --check --status "$venv/requirements.sha256"; then
  echo "error: $venv was made from another $(cut -d' ' -f3 "$venv/requirements.sha256"): rerun" \
    "launch/reference-venv.sh" >&2
  exit 1
fi
PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" "$@"
