// The training state a checkpoint carries beside its tensors, and state.json, the file that records it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "engine/checkpoint/durable_file.h"

namespace diverge {

// The files of one checkpoint directory.
inline constexpr std::string_view kModelFile = "model.safetensors";          // parameters
inline constexpr std::string_view kOptimizerFile = "optimizer.safetensors";  // AdamW "<param>.exp_avg", ".exp_avg_sq"
inline constexpr std::string_view kStateFile = "state.json";                 // TrainingState + file hashes

// state.json's "format_version": a reader refuses versions it does not know rather than guess at them. Version 2
// added "trainer"; version 1 files still load, with an empty one.
inline constexpr int kCheckpointFormatVersion = 2;

// Everything besides tensors that a run needs to continue exactly where it stopped.
struct TrainingState {
  std::int64_t step = 0;                             // optimizer steps completed; names the directory
  std::int64_t tokens_seen = 0;                      // training tokens consumed so far, all ranks together
  nlohmann::json loader = nlohmann::json::object();  // the loader's position (LoaderState::to_json())
  nlohmann::json rng = nlohmann::json::object();     // every RNG state the run draws from, in any JSON shape
  nlohmann::json trainer = nlohmann::json::object();  // the training loop's own counters and metric windows
  std::string config_hash;                           // hash of the resolved config, compared on resume
  nlohmann::json config = nlohmann::json::object();  // the resolved config itself
};

// What was written for each tensor file, so that a load can tell a damaged file from a good one.
struct CheckpointFiles {
  WrittenFile model;
  WrittenFile optimizer;
};

struct StateFile {
  TrainingState state;
  CheckpointFiles files;
};

nlohmann::json state_to_json(const TrainingState& state, const CheckpointFiles& files);

// Parses state.json: every key present with its type, no unknown keys, this format and version. Error at `where`.
StateFile state_from_json(const nlohmann::json& json, std::string_view where);

}  // namespace diverge
