// TrainLoader: configuration checks, the per-step rank split, and saving/restoring the position.
#include "data/loader/train_loader.h"

#include <string>

#include "data/loader/blend_weights.h"
#include "data/loader/manifest_corpus.h"
#include "engine/error.h"

namespace diverge::data {
namespace {

void check_config(const LoaderConfig& config) {
  check(config.batch_size >= 1, "loader: batch_size", "must be at least 1, got " + std::to_string(config.batch_size));
  check(config.seq_len >= 1, "loader: seq_len", "must be at least 1, got " + std::to_string(config.seq_len));
  check(config.world >= 1, "loader: world", "must be at least 1, got " + std::to_string(config.world));
  check(config.rank >= 0 && config.rank < config.world, "loader: rank",
        std::to_string(config.rank) + " is outside [0, world = " + std::to_string(config.world) + ")");
}

std::vector<Stream> train_streams(const LabelledCorpus& corpus, const LoaderConfig& config) {
  check_config(config);
  auto streams = corpus.streams("train", config.seq_len, config.seed);
  check(!streams.empty(), "loader", "the corpus has no 'train' shards");
  for (const auto& s : streams) s.require_samples();
  return streams;
}

}  // namespace

TrainLoader::TrainLoader(const LabelledCorpus& corpus, const LoaderConfig& config)
    : config_(config),
      label_systems_(corpus.label_systems()),
      streams_(train_streams(corpus, config)),
      blender_(blend_weights(config.weights, corpus, streams_)) {}

TrainLoader::TrainLoader(const Manifest& manifest, const LoaderConfig& config)
    : TrainLoader(open_corpus(manifest), config) {}

Batch TrainLoader::next_batch() {
  Batch batch = Batch::sized(config_.batch_size, config_.seq_len + 1, label_systems_);
  const std::int64_t first_row = config_.rank * config_.batch_size;
  const std::int64_t global_rows = config_.world * config_.batch_size;
  for (std::int64_t g = 0; g < global_rows; ++g) {
    const std::size_t s = blender_.next();
    const std::int64_t row = g - first_row;
    if (row >= 0 && row < config_.batch_size)
      batch.fill_row(row, streams_[s], static_cast<std::int32_t>(s), blender_.taken()[s] - 1, label_systems_);
  }
  return batch;
}

LoaderState TrainLoader::state() const {
  LoaderState state;
  state.global_sample = blender_.cursor();
  state.taken = blender_.taken();
  state.seed = config_.seed;
  state.seq_len = config_.seq_len;
  for (const auto& s : streams_) state.streams.push_back({s.name(), s.num_tokens(), s.num_documents()});
  return state;
}

void TrainLoader::restore(const LoaderState& saved) {
  const std::string mismatch = fingerprint_mismatch(saved, state());
  if (!mismatch.empty()) throw Error("loader state was saved for a different corpus/seed/sequence length: " + mismatch);
  blender_.restore(saved.global_sample, saved.taken);
}

}  // namespace diverge::data
