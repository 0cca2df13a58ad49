// Reading the val rows of every domain once.
#include "engine/analysis/domain_batches.h"

#include <set>

#include "data/loader/val_reader.h"
#include "engine/error.h"

namespace diverge::analysis {

std::vector<DomainBatches> read_val_batches(const data::LabelledCorpus& corpus, const std::string& label_system,
                                            std::int64_t batch, std::int64_t seq_len, std::int64_t max_batches) {
  check(corpus.has_label_system(label_system), "--labels",
        "the corpus has no label system '" + label_system + "' (it has: " +
            data::comma_list(corpus.label_systems()) + ")");
  std::set<std::string> with_val;
  for (const auto& shard : corpus.shards())
    if (shard.split == "val") with_val.insert(shard.labels.at(label_system));
  std::vector<DomainBatches> domains;
  for (const auto& label : corpus.labels_of(label_system)) {
    if (with_val.count(label) == 0) continue;
    data::ValReader reader(corpus, label_system, label, batch, seq_len);
    DomainBatches domain{label, {}};
    for (std::int64_t b = 0; b < max_batches; ++b) {
      auto next = reader.next();
      if (!next) break;
      domain.batches.push_back(std::move(*next));
    }
    domains.push_back(std::move(domain));
  }
  check(!domains.empty(), "--labels", "no label of '" + label_system + "' has val shards in the corpus");
  return domains;
}

std::vector<std::string> domain_labels(const std::vector<DomainBatches>& domains) {
  std::vector<std::string> labels;
  for (const auto& domain : domains) labels.push_back(domain.label);
  return labels;
}

}  // namespace diverge::analysis
