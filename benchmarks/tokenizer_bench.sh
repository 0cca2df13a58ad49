#!/usr/bin/env bash
# Times diverge's tokenizer against OpenAI's tiktoken (its Rust core through the Python binding) on one core,
# cl100k_base, on the same ~10 MB mixed text, and checks that the ids are identical.
#
# Usage: benchmarks/tokenizer_bench.sh            (REPS=5 and BUILD_DIR=build by default)
# Needs a built `diverge` (cmake --build build); makes the reference venv (launch/reference-venv.sh) if needed. The
# corpus is written to corpus-cache/ and the table to benchmarks/results/tokenizer-cl100k.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
diverge="$build/diverge"

if [[ ! -x "$diverge" ]]; then
  echo "tokenizer_bench: $diverge not found; build it first: cmake -S . -B build -G Ninja && cmake --build build" >&2
  exit 1
fi
bash "$repo/launch/reference-venv.sh"

commit="$(git -C "$repo" rev-parse --short HEAD)"
if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]]; then
  commit="$commit (with uncommitted changes)"
fi

taskset -c 0 "$repo/tests/reference/venv-python.sh" "$here/tokenizer_bench.py" \
  --diverge "$diverge" \
  --work "$repo/corpus-cache/tokenizer-bench" \
  --results "$here/results/tokenizer-cl100k.md" \
  --reps "${REPS:-5}" \
  --commit "$commit"
