// Warp reductions every kernel family shares: butterfly sums and maxima over a full warp. Included by .cu files.
#pragma once

#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

// Both lanes of a pair add (or compare) the same two partials, and addition is commutative, so every lane ends with
// the same bits, in an order fixed by the lane count: the same result on every run.
template <class T>
__device__ __forceinline__ T warp_sum(T value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

__device__ __forceinline__ float warp_max(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

}  // namespace diverge::cuda
