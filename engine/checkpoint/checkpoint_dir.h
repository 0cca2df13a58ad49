// The checkpoints directory: step-NNNNNN names, the `latest` pointer, staging, pruning, stale leftovers, resume.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diverge {

namespace fs = std::filesystem;

// Layout of <out_dir>/checkpoints/:
//   step-000100/              a complete checkpoint (a directory gets this name only by an atomic rename)
//   step-000200.tmp-<pid>/    one being written (staging); left behind only by a killed process
//   step-000050.trash-<pid>/  one being deleted: renamed first, so a half-deleted one never looks complete
//   latest                    "step-000200\n": the checkpoint to resume from, rewritten atomically after each save

inline constexpr std::string_view kLatestFile = "latest";

// "step-000100": zero-padded to 6 digits, wider past 999999.
std::string checkpoint_name(std::int64_t step);
// The step a complete checkpoint's directory name stands for; nullopt for any other name (including staging).
std::optional<std::int64_t> checkpoint_step(std::string_view name);

struct CheckpointEntry {
  std::int64_t step;
  fs::path path;
};

// The complete checkpoints under root, by ascending step. A missing root holds none.
std::vector<CheckpointEntry> list_checkpoints(const fs::path& root);

// The checkpoint `latest` names; nullopt when there is no `latest` file. Error when it names something that is not
// a checkpoint of this directory.
std::optional<fs::path> read_latest(const fs::path& root);
void write_latest(const fs::path& root, std::int64_t step);

// Where a checkpoint is staged by this process before it is published; by process `pid` (several processes writing
// one checkpoint stage it where the one that begins it would).
fs::path staging_path(const fs::path& root, std::int64_t step);
fs::path staging_path(const fs::path& root, std::int64_t step, std::int64_t pid);
// Moves staging to root/checkpoint_name(step) atomically, replacing (by an atomic exchange) a checkpoint of the
// same step that a previous, interrupted run published but never pointed `latest` at.
fs::path publish_checkpoint(const fs::path& staging, const fs::path& root, std::int64_t step);

// Removes staging and trash directories and `latest` temporaries left by killed processes. Call once at start,
// before saving: a run owns its checkpoints directory. Returns how many entries it removed.
std::size_t remove_stale_temporaries(const fs::path& root);

// Deletes all but the keep_last newest checkpoints (0 keeps all); the one `latest` names is always kept.
void prune_checkpoints(const fs::path& root, int keep_last);

// The checkpoints a run may resume from, best first, and whether it may fall back along the list.
struct ResumeCandidates {
  std::vector<fs::path> paths;
  // With "auto" the trainer takes the first candidate that loads, saying why it passed over the others, so a
  // damaged newest checkpoint or a broken `latest` costs the steps since the one before it, never the run.
  bool fall_back = false;
  std::vector<std::string> notes;  // why `latest` was passed over, when it was
};

// "" -> none (a fresh run). "auto" -> the checkpoint `latest` names, then every complete checkpoint by descending
// step; none when there are none (a fresh run). Any other value is the path of a checkpoint directory, which must
// hold a state.json, and is the only candidate.
ResumeCandidates resume_candidates(const fs::path& root, std::string_view resume);

}  // namespace diverge
