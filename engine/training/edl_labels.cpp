// The EDL domain ids of a batch's rows from its label systems, a seeded random partition, or the rows themselves.
#include "engine/training/edl_labels.h"

#include <string>

#include "data/loader/splitmix.h"
#include "engine/error.h"
#include "model/edl_term.h"

namespace diverge {
namespace {

std::string system_names(const data::Batch& batch) {
  std::string names;
  for (const auto& [name, ids] : batch.domain) names += (names.empty() ? "" : ", ") + name;
  return names.empty() ? "none" : names;
}

std::vector<std::int32_t> named_labels(const data::Batch& batch, const std::string& system, std::int64_t label_count) {
  const auto found = batch.domain.find(system);
  check(found != batch.domain.end(), "edl.labels",
        "label system '" + system + "' is not in the batch (systems: " + system_names(batch) + ")");
  for (const std::int32_t id : found->second) {
    check(id >= 0 && id < label_count, "edl.labels",
          "label id " + std::to_string(id) + " of system '" + system + "' is outside [0, " +
              std::to_string(label_count) + ")");
  }
  return found->second;
}

std::vector<std::int32_t> random_labels(const data::Batch& batch, std::uint64_t seed, std::int64_t groups) {
  const auto rows = static_cast<std::size_t>(batch.rows);
  check(batch.stream.size() == rows && batch.stream_sample.size() == rows, "edl.labels",
        "'random' needs the stream and sample index of every batch row");
  std::vector<std::int32_t> labels(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint64_t key =
        data::hash_words({seed, static_cast<std::uint64_t>(batch.stream[r]), batch.stream_sample[r]});
    labels[r] = static_cast<std::int32_t>(key % static_cast<std::uint64_t>(groups));
  }
  return labels;
}

std::vector<std::int32_t> row_labels(std::int64_t rows) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(rows));
  for (std::size_t r = 0; r < labels.size(); ++r) labels[r] = static_cast<std::int32_t>(r);
  return labels;
}

}  // namespace

std::vector<std::int32_t> edl_labels(const config::EdlConfig& edl, std::int64_t label_count, const data::Batch& batch) {
  if (edl.labels == model::kSequenceLabels) return row_labels(batch.rows);
  if (edl.labels == model::kRandomLabels) return random_labels(batch, edl.random_seed, label_count);
  return named_labels(batch, edl.labels, label_count);
}

}  // namespace diverge
