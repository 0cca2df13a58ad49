// CPU load-balance loss (Switch form): L = E * sum_e f_e * P_e, f from routed counts (no gradient), P mean probs.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// f_e = counts[e] / sum(counts) (the share of routed assignments; counts summed over ranks give the global scope),
// P_e = mean over tokens of the probabilities, from the router's chunk sums prob_sums (router_sum_chunks(tokens),
// experts), summed over chunks in order. Returns E * sum_e f_e P_e, which is 1 when perfectly balanced. Throws Error
// when no assignment was counted.
template <class T>
T load_balance_loss(const T* prob_sums, const std::int32_t* counts, std::int64_t tokens, std::int64_t experts);

// dlogits (tokens, experts) += the loss's gradient (times dloss), through the router softmax.
template <class T>
void load_balance_loss_backward(const T* probs, const std::int32_t* counts, std::int64_t tokens, std::int64_t experts,
                                T dloss, T* dlogits);

}  // namespace diverge::cpu
