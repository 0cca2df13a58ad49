#!/usr/bin/env bash
# Runs a command as N ranks of OpenMPI's mpirun on this host, as the tests and CI do: as root when that is who runs
# them, with more ranks than cores. Exits 77 (CTest's "skipped") with one line when mpirun is absent.
set -euo pipefail
ranks="$1"
shift
if ! command -v mpirun >/dev/null 2>&1; then
  echo "skipped: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
  exit 77
fi
exec mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$@"
