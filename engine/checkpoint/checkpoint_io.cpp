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

constexpr std::string_view kPartPrefix = "part-";
constexpr std::string_view kPartSuffix = ".json";

// Errors name each file where it will be published, not in the staging directory no reader ever opens.
std::string published(const fs::path& root, std::int64_t step, std::string_view file) {
  return (root / checkpoint_name(step) / file).string();
}

bool is_part_file(const std::string& name) {
  return name.starts_with(kPartPrefix) && name.ends_with(kPartSuffix);
}

// The files every writer recorded in its part file, which the commit then removes: they are not the checkpoint's.
CheckpointFiles collect_parts(const fs::path& staging) {
  CheckpointFiles files;
  std::vector<fs::path> parts;
  for (const auto& entry : fs::directory_iterator(staging))
    if (is_part_file(entry.path().filename().string())) parts.push_back(entry.path());
  for (const fs::path& part : parts) {
    for (auto& [name, file] : files_from_json(read_json_file(part), part.string())) {
      check(!files.contains(name), part.string(), name + ": written by two processes");
      files[name] = std::move(file);
    }
    fs::remove(part);
  }
  return files;
}

void check_all_written(const CheckpointFiles& files, const TrainingState& state, const fs::path& root) {
  for (const std::string& name : tensor_file_names(state.layout))
    check(files.contains(name), published(root, state.step, name),
          "no process wrote it (layout: world " + std::to_string(state.layout.world) + ", ep " +
              std::to_string(state.layout.ep) + ")");
}

std::vector<const SafetensorsFile*> file_set(const SafetensorsFile& main, const std::vector<SafetensorsFile>& shards) {
  std::vector<const SafetensorsFile*> files{&main};
  for (const SafetensorsFile& shard : shards) files.push_back(&shard);
  return files;
}

void copy_from_set(const std::vector<const SafetensorsFile*>& files, std::string_view name, void* dst,
                   std::size_t bytes) {
  for (const SafetensorsFile* file : files)
    if (file->find(name) != nullptr) return file->copy_to(name, dst, bytes);
  files.front()->tensor(name);  // throws, naming the tensor
}

SafetensorsFile open_recorded(const fs::path& path, const WrittenFile& record) {
  check(fs::is_regular_file(path), path.string(), "missing: the checkpoint is incomplete");
  const auto bytes = static_cast<std::uint64_t>(fs::file_size(path));
  check(bytes == record.bytes, path.string(),
        "file is " + std::to_string(bytes) + " bytes, " + std::string(kStateFile) + " records " +
            std::to_string(record.bytes) + " (truncated or replaced)");
  return SafetensorsFile(path, record.hash);
}

std::vector<SafetensorsFile> open_shards(const fs::path& dir, const StateFile& state, std::string_view base) {
  std::vector<SafetensorsFile> shards;
  const std::int64_t ep = state.state.layout.ep;
  if (ep == 1) return shards;  // one process's layout: the experts are in the main files
  for (std::int64_t i = 0; i < ep; ++i) {
    const std::string name = expert_shard_file(base, i, ep);
    shards.push_back(open_recorded(dir / name, state.files.at(name)));
  }
  return shards;
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

void begin_checkpoint(const fs::path& root, const fs::path& staging) {
  try {
    create_root(root);
    fs::remove_all(staging);
    fs::create_directory(staging);
  } catch (const fs::filesystem_error& e) {
    throw Error(root.string(), std::string("saving checkpoint: ") + e.what());
  }
}

void stage_checkpoint_files(const fs::path& root, const fs::path& staging, std::int64_t step, std::string_view part,
                            std::span<const TensorFile> files) {
  CheckpointFiles written;
  for (const TensorFile& file : files)
    written[file.name] =
        write_safetensors(staging / file.name, file.tensors, kTensorMetadata, published(root, step, file.name));
  const std::string part_name = std::string(kPartPrefix) + std::string(part) + std::string(kPartSuffix);
  write_durably(staging / part_name, files_to_json(written).dump() + "\n", published(root, step, part_name));
}

fs::path commit_checkpoint(const fs::path& root, const fs::path& staging, const TrainingState& state, int keep_last) {
  check(state.step >= 0, root.string(), "cannot save a checkpoint at negative step " + std::to_string(state.step));
  try {
    const CheckpointFiles files = collect_parts(staging);
    check_all_written(files, state, root);
    write_durably(staging / kStateFile, state_to_json(state, files).dump(1) + "\n",
                  published(root, state.step, kStateFile));
    const fs::path checkpoint = publish_checkpoint(staging, root, state.step);
    write_latest(root, state.step);
    prune_checkpoints(root, keep_last);
    return checkpoint;
  } catch (const fs::filesystem_error& e) {
    throw Error(root.string(), std::string("saving checkpoint: ") + e.what());
  }
}

fs::path save_checkpoint(const fs::path& root, const TrainingState& state, std::span<const NamedTensor> params,
                         std::span<const NamedTensor> optimizer, int keep_last) {
  check(state.step >= 0, root.string(), "cannot save a checkpoint at negative step " + std::to_string(state.step));
  const fs::path staging = staging_path(root, state.step);
  begin_checkpoint(root, staging);
  try {
    const TensorFile files[] = {{std::string(kModelFile), params}, {std::string(kOptimizerFile), optimizer}};
    stage_checkpoint_files(root, staging, state.step, "0", files);
    return commit_checkpoint(root, staging, state, keep_last);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
}

std::string LoadedCheckpoint::label() const { return "checkpoint " + dir.filename().string(); }

void LoadedCheckpoint::check_model(std::span<const TensorSpec> expected) const {
  check_tensors_match(file_set(model, model_shards), expected, label());
}

void LoadedCheckpoint::check_optimizer(std::span<const TensorSpec> expected) const {
  check_tensors_match(file_set(optimizer, optimizer_shards), expected, label());
}

void LoadedCheckpoint::copy_model(std::string_view name, void* dst, std::size_t bytes) const {
  copy_from_set(file_set(model, model_shards), name, dst, bytes);
}

void LoadedCheckpoint::copy_optimizer(std::string_view name, void* dst, std::size_t bytes) const {
  copy_from_set(file_set(optimizer, optimizer_shards), name, dst, bytes);
}

LoadedCheckpoint load_checkpoint(const fs::path& dir_in) {
  const fs::path dir = normalized(dir_in);
  try {
    StateFile state = read_state(dir);
    SafetensorsFile model = open_recorded(dir / kModelFile, state.files.at(std::string(kModelFile)));
    SafetensorsFile optimizer = open_recorded(dir / kOptimizerFile, state.files.at(std::string(kOptimizerFile)));
    std::vector<SafetensorsFile> model_shards = open_shards(dir, state, "model");
    std::vector<SafetensorsFile> optimizer_shards = open_shards(dir, state, "optimizer");
    return LoadedCheckpoint{dir,
                            std::move(state.state),
                            std::move(model),
                            std::move(optimizer),
                            std::move(model_shards),
                            std::move(optimizer_shards)};
  } catch (const fs::filesystem_error& e) {
    throw Error(dir.string(), std::string("loading checkpoint: ") + e.what());
  }
}

}  // namespace diverge
