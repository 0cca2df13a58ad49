// Validation loss per domain: every labelled val reader rewound and read for a fixed number of batches.
#include "engine/training/evaluator.h"

#include <set>

#include "engine/error.h"

namespace diverge {

namespace {

// Labels of `system` that at least one val shard carries, in label-id order.
std::vector<std::string> labels_with_val_data(const data::LabelledCorpus& corpus, const std::string& system) {
  std::set<std::string> present;
  for (const auto& shard : corpus.shards())
    if (shard.split == "val") present.insert(shard.labels.at(system));
  std::vector<std::string> labels;
  for (const auto& label : corpus.labels_of(system))
    if (present.count(label) > 0) labels.push_back(label);
  return labels;
}

}  // namespace

Evaluator::Evaluator(const data::LabelledCorpus& corpus, const std::string& label_system, std::int64_t batch,
                     std::int64_t seq_len, std::int64_t max_batches)
    : label_system_(label_system), max_batches_(max_batches) {
  for (const auto& label : labels_with_val_data(corpus, label_system))
    domains_.push_back({label, std::make_unique<data::ValReader>(corpus, label_system, label, batch, seq_len)});
  check(!domains_.empty(), "data.val_label_system",
        "no label of '" + label_system +
            "' has val shards; prepare the corpus with a val split or set "
            "data.val_every=0");
}

EvalRecord Evaluator::run(model::Transformer& model, std::int64_t step, std::int64_t tokens) {
  EvalRecord record{.step = step, .tokens = tokens, .label_system = label_system_, .val_loss = {}};
  for (auto& domain : domains_) {
    domain.reader->rewind();
    double sum = 0.0;
    std::int64_t sequences = 0;
    for (std::int64_t b = 0; b < max_batches_; ++b) {
      auto batch = domain.reader->next();
      if (!batch) break;
      Tensor tokens_view = make_view(batch->tokens.data(), DType::i32, Device::cpu, {batch->rows, batch->row_len});
      // Every row has T targets, so the mean of the per-row means is the mean per token.
      for (float loss : model.eval_sequence_losses(tokens_view)) sum += loss;
      sequences += batch->rows;
    }
    record.val_loss.emplace_back(domain.label, sequences > 0 ? sum / static_cast<double>(sequences) : 0.0);
  }
  return record;
}

}  // namespace diverge
