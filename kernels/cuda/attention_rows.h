// Where an attention kernel finds one head's rows in the (B, T, heads, D) tensors, and the KV head a query head reads.
#pragma once

#include <cstdint>

#include "kernels/attention_shape.h"
#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

// Row t of one head of a (B, T, heads, D) tensor is at base + t * stride.
struct HeadRows {
  std::int64_t base;
  std::int64_t stride;
};

__device__ __forceinline__ HeadRows head_rows(const AttentionShape& s, std::int64_t b, std::int64_t head,
                                              std::int64_t heads) {
  return {(b * s.seq * heads + head) * s.head_dim, heads * s.head_dim};
}

// Query head bh % heads of batch bh / heads, and the KV head it reads.
struct HeadPair {
  HeadRows query;
  HeadRows kv;
};

__device__ __forceinline__ HeadPair head_pair(const AttentionShape& s, std::int64_t bh) {
  const std::int64_t b = bh / s.heads, h = bh % s.heads;
  return {head_rows(s, b, h, s.heads), head_rows(s, b, h / (s.heads / s.kv_heads), s.kv_heads)};
}

}  // namespace diverge::cuda
