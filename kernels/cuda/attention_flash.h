// The tensor-core forward and backward of CUDA causal attention with grouped KV heads, for the head dims they are
// compiled for.
#pragma once

#include <cstdint>

#include "kernels/attention_shape.h"

#include "kernels/cuda/bf16_bits.h"

namespace diverge::cuda {

// The head dims with tensor-core kernels; attention_forward and attention_backward (attention.h) serve the others.
constexpr bool flash_attention_supports_head_dim(std::int64_t head_dim) { return head_dim == 64 || head_dim == 128; }

// out (B, T, H, D) = causal softmax(q k^T / sqrt(D)) v; lse (B, H, T, fp32) = the logsumexp of each scaled score
// row, as attention_backward reads it. The probabilities are rounded to bf16 before they weight v. q, k, v and out
// 16-byte aligned.
void flash_attention_forward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                             bf16_bits* out, float* lse);

// dq (B, T, H, D), dk and dv (B, T, Hkv, D) overwritten from dout (B, T, H, D), the probabilities recomputed from
// lse (B, H, T); attention_backward's contract, the same bits on every run. The probabilities and the score
// gradients are rounded to bf16 before they weight dout, q and k. q, k, v, dout, dq, dk and dv 16-byte aligned.
void flash_attention_backward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                              const bf16_bits* out, const float* lse, const bf16_bits* dout, bf16_bits* dq,
                              bf16_bits* dk, bf16_bits* dv);

}  // namespace diverge::cuda
