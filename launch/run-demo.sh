#!/usr/bin/env bash
# The main job on the embedded default: build, tokenize the bundled corpus into shards, print the per-domain table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/build.sh
corpus=runs/bundled-corpus
build/diverge prepare --input data/corpus/bundled --tokenizer data/vocab/bundled/tokenizer.json \
  --output "$corpus" --force
build/diverge data verify "$corpus"
build/diverge data inspect "$corpus"
echo "corpus: $corpus (manifest.json + shards)"
