// CUDA RMSNorm over the last dimension: bf16 activations and weights, fp32 statistics and weight gradient.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"

namespace diverge::cuda {

// y (rows, cols) = x / sqrt(mean(x^2) + eps) * weight, the mean in fp32; rstd (rows) fp32, saved for the backward.
void rmsnorm_forward(const bf16_bits* x, const bf16_bits* weight, std::int64_t rows, std::int64_t cols, float eps,
                     bf16_bits* y, float* rstd);

// dx (rows, cols) overwritten; dweight (cols, fp32) added to, summed over rows in an order fixed by the shape.
void rmsnorm_backward(const bf16_bits* dy, const bf16_bits* x, const bf16_bits* weight, const float* rstd,
                      std::int64_t rows, std::int64_t cols, bf16_bits* dx, float* dweight);

}  // namespace diverge::cuda
