#!/usr/bin/env bash
# Configures and builds Diverge into build/ (Release; CUDA on when nvcc is found). Extra args go to cmake configure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup-deps.sh
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
elif [ $# -gt 0 ]; then
  cmake -S . -B build "$@" >/dev/null
fi
cmake --build build -j"$(nproc)"
