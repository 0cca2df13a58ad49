#!/usr/bin/env bash
# The main job on the embedded default: build, tokenize the bundled corpus into shards, train tiny-cpu on them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/build.sh
corpus=runs/bundled-corpus
build/diverge prepare --input data/corpus/bundled --tokenizer data/vocab/bundled/tokenizer.json \
  --output "$corpus" --force
build/diverge data verify "$corpus"
build/diverge data inspect "$corpus"
echo "corpus: $corpus (manifest.json + shards)"
run=runs/tiny-cpu
# A demo run again replaces the last one (its logs move to $run/replaced-<time>/); flags given here go to train as
# they are, e.g. --resume auto to continue it instead.
start=(--overwrite)
[ $# -gt 0 ] && start=()
build/diverge train --config configs/tiny-cpu.json --set data.corpus="$corpus" --out "$run" "${start[@]}" "$@"
echo "run: $run (config.json, metrics.jsonl, checkpoints/; continue it with: build/diverge train" \
  "--config configs/tiny-cpu.json --out $run --resume auto)"
