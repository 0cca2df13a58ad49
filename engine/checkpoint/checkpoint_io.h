// Saving and loading one checkpoint: parameters, optimizer state and training state, published atomically.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint/checkpoint_state.h"
#include "engine/checkpoint/safetensors_reader.h"
#include "engine/checkpoint/tensor_spec.h"

namespace diverge {

namespace fs = std::filesystem;

// Writes root/step-NNNNNN/ {model.safetensors, optimizer.safetensors, state.json} for state.step: staged in
// step-NNNNNN.tmp-<pid>/, every file and directory fsynced, renamed into place, then `latest` rewritten
// atomically, then older checkpoints pruned to keep_last (0 keeps all). A kill at any moment leaves the previous
// checkpoint intact and `latest` naming a complete one. Returns the new checkpoint's directory.
fs::path save_checkpoint(const fs::path& root, const TrainingState& state, std::span<const NamedTensor> params,
                         std::span<const NamedTensor> optimizer, int keep_last);

// One tensor file of a checkpoint: its name in the checkpoint directory and its tensors.
struct TensorFile {
  std::string name;
  std::span<const NamedTensor> tensors;
};

// A checkpoint that several processes write together (expert parallelism), in three steps with a barrier between
// each: one process begins it (an empty staging directory, staging_path(root, step, its pid), that every process can
// see); every writer stages its tensor files there, recording them in a part file of its own; then the one process
// commits it: state.json from the parts (state.layout says which files there must be), publish, `latest`, prune.
// save_checkpoint is the three steps in one process. A kill at any moment leaves the previous checkpoint intact.
void begin_checkpoint(const fs::path& root, const fs::path& staging);
void stage_checkpoint_files(const fs::path& root, const fs::path& staging, std::int64_t step, std::string_view part,
                            std::span<const TensorFile> files);
fs::path commit_checkpoint(const fs::path& root, const fs::path& staging, const TrainingState& state, int keep_last);

// A checkpoint opened for reading. The tensor files stay memory-mapped while this lives.
struct LoadedCheckpoint {
  fs::path dir;
  TrainingState state;
  SafetensorsFile model;
  SafetensorsFile optimizer;
  // Under expert parallelism (state.layout.ep > 1): each expert shard's files, in shard order; else empty.
  std::vector<SafetensorsFile> model_shards;
  std::vector<SafetensorsFile> optimizer_shards;

  // "checkpoint step-000100", the prefix of this checkpoint's error messages.
  std::string label() const;
  // check_tensors_match on the model's files together and on the optimizer's together, under label(): expected is
  // the whole model's, whatever the layout that wrote it.
  void check_model(std::span<const TensorSpec> expected) const;
  void check_optimizer(std::span<const TensorSpec> expected) const;
  // Copies the named tensor from whichever of the model's (optimizer's) files holds it into dst, of exactly its size.
  void copy_model(std::string_view name, void* dst, std::size_t bytes) const;
  void copy_optimizer(std::string_view name, void* dst, std::size_t bytes) const;
};

// Opens dir (a step-NNNNNN directory): parses state.json, checks each tensor file's size and content hash against
// it, validates both files. Error naming the file for anything missing, truncated, damaged or inconsistent.
LoadedCheckpoint load_checkpoint(const fs::path& dir);

}  // namespace diverge
