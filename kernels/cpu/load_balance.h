// CPU load-balance loss (Switch form): L = E * sum_e f_e * P_e, f from routed counts (no gradient), P mean probs.
// Its gradient joins the router's backward (kernels/cpu/router.h).
#pragma once

#include <cstdint>
#include <vector>

namespace diverge::cpu {

// f_e = counts[e] / sum(counts) (the share of routed assignments; counts summed over ranks give the global scope),
// P_e = mean over tokens of the probabilities, from the router's chunk sums prob_sums (router_sum_chunks(tokens),
// experts), summed over chunks in order. Returns E * sum_e f_e P_e, which is 1 when perfectly balanced. Throws Error
// when no assignment was counted.
template <class T>
T load_balance_loss(const T* prob_sums, const std::int32_t* counts, std::int64_t tokens, std::int64_t experts);

// f (experts) = counts / sum(counts), what the loss weighs each expert's P by. Throws Error naming op when no
// assignment was counted.
template <class T>
std::vector<T> routed_fraction(const char* op, const std::int32_t* counts, std::int64_t experts);

}  // namespace diverge::cpu
