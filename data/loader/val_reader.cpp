// ValReader: selecting a domain's val streams and walking their samples in order.
#include "data/loader/val_reader.h"

#include <algorithm>
#include <utility>

#include "engine/error.h"

namespace diverge::data {

ValReader::ValReader(const LabelledCorpus& corpus, const std::string& label_system, const std::string& label,
                     std::int64_t batch_size, std::int64_t seq_len)
    : label_systems_(corpus.label_systems()), batch_size_(batch_size), seq_len_(seq_len) {
  check(batch_size >= 1, "val reader: batch_size", "must be at least 1, got " + std::to_string(batch_size));
  check(seq_len >= 1, "val reader: seq_len", "must be at least 1, got " + std::to_string(seq_len));
  corpus.label_id(label_system, label);  // throws, naming the known systems or labels, when either is unknown
  const std::string domain = label_system + "=" + label;
  auto all = corpus.streams("val", seq_len, std::nullopt);
  for (std::size_t s = 0; s < all.size(); ++s) {
    if (all[s].labels().at(label_system) != label) continue;
    all[s].require_samples();
    num_samples_ += all[s].samples_per_epoch();
    stream_indices_.push_back(static_cast<std::int32_t>(s));
    streams_.push_back(std::move(all[s]));
  }
  check(!streams_.empty(), "val reader", "no 'val' shards are labelled " + domain);
}

std::optional<Batch> ValReader::next() {
  const std::uint64_t left = num_samples_ - returned_;
  if (left == 0) return std::nullopt;
  const auto rows = static_cast<std::int64_t>(std::min<std::uint64_t>(left, static_cast<std::uint64_t>(batch_size_)));
  Batch batch = Batch::sized(rows, seq_len_ + 1, label_systems_);
  for (std::int64_t r = 0; r < rows; ++r) {
    if (current_sample_ == streams_[current_stream_].samples_per_epoch()) {
      ++current_stream_;
      current_sample_ = 0;
    }
    batch.fill_row(r, streams_[current_stream_], stream_indices_[current_stream_], current_sample_, label_systems_);
    ++current_sample_;
  }
  returned_ += static_cast<std::uint64_t>(rows);
  return batch;
}

void ValReader::rewind() {
  current_stream_ = 0;
  current_sample_ = 0;
  returned_ = 0;
}

}  // namespace diverge::data
