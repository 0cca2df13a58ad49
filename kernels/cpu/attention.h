// CPU causal self-attention with grouped KV heads: softmax(q k^T / sqrt(D)) v per head, and its backward.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// q, out (batch, seq, heads, head_dim); k, v (batch, seq, kv_heads, head_dim). Query head h reads KV head
// h / (heads / kv_heads), as HF's repeat_kv does.
struct AttentionShape {
  std::int64_t batch;
  std::int64_t seq;
  std::int64_t heads;
  std::int64_t kv_heads;
  std::int64_t head_dim;
};

// out = causal softmax(q k^T * scale) v with scale = 1/sqrt(head_dim); lse (batch, heads, seq) keeps the
// logsumexp of each score row so the backward pass recomputes probabilities without storing them.
template <class T>
void attention_forward(const AttentionShape& s, const T* q, const T* k, const T* v, T* out, T* lse);

// dq (like q), dk and dv (like k) are overwritten.
template <class T>
void attention_backward(const AttentionShape& s, const T* q, const T* k, const T* v, const T* out, const T* lse,
                        const T* dout, T* dq, T* dk, T* dv);

}  // namespace diverge::cpu
