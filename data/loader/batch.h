// One batch of training or validation rows: tokens plus the domain of every row in each label system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/loader/stream.h"

namespace diverge::data {

struct Batch {
  std::int64_t rows = 0;                                    // B (fewer only in the last validation batch)
  std::int64_t row_len = 0;                                 // T + 1: inputs are [0, T), targets [1, T + 1)
  std::vector<std::int32_t> tokens;                         // (rows, row_len) row-major
  std::map<std::string, std::vector<std::int32_t>> domain;  // label system -> (rows) label ids
  std::vector<std::int32_t> stream;                         // (rows) stream index of each row
  std::vector<std::uint64_t> stream_sample;                 // (rows) sample index within its stream, over all epochs

  // A batch of `rows` zeroed rows with a domain vector for each label system.
  static Batch sized(std::int64_t rows, std::int64_t row_len, const std::vector<std::string>& label_systems);

  // Reads sample `sample` of `source` (stream number `stream_index`) into row r, with its labels.
  void fill_row(std::int64_t r, Stream& source, std::int32_t stream_index, std::uint64_t sample,
                const std::vector<std::string>& label_systems);
};

}  // namespace diverge::data
