// Per-label totals of a corpus manifest (shards, documents, tokens, token share, train/val tokens).
#include "data/shard/corpus_summary.h"

#include <algorithm>

namespace diverge::data {

namespace {

void add_shard(LabelTotals& t, const ShardEntry& s) {
  t.shards += 1;
  t.documents += s.documents;
  t.tokens += s.tokens;
  (s.split == "train" ? t.train_tokens : t.val_tokens) += s.tokens;
}

double share(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

CorpusSummary summarize(const Manifest& manifest) {
  CorpusSummary summary;
  for (const auto& s : manifest.shards) {
    add_shard(summary.total, s);
    (s.split == "train" ? summary.train_shards : summary.val_shards) += 1;
  }
  summary.total.token_share = share(summary.total.tokens, summary.total.tokens);
  for (const auto& system : manifest.label_systems) {
    LabelSystemSummary sys{system, {}};
    const auto labels = manifest.labels_of(system);
    for (const auto& label : labels) sys.labels.push_back(LabelTotals{.label = label});
    for (const auto& s : manifest.shards) {
      const auto id = std::lower_bound(labels.begin(), labels.end(), s.labels.at(system)) - labels.begin();
      add_shard(sys.labels[static_cast<std::size_t>(id)], s);
    }
    for (auto& t : sys.labels) t.token_share = share(t.tokens, summary.total.tokens);
    summary.systems.push_back(std::move(sys));
  }
  return summary;
}

}  // namespace diverge::data
