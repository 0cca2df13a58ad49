// Batch: allocation and filling one row from a stream.
#include "data/loader/batch.h"

namespace diverge::data {

Batch Batch::sized(std::int64_t rows, std::int64_t row_len, const std::vector<std::string>& label_systems) {
  Batch batch;
  batch.rows = rows;
  batch.row_len = row_len;
  const auto n = static_cast<std::size_t>(rows);
  batch.tokens.assign(n * static_cast<std::size_t>(row_len), 0);
  for (const auto& system : label_systems) batch.domain[system].assign(n, 0);
  batch.stream.assign(n, 0);
  batch.stream_sample.assign(n, 0);
  return batch;
}

void Batch::fill_row(std::int64_t r, Stream& source, std::int32_t stream_index, std::uint64_t sample,
                     const std::vector<std::string>& label_systems) {
  const auto row = static_cast<std::size_t>(r);
  source.read_sample(sample, tokens.data() + row * static_cast<std::size_t>(row_len));
  for (std::size_t k = 0; k < label_systems.size(); ++k) domain[label_systems[k]][row] = source.label_ids()[k];
  stream[row] = stream_index;
  stream_sample[row] = sample;
}

}  // namespace diverge::data
