// A DocumentSource over a Megatron indexed dataset (prefix.bin + prefix.idx) on disk.
#pragma once

#include <filesystem>

#include "data/loader/document_source.h"
#include "data/shard/indexed_dataset.h"

namespace diverge::data {

class IndexedSource : public DocumentSource {
 public:
  // Maps and validates the dataset; throws Error naming the file when it is missing or malformed. Reads refuse
  // token ids outside [0, vocab_size), naming the .bin file and the document.
  IndexedSource(const std::filesystem::path& prefix, std::uint64_t vocab_size) : dataset_(prefix, vocab_size) {}

  std::size_t num_documents() const override { return dataset_.num_documents(); }
  std::uint64_t document_length(std::size_t d) const override { return dataset_.document_length(d); }
  void read_document(std::size_t d, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const override {
    dataset_.read_document(d, offset, count, out);
  }

  const IndexedDataset& dataset() const { return dataset_; }

 private:
  IndexedDataset dataset_;
};

}  // namespace diverge::data
