// A stream: every document of one domain in one split, read as one token sequence cut into fixed-length samples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/loader/document_source.h"

namespace diverge::data {

// The documents of all shards that share one full label tuple, concatenated (each document already ends with EOD)
// in an order that is reshuffled every epoch, or kept as stored when there is no shuffle key (validation).
// Sample i of an epoch is tokens [i*T, i*T + T + 1) of that epoch's concatenation: consecutive samples share one
// boundary token, so every token but the last is a target exactly once per epoch. Samples are numbered over all
// epochs: sample j is sample j % samples_per_epoch() of epoch j / samples_per_epoch().
class Stream {
 public:
  Stream(std::string name, std::string split, std::map<std::string, std::string> labels,
         std::vector<std::int32_t> label_ids, std::vector<std::shared_ptr<const DocumentSource>> sources,
         std::int64_t seq_len, std::optional<std::uint64_t> shuffle_key);

  const std::string& name() const { return name_; }
  const std::map<std::string, std::string>& labels() const { return labels_; }
  // Label id in each label system, in the corpus's label-system order.
  const std::vector<std::int32_t>& label_ids() const { return label_ids_; }
  std::uint64_t num_tokens() const { return num_tokens_; }
  std::uint64_t num_documents() const { return doc_lengths_.size(); }
  // floor((num_tokens - 1) / T): zero when the stream cannot fill one sample of T + 1 tokens.
  std::uint64_t samples_per_epoch() const { return samples_per_epoch_; }
  // Throws Error("<split> stream '<name>': has N tokens, too few ...") when samples_per_epoch() is zero.
  void require_samples() const;

  // Copies the T + 1 tokens of sample j into out. Not const: the current epoch's document order is cached.
  void read_sample(std::uint64_t j, std::int32_t* out);

 private:
  void arrange_epoch(std::uint64_t epoch);
  void read_document(std::uint64_t doc, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const;

  std::string name_;
  std::string split_;  // "train" or "val", for messages
  std::map<std::string, std::string> labels_;
  std::vector<std::int32_t> label_ids_;  // (label systems)
  std::vector<std::shared_ptr<const DocumentSource>> sources_;
  std::vector<std::uint64_t> source_first_doc_;  // (sources + 1) stream-wide index of each first document
  std::vector<std::uint64_t> doc_lengths_;       // (documents) tokens per document
  std::uint64_t num_tokens_ = 0;
  std::uint64_t seq_len_ = 0;
  std::uint64_t samples_per_epoch_ = 0;
  std::optional<std::uint64_t> shuffle_key_;

  std::optional<std::uint64_t> arranged_epoch_;  // the epoch order_ and starts_ describe
  std::vector<std::uint64_t> order_;             // (documents) document at each position of the epoch
  std::vector<std::uint64_t> starts_;            // (documents + 1) first token of each position
};

}  // namespace diverge::data
