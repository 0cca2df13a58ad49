// The tensor-core forward of CUDA causal attention with grouped KV heads, for the head dims it is compiled for.
#pragma once

#include <cstdint>

#include "kernels/attention_shape.h"

#include "kernels/cuda/bf16_bits.h"

namespace diverge::cuda {

// The head dims with a tensor-core forward; attention_forward (attention.h) serves the others.
constexpr bool flash_attention_supports_head_dim(std::int64_t head_dim) { return head_dim == 64 || head_dim == 128; }

// out (B, T, H, D) = causal softmax(q k^T / sqrt(D)) v; lse (B, H, T, fp32) = the logsumexp of each scaled score
// row, as attention_backward reads it. The probabilities are rounded to bf16 before they weight v. q, k, v and out
// 16-byte aligned.
void flash_attention_forward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                             bf16_bits* out, float* lse);

}  // namespace diverge::cuda
