// Fuzz harness support: the per-process scratch directory, input splitting and the one-line refusal rule.
#include "tests/fuzz/support.h"

#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include "engine/error.h"

namespace diverge::fuzz {
namespace {

class ScratchDir {
 public:
  ScratchDir() {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    path_ = base / ("diverge-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

const fs::path& scratch_dir() {
  static const ScratchDir dir;
  return dir.path();
}

void write_bytes(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write the scratch file " + path.string());
}

std::pair<std::string_view, std::string_view> split_at_nul(std::string_view data) {
  const auto nul = data.find('\0');
  if (nul == std::string_view::npos) return {data, {}};
  return {data.substr(0, nul), data.substr(nul + 1)};
}

fs::path write_file_pair(std::string_view data, std::string_view dir, std::string_view first,
                         std::string_view second) {
  const auto [first_bytes, second_bytes] = split_at_nul(data);
  const fs::path folder = scratch_dir() / dir;
  fs::create_directories(folder);
  write_bytes(folder / first, first_bytes);
  if (data.find('\0') == std::string_view::npos)
    fs::remove(folder / second);
  else
    write_bytes(folder / second, second_bytes);
  return folder / first;
}

void refusals_are_errors(const std::function<void()>& read) {
  try {
    read();
  } catch (const Error& e) {
    const std::string_view message = e.what();
    if (message.find('\n') != std::string_view::npos || message.size() > kMaxMessageBytes)
      throw std::logic_error("a refusal is not one short line (" + std::to_string(message.size()) +
                             " bytes): " + std::string(message.substr(0, 300)));
  }
}

void require(bool holds, std::string_view what) {
  if (!holds) throw std::logic_error(std::string(what));
}

}  // namespace diverge::fuzz
