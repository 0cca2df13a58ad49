// Durable writes: a file streamed to a temporary, hashed on the way, fsynced and renamed into place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "engine/hash.h"

namespace diverge {

namespace fs = std::filesystem;

// What a finished write produced: the content hash ("xxh3-128:...") and the size of the file.
struct WrittenFile {
  std::string hash;
  std::uint64_t bytes = 0;
};

// Streams to "<path>.tmp-<pid>" so that files larger than memory never exist twice; commit() makes the file and
// its directory entry durable. A kill before commit() leaves only the temporary (and any old file at path
// untouched); destruction without commit() removes the temporary. Errors name `where`, or path when it is empty,
// never the temporary: a checkpoint's files are staged in a directory of their own and named by where they will be
// published.
class DurableFile {
 public:
  explicit DurableFile(fs::path path, std::string where = {});
  ~DurableFile();
  DurableFile(const DurableFile&) = delete;
  DurableFile& operator=(const DurableFile&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // fsync, close, rename over path, fsync the directory.
  WrittenFile commit();

 private:
  fs::path path_;
  std::string where_;
  fs::path tmp_;
  int fd_ = -1;
  ContentHasher hasher_;
  std::uint64_t bytes_ = 0;
};

// Writes a whole small file durably (state files, pointers); errors name `where` as DurableFile's do.
WrittenFile write_durably(const fs::path& path, std::string_view contents, std::string where = {});

// fsync of a directory, so that the entries created or renamed in it survive a power cut.
void sync_directory(const fs::path& dir);
// fsync of the directory holding path ("." for a bare file name).
void sync_parent_directory(const fs::path& path);

}  // namespace diverge
