// One checkpoint on disk: staged write, publish, `latest`, prune; and the verified load.
#include "engine/checkpoint/checkpoint_io.h"

#include <map>
#include <system_error>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/safetensors_writer.h"
#include "engine/checkpoint/tensor_match.h"
#include "engine/error.h"
#include "engine/json/json_reader.h"

namespace diverge {
namespace {

// transformers refuses safetensors weights whose metadata lacks a known "format"; "pt" makes the file loadable
// there as it is.
const std::map<std::string, std::string> kTensorMetadata{{"format", "pt"}};

// The path without a trailing separator, so that its filename is the directory: ".../step-000100/" -> step-000100.
fs::path normalized(const fs::path& dir) {
  fs::path clean = dir.lexically_normal();
  return clean.has_filename() ? clean : clean.parent_path();
}

// A new checkpoints directory must itself survive a power cut, or its first checkpoint would vanish with it.
void create_root(const fs::path& root) {
  if (fs::create_directories(root)) sync_parent_directory(normalized(root));
}

fs::path write_staged(const fs::path& root, const TrainingState& state, std::span<const NamedTensor> params,
                      std::span<const NamedTensor> optimizer) {
  const fs::path staging = staging_path(root, state.step);
  // Errors name each file where it will be published, not in the staging directory no reader ever opens.
  const auto published = [&](std::string_view file) { return (root / checkpoint_name(state.step) / file).string(); };
  fs::remove_all(staging);
  fs::create_directory(staging);
  try {
    CheckpointFiles files;
    files.model = write_safetensors(staging / kModelFile, params, kTensorMetadata, published(kModelFile));
    files.optimizer =
        write_safetensors(staging / kOptimizerFile, optimizer, kTensorMetadata, published(kOptimizerFile));
    write_durably(staging / kStateFile, state_to_json(state, files).dump(1) + "\n", published(kStateFile));
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
  return staging;
}

SafetensorsFile open_recorded(const fs::path& path, const WrittenFile& record) {
  check(fs::is_regular_file(path), path.string(), "missing: the checkpoint is incomplete");
  const auto bytes = static_cast<std::uint64_t>(fs::file_size(path));
  check(bytes == record.bytes, path.string(),
        "file is " + std::to_string(bytes) + " bytes, " + std::string(kStateFile) + " records " +
            std::to_string(record.bytes) + " (truncated or replaced)");
  return SafetensorsFile(path, record.hash);
}

StateFile read_state(const fs::path& dir) {
  const fs::path path = dir / kStateFile;
  check(fs::is_regular_file(path), dir.string(), "not a checkpoint directory (no " + std::string(kStateFile) + ")");
  StateFile state = state_from_json(read_json_file(path), path.string());
  const auto named_step = checkpoint_step(dir.filename().string());
  check(!named_step.has_value() || *named_step == state.state.step, path.string(),
        "step is " + std::to_string(state.state.step) + " but the directory is " + dir.filename().string());
  return state;
}

}  // namespace

fs::path save_checkpoint(const fs::path& root, const TrainingState& state, std::span<const NamedTensor> params,
                         std::span<const NamedTensor> optimizer, int keep_last) {
  check(state.step >= 0, root.string(), "cannot save a checkpoint at negative step " + std::to_string(state.step));
  try {
    create_root(root);
    const fs::path staging = write_staged(root, state, params, optimizer);
    const fs::path published = publish_checkpoint(staging, root, state.step);
    write_latest(root, state.step);
    prune_checkpoints(root, keep_last);
    return published;
  } catch (const fs::filesystem_error& e) {
    throw Error(root.string(), std::string("saving checkpoint: ") + e.what());
  }
}

std::string LoadedCheckpoint::label() const { return "checkpoint " + dir.filename().string(); }

void LoadedCheckpoint::check_model(std::span<const TensorSpec> expected) const {
  check_tensors_match(model, expected, label());
}

void LoadedCheckpoint::check_optimizer(std::span<const TensorSpec> expected) const {
  check_tensors_match(optimizer, expected, label());
}

LoadedCheckpoint load_checkpoint(const fs::path& dir_in) {
  const fs::path dir = normalized(dir_in);
  try {
    StateFile state = read_state(dir);
    return LoadedCheckpoint{dir, std::move(state.state), open_recorded(dir / kModelFile, state.files.model),
                            open_recorded(dir / kOptimizerFile, state.files.optimizer)};
  } catch (const fs::filesystem_error& e) {
    throw Error(dir.string(), std::string("loading checkpoint: ") + e.what());
  }
}

}  // namespace diverge
