// The CPU thread count of a run: one setting for OpenMP (the kernels' loops, GEMM tiles included) and OpenBLAS.
#pragma once

#include <cstdint>

namespace diverge {

// Sets OpenMP's and OpenBLAS's thread counts to `threads` (0 = every hardware thread) and returns the count used.
int set_compute_threads(std::int64_t threads);

}  // namespace diverge
