// Turning the analysis results into JSON, domains named by label.
#include "engine/analysis/analysis_report.h"

#include <cmath>

namespace diverge::analysis {

namespace {

nlohmann::json by_domain(const std::vector<std::string>& domains, const std::vector<double>& values) {
  nlohmann::json out = nlohmann::json::object();
  for (std::size_t j = 0; j < domains.size(); ++j) out[domains[j]] = values[j];
  return out;
}

std::vector<double> differences(const std::vector<double>& values, const std::vector<double>& baseline) {
  std::vector<double> out;
  for (std::size_t j = 0; j < values.size(); ++j) out.push_back(values[j] - baseline[j]);
  return out;
}

// Domain j's top-k assignments spread over the experts, as shares summing to 1 (all 0 without assignments).
std::vector<double> domain_usage(const ops::RoutingSums& sums, std::size_t j) {
  const auto experts = static_cast<std::size_t>(sums.experts);
  const double* row = sums.assignments.data() + j * experts;
  double total = 0.0;
  for (std::size_t e = 0; e < experts; ++e) total += row[e];
  std::vector<double> usage(experts, 0.0);  // (E)
  if (total > 0.0)
    for (std::size_t e = 0; e < experts; ++e) usage[e] = row[e] / total;
  return usage;
}

nlohmann::json matrix(const std::vector<double>& values, std::size_t rows) {
  nlohmann::json out = nlohmann::json::array();
  const std::size_t columns = rows == 0 ? 0 : values.size() / rows;
  for (std::size_t r = 0; r < rows; ++r)
    out.push_back(std::vector<double>(values.begin() + static_cast<std::ptrdiff_t>(r * columns),
                                      values.begin() + static_cast<std::ptrdiff_t>((r + 1) * columns)));
  return out;
}

}  // namespace

nlohmann::json layer_json(std::int64_t layer, const std::vector<std::string>& domains, const ops::RoutingSums& sums,
                          const ops::RoutingMetrics& metrics) {
  nlohmann::json usage = nlohmann::json::object();
  for (std::size_t j = 0; j < domains.size(); ++j) usage[domains[j]] = domain_usage(sums, j);
  return {{"layer", layer},
          {"expert_usage", metrics.load_share},
          {"domain_usage", usage},
          {"domain_share", matrix(metrics.domain_share, metrics.load_share.size())},
          {"jsd", matrix(metrics.jsd, domains.size())},
          {"jsd_mean", metrics.jsd_mean},
          {"d_total", metrics.d_total},
          {"d_inter", metrics.d_inter},
          {"d_intra", metrics.d_intra},
          {"specialised_fraction", metrics.specialised_fraction},
          {"load_cv", metrics.load_cv},
          {"dead_experts", metrics.dead_experts}};
}

nlohmann::json permutation_json(const LayerPermutation& result, const std::vector<std::string>& domains,
                                const std::vector<double>& baseline) {
  const std::vector<double> rise = differences(result.loss, baseline);
  std::vector<double> perplexity_ratio;
  for (double r : rise) perplexity_ratio.push_back(std::exp(r));
  return {{"layer", result.layer},
          {"permutation", result.permutation},
          {"loss", by_domain(domains, result.loss)},
          {"loss_rise", by_domain(domains, rise)},
          {"perplexity_ratio", by_domain(domains, perplexity_ratio)}};
}

nlohmann::json ablation_json(const DomainAblation& result, const std::vector<std::int64_t>& layers,
                             const std::vector<std::string>& domains, const std::vector<double>& baseline) {
  nlohmann::json disabled = nlohmann::json::array();
  for (std::size_t i = 0; i < layers.size(); ++i)
    disabled.push_back({{"layer", layers[i]}, {"experts", result.disabled[i]}});
  return {{"domain", domains[static_cast<std::size_t>(result.domain)]},
          {"disabled", disabled},
          {"loss", by_domain(domains, result.loss)},
          {"loss_change", by_domain(domains, differences(result.loss, baseline))}};
}

}  // namespace diverge::analysis
