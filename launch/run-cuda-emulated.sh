#!/usr/bin/env bash
# Builds the CUDA backend on the CUDA emulator (tests/emulator/EMULATOR.md) under AddressSanitizer into build-emu/
# and runs every test that runs CUDA kernels (CTest label `cuda`), under both of the emulator's stream orders. Needs
# the CUDA toolkit's headers, not a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup-deps.sh
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f build-emu/CMakeCache.txt ]; then
  cmake -S . -B build-emu "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIVERGE_CUDA_EMULATOR=ON \
    -DDIVERGE_SANITIZE=address "$@" >/dev/null
elif [ $# -gt 0 ]; then
  cmake -S . -B build-emu "$@" >/dev/null
fi
cmake --build build-emu -j"$(nproc)" --target diverge diverge_tests emulator_bench kernel_lab
ctest --test-dir build-emu -L cuda --output-on-failure -j"$(nproc)"
# Again with the compute stream deferred until the host waits for it (tests/emulator/EMULATOR.md, Streams): a host
# read of device results, or a side-stream collective, that does not wait for the kernels it needs reads stale data.
DIVERGE_EMU_DEFER=first ctest --test-dir build-emu -L cuda --output-on-failure -j"$(nproc)"
