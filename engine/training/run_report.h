// What a training run tells its user besides the step lines: the plan at start and the summary at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "engine/config/config.h"
#include "engine/tensor.h"
#include "engine/training/run_timing.h"

namespace diverge {

// Bytes each arena holds (planned at construction).
struct MemoryPlan {
  Device device = Device::cpu;  // where every arena below lives (the host's staging buffers are not counted)
  std::size_t params = 0;       // the f32 masters, and on CUDA their bf16 working copy
  std::size_t grads = 0;
  std::size_t optimizer = 0;
  std::size_t activations = 0;  // one micro-batch's forward and backward, as planned
};

struct RunFacts {
  std::int64_t total_params = 0;
  std::int64_t active_params = 0;
  std::int64_t flops_per_token = 0;  // training (forward + backward)
  std::int64_t tokens_per_step = 0;  // all micro-batches of all ranks
  int threads = 0;
  std::int64_t ranks = 1;  // of the world: each plans its own memory, and a step reads every rank's micro-batches
  std::string comm;        // the process group, e.g. "single process"
  std::string corpus;  // the manifest file
  MemoryPlan memory;
};

// "3.42M", "812k", "1.20B": a count with an SI suffix and three significant digits.
std::string format_si(double value);

// The model, the memory per arena, the compute per step and the corpus: printed before the first step.
void print_run_plan(const config::Config& config, const RunFacts& facts);
// "memory (planned per rank, cuda): params 1.7 MB | grads ... | total 7.6 MB": one rank's plan of a run on `ranks`.
std::string format_memory_plan(const MemoryPlan& plan, std::int64_t ranks, const config::DataConfig& data);

// Printed after the first step: the activation arena's measured peak beside the plan.
void print_activation_peak(std::size_t planned, std::size_t measured);

// "done: step 500, 500 steps | training 1m58s, 8,680 tok/s, 92.1 GFLOP/s | wall 2m06s (eval 5s, checkpoints 3s)":
// throughput over the training steps alone, the wall time with evaluations and checkpoints beside it.
std::string format_run_end(std::int64_t step, const RunTiming& timing, double wall_seconds, const RunFacts& facts);

// The run_end line, and where the log and the last checkpoint are.
void print_run_end(const std::string& end_line, const std::filesystem::path& metrics,
                   const std::optional<std::filesystem::path>& checkpoint);

}  // namespace diverge
