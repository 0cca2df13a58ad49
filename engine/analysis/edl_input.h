// The input of `diverge edl`: router logits of one or more layers, a token mask, sequence domains, eps and the
// chosen layers, read from JSON and checked so that every problem is named by its key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace diverge::analysis {

struct EdlInput {
  bool one_layer = false;  // logits given as [S][T][E] rather than [L][S][T][E]
  std::int64_t layers = 0, sequences = 0, tokens = 0, experts = 0;
  std::vector<double> logits;           // (L, S * T, E)
  std::vector<std::int32_t> mask;       // (S, T), or empty: every token bears a target
  std::vector<std::int32_t> domains;    // (S): index into labels
  nlohmann::json labels;                // the distinct domains as given (strings or integers), sorted
  double eps = 1e-6;
  std::vector<std::int64_t> chosen;     // ascending layer indices the loss is averaged over
};

// Parses and checks `json` (read from `source`, which names the file in error messages): shapes, ragged arrays,
// mask values and shape, empty sequences, domain count and type, eps, layer indices and unknown keys.
EdlInput parse_edl_input(const nlohmann::json& json, const std::string& source);

}  // namespace diverge::analysis
