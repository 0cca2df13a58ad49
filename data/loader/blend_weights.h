// Per-stream blend weights from the config: explicit weights for the labels of one label system, or by tokens.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "data/loader/labelled_corpus.h"
#include "data/loader/stream.h"

namespace diverge::data {

// `weights` is null (every stream weighs its token count) or {"<label system>": {"<label>": weight, ...}} naming
// every label of that system that has train streams (0 leaves one out). A label's weight is shared by its streams
// in proportion to their tokens. Returns one weight per train stream, summing to 1. Errors name the JSON key, e.g.
// "weights.coarse.prse: unknown label (labels: code, math, prose)".
std::vector<double> blend_weights(const nlohmann::json& weights, const LabelledCorpus& corpus,
                                  const std::vector<Stream>& train_streams);

}  // namespace diverge::data
