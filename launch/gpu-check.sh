#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: runs every CUDA test (CTest label `cuda`: each kernel against the CPU reference,
# and the emulator's self-test kernels against the hardware) and writes benchmarks/results/gpu-check-<date>.md with
# the date, device, commit, command and results. Reuses build/ when it holds a CUDA build (one made on a machine
# with the same CUDA toolkit can be copied over), otherwise builds it (launch/build.sh -DDIVERGE_CUDA=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi finds none); the CUDA tests run without one on the emulator:" \
       "launch/run-cuda-emulated.sh" >&2
  exit 2
fi
if ! grep -q '^CMAKE_CUDA_COMPILER:' build/CMakeCache.txt 2>/dev/null || ! [ -x build/diverge_tests ]; then
  bash launch/build.sh -DDIVERGE_CUDA=ON
fi
missing=$(ldd build/diverge_tests | awk '/not found/ {print $1}')
if [ -n "$missing" ]; then
  echo "gpu-check: build/diverge_tests needs libraries this machine lacks: $missing" >&2
  exit 1
fi

device=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date_utc=$(date -u +%Y-%m-%d)
results=benchmarks/results/gpu-check-${date_utc}.md
log=$(mktemp)
status=0
ctest --test-dir build -L cuda --output-on-failure 2>&1 | tee "$log" || status=$?
{
  echo "# CUDA tests on a GPU, ${date_utc}"
  echo
  echo "- device: ${device}"
  echo "- commit: ${commit}"
  echo "- command: launch/gpu-check.sh"
  echo "- result: $(grep -E 'tests passed' "$log" || echo "ctest exited ${status}")"
  echo
  echo '```'
  grep -E 'Test +#|tests passed|FAILED|Failed' "$log" || true
  echo '```'
} > "$results"
rm -f "$log"
echo "gpu-check: wrote ${results}"
exit "$status"
