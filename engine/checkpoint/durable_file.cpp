// Durable writes through POSIX calls: write loop, fsync of the file and of its directory, atomic rename.
#include "engine/checkpoint/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "engine/error.h"

namespace diverge {
namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

DurableFile::DurableFile(fs::path path, std::string where)
    : path_(std::move(path)), where_(where.empty() ? path_.string() : std::move(where)) {
  tmp_ = path_;
  tmp_ += ".tmp-" + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(where_, "cannot create: " + errno_text());
}

DurableFile::~DurableFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void DurableFile::write(const void* data, std::size_t size) {
  if (size == 0) return;
  hasher_.update(data, size);
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(where_, "write failed: " + errno_text());
    p += n;
    size -= static_cast<std::size_t>(n);
    bytes_ += static_cast<std::uint64_t>(n);
  }
}

WrittenFile DurableFile::commit() {
  if (::fsync(fd_) != 0) throw Error(where_, "fsync failed: " + errno_text());
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    ::unlink(tmp_.c_str());
    throw Error(where_, "close failed: " + errno_text());
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::string reason = errno_text();
    ::unlink(tmp_.c_str());
    throw Error(where_, "rename from " + tmp_.filename().string() + " failed: " + reason);
  }
  sync_parent_directory(path_);
  return {hasher_.finish(), bytes_};
}

WrittenFile write_durably(const fs::path& path, std::string_view contents, std::string where) {
  DurableFile file(path, std::move(where));
  file.write(contents);
  return file.commit();
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(dir.string(), "cannot open directory to fsync it: " + errno_text());
  const int rc = ::fsync(fd);
  const std::string reason = rc != 0 ? errno_text() : "";
  ::close(fd);
  check(rc == 0, dir.string(), "fsync of the directory failed: " + reason);
}

void sync_parent_directory(const fs::path& path) {
  sync_directory(path.has_parent_path() ? path.parent_path() : fs::path("."));
}

}  // namespace diverge
