// analysis.json: the routing metrics, losses, permutation and ablation results of one checkpoint as JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/analysis/expert_ablation.h"
#include "engine/analysis/permutation_test.h"
#include "kernels/ops.h"

namespace diverge::analysis {

// {"layer", "expert_usage" (E), "domain_usage" {domain: (E) share of its assignments}, "domain_share"
//  {expert: {domain: share}} as (E) objects, "jsd" (M, M), "jsd_mean", "d_total", "d_inter", "d_intra",
//  "specialised_fraction", "load_cv", "dead_experts"}
nlohmann::json layer_json(std::int64_t layer, const std::vector<std::string>& domains, const ops::RoutingSums& sums,
                          const ops::RoutingMetrics& metrics);

// {"layer", "permutation" (E), "loss" {domain}, "loss_rise" {domain}, "perplexity_ratio" {domain}}
nlohmann::json permutation_json(const LayerPermutation& result, const std::vector<std::string>& domains,
                                const std::vector<double>& baseline);

// {"domain", "disabled" [{"layer", "experts"}], "loss" {domain}, "loss_change" {domain}}
nlohmann::json ablation_json(const DomainAblation& result, const std::vector<std::int64_t>& layers,
                             const std::vector<std::string>& domains, const std::vector<double>& baseline);

}  // namespace diverge::analysis
