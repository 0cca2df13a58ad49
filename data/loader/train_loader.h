// The training data loader: blended, per-domain packed samples, split across data-parallel ranks, resumable.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/loader/batch.h"
#include "data/loader/blender.h"
#include "data/loader/labelled_corpus.h"
#include "data/loader/loader_state.h"
#include "data/loader/stream.h"
#include "data/shard/manifest.h"

namespace diverge::data {

struct LoaderConfig {
  std::int64_t batch_size = 0;  // B: rows per rank and step
  std::int64_t seq_len = 0;     // T: each row holds T + 1 tokens
  std::uint64_t seed = 0;       // document shuffles; the blend itself uses no randomness
  int rank = 0;                 // this process's data-parallel rank, in [0, world)
  int world = 1;                // data-parallel ranks
  nlohmann::json weights;       // null, or {"<label system>": {"<label>": weight}} (see blend_weights)
};

// Step k's global batch is global samples [k*B*W, (k+1)*B*W) (counted from where the run started or resumed);
// rank r returns rows [r*B, (r+1)*B) of it. Every rank assigns every global sample to a stream so that all ranks
// keep identical blend counts, but reads only the tokens of its own rows: no sample is read by two ranks.
class TrainLoader {
 public:
  // Throws Error naming the key or domain: B or T < 1, rank outside [0, world), no train shards, a train stream
  // too short for one sample, or bad weights.
  TrainLoader(const LabelledCorpus& corpus, const LoaderConfig& config);
  // Over the shards of a corpus manifest (see open_corpus; a ValReader takes open_corpus(manifest) as well).
  TrainLoader(const Manifest& manifest, const LoaderConfig& config);

  Batch next_batch();

  LoaderState state() const;
  // Continues from a saved state; throws Error("loader state was saved for a different corpus/seed/sequence
  // length: ...") when its fingerprint differs from this loader's.
  void restore(const LoaderState& saved);

  const std::vector<Stream>& streams() const { return streams_; }
  // (streams) normalised blend weights.
  const std::vector<double>& weights() const { return blender_.weights(); }
  const std::vector<std::string>& label_systems() const { return label_systems_; }

 private:
  LoaderConfig config_;
  std::vector<std::string> label_systems_;
  std::vector<Stream> streams_;
  Blender blender_;
};

}  // namespace diverge::data
