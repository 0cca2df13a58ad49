// `diverge analyze`: what a checkpoint's experts learned per domain, and how much each domain depends on them.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "engine/analysis/analyze.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

Registrar analyze_command(140, [](CLI::App& root) {
  auto options = std::make_shared<analysis::AnalyzeOptions>();
  auto* cmd = root.add_subcommand(
      "analyze",
      "Analyse a checkpoint on the held-out (val) rows of every domain of a label system: per MoE layer the expert\n"
      "usage, each expert's domain shares, the pairwise JSD of the domains' routing, D_total = D_inter + D_intra and\n"
      "the specialised fraction; the per-domain val loss; a router-permutation test (one layer's expert identities\n"
      "shuffled at a time) and a domain-expert ablation (each domain's most used experts disabled in every layer).\n"
      "Writes OUT/analysis.json, layer<L>_domain_expert.svg, layer<L>_jsd.svg and, for three domains,\n"
      "layer<L>_ternary.svg.\n"
      "Example: diverge analyze --checkpoint runs/tiny/checkpoints --labels coarse --output runs/tiny/analysis");
  cmd->add_option("--checkpoint", options->checkpoint,
                  "a checkpoint directory (step-NNNNNN) or a run's checkpoints directory (its `latest` is used)")
      ->required();
  cmd->add_option("--corpus", options->corpus, "corpus manifest or directory (default: the run's data.corpus)");
  cmd->add_option("--labels", options->labels, "label system of the domains (default: the run's val label system)");
  cmd->add_option("--batches", options->batches, "val batches per domain (default: the run's data.val_batches)")
      ->check(whole_number_at_least(0));
  cmd->add_option("--ablate", options->ablate,
                  "experts disabled per domain and layer in the ablation (default: min(top_k, n_experts - top_k))")
      ->check(whole_number_at_least(0));
  cmd->add_option("--seed", options->seed, "seed of the router permutations");
  cmd->add_option("-o,--output", options->output, "output directory")->required();
  cmd->callback([options] {
    const auto report = analysis::analyze(*options);
    std::printf("analysed %s (step %lld) on %zu domains of '%s': %s\n", report["checkpoint"].get<std::string>().c_str(),
                static_cast<long long>(report["step"].get<std::int64_t>()), report["domains"].size(),
                report["label_system"].get<std::string>().c_str(), (options->output / "analysis.json").c_str());
  });
});

}  // namespace
}  // namespace diverge::cli
