// Stream: document bookkeeping, per-epoch shuffled order and reading samples across document boundaries.
#include "data/loader/stream.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "data/loader/splitmix.h"
#include "engine/error.h"

namespace diverge::data {

Stream::Stream(std::string name, std::string split, std::map<std::string, std::string> labels,
               std::vector<std::int32_t> label_ids, std::vector<std::shared_ptr<const DocumentSource>> sources,
               std::int64_t seq_len, std::optional<std::uint64_t> shuffle_key)
    : name_(std::move(name)),
      split_(std::move(split)),
      labels_(std::move(labels)),
      label_ids_(std::move(label_ids)),
      sources_(std::move(sources)),
      shuffle_key_(shuffle_key) {
  check(seq_len >= 1, "stream '" + name_ + "'", "seq_len must be at least 1, got " + std::to_string(seq_len));
  seq_len_ = static_cast<std::uint64_t>(seq_len);
  source_first_doc_.push_back(0);
  for (const auto& source : sources_) {
    for (std::size_t d = 0; d < source->num_documents(); ++d) doc_lengths_.push_back(source->document_length(d));
    source_first_doc_.push_back(doc_lengths_.size());
  }
  num_tokens_ = std::accumulate(doc_lengths_.begin(), doc_lengths_.end(), std::uint64_t{0});
  samples_per_epoch_ = num_tokens_ == 0 ? 0 : (num_tokens_ - 1) / seq_len_;
}

void Stream::require_samples() const {
  if (samples_per_epoch_ == 0)
    throw Error(split_ + " stream '" + name_ + "'",
                "has " + std::to_string(num_tokens_) +
                    " tokens, too few for one sample of seq_len + 1 = " + std::to_string(seq_len_ + 1));
}

void Stream::arrange_epoch(std::uint64_t epoch) {
  // Without shuffling every epoch has the stored order, so the first arrangement serves them all.
  const std::uint64_t layout_epoch = shuffle_key_ ? epoch : 0;
  if (arranged_epoch_ == layout_epoch) return;
  if (shuffle_key_) {
    order_ = seeded_permutation(doc_lengths_.size(), hash_words({*shuffle_key_, epoch}));
  } else {
    order_.resize(doc_lengths_.size());
    std::iota(order_.begin(), order_.end(), std::uint64_t{0});
  }
  starts_.assign(order_.size() + 1, 0);
  for (std::size_t k = 0; k < order_.size(); ++k) starts_[k + 1] = starts_[k] + doc_lengths_[order_[k]];
  arranged_epoch_ = layout_epoch;
}

void Stream::read_document(std::uint64_t doc, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const {
  const auto after = std::upper_bound(source_first_doc_.begin(), source_first_doc_.end(), doc);
  const auto source = static_cast<std::size_t>(after - source_first_doc_.begin() - 1);
  sources_[source]->read_document(doc - source_first_doc_[source], offset, count, out);
}

void Stream::read_sample(std::uint64_t j, std::int32_t* out) {
  require_samples();
  arrange_epoch(j / samples_per_epoch_);
  std::uint64_t token = (j % samples_per_epoch_) * seq_len_;
  std::uint64_t remaining = seq_len_ + 1;
  // The position whose document holds `token`: the last start at or before it (empty documents are skipped over).
  auto position =
      static_cast<std::size_t>(std::upper_bound(starts_.begin(), starts_.end(), token) - starts_.begin() - 1);
  while (remaining > 0) {
    const std::uint64_t doc = order_[position];
    const std::uint64_t within = token - starts_[position];
    const std::uint64_t count = std::min(doc_lengths_[doc] - within, remaining);
    if (count > 0) read_document(doc, within, count, out);
    out += count;
    token += count;
    remaining -= count;
    ++position;
  }
}

}  // namespace diverge::data
