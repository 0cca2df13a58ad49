// The loader's view of one shard: a list of documents it can measure and copy tokens from.
#pragma once

#include <cstddef>
#include <cstdint>

namespace diverge::data {

// What the loader needs from a shard, and nothing more, so that it runs over Megatron indexed datasets in
// training and over plain vectors in tests. Every document already ends with the EOD token.
class DocumentSource {
 public:
  virtual ~DocumentSource() = default;
  virtual std::size_t num_documents() const = 0;
  virtual std::uint64_t document_length(std::size_t d) const = 0;
  // Copies `count` tokens of document d starting at token `offset` into out; the range lies inside the document.
  virtual void read_document(std::size_t d, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const = 0;
};

}  // namespace diverge::data
