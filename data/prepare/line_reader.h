// Streaming line reader for plain and xz-compressed text files (JSONL corpora are often shipped as .jsonl.xz).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace diverge::data {

// Reads a file line by line without loading it whole; `.xz` files are decompressed on the fly (liblzma).
// Lines are returned without their trailing '\n' (and '\r').
class LineReader {
 public:
  explicit LineReader(const std::filesystem::path& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // False at end of file. Throws Error naming the file on a read or decompression failure.
  bool next(std::string& line);
  std::uint64_t line_number() const { return line_number_; }
  // Bytes of the file on disk consumed so far (compressed bytes for .xz): progress against the file size.
  std::uint64_t file_bytes_read() const { return file_bytes_read_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  bool refill();
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  struct Xz;
  std::unique_ptr<Xz> xz_;  // null for plain files
  std::vector<char> raw_;   // bytes read from the file
  std::vector<char> text_;  // decoded bytes not yet returned as lines
  std::size_t text_pos_ = 0;
  bool eof_ = false;
  std::uint64_t line_number_ = 0;
  std::uint64_t file_bytes_read_ = 0;
};

}  // namespace diverge::data
