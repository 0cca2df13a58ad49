// CPU MoE router: softmax over experts, top-k choice (ties to the lower expert index), optional gate renormalisation;
// the forced-balance assignment benchmarks route by.
#pragma once

#include <cstdint>

#include "kernels/router_sums.h"

namespace diverge::cpu {

using diverge::RouterAuxGradPtrs;
using diverge::RouterSumPtrs;

struct RouterShape {
  std::int64_t tokens;
  std::int64_t experts;
  std::int64_t top_k;
  bool renormalize;  // gates divided by the sum of the chosen probabilities
};

// probs (tokens, experts) = softmax(logits); topk (tokens, top_k) = the chosen experts, most probable first;
// gates (tokens, top_k) = their probabilities, renormalised to sum 1 when asked; the sums, where given: each chunk's
// probabilities summed in double in row order, then rounded, and each row's logsumexp.
template <class T>
void router_forward(const RouterShape& s, const T* logits, T* probs, std::int32_t* topk, T* gates,
                    RouterSumPtrs<T> sums = {});

// dlogits (tokens, experts) from, each where not null: d gates (tokens, top_k) (null: the gates do not depend on the
// logits, as balanced_routing's), d probs (tokens, experts), and the auxiliary losses' gradients. One pass, a token
// at a time; overwritten, or added to when accumulate.
template <class T>
void router_backward(const RouterShape& s, const T* probs, const std::int32_t* topk, const T* gates, const T* dgates,
                     const T* dprobs, RouterAuxGradPtrs<T> aux, T* dlogits, bool accumulate);

// Forced balance (benchmarks): topk (tokens, top_k) [t][j] = (t * top_k + j) mod experts and every gate 1 / top_k,
// whatever the logits. Consecutive copies take consecutive experts, so each expert gets tokens * top_k / experts
// rows (exactly, when experts divides tokens * top_k; else the first ones one more), and a token's top_k <= experts
// choices are distinct.
template <class T>
void balanced_routing(std::int64_t tokens, std::int64_t experts, std::int64_t top_k, std::int32_t* topk, T* gates);

}  // namespace diverge::cpu
