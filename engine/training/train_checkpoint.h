// A training checkpoint as the trainer sees it: parameters, AdamW moments, counters, loader position, config.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/loader/loader_state.h"
#include "engine/comm/process_groups.h"
#include "engine/config/config.h"
#include "engine/training/optimizer_step.h"
#include "model/param_layout.h"

namespace diverge {

namespace fs = std::filesystem;

// Where a run stands after an optimizer step.
struct TrainProgress {
  std::int64_t step = 0;    // optimizer steps completed
  std::int64_t tokens = 0;  // training tokens consumed, all ranks together
  data::LoaderState loader;
  nlohmann::json trainer = nlohmann::json::object();  // the training loop's own state (skip counts, metric window)
};

// The checkpoints directory of a run: <train.out_dir>/checkpoints.
fs::path checkpoints_root(const config::Config& config);

// Saves step-NNNNNN under root: the parameters under their Hugging Face names (model.safetensors), AdamW's
// moments (optimizer.safetensors), and progress, RNG seed and the resolved config (state.json); keeps the newest
// train.keep_checkpoints. Atomic: a kill leaves the previous checkpoint and `latest` intact. Collective over
// groups.world(): world rank 0 writes the replicated tensors and state.json, and under expert parallelism the first
// rank of each expert shard (edp rank 0) writes that shard's experts and their moments into files of their own, so
// no rank ever holds more than its own share. params is the model's f32 block, or empty where the optimizer keeps the
// masters (OptimizerStep::keeps_masters). Returns the checkpoint's directory, published once rank 0 returns.
fs::path save_training_checkpoint(const fs::path& root, const config::Config& config, const model::ParamLayout& layout,
                                  const Tensor& params, const OptimizerStep& optimizer, const TrainProgress& progress,
                                  const ProcessGroups& groups);

struct ResumedCheckpoint {
  TrainProgress progress;
  // The keys ("optim.lr", "train.steps") whose values differ between the checkpoint's resolved config and the
  // current one (train.resume, which names the checkpoint itself, left out): a resumed run says what it changed.
  std::vector<std::string> changed_keys;
};

// Loads a checkpoint directory into params (or, where params is empty, the masters the optimizer keeps; its
// publish() then refreshes the working copy) and the optimizer's moments: layout's tensors, this rank's share, from
// a checkpoint written by any number of ranks at any expert-parallel size (experts are stored under their global
// names). Error naming the checkpoint when a file is damaged or a tensor's name, dtype or shape differs from what the
// current model expects.
ResumedCheckpoint load_training_checkpoint(const fs::path& dir, const config::Config& current,
                                           const model::ParamLayout& layout, const Tensor& params,
                                           const OptimizerStep& optimizer);

// Loads only the parameters of a checkpoint directory into params (analysis, evaluation). Error naming the
// checkpoint when a file is damaged or a tensor's name, dtype or shape differs from what layout expects.
void load_checkpoint_parameters(const fs::path& dir, const model::ParamLayout& layout, const Tensor& params);

}  // namespace diverge
