// CUDA elementwise passes over flat arrays: the residual add on bf16 and the rounding of fp32 values to bf16.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"

namespace diverge::cuda {

// out (n) = a + b, summed in fp32 and rounded once; out may alias a or b.
void add(const bf16_bits* a, const bf16_bits* b, std::int64_t n, bf16_bits* out);

// out (n) = x rounded to the nearest bf16 (ties to even).
void round_to_bf16(const float* x, std::int64_t n, bf16_bits* out);

}  // namespace diverge::cuda
