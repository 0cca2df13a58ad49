#!/usr/bin/env bash
# Times diverge's tokenizer against OpenAI's tiktoken (native and WASM) and gpt-tokenizer on one core, cl100k_base.
#
# Usage: benchmarks/tokenizer_bench.sh            (REPS=5 and BUILD_DIR=build by default)
# Needs a built `diverge` (cmake --build build) and npm. The ~10 MB corpus is written to corpus-cache/ and the
# table to benchmarks/results/tokenizer-cl100k.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
diverge="$build/diverge"

if [[ ! -x "$diverge" ]]; then
  echo "tokenizer_bench: $diverge not found; build it first: cmake -S . -B build -G Ninja && cmake --build build" >&2
  exit 1
fi
if [[ ! -d "$here/node_modules" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

commit="$(git -C "$repo" rev-parse --short HEAD)"
if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]]; then
  commit="$commit (with uncommitted changes)"
fi

taskset -c 0 node "$here/tokenizer_bench.mjs" \
  --diverge "$diverge" \
  --vocab "$repo/data/vocab/tiktoken/cl100k_base.tiktoken" \
  --work "$repo/corpus-cache/tokenizer-bench" \
  --results "$here/results/tokenizer-cl100k.md" \
  --reps "${REPS:-5}" \
  --commit "$commit"
