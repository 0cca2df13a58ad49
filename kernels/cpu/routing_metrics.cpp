// CPU routing-metric sums: one pass over the sequence means and one over the top-k choices, in sequence order.
#include "kernels/cpu/routing_metrics.h"

#include <string>
#include <vector>

#include "engine/error.h"
#include "kernels/cpu/divergence.h"

namespace diverge::cpu {

namespace {

constexpr const char* kOp = "routing_sums_add";

}  // namespace

// Checked before anything is added, so a bad micro-batch leaves the window's sums as they were. The message is
// built only on failure: this loop sees every routed copy.
void check_topk(const SequenceShape& s, const std::int32_t* topk, std::int64_t top_k) {
  for (std::int64_t c = 0; c < s.sequences * s.tokens * top_k; ++c) {
    if (topk[c] >= 0 && topk[c] < s.experts) continue;
    throw Error(kOp, "topk of token " + std::to_string(c / top_k) + " is " + std::to_string(topk[c]) +
                         ", expected an expert in [0, " + std::to_string(s.experts) + ")");
  }
}

namespace {

void add_assignments(const SequenceShape& s, const std::int32_t* domains, const std::int32_t* topk,
                     std::int64_t top_k, const RoutingSumsRef& out) {
  for (std::int64_t q = 0; q < s.sequences; ++q) {
    const std::int64_t j = domains[q];
    out.tokens[j] += static_cast<double>(s.tokens);
    const std::int32_t* chosen = topk + q * s.tokens * top_k;
    for (std::int64_t c = 0; c < s.tokens * top_k; ++c) out.assignments[j * s.experts + chosen[c]] += 1.0;
  }
}

}  // namespace

template <class T>
void routing_sums_add(const SequenceShape& s, const T* probs, const std::int32_t* mask, const std::int32_t* domains,
                      const std::int32_t* topk, std::int64_t top_k, const RoutingSumsRef& out) {
  check_domains(kOp, domains, s);
  if (topk != nullptr) check_topk(s, topk, top_k);
  const std::vector<double> means = sequence_means(probs, mask, target_counts(kOp, mask, s), s);  // (S, E)
  for (std::int64_t q = 0; q < s.sequences; ++q) {
    const std::int64_t j = domains[q];
    const double* mean = means.data() + q * s.experts;
    out.sequences[j] += 1.0;
    out.q_log_q[j] += sum_p_log_p(mean, s.experts);
    for (std::int64_t e = 0; e < s.experts; ++e) out.q_sum[j * s.experts + e] += mean[e];
  }
  if (topk != nullptr) add_assignments(s, domains, topk, top_k, out);
}

template void routing_sums_add<float>(const SequenceShape&, const float*, const std::int32_t*, const std::int32_t*,
                                      const std::int32_t*, std::int64_t, const RoutingSumsRef&);
template void routing_sums_add<double>(const SequenceShape&, const double*, const std::int32_t*, const std::int32_t*,
                                       const std::int32_t*, std::int64_t, const RoutingSumsRef&);

}  // namespace diverge::cpu
