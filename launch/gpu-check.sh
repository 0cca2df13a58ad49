#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: runs every CUDA test (CTest label `cuda`: each kernel against the CPU reference,
# the whole model and 20 training steps against the CPU, and the emulator's self-test kernels against the
# hardware), then trains tiny-cpu on the bundled corpus on the GPU and on the CPU side by side (losses and
# tokens/s), and writes benchmarks/results/gpu-check-<date>.md with the date, device, commit, command and results.
# Reuses build/ when it holds a CUDA build (one made on a machine with the same CUDA toolkit can be copied over),
# otherwise builds it (launch/build.sh -DDIVERGE_CUDA=ON).
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

# The main job on both devices: the same config, seed and data, so the step lines should agree to bf16's rounding.
corpus=runs/bundled-corpus
[ -f "$corpus/manifest.json" ] || build/diverge prepare --input data/corpus/bundled \
  --tokenizer data/vocab/bundled/tokenizer.json --output "$corpus" --force >/dev/null
train_steps=${GPU_CHECK_STEPS:-100}
train_log=$(mktemp)
for device in cuda cpu; do
  echo "== tiny-cpu, ${train_steps} steps on ${device}" >> "$train_log"
  timeout 300 build/diverge train --config configs/tiny-cpu.json --set data.corpus="$corpus" \
    --set train.device="$device" --set train.steps="$train_steps" --set log.every=10 \
    --out "runs/gpu-check-${device}" --overwrite >> "$train_log" 2>&1 || { rc=$?; status=1; echo "(exit $rc)" >> "$train_log"; }
done
cat "$train_log"
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
  echo
  echo "## tiny-cpu on the GPU and on the CPU (configs/tiny-cpu.json, bundled corpus, ${train_steps} steps)"
  echo
  echo '```'
  grep -E '^==|^memory|^step|^done|^error|^\(exit' "$train_log" || true
  echo '```'
} > "$results"
rm -f "$log" "$train_log"
echo "gpu-check: wrote ${results}"
exit "$status"
