// Labelled shards as the loader sees them: label systems, label ids, and the grouping of shards into streams.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/loader/document_source.h"
#include "data/loader/stream.h"

namespace diverge::data {

// One shard: its documents and where it belongs.
struct LabelledSource {
  std::string name;                           // for messages, e.g. the shard prefix
  std::map<std::string, std::string> labels;  // label system -> label, e.g. {"coarse": "code", "fine": "code.python"}
  std::string split;                          // "train" or "val"
  std::shared_ptr<const DocumentSource> source;
};

// A validated set of labelled shards. Label ids are shared by both splits: the id of a label is its index among
// the sorted distinct labels of its system over all shards, exactly as Manifest::labels_of numbers them, so a
// domain id means the same thing in training, in validation and in a checkpoint's metrics.
class LabelledCorpus {
 public:
  // Throws Error naming the shard when a split is unknown, a source is missing, or a shard lacks a label system
  // that another shard has.
  explicit LabelledCorpus(std::vector<LabelledSource> shards);

  const std::vector<LabelledSource>& shards() const { return shards_; }
  // Sorted label-system names.
  const std::vector<std::string>& label_systems() const { return label_systems_; }
  bool has_label_system(const std::string& system) const { return labels_.count(system) > 0; }
  bool has_label(const std::string& system, const std::string& label) const;
  // Sorted distinct labels of a system; throws Error listing the known systems when it is unknown.
  const std::vector<std::string>& labels_of(const std::string& system) const;
  std::int32_t label_id(const std::string& system, const std::string& label) const;

  // The streams of one split, one per distinct full label tuple, sorted by that tuple (label systems in sorted
  // order), each holding its shards in corpus order. With a seed, stream s shuffles epoch e by
  // hash_words({hash_words({seed, s}), e}); without one (validation) documents keep their stored order.
  std::vector<Stream> streams(const std::string& split, std::int64_t seq_len, std::optional<std::uint64_t> seed) const;

 private:
  std::vector<LabelledSource> shards_;
  std::vector<std::string> label_systems_;
  std::map<std::string, std::vector<std::string>> labels_;  // system -> sorted distinct labels
};

// "coarse=code,fine=code.python": how messages, states and logs name a stream.
std::string stream_name(const std::map<std::string, std::string>& labels);

// "code, math, prose": how messages list the known names.
std::string comma_list(const std::vector<std::string>& names);

}  // namespace diverge::data
