#!/usr/bin/env bash
# Laptop-scale EDL reproduction: trains every configs/edl variant over seeds plus a beta sweep, then writes the report.
#
# Usage: benchmarks/edl_repro.sh
# Environment (defaults in brackets):
#   SEEDS ["1 2 3"]                 seeds of every variant (--set train.seed=S)
#   VARIANTS ["baseline edl-coarse edl-fine random sequence"]   the configs/edl variants to train
#   BETAS ["0.01 0.03 0.3"]         extra edl.beta values for edl-coarse, first seed only (its own beta is in the
#                                   seed runs already); set but empty: no sweep
#   NP [1]                          ranks per run: above 1, each run trains under
#                                   `mpirun --allow-run-as-root --oversubscribe -np NP`. data.micro_batch is per
#                                   rank, so a step reads NP times the sequences: to keep the configs' token budget
#                                   divide train.steps (and warmup, val_every, log.every) by NP in EXTRA_SETS
#   STEPS [the configs']            shortens every run (--set train.steps=STEPS, warmup capped to STEPS / 5)
#   EXTRA_SETS [""]                 more "key=value" overrides for every run, space-separated
#   CORPUS [runs/bundled-corpus]    the prepared corpus (the bundled one is prepared there if absent)
#   RUNS [runs/edl]                 run directories, <RUNS>/<variant>-s<seed> and <RUNS>/edl-coarse-b<beta>-s<seed>
#   REPORT [benchmarks/results/edl-cpu.md]   the markdown report; its SVGs go next to it
#   TITLE ["EDL reproduction on the bundled corpus (CPU)"]
#   BUILD_DIR [build]
# Defaults: 15 seed runs and 3 sweep runs of 400 steps (819k tokens) each, about 2.5 minutes a run on one core
# (EXTRA_SETS=train.threads=1) or 1.5 on two, so 30-50 minutes in all. The wall-time column compares elapsed_s between
# runs: run it on an otherwise idle machine, or measure the cost apart with benchmarks/edl_overhead.sh.
# Runs that already finished (their metrics.jsonl holds a record of the last step) are not trained again, so an
# interrupted sweep continues where it stopped. The bundled corpus is prepared into CORPUS if absent.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
build="${BUILD_DIR:-$repo/build}"
diverge="$build/diverge"
seeds=(${SEEDS:-1 2 3})
betas=(${BETAS-0.01 0.03 0.3})
extra_sets=(${EXTRA_SETS:-})
runs="${RUNS:-runs/edl}"
report="${REPORT:-benchmarks/results/edl-cpu.md}"
title="${TITLE:-EDL reproduction on the bundled corpus (CPU)}"
variants=(${VARIANTS:-baseline edl-coarse edl-fine random sequence})
ranks="${NP:-1}"
corpus="${CORPUS:-runs/bundled-corpus}"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || commit="$commit plus uncommitted changes"

if [[ ! -x "$diverge" ]]; then
  echo "edl_repro: $diverge not found; build it first: cmake -S . -B build -G Ninja && cmake --build build" >&2
  exit 1
fi
if [[ ! -f "$corpus/manifest.json" ]]; then
  "$diverge" prepare --input data/corpus/bundled --tokenizer data/vocab/bundled/tokenizer.json --output "$corpus"
fi

# Overrides shared by every run: the corpus, the optional shortening and the caller's extras.
common=(--set data.corpus="$corpus" --set log.quiet=true)
if [[ -n "${STEPS:-}" ]]; then
  warmup=$((STEPS / 5))
  common+=(--set train.steps="$STEPS" --set optim.warmup_steps="$warmup" --set data.val_every="$STEPS")
fi
for assignment in "${extra_sets[@]}"; do
  common+=(--set "$assignment")
done
# The launcher in front of every train command: none for one process.
launch=()
if ((ranks > 1)); then
  launch=(mpirun --allow-run-as-root --oversubscribe -np "$ranks")
fi

# The step the run is configured to end at, as the resolved config says.
planned_steps() {
  "$diverge" config show --config "$1" "${@:2}" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["train"]["steps"])'
}

# Trains one run unless its log already reaches the planned last step.
train_once() {
  local config="$1" out="$2"
  shift 2
  local last
  last="$(planned_steps "$config" "${common[@]}" "$@")"
  if [[ -f "$out/metrics.jsonl" ]] && grep -q "\"type\":\"train\",\"step\":$last," "$out/metrics.jsonl"; then
    echo "edl_repro: $out done already"
    return
  fi
  rm -rf "$out"
  echo "edl_repro: training $out"
  "${launch[@]}" "$diverge" train --config "$config" "${common[@]}" "$@" --out "$out"
}

for seed in "${seeds[@]}"; do
  for variant in "${variants[@]}"; do
    train_once "configs/edl/$variant.json" "$runs/$variant-s$seed" --set train.seed="$seed"
  done
done
for beta in "${betas[@]}"; do
  train_once configs/edl/edl-coarse.json "$runs/edl-coarse-b$beta-s${seeds[0]}" \
    --set edl.beta="$beta" --set train.seed="${seeds[0]}"
done

/usr/bin/python3 "$here/edl_report.py" --runs "$runs" --diverge "$diverge" --output "$report" --title "$title" \
  --commit "$commit" \
  --command "$0 (SEEDS='${seeds[*]}' VARIANTS='${variants[*]}' BETAS='${betas[*]}' NP=$ranks STEPS='${STEPS:-}' \
EXTRA_SETS='${EXTRA_SETS:-}')"
