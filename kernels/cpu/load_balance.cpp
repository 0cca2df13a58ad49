// CPU load-balance loss: P from the router's chunk sums, chunks in order (deterministic).
#include "kernels/cpu/load_balance.h"

#include <vector>

#include "engine/error.h"
#include "kernels/router_sums.h"

namespace diverge::cpu {

template <class T>
std::vector<T> routed_fraction(const char* op, const std::int32_t* counts, std::int64_t experts) {
  std::int64_t total = 0;
  for (std::int64_t e = 0; e < experts; ++e) total += counts[e];
  check(total > 0, op, "expert counts are all zero: no routed assignments to balance");
  std::vector<T> fraction(static_cast<std::size_t>(experts));
  for (std::int64_t e = 0; e < experts; ++e) fraction[e] = static_cast<T>(counts[e]) / static_cast<T>(total);
  return fraction;
}

template <class T>
T load_balance_loss(const T* prob_sums, const std::int32_t* counts, std::int64_t tokens, std::int64_t experts) {
  const std::vector<T> fraction = routed_fraction<T>("load_balance_loss", counts, experts);
  std::vector<double> prob_sum(static_cast<std::size_t>(experts), 0.0);  // (experts)
  for (std::int64_t c = 0; c < router_sum_chunks(tokens); ++c)
    for (std::int64_t e = 0; e < experts; ++e) prob_sum[e] += static_cast<double>(prob_sums[c * experts + e]);
  double loss = 0.0;
  for (std::int64_t e = 0; e < experts; ++e) loss += static_cast<double>(fraction[e]) * prob_sum[e];
  return static_cast<T>(static_cast<double>(experts) * loss / static_cast<double>(tokens));
}

template float load_balance_loss<float>(const float*, const std::int32_t*, std::int64_t, std::int64_t);
template double load_balance_loss<double>(const double*, const std::int32_t*, std::int64_t, std::int64_t);
template std::vector<float> routed_fraction<float>(const char*, const std::int32_t*, std::int64_t);
template std::vector<double> routed_fraction<double>(const char*, const std::int32_t*, std::int64_t);

}  // namespace diverge::cpu
