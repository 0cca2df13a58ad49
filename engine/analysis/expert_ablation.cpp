// Disabling a domain's favourite experts through router logit biases and measuring every domain's loss.
#include "engine/analysis/expert_ablation.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "engine/analysis/domain_pass.h"
#include "engine/error.h"

namespace diverge::analysis {

std::vector<std::int32_t> most_used_experts(const ops::RoutingSums& sums, std::int32_t domain, std::int64_t k) {
  std::vector<std::int32_t> experts(static_cast<std::size_t>(sums.experts));
  std::iota(experts.begin(), experts.end(), 0);
  const double* row = sums.assignments.data() + domain * sums.experts;
  std::stable_sort(experts.begin(), experts.end(), [row](std::int32_t a, std::int32_t b) { return row[a] > row[b]; });
  experts.resize(static_cast<std::size_t>(k));
  return experts;
}

std::vector<DomainAblation> ablation_test(model::Transformer& model, const config::ModelConfig& m,
                                          const std::vector<DomainBatches>& domains,
                                          const std::vector<ops::RoutingSums>& baseline, std::int64_t k) {
  check(k >= 1 && k <= m.n_experts - m.top_k, "--ablate",
        "must be in [1, n_experts - top_k] = [1, " + std::to_string(m.n_experts - m.top_k) + "], got " +
            std::to_string(k));
  std::vector<DomainAblation> results;
  for (std::size_t j = 0; j < domains.size(); ++j) {
    DomainAblation result{static_cast<std::int32_t>(j), {}, {}};
    for (std::size_t i = 0; i < baseline.size(); ++i) {
      result.disabled.push_back(most_used_experts(baseline[i], result.domain, k));
      std::vector<float> bias(static_cast<std::size_t>(m.n_experts), 0.0f);  // (E)
      for (std::int32_t e : result.disabled.back())
        bias[static_cast<std::size_t>(e)] = -std::numeric_limits<float>::infinity();
      model.set_router_bias(m.first_k_dense + static_cast<std::int64_t>(i), bias);
    }
    result.loss = run_domain_pass(model, domains, false).loss;
    for (std::size_t i = 0; i < baseline.size(); ++i)
      model.set_router_bias(m.first_k_dense + static_cast<std::int64_t>(i), {});
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace diverge::analysis
