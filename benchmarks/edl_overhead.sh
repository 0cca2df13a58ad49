#!/usr/bin/env bash
# Wall-time cost of EDL: configs/edl/baseline vs edl-coarse trained alternately on an idle machine, median step rate.
#
# Usage: benchmarks/edl_overhead.sh      (ROUNDS=3, STEPS=100, THREADS=2; needs a built diverge and
# runs/bundled-corpus). Both configs log L_EDL and the routing metrics (the baseline at beta = 0), so the difference
# is the EDL term in the loss and its backward into the router logits. Prints one markdown table.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
diverge="${BUILD_DIR:-$repo/build}/diverge"
rounds="${ROUNDS:-3}"
steps="${STEPS:-100}"
threads="${THREADS:-2}"
[[ -x "$diverge" ]] || { echo "edl_overhead: build diverge first (launch/build.sh)" >&2; exit 1; }
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

for round in $(seq "$rounds"); do
  for variant in baseline edl-coarse; do
    "$diverge" train --config "$repo/configs/edl/$variant.json" --set data.corpus="$repo/runs/bundled-corpus" \
      --set train.steps="$steps" --set optim.warmup_steps=10 --set train.threads="$threads" --set log.every=1 \
      --set data.val_every=0 --set train.checkpoint_every=0 --set log.quiet=true --out "$scratch/$variant-$round"
  done
done

/usr/bin/python3 - "$scratch" "$rounds" <<'PY'
import glob, json, statistics, sys
scratch, rounds = sys.argv[1], int(sys.argv[2])
def rates(variant):
    out = []
    for path in glob.glob(f"{scratch}/{variant}-*/metrics.jsonl"):
        out += [r["tokens_per_s"] for r in map(json.loads, open(path)) if r.get("type") == "train"][1:]
    return statistics.median(out)
base, edl = rates("baseline"), rates("edl-coarse")
print("| run | median tokens/s |\n|---|---|")
print(f"| baseline (beta 0, metrics on) | {base:,.0f} |\n| edl-coarse (beta 0.1) | {edl:,.0f} |")
print(f"\nEDL costs {base / edl - 1:+.1%} of step time ({rounds} alternating rounds per config).")
PY
