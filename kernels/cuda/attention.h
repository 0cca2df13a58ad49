// CUDA causal self-attention with grouped KV heads on bf16 tensors, fp32 inside, and its deterministic backward.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/attention_shape.h"

#include "kernels/cuda/bf16_bits.h"

namespace diverge::cuda {

using diverge::AttentionShape;

// The head dims the kernels are compiled for (every config's d_model / n_heads is 32); the op refuses others.
inline constexpr int kAttentionHeadDims[] = {16, 32, 64, 128};

constexpr bool attention_supports_head_dim(std::int64_t head_dim) {
  for (const int supported : kAttentionHeadDims)
    if (head_dim == supported) return true;
  return false;
}

// The softmax scale 1 / sqrt(D), the CPU reference's to the bit.
inline float attention_scale(const AttentionShape& s) { return 1.0f / std::sqrt(static_cast<float>(s.head_dim)); }

// out (B, T, H, D) = causal softmax(q k^T / sqrt(D)) v; lse (B, H, T, fp32) = the logsumexp of each scaled score row.
void attention_forward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                       bf16_bits* out, float* lse);

// dq (B, T, H, D), dk and dv (B, T, Hkv, D) overwritten from dout (B, T, H, D), the probabilities recomputed from
// lse (B, H, T). Every gradient sums in an order fixed by the shape: the same bits on every run.
void attention_backward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                        const bf16_bits* out, const float* lse, const bf16_bits* dout, bf16_bits* dq, bf16_bits* dk,
                        bf16_bits* dv);

}  // namespace diverge::cuda
