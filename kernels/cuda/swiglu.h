// CUDA SwiGLU on bf16: out = silu(gate) * up, elementwise in fp32, with its backward.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"

namespace diverge::cuda {

// n elements each.
void swiglu_forward(const bf16_bits* gate, const bf16_bits* up, std::int64_t n, bf16_bits* out);
// dgate and dup overwritten from dout; dgate may alias dout (each element is read first).
void swiglu_backward(const bf16_bits* dout, const bf16_bits* gate, const bf16_bits* up, std::int64_t n,
                     bf16_bits* dgate, bf16_bits* dup);

}  // namespace diverge::cuda
