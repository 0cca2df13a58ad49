// Checkpoints directory housekeeping: names, listing, the `latest` pointer, publish by rename, prune, clean up.
#include "engine/checkpoint/checkpoint_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "engine/checkpoint/checkpoint_state.h"
#include "engine/checkpoint/durable_file.h"
#include "engine/error.h"
#include "engine/files.h"

namespace diverge {
namespace {

constexpr std::string_view kStepPrefix = "step-";
constexpr std::string_view kStagingTag = ".tmp-";
constexpr std::string_view kTrashTag = ".trash-";

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string pid_suffix(std::string_view tag) { return std::string(tag) + std::to_string(::getpid()); }

// "<base><tag><pid>" where base is a checkpoint name or `latest`: what a killed process can leave behind.
bool is_stale_temporary(std::string_view name) {
  for (auto tag : {kStagingTag, kTrashTag}) {
    const auto at = name.rfind(tag);
    if (at == std::string_view::npos || !all_digits(name.substr(at + tag.size()))) continue;
    const auto base = name.substr(0, at);
    if (checkpoint_step(base).has_value() || (tag == kStagingTag && base == kLatestFile)) return true;
  }
  return false;
}

// Renames the directory out of the complete namespace first, so that a kill half way through the deletion leaves
// a trash directory (cleaned up later), never a half-empty directory that looks like a checkpoint.
void discard_directory(const fs::path& dir) {
  fs::path trash = dir;
  trash += pid_suffix(kTrashTag);
  fs::rename(dir, trash);
  fs::remove_all(trash);
}

}  // namespace

std::string checkpoint_name(std::int64_t step) {
  check(step >= 0, "checkpoint", "step " + std::to_string(step) + " is negative");
  char digits[32];
  std::snprintf(digits, sizeof digits, "%06lld", static_cast<long long>(step));
  return std::string(kStepPrefix) + digits;
}

std::optional<std::int64_t> checkpoint_step(std::string_view name) {
  if (!name.starts_with(kStepPrefix) || !all_digits(name.substr(kStepPrefix.size()))) return std::nullopt;
  std::int64_t step = 0;
  const auto digits = name.substr(kStepPrefix.size());
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  // Only the canonical spelling: "step-0100" and "step-000100" must not both be step 100.
  if (checkpoint_name(step) != name) return std::nullopt;
  return step;
}

std::vector<CheckpointEntry> list_checkpoints(const fs::path& root) {
  std::vector<CheckpointEntry> found;
  if (!fs::is_directory(root)) return found;
  for (const auto& entry : fs::directory_iterator(root)) {
    const auto step = checkpoint_step(entry.path().filename().string());
    if (step.has_value() && entry.is_directory()) found.push_back({*step, entry.path()});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return found;
}

std::optional<fs::path> read_latest(const fs::path& root) {
  const fs::path pointer = root / kLatestFile;
  if (!fs::exists(pointer)) return std::nullopt;
  std::string name = read_file(pointer);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ' || name.back() == '\r')) name.pop_back();
  check(checkpoint_step(name).has_value(), pointer.string(),
        "holds '" + name.substr(0, 40) + "', expected a checkpoint name such as step-000100");
  const fs::path dir = root / name;
  check(fs::is_directory(dir), pointer.string(), "names " + name + ", which does not exist in " + root.string());
  return dir;
}

void write_latest(const fs::path& root, std::int64_t step) {
  write_durably(root / kLatestFile, checkpoint_name(step) + "\n");
}

fs::path staging_path(const fs::path& root, std::int64_t step) { return staging_path(root, step, ::getpid()); }

fs::path staging_path(const fs::path& root, std::int64_t step, std::int64_t pid) {
  return root / (checkpoint_name(step) + std::string(kStagingTag) + std::to_string(pid));
}

fs::path publish_checkpoint(const fs::path& staging, const fs::path& root, std::int64_t step) {
  const fs::path target = root / checkpoint_name(step);
  if (!fs::exists(target)) {
    fs::rename(staging, target);
  } else if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(staging);  // now holds the replaced checkpoint, under a staging name
  } else {
    const int error = errno;
    // Filesystems without RENAME_EXCHANGE: a moment without this step, while `latest` still names an older one.
    check(error == EINVAL || error == ENOSYS, target.string(),
          std::string("cannot replace the existing checkpoint: ") + std::strerror(error));
    discard_directory(target);
    fs::rename(staging, target);
  }
  sync_directory(root);
  return target;
}

std::size_t remove_stale_temporaries(const fs::path& root) {
  if (!fs::is_directory(root)) return 0;
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(root))
    if (is_stale_temporary(entry.path().filename().string())) stale.push_back(entry.path());
  for (const auto& path : stale) fs::remove_all(path);
  return stale.size();
}

void prune_checkpoints(const fs::path& root, int keep_last) {
  if (keep_last <= 0) return;
  const auto checkpoints = list_checkpoints(root);
  const auto latest = read_latest(root);
  const std::size_t keep = static_cast<std::size_t>(keep_last);
  for (std::size_t i = 0; i + keep < checkpoints.size(); ++i)
    if (!latest.has_value() || checkpoints[i].path.filename() != latest->filename())
      discard_directory(checkpoints[i].path);
}

ResumeCandidates resume_candidates(const fs::path& root, std::string_view resume) {
  ResumeCandidates candidates;
  if (resume.empty()) return candidates;
  if (resume != "auto") {
    const fs::path dir(resume);
    check(fs::is_regular_file(dir / kStateFile), "resume",
          "'" + dir.string() + "' is not a checkpoint directory (no " + std::string(kStateFile) + " in it)");
    candidates.paths.push_back(dir);
    return candidates;
  }
  candidates.fall_back = true;
  try {
    if (auto latest = read_latest(root)) candidates.paths.push_back(*latest);
  } catch (const Error& e) {
    candidates.notes.push_back(e.what());
  }
  const auto checkpoints = list_checkpoints(root);
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend(); ++it)
    if (candidates.paths.empty() || it->path != candidates.paths.front()) candidates.paths.push_back(it->path);
  return candidates;
}

}  // namespace diverge
