// Resolving the config's blend weights onto train streams, with an error naming the key for every bad entry.
#include "data/loader/blend_weights.h"

#include <cmath>
#include <map>
#include <string>

#include "engine/error.h"
#include "engine/json/json_quote.h"

namespace diverge::data {
namespace {

using nlohmann::json;

std::vector<double> token_weights(const std::vector<Stream>& streams) {
  std::vector<double> out;
  for (const auto& s : streams) out.push_back(static_cast<double>(s.num_tokens()));
  return out;
}

std::vector<double> normalised(std::vector<double> weights, const std::string& where) {
  double total = 0;
  for (double w : weights) total += w;
  check(total > 0, where, "all weights are zero");
  for (double& w : weights) w /= total;
  return weights;
}

// label -> weight, each checked to be a known label and a finite non-negative number.
std::map<std::string, double> label_weights(const json& entries, const std::string& system,
                                            const LabelledCorpus& corpus, const std::string& where) {
  check(entries.is_object(), where, "expected an object {label: weight}, got " + quote_json(entries));
  std::map<std::string, double> out;
  for (const auto& [label, value] : entries.items()) {
    const std::string key = where + "." + label;
    check(corpus.has_label(system, label), key, "unknown label (labels: " + comma_list(corpus.labels_of(system)) + ")");
    check(value.is_number() && std::isfinite(value.get<double>()) && value.get<double>() >= 0, key,
          "expected a non-negative number, got " + quote_json(value));
    out[label] = value.get<double>();
  }
  return out;
}

}  // namespace

std::vector<double> blend_weights(const json& weights, const LabelledCorpus& corpus,
                                  const std::vector<Stream>& train_streams) {
  if (weights.is_null()) return normalised(token_weights(train_streams), "weights");
  check(weights.is_object(), "weights",
        "expected null or {\"<label system>\": {\"<label>\": weight}}, got " + quote_json(weights));
  check(weights.size() == 1, "weights",
        "give weights for exactly one label system, got " + std::to_string(weights.size()));
  const std::string system = weights.begin().key();
  const std::string where = "weights." + system;
  check(corpus.has_label_system(system), where,
        "unknown label system (known: " + comma_list(corpus.label_systems()) + ")");
  const auto per_label = label_weights(weights.begin().value(), system, corpus, where);

  std::map<std::string, double> label_tokens;  // train tokens of every label that has train streams
  for (const auto& s : train_streams) label_tokens[s.labels().at(system)] += static_cast<double>(s.num_tokens());
  for (const auto& [label, tokens] : label_tokens)
    check(per_label.count(label) > 0, where,
          "no weight for label '" + label + "', which has train data (give 0 to leave it out)");
  for (const auto& [label, w] : per_label)
    check(w == 0 || label_tokens.count(label) > 0, where + "." + label, "label has no train shards to draw from");

  std::vector<double> out;
  for (const auto& s : train_streams) {
    const std::string& label = s.labels().at(system);
    out.push_back(per_label.at(label) * static_cast<double>(s.num_tokens()) / label_tokens.at(label));
  }
  return normalised(std::move(out), where);
}

}  // namespace diverge::data
