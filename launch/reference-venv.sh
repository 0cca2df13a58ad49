#!/usr/bin/env bash
# Makes .venv-reference/, the Python environment of the reference checks, from tests/reference/requirements.txt.
# Idempotent: a venv made from the same requirements file is kept; otherwise it is made anew. Prints nothing when
# there is nothing to do. Needs Debian's python3 with python3-venv (launch/setup-deps.sh) and the package index.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=tests/reference/requirements.txt
venv=.venv-reference
stamp="$venv/requirements.sha256"  # the requirements it was made from; written last, so only a complete venv has it
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
  exit 0
fi

start=$SECONDS
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: -r "$requirements"
if ! problems="$("$venv/bin/python" -m pip check --disable-pip-version-check)"; then
  echo "reference-venv: $requirements is not a closed set: $problems" >&2
  exit 1
fi
echo "$want" > "$stamp"
echo "reference-venv: made $venv from $requirements in $((SECONDS - start)) s" >&2
