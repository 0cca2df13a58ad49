// The training loop: micro-batches -> forward/backward -> gradient all-reduce -> non-finite guard -> clip -> AdamW,
// with evals, checkpoints, preemption and bit-exact resume.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "engine/config/config.h"
#include "engine/training/metrics.h"
#include "engine/training/stop_signals.h"

namespace diverge {

struct TrainOptions {
  // Stop after this optimizer step (saving a checkpoint there) although the schedule runs to train.steps, so that
  // a later --resume continues the very same run; 0 runs to the end.
  std::int64_t stop_after = 0;
  // Start fresh even when train.out_dir holds a run: its logs are archived and its checkpoints deleted. Without it
  // a fresh start (train.resume "") into a directory that holds a run is an Error.
  bool overwrite = false;
  // The stop signals the run obeys, when its caller holds them past the run (the CLI, until the process exits);
  // without them the run claims its own for the call.
  const StopSignals* signals = nullptr;
};

// Why train() returned.
enum class StopReason {
  completed,   // the schedule ran to train.steps, or --stop-after was reached
  signal,      // SIGTERM, SIGINT or SIGUSR1: stopped after a step, with a checkpoint there
  nonfinite,   // a NaN or infinite loss, gradient or parameter: stopped without writing a checkpoint
};

struct TrainSummary {
  std::int64_t step = 0;    // optimizer steps completed when training stopped
  std::int64_t tokens = 0;  // training tokens consumed by then
  std::filesystem::path metrics;
  std::optional<std::filesystem::path> checkpoint;  // the last checkpoint written or resumed from
  StopReason reason = StopReason::completed;
  std::string message;  // for signal and nonfinite: what happened, at which step, and what to do next
};

// Runs config (train.resume picks the starting point) and prints the plan, a line per log.every steps, every eval,
// and where the outputs are. Errors in the config, corpus or checkpoint are diverge::Errors naming the key or file.
TrainSummary train(const config::Config& config, const TrainOptions& options = {});

}  // namespace diverge
