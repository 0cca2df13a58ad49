// CPU load-balance loss: P from the router's chunk sums, chunks in order (deterministic); its gradient is the same
// for every token, E f_e / tokens per probability, then the softmax backward.
#include "kernels/cpu/load_balance.h"

#include <vector>

#include "engine/error.h"
#include "kernels/cpu/softmax.h"
#include "kernels/router_sums.h"

namespace diverge::cpu {

namespace {

// f (experts) = counts / sum(counts).
template <class T>
std::vector<T> routed_fraction(const std::int32_t* counts, std::int64_t experts) {
  std::int64_t total = 0;
  for (std::int64_t e = 0; e < experts; ++e) total += counts[e];
  check(total > 0, "load_balance_loss", "expert counts are all zero: no routed assignments to balance");
  std::vector<T> fraction(static_cast<std::size_t>(experts));
  for (std::int64_t e = 0; e < experts; ++e) fraction[e] = static_cast<T>(counts[e]) / static_cast<T>(total);
  return fraction;
}

}  // namespace

template <class T>
T load_balance_loss(const T* prob_sums, const std::int32_t* counts, std::int64_t tokens, std::int64_t experts) {
  const std::vector<T> fraction = routed_fraction<T>(counts, experts);
  std::vector<double> prob_sum(static_cast<std::size_t>(experts), 0.0);  // (experts)
  for (std::int64_t c = 0; c < router_sum_chunks(tokens); ++c)
    for (std::int64_t e = 0; e < experts; ++e) prob_sum[e] += static_cast<double>(prob_sums[c * experts + e]);
  double loss = 0.0;
  for (std::int64_t e = 0; e < experts; ++e) loss += static_cast<double>(fraction[e]) * prob_sum[e];
  return static_cast<T>(static_cast<double>(experts) * loss / static_cast<double>(tokens));
}

template <class T>
void load_balance_loss_backward(const T* probs, const std::int32_t* counts, std::int64_t tokens, std::int64_t experts,
                                T dloss, T* dlogits) {
  const std::vector<T> fraction = routed_fraction<T>(counts, experts);
  std::vector<T> dprobs(static_cast<std::size_t>(tokens * experts));  // (tokens, experts)
  const T scale = dloss * static_cast<T>(experts) / static_cast<T>(tokens);
  for (std::int64_t t = 0; t < tokens; ++t)
    for (std::int64_t e = 0; e < experts; ++e) dprobs[t * experts + e] = scale * fraction[e];
  softmax_backward_accumulate(probs, dprobs.data(), tokens, experts, dlogits);
}

template float load_balance_loss<float>(const float*, const std::int32_t*, std::int64_t, std::int64_t);
template double load_balance_loss<double>(const double*, const std::int32_t*, std::int64_t, std::int64_t);
template void load_balance_loss_backward<float>(const float*, const std::int32_t*, std::int64_t, std::int64_t, float,
                                                float*);
template void load_balance_loss_backward<double>(const double*, const std::int32_t*, std::int64_t, std::int64_t, double,
                                                 double*);

}  // namespace diverge::cpu
