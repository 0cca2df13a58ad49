// Run directory protection: the "holds a run" test, the directory lock, and archiving a replaced run.
#include "engine/training/run_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/training/metrics.h"
#include "engine/training/train_checkpoint.h"
#include "engine/utc_time.h"

namespace diverge {
namespace {

constexpr const char* kLockFile = ".lock";

bool non_empty_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && fs::file_size(path, ec) > 0;
}

// The other process's pid as the lock file records it, for the message.
std::string lock_holder(const fs::path& lock) {
  std::error_code ec;
  if (!fs::is_regular_file(lock, ec)) return "another process";
  std::string pid = read_file(lock);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() || pid.size() > 12 ? "another process" : "process " + pid;
}

int lock_directory(const fs::path& out_dir) {
  const fs::path lock = out_dir / kLockFile;
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  check(fd >= 0, lock.string(), std::string("cannot create the run lock: ") + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    // Filesystems without flock (some cluster mounts) cannot protect the directory; the run goes on unprotected.
    if (error != EWOULDBLOCK) return -1;
    throw Error(out_dir.string(), lock_holder(lock) + " is training into this run directory; wait for it to end "
                                                      "or choose another --out");
  }
  // The pid only feeds the message another process prints; the lock holds without it, so failures are ignored.
  const std::string pid = std::to_string(::getpid()) + "\n";
  [[maybe_unused]] const bool recorded =
      ::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
  return fd;
}

// A fresh "replaced-<UTC time>" directory under out_dir ("-2", "-3", ... when one exists for this second).
fs::path archive_directory(const fs::path& out_dir) {
  const std::string base = "replaced-" + utc_time("%Y%m%dT%H%M%SZ");
  fs::path dir = out_dir / base;
  for (int n = 2; fs::exists(dir); ++n) dir = out_dir / (base + "-" + std::to_string(n));
  fs::create_directories(dir);
  return dir;
}

void archive_run(const config::Config& config) {
  const fs::path out_dir = config.train.out_dir;
  const fs::path archive = archive_directory(out_dir);
  const fs::path metrics = config.metrics_path();
  for (const fs::path& file : {metrics, superseded_metrics_path(metrics), out_dir / "config.json"}) {
    std::error_code ec;
    if (fs::is_regular_file(file, ec)) fs::rename(file, archive / file.filename());
  }
  const auto removed = fs::remove_all(checkpoints_root(config));
  if (!config.log.quiet)
    std::printf("overwrite: moved the previous run's logs to %s/ and deleted its checkpoints (%ju files)\n",
                archive.c_str(), static_cast<std::uintmax_t>(removed));
}

}  // namespace

bool holds_run(const config::Config& config) {
  return non_empty_file(config.metrics_path()) || !list_checkpoints(checkpoints_root(config)).empty();
}

RunDirectory::RunDirectory(const config::Config& config, RunStart start) {
  const fs::path out_dir = config.train.out_dir;
  try {
    fs::create_directories(out_dir);
  } catch (const fs::filesystem_error& e) {
    throw Error(out_dir.string(), std::string("cannot create the run directory: ") + e.code().message());
  }
  lock_fd_ = lock_directory(out_dir);
  try {
    if (start == RunStart::fresh)
      check(!holds_run(config), out_dir.string(),
            "already holds a run (" + config.metrics_path().filename().string() + " or checkpoints/); continue it "
            "with --resume auto, write to another --out, or replace it with --overwrite (the old logs are kept)");
    if (start == RunStart::overwrite && holds_run(config)) archive_run(config);
  } catch (...) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw;
  }
}

RunDirectory::~RunDirectory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace diverge
