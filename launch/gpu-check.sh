#!/usr/bin/env bash
# On a machine with an NVIDIA GPU, in one run: every CUDA test on the hardware (each kernel against the CPU
# reference, the model and training against the CPU, the emulator's self-test kernels against the hardware, the NCCL
# group; with 2 GPUs or more, the NCCL group as one rank per GPU and tiny-cpu trained on 2 GPUs), the
# kernel lab beside PyTorch's kernels on the same shapes, `diverge bench` of configs/moe-1b-gpu.json beside the
# PyTorch reference step of the same model, and tiny-cpu trained on the GPU and on the CPU side by side. Writes
# benchmarks/results/gpu-<date>/ (summary.md with date, device, commit and commands; the lab table; the JSON).
#
# The build: $DIVERGE_BUILD (default build/) when it holds diverge, diverge_tests and kernel_lab built with the
# CUDA backend (launch/gpu-pack.sh makes build-gpu/ from a build made elsewhere with the same CUDA toolkit, small
# enough to carry), otherwise launch/build.sh -DDIVERGE_CUDA=ON. Each stage has its own time limit; a stage that
# fails is recorded and the rest still run. GPU_CHECK_PART=ours runs Diverge's stages (tests, lab, bench, training;
# about 6 minutes on an H100 at most), =torch the PyTorch ones (its lab, the table, its step; about 4), default both:
# two calls of under 10 minutes each, or one. GPU_CHECK_PART=sanitize, a call of its own (at most 8 minutes), runs
# the kernel tests under compute-sanitizer: memcheck (accesses out of bounds or misaligned), racecheck (shared-memory
# hazards, which the emulator's schedule may not show) and synccheck (barriers).
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi finds none); the CUDA tests run without one on the emulator:" \
       "launch/run-cuda-emulated.sh" >&2
  exit 2
fi
build=${DIVERGE_BUILD:-build}
if ! [ -x "$build/diverge_tests" ] || ! [ -x "$build/kernel_lab" ] ||
   ! "$build/diverge" env 2>/dev/null | grep -q 'CUDA backend: built with CUDA'; then
  build=build
  bash launch/build.sh -DDIVERGE_CUDA=ON || exit 1
fi
missing=$(ldd "$build/diverge_tests" | awk '/not found/ {print $1}')
if [ -n "$missing" ]; then
  echo "gpu-check: $build/diverge_tests needs libraries this machine lacks: $missing" >&2
  exit 1
fi
# A build carried from another checkout reads the source tree (test data, lab shapes) from here.
export DIVERGE_SOURCE_DIR=$PWD
python=${PYTHON:-python3}

device=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date_utc=$(date -u +%Y-%m-%d)
results=benchmarks/results/gpu-${date_utc}
mkdir -p "$results"
part=${GPU_CHECK_PART:-all}
case "$part" in
  all | ours | torch | sanitize) ;;
  *) echo "gpu-check: GPU_CHECK_PART=${part} is not one of all, ours, torch, sanitize" >&2; exit 2 ;;
esac
summary=$results/summary-${part}.md
logs=$(mktemp -d)
status=0
stage_lines=()

# stage NAME SECONDS COMMAND...: runs the command under its limit, its output in $logs/NAME.log.
stage() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS rc=0
  echo "== ${name} (limit ${limit}s): $*"
  timeout "$limit" "$@" > "$logs/$name.log" 2>&1 || rc=$?
  tail -n 25 "$logs/$name.log"
  local verdict="ok"
  if [ "$rc" -ne 0 ]; then
    verdict="exit ${rc}"
    [ "$rc" -eq 124 ] && verdict="timed out after ${limit}s"
    status=1
  fi
  stage_lines+=("| ${name} | ${verdict} | $((SECONDS - start)) s | \`$*\` |")
}

corpus=runs/bundled-corpus
[ -f "$corpus/manifest.json" ] || "$build/diverge" prepare --input data/corpus/bundled \
  --tokenizer data/vocab/bundled/tokenizer.json --output "$corpus" --force >/dev/null
if [ "$part" = ours ] || [ "$part" = all ]; then
  stage cuda-tests 180 "$build/diverge_tests" --source-file='*test_cuda*,*test_emulator*,*test_nccl_comm*'
  gpus=$(nvidia-smi -L | grep -c '^GPU')
  if [ "$gpus" -ge 2 ] && command -v mpirun >/dev/null; then
    stage "nccl-tests-np${gpus}" 120 tests/mpirun.sh "$gpus" "$build/diverge_tests" --source-file='*test_nccl_comm*'
    stage tiny-cpu-cuda-np2 90 tests/mpirun.sh 2 "$build/diverge" train --config configs/tiny-cpu.json \
      --set data.corpus="$corpus" --set train.device=cuda --set train.steps="${GPU_CHECK_STEPS:-60}" \
      --set log.every=10 --out runs/gpu-check-cuda-np2 --overwrite
    stage tiny-cpu-cuda-np2-ep2 90 tests/mpirun.sh 2 "$build/diverge" train --config configs/tiny-cpu.json \
      --set data.corpus="$corpus" --set train.device=cuda --set parallel.ep=2 \
      --set train.steps="${GPU_CHECK_STEPS:-60}" --set log.every=10 --out runs/gpu-check-cuda-np2-ep2 --overwrite
    stage "bench-ep-moe-1b-np${gpus}" 120 tests/mpirun.sh "$gpus" "$build/diverge" bench ep \
      --config configs/moe-1b-gpu.json --set data.corpus="$corpus" --set parallel.ep="$gpus" \
      --json "$results/bench-ep-nccl.json"
  fi
  stage kernel-lab 150 "$build/kernel_lab" --shapes full --json "$results/lab-diverge.json"
  stage bench-moe-1b 90 "$build/diverge" bench --config configs/moe-1b-gpu.json --set data.corpus="$corpus" \
    --warmup 3 --steps 10 --json "$results/bench-diverge.json"
  for where in cuda cpu; do
    stage "tiny-cpu-${where}" 60 "$build/diverge" train --config configs/tiny-cpu.json \
      --set data.corpus="$corpus" --set train.device="$where" --set train.steps="${GPU_CHECK_STEPS:-60}" \
      --set log.every=10 --out "runs/gpu-check-${where}" --overwrite
  done
fi
if [ "$part" = torch ] || [ "$part" = all ]; then
  stage kernel-lab-torch 120 "$python" benchmarks/kernel_lab_torch.py --device cuda --shapes full \
    --json "$results/lab-torch.json"
  stage kernel-lab-table 20 "$python" benchmarks/kernel_lab_table.py --ours "$results/lab-diverge.json" \
    --torch "$results/lab-torch.json" --out "gpu-${date_utc}/kernel-lab.md"
  stage step-torch-moe-1b 120 "$python" benchmarks/train_step_torch.py --device cuda \
    --config configs/moe-1b-gpu.json --diverge "$build/diverge" --warmup 3 --steps 10 \
    --json "$results/step-torch.json"
fi
if [ "$part" = sanitize ]; then
  # The tests of the kernels one at a time (the model, training and NCCL tests add time, not kernels).
  kernel_tests='*test_cuda_attention*,*test_cuda_cross_entropy*,*test_cuda_dispatch*,*test_cuda_edl*,'
  kernel_tests+='*test_cuda_elementwise*,*test_cuda_embedding*,*test_cuda_expert_ffn*,*test_cuda_optimizer*,'
  kernel_tests+='*test_cuda_rmsnorm*,*test_cuda_rope*,*test_cuda_router*,*test_cuda_swiglu*'
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  for tool in memcheck racecheck synccheck; do
    limit=120
    [ "$tool" = racecheck ] && limit=240
    stage "sanitizer-${tool}" "$limit" "$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 20 \
      "$build/diverge_tests" --source-file="$kernel_tests"
  done
fi

{
  echo "# GPU check, ${date_utc}"
  echo
  echo "- device: ${device}"
  echo "- commit: ${commit}"
  echo "- command: GPU_CHECK_PART=${part} launch/gpu-check.sh (build: ${build})"
  echo
  echo "| stage | result | time | command |"
  echo "|---|---|---|---|"
  printf '%s\n' "${stage_lines[@]}"
  for log in "$logs"/*.log; do
    echo
    echo "## $(basename "$log" .log)"
    echo
    echo '```'
    tail -n 60 "$log"
    echo '```'
  done
} > "$summary"
rm -rf "$logs"
echo "gpu-check: wrote ${results}/"
exit "$status"
