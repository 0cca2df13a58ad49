// Validation reader: every val sample of one domain, in a fixed order, B rows at a time, with a clear end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/loader/batch.h"
#include "data/loader/labelled_corpus.h"
#include "data/loader/stream.h"

namespace diverge::data {

// Reads the val streams whose label in `label_system` is `label` (a fine label selects one stream, a coarse one
// all its fine streams), one after another in stream order, each from its first sample to its last of one epoch,
// documents in stored order: the same rows on every call and every machine, so per-domain eval losses compare
// across checkpoints. Rows never mix streams, so each row has one label per label system as in training.
class ValReader {
 public:
  // Throws Error for an unknown label system or label, a label with no val shards, B or T < 1, or a selected val
  // stream too short for one sample.
  ValReader(const LabelledCorpus& corpus, const std::string& label_system, const std::string& label,
            std::int64_t batch_size, std::int64_t seq_len);

  // The next batch: B rows, fewer in the last one; std::nullopt once every sample has been returned.
  std::optional<Batch> next();
  // Starts again from the first sample.
  void rewind();

  std::uint64_t num_samples() const { return num_samples_; }
  // The selected streams; a batch's `stream` field indexes every val stream of the corpus, in stream order.
  const std::vector<Stream>& streams() const { return streams_; }

 private:
  std::vector<std::string> label_systems_;
  std::vector<Stream> streams_;               // (selected) val streams of the domain
  std::vector<std::int32_t> stream_indices_;  // (selected) index of each among all val streams
  std::int64_t batch_size_ = 0;
  std::int64_t seq_len_ = 0;
  std::uint64_t num_samples_ = 0;
  std::size_t current_stream_ = 0;  // position: stream, sample within it, and samples returned
  std::uint64_t current_sample_ = 0;
  std::uint64_t returned_ = 0;
};

}  // namespace diverge::data
