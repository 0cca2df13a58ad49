// `diverge bench`: one configured training step timed on its device: tokens/s, model FLOP/s and MFU, and where the
// step's time goes by part.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/config/config.h"
#include "engine/step_profile.h"
#include "engine/training/device_peaks.h"

namespace diverge {

struct BenchOptions {
  std::int64_t warmup = 2;  // steps run first and not timed: allocation, library plans, caches
  std::int64_t steps = 5;   // steps timed, then as many again under the step profile
  std::optional<double> peak_tflops;  // the device's dense bf16 peak, over the built-in table
};

struct BenchReport {
  std::string device;  // "CPU, 2 threads" or the GPU's name
  std::string comm;    // the ranks and the expert-parallel size: "single process, ep 1", "MPI, 2 ranks, ep 2"
  std::int64_t total_params = 0;
  std::int64_t active_params = 0;
  std::int64_t tokens_per_step = 0;
  std::int64_t flops_per_token = 0;  // config::training_flops_per_token
  std::int64_t warmup = 0;
  std::vector<double> step_seconds;  // each timed step, the device drained at its end
  StepPartSeconds part_seconds{};    // per profiled step, averaged
  std::optional<double> peak_tflops;
  std::string peak_source;  // where the peak comes from, or why there is none

  double median_step_seconds() const;
  double tokens_per_second() const;
  double model_tflops() const;  // flops_per_token * tokens/s / 1e12
};

// Builds the config's model, optimizer and data on its device and runs warmup, timed and profiled steps (the
// training loop's own step: micro-batches, gradient reduction, clipping, AdamW). Collective over the ranks a
// launcher started (data and expert parallelism as in training); the report is this rank's. Errors as `diverge
// train`'s.
BenchReport bench_step(const config::Config& config, const BenchOptions& options);

// The report as the lines `diverge bench` prints, and as the JSON --json writes.
std::string format_bench_report(const BenchReport& report);
nlohmann::json bench_report_json(const BenchReport& report);

}  // namespace diverge
