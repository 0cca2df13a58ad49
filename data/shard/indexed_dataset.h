// Megatron-compatible indexed datasets: `prefix.bin` (raw tokens) + `prefix.idx` (lengths, pointers, doc indices).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/files.h"

namespace diverge::data {

// Token dtype codes exactly as Megatron-LM's indexed_dataset.py DType enum numbers them.
enum class TokenDtype : std::uint8_t {
  uint8 = 1, int8 = 2, int16 = 3, int32 = 4, int64 = 5, float64 = 6, float32 = 7, uint16 = 8,
};

// Bytes per token of a dtype; "uint16" <-> TokenDtype names for manifests and messages.
std::size_t dtype_size(TokenDtype dtype);
std::string dtype_name(TokenDtype dtype);
// Throws Error(where, ...) for a name that is not one of the eight dtypes.
TokenDtype dtype_from_name(const std::string& name, const std::string& where);
// The smallest integer dtype that holds ids < vocab_size (uint16 up to 65536 tokens, else int32).
TokenDtype dtype_for_vocab(std::uint64_t vocab_size);

// Calls f(T{}) with the C++ type T stored by an integer dtype (std::uint16_t for uint16, ...) and returns its result,
// so that per-dtype loops are written once as templates. Float dtypes throw Error(where, ...): they cannot hold token
// ids.
template <typename F>
decltype(auto) visit_token_type(TokenDtype dtype, const std::filesystem::path& where, F&& f) {
  switch (dtype) {
    case TokenDtype::uint8: return f(std::uint8_t{});
    case TokenDtype::int8: return f(std::int8_t{});
    case TokenDtype::int16: return f(std::int16_t{});
    case TokenDtype::uint16: return f(std::uint16_t{});
    case TokenDtype::int32: return f(std::int32_t{});
    case TokenDtype::int64: return f(std::int64_t{});
    case TokenDtype::float32:
    case TokenDtype::float64: break;
  }
  throw Error(where.string(), "dtype " + dtype_name(dtype) + " cannot hold token ids");
}

// The `.idx` / `.bin` paths of a prefix ("dir/train-000" -> "dir/train-000.idx"), appending rather than replacing an
// extension, since prefixes may contain dots ("code.python/train-000").
std::filesystem::path idx_path(const std::filesystem::path& prefix);
std::filesystem::path bin_path(const std::filesystem::path& prefix);

// Writes one indexed dataset. Every added document is one Megatron "sequence" and one document. Files are written
// under temporary names and renamed by finish(), so a crash never leaves a half-written prefix that looks whole.
// Only integer dtypes can be written (float dtypes exist in Megatron's enum but cannot hold token ids).
class IndexedDatasetWriter {
 public:
  IndexedDatasetWriter(const std::filesystem::path& prefix, TokenDtype dtype);
  ~IndexedDatasetWriter();  // without finish(): removes the temporary files
  IndexedDatasetWriter(const IndexedDatasetWriter&) = delete;
  IndexedDatasetWriter& operator=(const IndexedDatasetWriter&) = delete;

  // Appends a document; throws Error if a token does not fit the dtype.
  void add_document(std::span<const std::int32_t> tokens);
  // Writes the index and renames both files into place.
  void finish();

  std::uint64_t documents() const { return lengths_.size(); }
  std::uint64_t tokens() const { return tokens_; }

 private:
  std::filesystem::path prefix_;
  std::filesystem::path bin_file_;          // prefix.bin: what errors about tokens name
  std::filesystem::path bin_tmp_, idx_tmp_;
  TokenDtype dtype_;
  std::ofstream bin_;
  std::vector<std::int32_t> lengths_;  // (documents) tokens per document
  std::uint64_t tokens_ = 0;
  std::vector<unsigned char> scratch_;
  bool finished_ = false;
};

// A little-endian array at any byte offset of a mapped file. Megatron's index packs int32 lengths right after a
// 34-byte header, so its arrays are not aligned for their type and must be read bytewise rather than through a
// typed pointer.
template <typename T>
class UnalignedArray {
 public:
  UnalignedArray() = default;
  UnalignedArray(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T operator[](std::size_t i) const {
    T value;
    std::memcpy(&value, data_ + i * sizeof(T), sizeof(T));
    return value;
  }

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// A read-only, memory-mapped indexed dataset. The constructor validates the whole index (magic, version, dtype,
// counts, pointers inside the .bin, monotone document indices) and throws Error naming the file and the problem.
// A Megatron "document" may span several consecutive sequences; documents are what the loader consumes.
// Token ids are checked as they are read (the .bin is never scanned up front): against [0, vocab_size) when the
// vocabulary is given, else against int32.
class IndexedDataset {
 public:
  explicit IndexedDataset(const std::filesystem::path& prefix, std::optional<std::uint64_t> vocab_size = std::nullopt);

  TokenDtype dtype() const { return dtype_; }
  std::size_t num_sequences() const { return lengths_.size(); }
  std::size_t num_documents() const { return doc_index_.empty() ? 0 : doc_index_.size() - 1; }
  std::uint64_t num_tokens() const { return total_tokens_; }

  // Tokens of document d (all its sequences, which are contiguous in the .bin).
  std::uint64_t document_length(std::size_t d) const;
  // Copies `count` tokens of document d starting at token `offset` into out, widened to int32. Throws Error when the
  // range lies outside the document, or naming the .bin, the document and the token when a token id is out of range
  // (see the class comment).
  void read_document(std::size_t d, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const;

  const std::filesystem::path& prefix() const { return prefix_; }
  // The raw token bytes, for checksums: (num_tokens * dtype_size).
  std::span<const std::uint8_t> bin_bytes() const { return {bin_.data(), bin_.size()}; }
  // The raw index bytes, for checksums.
  std::span<const std::uint8_t> idx_bytes() const { return {idx_.data(), idx_.size()}; }

 private:
  void read_header();
  void check_index_size() const;
  void check_sequences();
  void check_documents();

  std::filesystem::path prefix_;
  TokenDtype dtype_ = TokenDtype::uint16;
  MappedFile idx_;
  MappedFile bin_;
  std::uint64_t header_sequences_ = 0, header_doc_indices_ = 0;
  UnalignedArray<std::int32_t> lengths_;    // (num_sequences) tokens per sequence
  UnalignedArray<std::int64_t> pointers_;   // (num_sequences) byte offset of each sequence in .bin
  UnalignedArray<std::int64_t> doc_index_;  // (num_documents + 1) first sequence of each document, then the end
  std::vector<std::uint64_t> doc_tokens_;   // (num_documents) tokens per document
  std::uint64_t total_tokens_ = 0;
  std::optional<std::uint64_t> vocab_size_;
};

}  // namespace diverge::data
