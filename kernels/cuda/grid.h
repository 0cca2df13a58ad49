// The grid of a grid-stride loop over n elements: enough blocks to cover n once, capped where more would only queue.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

inline dim3 grid_stride_blocks(std::int64_t n, int threads) {
  const std::int64_t blocks = (n + threads - 1) / threads;
  return dim3(static_cast<unsigned>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535));
}

}  // namespace diverge::cuda
