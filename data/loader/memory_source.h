// A DocumentSource held in memory: tests, tiny corpora and anything already tokenized.
#pragma once

#include <cstdint>
#include <vector>

#include "data/loader/document_source.h"

namespace diverge::data {

class MemorySource : public DocumentSource {
 public:
  explicit MemorySource(std::vector<std::vector<std::int32_t>> documents);

  std::size_t num_documents() const override { return documents_.size(); }
  std::uint64_t document_length(std::size_t d) const override;
  void read_document(std::size_t d, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const override;

 private:
  std::vector<std::vector<std::int32_t>> documents_;
};

}  // namespace diverge::data
