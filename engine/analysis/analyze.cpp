// The analysis run: open the checkpoint, measure the routing, run the permutation and ablation tests, write out.
#include "engine/analysis/analyze.h"

#include <algorithm>

#include "engine/analysis/analysis_model.h"
#include "engine/analysis/analysis_plots.h"
#include "engine/analysis/analysis_report.h"
#include "engine/analysis/domain_pass.h"
#include "engine/error.h"
#include "engine/files.h"

namespace diverge::analysis {

namespace {

std::int64_t ablated_experts(const AnalyzeOptions& options, const config::ModelConfig& m) {
  return options.ablate > 0 ? options.ablate : std::min(m.top_k, m.n_experts - m.top_k);
}

}  // namespace

nlohmann::json analyze(const AnalyzeOptions& options) {
  check(options.batches >= 0, "--batches", "must be >= 0, got " + std::to_string(options.batches));
  AnalysisModel opened = open_analysis_model(options.checkpoint, options.corpus);
  const config::ModelConfig& m = opened.config.model;
  const std::string system = options.labels.empty() ? opened.data.val_label_system : options.labels;
  const std::int64_t batches = options.batches > 0 ? options.batches : opened.config.data.val_batches;
  const auto domains = read_val_batches(opened.data.corpus, system, opened.config.data.micro_batch,
                                        opened.config.data.seq_len, batches);
  const std::vector<std::string> labels = domain_labels(domains);
  model::Transformer& model = *opened.model;

  const PassResult baseline = run_domain_pass(model, domains, true);
  std::vector<std::int64_t> layers;
  for (std::int64_t l = m.first_k_dense; l < m.n_layers; ++l) layers.push_back(l);

  std::filesystem::create_directories(options.output);
  nlohmann::json layer_records = nlohmann::json::array();
  nlohmann::json plots = nlohmann::json::array();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const ops::RoutingMetrics metrics = ops::routing_metrics(baseline.routing[i]);
    layer_records.push_back(layer_json(layers[i], labels, baseline.routing[i], metrics));
    for (auto& file : write_layer_plots(options.output, layers[i], labels, metrics)) plots.push_back(file);
  }
  nlohmann::json permutations = nlohmann::json::array();
  for (const auto& result : permutation_test(model, m, domains, options.seed))
    permutations.push_back(permutation_json(result, labels, baseline.loss));
  nlohmann::json ablations = nlohmann::json::array();
  const std::int64_t ablate = ablated_experts(options, m);
  for (const auto& result : ablation_test(model, m, domains, baseline.routing, ablate))
    ablations.push_back(ablation_json(result, layers, labels, baseline.loss));

  std::vector<std::int64_t> rows;
  for (const auto& domain : domains) {
    std::int64_t count = 0;
    for (const auto& batch : domain.batches) count += batch.rows;
    rows.push_back(count);
  }
  nlohmann::json report = {{"checkpoint", opened.checkpoint.string()},
                           {"step", opened.step},
                           {"label_system", system},
                           {"domains", labels},
                           {"sequences", rows},
                           {"val_loss", nlohmann::json::object()},
                           {"layers", layer_records},
                           {"permutation", {{"seed", options.seed}, {"layers", permutations}}},
                           {"ablation", {{"experts_per_layer", ablate}, {"domains", ablations}}},
                           {"plots", plots}};
  for (std::size_t j = 0; j < labels.size(); ++j) report["val_loss"][labels[j]] = baseline.loss[j];
  write_file_atomic(options.output / "analysis.json", report.dump(2) + "\n");
  return report;
}

}  // namespace diverge::analysis
