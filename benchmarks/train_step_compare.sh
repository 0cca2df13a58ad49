#!/usr/bin/env bash
# Times one training step of benchmarks/train_step_cpu.json in diverge and in PyTorch (same model), side by side.
#
# Usage: benchmarks/train_step_compare.sh      (STEPS=8, THREADS="1 2"; needs a built diverge, runs/bundled-corpus
# from launch/run-demo.sh, Debian's python3-torch 1.13 and, for the current PyTorch's column, .venv-bench/ from
# benchmarks/bench-venv.sh). Both sides run forward + backward + clip + AdamW of the MODEL.md model (d 256, 4 layers,
# 8 experts top-2, vocab 8192, batch 8 x 256) on one micro-batch per step; diverge's median step time comes from its
# metrics log (first step dropped), PyTorch's from train_step_torch.py (median after warmup), which runs attention
# as SDPA where the torch has it. The ratio is diverge's rate over the best PyTorch column. The sgemm column is the
# practical ceiling: OpenBLAS on a 2048^3 product at the same thread count. Writes
# benchmarks/results/train-step-vs-torch.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
diverge="${BUILD_DIR:-$repo/build}/diverge"
steps="${STEPS:-8}"
threads_list="${THREADS:-1 2}"
corpus="$repo/runs/bundled-corpus"
bench_python="$repo/.venv-bench/bin/python"
config="$here/train_step_cpu.json"
out="$here/results/train-step-vs-torch.md"
[[ -x "$diverge" ]] || { echo "train_step_compare: build diverge first (launch/build.sh)" >&2; exit 1; }
[[ -f "$corpus/manifest.json" ]] || { echo "train_step_compare: run launch/run-demo.sh to make $corpus" >&2; exit 1; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

median_diverge_tokens_per_s() {  # metrics.jsonl -> median tokens_per_s over the train records after the first
  /usr/bin/python3 -c '
import json, statistics, sys
rates = [r["tokens_per_s"] for r in map(json.loads, open(sys.argv[1])) if r.get("type") == "train"][1:]
print(f"{statistics.median(rates):.0f}")' "$1"
}

torch_tokens_per_s() {  # PYTHON THREADS [VAR=value ...]: train_step_torch.py's tokens/s under that Python
  local python="$1" threads="$2"
  shift 2
  env "$@" "$python" "$here/train_step_torch.py" --config "$config" --threads "$threads" --steps "$steps" |
    grep -o '[0-9]* tokens/s' | tail -1 | cut -d' ' -f1
}

# Debian's PyTorch 1.13 at a thread count with Debian's pthreads or OpenMP build of OpenBLAS as its libblas ("-" when
# that build is not installed): which one is faster depends on the machine, and the comparison is against the best.
debian_torch_tokens_per_s() {
  local blas_dir="/usr/lib/$(gcc -print-multiarch)/openblas-$2"
  if [[ ! -f "$blas_dir/libblas.so.3" ]]; then
    echo "-"
    return
  fi
  torch_tokens_per_s /usr/bin/python3 "$1" LD_LIBRARY_PATH="$blas_dir"
}

# PyPI's current PyTorch from .venv-bench/ ("-" without it): its CPU path as the wheel ships it (its own BLAS).
pypi_torch_tokens_per_s() {
  if [[ ! -x "$bench_python" ]]; then
    echo "-"
    return
  fi
  torch_tokens_per_s "$bench_python" "$1"
}

torch_version() {
  if [[ -x "$1" ]]; then "$1" -c 'import torch; print(torch.__version__)' 2>/dev/null; else echo "absent"; fi
}

# The machine's practical GEMM ceiling: OpenBLAS sgemm GFLOP/s on 2048^3 float32 through numpy (best of 5), with
# the BLAS build diverge links (OpenMP OpenBLAS where installed).
sgemm_gflops() {
  LD_LIBRARY_PATH="/usr/lib/$(gcc -print-multiarch)/openblas-openmp" OMP_NUM_THREADS="$1" OPENBLAS_NUM_THREADS="$1" \
    /usr/bin/python3 -c '
import time, numpy as np
a, b = (np.random.default_rng(s).random((2048, 2048), dtype=np.float32) for s in (1, 2))
a @ b
times = []
for _ in range(5):
    t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
print(f"{2 * 2048 ** 3 / min(times) / 1e9:.0f}")'
}

flops_per_token=$("$diverge" config check --config "$config" --set data.corpus="$corpus" |
  sed -n 's/.* \([0-9.e+]*\) training FLOPs per token.*/\1/p')

{
  echo "# Training step: diverge vs PyTorch on the CPU (benchmarks/train_step_cpu.json)"
  echo
  echo "- Date: $(date -u +%Y-%m-%d)"
  echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg) at start"
  echo "- Commit: $(git -C "$repo" rev-parse --short HEAD)"
  echo "- Command: \`benchmarks/train_step_compare.sh\` (STEPS=$steps)"
  echo "- PyTorch: Debian's $(torch_version /usr/bin/python3) (written-out attention), PyPI's" \
    "$(torch_version "$bench_python") from .venv-bench (SDPA)"
  echo
  echo "| threads | diverge tok/s | PyTorch 1.13 tok/s, pthreads OpenBLAS | PyTorch 1.13 tok/s, OpenMP OpenBLAS |" \
    "PyTorch 2.x tok/s, PyPI wheel | ratio to PyTorch's best | diverge GFLOP/s | sgemm GFLOP/s | share of sgemm |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for threads in $threads_list; do
    "$diverge" train --config "$config" --set data.corpus="$corpus" --set train.steps="$steps" \
      --set train.threads="$threads" --set log.every=1 --set data.val_every=0 --set train.checkpoint_every=0 \
      --set log.quiet=true --set optim.warmup_steps=0 --out "$scratch/run-$threads" >/dev/null
    ours=$(median_diverge_tokens_per_s "$scratch/run-$threads/metrics.jsonl")
    row="| $threads | $ours"
    best=0
    for column in "debian_torch_tokens_per_s $threads pthread" "debian_torch_tokens_per_s $threads openmp" \
      "pypi_torch_tokens_per_s $threads"; do
      theirs=$($column)
      row="$row | $theirs"
      [[ "$theirs" != "-" && "$theirs" -gt "$best" ]] && best=$theirs
    done
    ceiling=$(sgemm_gflops "$threads")
    echo "$row | $(/usr/bin/python3 -c "
ours, best, flops, ceiling = $ours, $best, $flops_per_token, $ceiling
print(f'{ours / best:.2f}x | {ours * flops / 1e9:.0f} | {ceiling} | {ours * flops / 1e9 / ceiling:.0%}')") |"
  done
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). GFLOP/s count the model's training FLOPs per" \
    "token ($flops_per_token, as \`diverge config check\` prints)."
} | tee "$out"
