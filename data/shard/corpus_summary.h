// What a corpus holds per label: shards, documents, tokens and the train/val split, from its manifest alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/shard/manifest.h"

namespace diverge::data {

struct LabelTotals {
  std::string label;  // "" for the corpus-wide totals
  std::uint64_t shards = 0, documents = 0, tokens = 0, train_tokens = 0, val_tokens = 0;
  double token_share = 0.0;  // fraction of all tokens in the corpus
};

struct LabelSystemSummary {
  std::string system;
  std::vector<LabelTotals> labels;  // in label-id order (Manifest::labels_of)
};

struct CorpusSummary {
  LabelTotals total;
  std::uint64_t train_shards = 0, val_shards = 0;
  std::vector<LabelSystemSummary> systems;  // in the manifest's label_systems order
};

CorpusSummary summarize(const Manifest& manifest);

}  // namespace diverge::data
