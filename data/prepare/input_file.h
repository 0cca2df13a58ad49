// Reading corpus files that may be xz-compressed: a byte stream that decodes .xz on the fly, and whole-file reads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/files.h"

namespace diverge::data {

// A file's decoded bytes in pieces: `.xz` files go through liblzma's stream decoder, others are read as they are.
class InputStream {
 public:
  explicit InputStream(const std::filesystem::path& path);
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Appends up to about 1 MiB of decoded bytes to out; false at the end of the file. Errors name the file.
  bool read_some(std::vector<char>& out);
  // Bytes of the file on disk consumed so far (compressed bytes for .xz): progress against the file size.
  std::uint64_t file_bytes_read() const { return file_bytes_read_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  struct Xz;
  std::unique_ptr<Xz> xz_;  // null for plain files
  std::vector<char> raw_;   // bytes read from the file, not yet decoded
  bool eof_ = false;
  std::uint64_t file_bytes_read_ = 0;
};

// A whole input file's text: memory-mapped when plain, decompressed into memory when `.xz`.
class InputText {
 public:
  explicit InputText(const std::filesystem::path& path);
  std::string_view view() const { return decoded_.empty() ? mapped_.view() : std::string_view(decoded_); }
  std::size_t size() const { return view().size(); }

 private:
  MappedFile mapped_;
  std::string decoded_;
};

bool is_xz(const std::filesystem::path& path);

}  // namespace diverge::data
