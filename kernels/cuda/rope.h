// CUDA rotary position embedding on bf16 (B, T, H, D) tensors, the cos/sin tables built once per shape.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"
#include "kernels/rope_shape.h"

namespace diverge::cuda {

using diverge::RopeShape;

// out = x rotated by +angle (direction 1) or -angle (direction -1, the backward), the angles of kernels/cpu/rope.h;
// out may alias x. The tables are computed on the host exactly as the CPU computes them and uploaded once for each
// (theta, head_dim), then reused while seq does not grow.
void rope_rotate(const RopeShape& s, const bf16_bits* x, float theta, float direction, bf16_bits* out);

}  // namespace diverge::cuda
