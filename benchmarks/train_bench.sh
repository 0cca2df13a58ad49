#!/usr/bin/env bash
# Times `diverge train` on configs/tiny-cpu.json per thread count and OpenMP wait policy: tokens/s and GFLOP/s.
#
# Usage: benchmarks/train_bench.sh            (STEPS=12, THREADS="1 2", BUILD_DIR=build by default)
# Needs a built `diverge` and the bundled corpus in runs/bundled-corpus (launch/run-demo.sh makes both). Each
# configuration is one fresh run of STEPS steps without evals or checkpoints; the table goes to
# benchmarks/results/train-tiny-cpu.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
diverge="$build/diverge"
steps="${STEPS:-12}"
threads_list="${THREADS:-1 2}"
corpus="$repo/runs/bundled-corpus"
out="$here/results/train-tiny-cpu.md"

if [[ ! -x "$diverge" ]]; then
  echo "train_bench: $diverge not found; build it first: cmake -S . -B build -G Ninja && cmake --build build" >&2
  exit 1
fi
if [[ ! -f "$corpus/manifest.json" ]]; then
  echo "train_bench: no corpus in $corpus; make it with launch/run-demo.sh or diverge prepare" >&2
  exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

{
  echo "# Training speed: configs/tiny-cpu.json on the CPU"
  echo
  echo "- Date: $(date -u +%Y-%m-%d)"
  echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg) at start"
  echo "- Commit: $(git -C "$repo" rev-parse --short HEAD)"
  echo "- Command: \`benchmarks/train_bench.sh\` ($steps steps per row, the first included; no evals or checkpoints)"
  echo
  echo "| threads | OMP_WAIT_POLICY | tok/s | GFLOP/s | wall |"
  echo "|---|---|---|---|---|"
} > "$out"

for threads in $threads_list; do
  for policy in passive active; do
    line="$(OMP_WAIT_POLICY=$policy "$diverge" train --config "$repo/configs/tiny-cpu.json" \
      --out "$scratch/run-$threads-$policy" \
      --set data.corpus="$corpus" --set train.steps="$steps" --set optim.warmup_steps=1 --set data.val_every=0 \
      --set train.checkpoint_every=0 --set log.every="$steps" --set train.threads="$threads" | grep '^done:')"
    # "done: step 12, 12 steps | training 7s, 3,320 tok/s, 35.33 GFLOP/s | wall 8s (eval 0s, checkpoints 1s)"
    wall="$(sed -E 's/.*\| wall ([^ ]+) .*/\1/' <<<"$line")"
    tokps="$(sed -E 's/.*, ([0-9,]+) tok\/s.*/\1/' <<<"$line")"
    gflops="$(sed -E 's/.*, ([0-9.]+) GFLOP\/s.*/\1/' <<<"$line")"
    echo "| $threads | $policy | $tokps | $gflops | $wall |" >> "$out"
    echo "threads $threads, $policy: $tokps tok/s, $gflops GFLOP/s"
  done
done
echo "table: $out"
