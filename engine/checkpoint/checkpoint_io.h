// Saving and loading one checkpoint: parameters, optimizer state and training state, published atomically.
#pragma once

#include <filesystem>
#include <span>
#include <string>

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

// A checkpoint opened for reading. The tensor files stay memory-mapped while this lives.
struct LoadedCheckpoint {
  fs::path dir;
  TrainingState state;
  SafetensorsFile model;
  SafetensorsFile optimizer;

  // "checkpoint step-000100", the prefix of this checkpoint's error messages.
  std::string label() const;
  // check_tensors_match on each file, under label().
  void check_model(std::span<const TensorSpec> expected) const;
  void check_optimizer(std::span<const TensorSpec> expected) const;
};

// Opens dir (a step-NNNNNN directory): parses state.json, checks each tensor file's size and content hash against
// it, validates both files. Error naming the file for anything missing, truncated, damaged or inconsistent.
LoadedCheckpoint load_checkpoint(const fs::path& dir);

}  // namespace diverge
