// The row projections delta = rowsum(dout * out) that both CUDA attention backwards subtract from every score
// gradient of a row.
#pragma once

#include "kernels/attention_shape.h"

#include "kernels/cuda/bf16_bits.h"

namespace diverge::cuda {

// delta (B, H, T, fp32) from out and dout (B, T, H, D), in device scratch that the next call overwrites.
const float* attention_delta(const AttentionShape& s, const bf16_bits* out, const bf16_bits* dout);

}  // namespace diverge::cuda
