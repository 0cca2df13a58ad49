// The training state a checkpoint carries beside its tensors, and state.json, the file that records it.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint/durable_file.h"

namespace diverge {

// The files of one checkpoint directory.
inline constexpr std::string_view kModelFile = "model.safetensors";          // parameters
inline constexpr std::string_view kOptimizerFile = "optimizer.safetensors";  // AdamW "<param>.exp_avg", ".exp_avg_sq"
inline constexpr std::string_view kStateFile = "state.json";                 // TrainingState + file hashes

// state.json's "format_version": a reader refuses versions it does not know rather than guess at them. Version 2
// added "trainer", version 3 "layout" and the expert shards' files; older files still load, as one process's.
inline constexpr int kCheckpointFormatVersion = 3;

// How the ranks that wrote a checkpoint held the model. Under expert parallelism (ep > 1) model.safetensors and
// optimizer.safetensors hold the replicated tensors, and each expert shard i of ep its experts' tensors, under their
// global per-expert names, in expert_shard_file("model", i, ep) and expert_shard_file("optimizer", i, ep).
struct CheckpointLayout {
  std::int64_t world = 1;  // ranks
  std::int64_t ep = 1;     // expert-parallel size: expert shards
  std::int64_t zero = 0;   // the ZeRO stage that wrote it, for the record: the files are the same at every stage
};

// "model-ep1-of-2.safetensors" for base "model", shard 1 of 2.
std::string expert_shard_file(std::string_view base, std::int64_t shard, std::int64_t shards);

// Everything besides tensors that a run needs to continue exactly where it stopped.
struct TrainingState {
  std::int64_t step = 0;                             // optimizer steps completed; names the directory
  std::int64_t tokens_seen = 0;                      // training tokens consumed so far, all ranks together
  nlohmann::json loader = nlohmann::json::object();  // the loader's position (LoaderState::to_json())
  nlohmann::json rng = nlohmann::json::object();     // every RNG state the run draws from, in any JSON shape
  nlohmann::json trainer = nlohmann::json::object();  // the training loop's own counters and metric windows
  std::string config_hash;                           // hash of the resolved config, compared on resume
  nlohmann::json config = nlohmann::json::object();  // the resolved config itself
  CheckpointLayout layout;
};

// What was written for each tensor file, by file name, so that a load can tell a damaged file from a good one:
// model.safetensors and optimizer.safetensors, plus the expert shards' files the layout names.
using CheckpointFiles = std::map<std::string, WrittenFile, std::less<>>;

// The tensor files a checkpoint of this layout holds, model files first, then optimizer files.
std::vector<std::string> tensor_file_names(const CheckpointLayout& layout);

struct StateFile {
  TrainingState state;
  CheckpointFiles files;
};

nlohmann::json state_to_json(const TrainingState& state, const CheckpointFiles& files);

// File records alone, under any names: what one process of several wrote into a checkpoint.
nlohmann::json files_to_json(const CheckpointFiles& files);
CheckpointFiles files_from_json(const nlohmann::json& json, std::string_view where);

// Parses state.json: every key present with its type, no unknown keys, this format and version. Error at `where`.
StateFile state_from_json(const nlohmann::json& json, std::string_view where);

}  // namespace diverge
