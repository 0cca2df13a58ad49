// CPU MoE router: softmax over experts, top-k choice (ties to the lower expert index), optional gate renormalisation.
#pragma once

#include <cstdint>

namespace diverge::cpu {

struct RouterShape {
  std::int64_t tokens;
  std::int64_t experts;
  std::int64_t top_k;
  bool renormalize;  // gates divided by the sum of the chosen probabilities
};

// probs (tokens, experts) = softmax(logits); topk (tokens, top_k) = the chosen experts, most probable first;
// gates (tokens, top_k) = their probabilities, renormalised to sum 1 when asked.
template <class T>
void router_forward(const RouterShape& s, const T* logits, T* probs, std::int32_t* topk, T* gates);

// dlogits (tokens, experts) from d gates (tokens, top_k) and, when not null, d probs (tokens, experts) (the dense
// probabilities feed the auxiliary losses). Overwritten, or added to when accumulate.
template <class T>
void router_backward(const RouterShape& s, const T* probs, const std::int32_t* topk, const T* gates, const T* dgates,
                     const T* dprobs, T* dlogits, bool accumulate);

}  // namespace diverge::cpu
