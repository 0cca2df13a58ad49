// MemorySource: documents as vectors of token ids.
#include "data/loader/memory_source.h"

#include <algorithm>
#include <string>
#include <utility>

#include "engine/error.h"

namespace diverge::data {

MemorySource::MemorySource(std::vector<std::vector<std::int32_t>> documents) : documents_(std::move(documents)) {}

std::uint64_t MemorySource::document_length(std::size_t d) const {
  if (d >= documents_.size())
    throw Error("in-memory source", "document " + std::to_string(d) + " out of range (" +
                                        std::to_string(documents_.size()) + " documents)");
  return documents_[d].size();
}

void MemorySource::read_document(std::size_t d, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const {
  const std::uint64_t length = document_length(d);
  if (offset > length || count > length - offset)
    throw Error("in-memory source", "read of tokens [" + std::to_string(offset) + ", " +
                                        std::to_string(offset + count) + ") past the end of document " +
                                        std::to_string(d) + " (" + std::to_string(length) + " tokens)");
  const auto first = documents_[d].begin() + static_cast<std::ptrdiff_t>(offset);
  std::copy(first, first + static_cast<std::ptrdiff_t>(count), out);
}

}  // namespace diverge::data
