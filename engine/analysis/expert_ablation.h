// Domain-expert ablation: each domain's most used experts disabled in every MoE layer, every domain re-evaluated.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/analysis/domain_batches.h"
#include "engine/config/sections.h"
#include "kernels/ops.h"
#include "model/transformer.h"

namespace diverge::analysis {

struct DomainAblation {
  std::int32_t domain = 0;
  std::vector<std::vector<std::int32_t>> disabled;  // (MoE layers, k): the experts disabled in each layer
  std::vector<double> loss;                         // (M): every domain's loss with them disabled
};

// The k experts with the most top-k assignments from `domain` in one layer's sums, busiest first (ties: lower id).
std::vector<std::int32_t> most_used_experts(const ops::RoutingSums& sums, std::int32_t domain, std::int64_t k);

// For each domain: its k most used experts of every MoE layer (from baseline, the unmodified pass's sums) get
// router logit -inf, the domains are evaluated, the biases removed. k must leave top_k experts enabled.
std::vector<DomainAblation> ablation_test(model::Transformer& model, const config::ModelConfig& m,
                                          const std::vector<DomainBatches>& domains,
                                          const std::vector<ops::RoutingSums>& baseline, std::int64_t k);

}  // namespace diverge::analysis
