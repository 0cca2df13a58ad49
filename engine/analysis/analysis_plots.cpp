// Rendering one layer's routing metrics as heatmaps and a ternary plot.
#include "engine/analysis/analysis_plots.h"

#include <cmath>

#include "engine/files.h"
#include "engine/plot/heatmap.h"
#include "engine/plot/ternary.h"

namespace diverge::analysis {

namespace {

std::vector<std::string> expert_names(std::size_t experts) {
  std::vector<std::string> names;
  for (std::size_t e = 0; e < experts; ++e) names.push_back(std::to_string(e));
  return names;
}

// domain_share is (E, M); the heatmap reads domains down and experts across.
std::vector<double> domain_by_expert(const ops::RoutingMetrics& metrics, std::size_t domains) {
  const std::size_t experts = metrics.load_share.size();
  std::vector<double> values(domains * experts);  // (M, E)
  for (std::size_t e = 0; e < experts; ++e)
    for (std::size_t j = 0; j < domains; ++j) values[j * experts + e] = metrics.domain_share[e * domains + j];
  return values;
}

plot::TernaryChart ternary_chart(std::int64_t layer, const std::vector<std::string>& domains,
                                 const ops::RoutingMetrics& metrics) {
  plot::TernaryChart chart{"layer " + std::to_string(layer) + ": experts by domain share",
                           {domains[0], domains[1], domains[2]},
                           {{"experts", {}, {}}}};
  auto& series = chart.series.front();
  for (std::size_t e = 0; e < metrics.load_share.size(); ++e) {
    const double* share = metrics.domain_share.data() + e * 3;
    if (share[0] + share[1] + share[2] <= 0.0) continue;  // an unused expert has no position
    series.points.push_back({share[0], share[1], share[2]});
    series.labels.push_back(std::to_string(e));
  }
  return chart;
}

}  // namespace

std::vector<std::string> write_layer_plots(const std::filesystem::path& dir, std::int64_t layer,
                                           const std::vector<std::string>& domains,
                                           const ops::RoutingMetrics& metrics) {
  const std::string prefix = "layer" + std::to_string(layer);
  const std::string title = "layer " + std::to_string(layer);
  std::vector<std::string> files;
  plot::Heatmap usage{title + ": expert share of each domain's tokens (normalised per expert)",
                      "expert", "domain", "domain share", domains, expert_names(metrics.load_share.size()),
                      domain_by_expert(metrics, domains.size()), false, 0.0, 1.0};
  files.push_back(prefix + "_domain_expert.svg");
  write_file_atomic(dir / files.back(), plot::render_heatmap(usage));
  plot::Heatmap jsd{title + ": JSD between domain routing distributions", "domain", "domain", "JSD", domains, domains,
                    metrics.jsd, true, 0.0, std::log(2.0)};
  files.push_back(prefix + "_jsd.svg");
  write_file_atomic(dir / files.back(), plot::render_heatmap(jsd));
  if (domains.size() == 3) {
    files.push_back(prefix + "_ternary.svg");
    write_file_atomic(dir / files.back(), plot::render_ternary(ternary_chart(layer, domains, metrics)));
  }
  return files;
}

}  // namespace diverge::analysis
