// `diverge analyze`: routing specialisation, per-domain losses, router permutation and expert ablation of a checkpoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace diverge::analysis {

struct AnalyzeOptions {
  std::filesystem::path checkpoint;  // a step-NNNNNN directory, or a checkpoints directory with `latest`
  std::string corpus;                // replaces the checkpoint's data.corpus when not empty
  std::string labels;                // label system of the domains; "" = the run's val label system
  std::int64_t batches = 0;          // val batches per domain; 0 = the run's data.val_batches
  std::int64_t ablate = 0;           // experts disabled per domain and layer; 0 = min(top_k, n_experts - top_k)
  std::uint64_t seed = 1;            // of the router permutations
  std::filesystem::path output;      // directory for analysis.json and the SVGs
};

// Runs the whole analysis, writes output/analysis.json and the SVGs, and returns the JSON written.
nlohmann::json analyze(const AnalyzeOptions& options);

}  // namespace diverge::analysis
