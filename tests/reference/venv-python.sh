#!/usr/bin/env bash
# Runs the reference venv's Python (launch/reference-venv.sh) on the arguments: how CTest runs the reference checks.
# Without a venv it prints one line and exits 77, which CTest reports as a skip; a venv made from another
# requirements file is an error, so that a check never runs against versions other than the pinned ones.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$repo/.venv-reference"

if [[ ! -x "$venv/bin/python" || ! -f "$venv/requirements.sha256" ]]; then
  echo "SKIPPED: no reference venv at $venv (make it with launch/reference-venv.sh)"
  exit 77
fi
want="$(sha256sum "$repo/tests/reference/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$venv/requirements.sha256")" != "$want" ]]; then
  echo "error: $venv was made from another tests/reference/requirements.txt: rerun launch/reference-venv.sh" >&2
  exit 1
fi
cd "$repo"
PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" "$@"
