// File helpers shared by every reader and writer: whole-file reads, atomic writes, read-only memory maps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace diverge {

namespace fs = std::filesystem;

// Reads a whole file; throws Error naming the path when it is missing or unreadable.
std::string read_file(const fs::path& path);

// Writes to "<path>.tmp-<pid>", fsyncs, then renames over path: a crash or kill leaves either the old file or the
// new one, never a torn mix. Errors name path, never the temporary.
void write_file_atomic(const fs::path& path, std::string_view contents);

// A read-only memory map of a whole file. Empty files map to an empty view.
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const fs::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace diverge
