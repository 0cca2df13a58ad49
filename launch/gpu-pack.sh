#!/usr/bin/env bash
# Packs what launch/gpu-check.sh runs from a CUDA build (diverge, diverge_tests, kernel_lab, stripped) into
# build-gpu/, small enough to travel with the checkout to a GPU machine that has the same CUDA toolkit; there,
# DIVERGE_BUILD=build-gpu launch/gpu-check.sh uses it instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
from=${1:-build}
ninja -C "$from" diverge diverge_tests kernel_lab
"$from/diverge" env | grep -q 'CUDA backend: built with CUDA' || {
  echo "gpu-pack: $from is not an nvcc build of the CUDA backend (launch/build.sh -DDIVERGE_CUDA=ON)" >&2
  exit 1
}
rm -rf build-gpu
mkdir -p build-gpu
for binary in diverge diverge_tests kernel_lab; do
  strip -o "build-gpu/$binary" "$from/$binary"
done
du -sh build-gpu/*
