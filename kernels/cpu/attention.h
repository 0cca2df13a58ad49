// CPU causal self-attention with grouped KV heads: softmax(q k^T / sqrt(D)) v per head, and its backward.
#pragma once

#include <cstdint>

#include "kernels/attention_shape.h"

namespace diverge::cpu {

using diverge::AttentionShape;

// out = causal softmax(q k^T * scale) v with scale = 1/sqrt(head_dim); lse (batch, heads, seq) keeps the
// logsumexp of each score row so the backward pass recomputes probabilities without storing them.
template <class T>
void attention_forward(const AttentionShape& s, const T* q, const T* k, const T* v, T* out, T* lse);

// dq (like q), dk and dv (like k) are overwritten.
template <class T>
void attention_backward(const AttentionShape& s, const T* q, const T* k, const T* v, const T* out, const T* lse,
                        const T* dout, T* dq, T* dk, T* dv);

}  // namespace diverge::cpu
