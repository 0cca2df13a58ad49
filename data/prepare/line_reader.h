// Streaming line reader for plain and xz-compressed text files (JSONL corpora are often shipped as .jsonl.xz).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/prepare/input_file.h"

namespace diverge::data {

// Reads a file line by line without loading it whole. Lines come without their trailing '\n' (and '\r').
class LineReader {
 public:
  explicit LineReader(const std::filesystem::path& path) : input_(path) {}

  // False at end of file. Throws Error naming the file on a read or decompression failure.
  bool next(std::string& line);
  std::uint64_t line_number() const { return line_number_; }
  std::uint64_t file_bytes_read() const { return input_.file_bytes_read(); }
  const std::filesystem::path& path() const { return input_.path(); }

 private:
  InputStream input_;
  std::vector<char> text_;  // decoded bytes not yet returned as lines, from text_pos_ on
  std::size_t text_pos_ = 0;
  bool at_end_ = false;
  std::uint64_t line_number_ = 0;
};

}  // namespace diverge::data
