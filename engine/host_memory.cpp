// The host memory limit: sysconf's physical pages, capped by the cgroup's memory limit when one is set.
#include "engine/host_memory.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>

namespace diverge {
namespace {

// A cgroup limit file holds a byte count, or "max" (v2) / a huge number (v1) for none.
std::size_t cgroup_limit(const char* path, std::size_t fallback) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return fallback;
  std::size_t bytes = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), bytes);
  return error == std::errc() && end == text.data() + text.size() ? std::min(bytes, fallback) : fallback;
}

}  // namespace

std::size_t host_memory_limit() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  std::size_t limit = pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page)
                                            : static_cast<std::size_t>(-1);
  limit = cgroup_limit("/sys/fs/cgroup/memory.max", limit);
  return cgroup_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes", limit);
}

}  // namespace diverge
