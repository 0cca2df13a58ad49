// The checks a training run makes before it allocates anything: the config against this build and the corpus, the
// data pipeline, the memory plan. `diverge train` and `diverge config check` run the same ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/loader/train_loader.h"
#include "engine/comm/comm.h"
#include "engine/comm/process_groups.h"
#include "engine/config/config.h"
#include "engine/training/run_report.h"
#include "engine/training/training_data.h"
#include "model/transformer.h"

namespace diverge {

// What a run takes from its corpus, checked against the config.
struct RunInputs {
  TrainingData data;
  config::Config config;                // resolved: model.vocab_size from the corpus, validated again
  std::int64_t edl_label_count = 0;     // M of edl.labels (model::EdlTerm)
  std::int64_t metric_label_count = 0;  // M of the val label system: routing metrics and per-domain val loss
};

// Settings the config accepts that this build cannot honour yet are refused, not ignored: Error naming the key.
void check_supported(const config::Config& config);
// The same for what the world of ranks adds: a CUDA run on several ranks needs NCCL in the build.
void check_world_supported(const config::Config& config, const Comm& world);
// The groups by role over every rank the launcher started, for a run of config (the world checked first): on GPUs
// device tensors go over NCCL (make_device_world), which binds the rank to its GPU, so this comes before any CUDA
// work. The benches build their runs' groups with it.
ProcessGroups open_process_groups(const config::Config& config);

// Opens config.data.corpus and resolves the config against it. Error naming the key for an unsupported setting, a
// missing corpus (saying how to make one), a vocabulary the model cannot hold, or a label system of
// data.val_label_system or edl.labels that the corpus lacks.
RunInputs open_run_inputs(const config::Config& config);

data::LoaderConfig loader_config(const config::Config& config, const Comm& comm);

// The device train.device names.
Device run_device(const config::Config& config);
// Where the run keeps the f32 master weights: with the optimizer, sharded, under ZeRO-1 on CUDA (whose passes read
// the bf16 working copy); in the model otherwise (the CPU's passes read the masters themselves).
model::Masters run_masters(const config::Config& config);

// The bytes of each arena of one rank of a run of config (model.vocab_size resolved) on `ranks` ranks: the whole
// model's but for the experts other ranks hold (parallel.ep) and the moments they keep (parallel.zero).
MemoryPlan plan_memory(const config::Config& config, std::int64_t ranks = 1);

// What a plan on its device may use: the host's memory limit (host_memory_limit()), or the GPU's free memory.
std::size_t memory_limit(const MemoryPlan& plan);

// Error when the plan's total exceeds limit (memory_limit()), naming each arena and the knobs of config that shrink
// it.
void check_memory_plan(const MemoryPlan& plan, std::size_t limit, const config::Config& config);

// plan_memory(config, ranks), checked against memory_limit().
MemoryPlan checked_memory_plan(const config::Config& config, std::int64_t ranks = 1);

// What `diverge config check` found: every check `train` makes before its first step that could be made.
struct PreflightReport {
  config::Config config;                   // resolved when the corpus was opened
  std::optional<MemoryPlan> memory;        // when the vocabulary size is known: one rank's
  std::int64_t ranks = 1;                  // what the plan is for
  std::size_t memory_limit = 0;
  std::vector<std::string> checked;        // "corpus runs/c/manifest.json: vocabulary 8,192, ...", ...
  std::vector<std::string> not_checked;    // what could not be checked, and why
};

// Runs train's checks without training: the config rules (already passed by a loaded config), this build's
// support, the corpus (vocabulary, label systems, blend weights, validation shards) and the memory plan. A missing
// corpus is not an error here: the checks that need it are listed in not_checked. Any failed check is an Error. The
// memory plan is one rank's of a run on `ranks` (mpirun -np), which parallel.ep must then divide; 0: of one process,
// as one rank of its expert-parallel group would plan it (the world size being the launcher's).
PreflightReport preflight(const config::Config& config, std::int64_t ranks = 0);

}  // namespace diverge
