// LabelledCorpus: shard validation, label ids and grouping shards into streams.
#include "data/loader/labelled_corpus.h"

#include <algorithm>
#include <set>
#include <utility>

#include "data/loader/splitmix.h"
#include "engine/error.h"

namespace diverge::data {
namespace {

void check_shard(const LabelledSource& shard, const std::vector<std::string>& systems) {
  const std::string where = "shard '" + shard.name + "'";
  check(shard.split == "train" || shard.split == "val", where,
        "split '" + shard.split + "' is neither 'train' nor 'val'");
  check(shard.source != nullptr, where, "has no document source");
  for (const auto& system : systems)
    check(shard.labels.count(system) > 0, where, "has no label in label system '" + system + "'");
}

}  // namespace

std::string comma_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::string stream_name(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [system, label] : labels) out += (out.empty() ? "" : ",") + system + "=" + label;
  return out;
}

LabelledCorpus::LabelledCorpus(std::vector<LabelledSource> shards) : shards_(std::move(shards)) {
  check(!shards_.empty(), "corpus", "has no shards");
  std::map<std::string, std::set<std::string>> labels;
  for (const auto& shard : shards_)
    for (const auto& [system, label] : shard.labels) labels[system].insert(label);
  check(!labels.empty(), "corpus", "shards carry no labels: the loader needs at least one label system");
  for (const auto& [system, names] : labels) {
    label_systems_.push_back(system);
    labels_[system] = std::vector<std::string>(names.begin(), names.end());
  }
  for (const auto& shard : shards_) check_shard(shard, label_systems_);
}

const std::vector<std::string>& LabelledCorpus::labels_of(const std::string& system) const {
  const auto it = labels_.find(system);
  check(it != labels_.end(), "label system '" + system + "'", "unknown (known: " + comma_list(label_systems_) + ")");
  return it->second;
}

bool LabelledCorpus::has_label(const std::string& system, const std::string& label) const {
  const auto& names = labels_of(system);
  return std::binary_search(names.begin(), names.end(), label);
}

std::int32_t LabelledCorpus::label_id(const std::string& system, const std::string& label) const {
  const auto& names = labels_of(system);
  const auto it = std::lower_bound(names.begin(), names.end(), label);
  check(it != names.end() && *it == label, "label system '" + system + "'",
        "unknown label '" + label + "' (labels: " + comma_list(names) + ")");
  return static_cast<std::int32_t>(it - names.begin());
}

std::vector<Stream> LabelledCorpus::streams(const std::string& split, std::int64_t seq_len,
                                            std::optional<std::uint64_t> seed) const {
  std::map<std::map<std::string, std::string>, std::vector<std::shared_ptr<const DocumentSource>>> groups;
  for (const auto& shard : shards_)
    if (shard.split == split) groups[shard.labels].push_back(shard.source);
  std::vector<Stream> out;
  for (auto& [labels, sources] : groups) {
    std::vector<std::int32_t> ids;
    for (const auto& system : label_systems_) ids.push_back(label_id(system, labels.at(system)));
    std::optional<std::uint64_t> shuffle_key;
    if (seed) shuffle_key = hash_words({*seed, static_cast<std::uint64_t>(out.size())});
    out.emplace_back(stream_name(labels), split, labels, std::move(ids), std::move(sources), seq_len, shuffle_key);
  }
  return out;
}

}  // namespace diverge::data
