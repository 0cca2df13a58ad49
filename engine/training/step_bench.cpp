// The step benchmark: the training loop's modules on the config's device, timed steps, then profiled steps.
#include "engine/training/step_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/compute_threads.h"
#include "engine/config/model_size.h"
#include "engine/device_memory.h"
#include "engine/error.h"
#include "engine/training/metrics.h"
#include "engine/training/optimizer_step.h"
#include "engine/training/run_report.h"
#include "engine/training/step_compute.h"
#include "kernels/cuda/device_info.h"

namespace diverge {
namespace {

using Clock = std::chrono::steady_clock;

// What the bench holds for its steps: the training loop's modules, built the same way.
class BenchRun {
 public:
  BenchRun(const config::Config& config, int threads)
      : threads_(threads),
        inputs_(open_run_inputs(config)),
        groups_(open_process_groups(config_)),
        memory_(checked_memory_plan(config_)),
        model_(config_.model, config_.loss, config_.data.micro_batch, config_.data.seq_len, config_.train.seed,
               memory_.device, config_.train.logit_chunk, {&groups_.ep(), config_.parallel.ep_capacity}),
        optimizer_(config_.optim, model_.layout().block_elements(), model_.layout().decay_elements(), model_.device()),
        reduction_(whole_block_collectives(groups_.dp(), groups_.edp(), model_.layout().sharded_elements(),
                                           model_.layout().block_elements()),
                   final_stages(model_.layout(), config_.model.n_layers)),
        loader_(inputs_.data.corpus, loader_config(config_, groups_.dp())),
        edl_(config_.edl, config_.model, inputs_.edl_label_count),
        monitor_(config_.model, inputs_.metric_label_count, model_.device()) {
    model_.balance_load_over(groups_.dp());
  }

  // One optimizer step at the peak learning rate, the device drained at its end; its seconds.
  double step(std::int64_t number) {
    const auto start = Clock::now();
    const Tensor grads = model_.grads();
    run_micro_batches({model_, edl_, monitor_, loader_, groups_.dp()}, inputs_, config_.data.grad_accum,
                      [&](std::int64_t stage) { reduction_.stage_final(stage, grads); });
    reduction_.finish(grads);
    const ReducedGradients reduced =
        optimizer_.reduced_norm(groups_, model_.layout().sharded_elements(), grads, config_.data.grad_accum);
    optimizer_.update(model_.params(), model_.grads(), reduced, config_.optim.lr, number);
    device_synchronize(model_.device());
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  BenchReport report_frame() const {
    BenchReport r;
    r.device = memory_.device == Device::cpu ? "CPU, " + std::to_string(threads_) + " threads" : cuda::device_name();
    r.total_params = model_.layout().total_parameters();
    r.active_params = model_.layout().active_parameters();
    r.comm = groups_.world().describe() + ", ep " + std::to_string(groups_.ep().size());
    r.tokens_per_step = config_.data.micro_batch * config_.data.seq_len * config_.data.grad_accum * groups_.dp().size();
    r.flops_per_token = config::training_flops_per_token(config_.model, config_.data.seq_len);
    return r;
  }

  Device device() const { return memory_.device; }

 private:
  int threads_;
  RunInputs inputs_;
  const config::Config& config_ = inputs_.config;
  ProcessGroups groups_;  // before memory_: on GPUs it picks the device whose free memory the plan must fit
  MemoryPlan memory_;
  model::Transformer model_;
  OptimizerStep optimizer_;
  OverlappedReduction reduction_;
  data::TrainLoader loader_;
  model::EdlTerm edl_;
  model::RoutingMonitor monitor_;
};

void resolve_peak(BenchReport& r, const BenchOptions& options, Device device) {
  if (options.peak_tflops) {
    r.peak_tflops = options.peak_tflops;
    r.peak_source = "--peak-tflops";
  } else if (device == Device::cuda && (r.peak_tflops = peak_bf16_tflops(r.device))) {
    r.peak_source = "dense bf16 peak of " + r.device;
  } else {
    r.peak_source = "no peak known for " + r.device + " (give --peak-tflops)";
  }
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

}  // namespace

double BenchReport::median_step_seconds() const {
  if (step_seconds.empty()) return 0.0;
  std::vector<double> sorted = step_seconds;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
}

double BenchReport::tokens_per_second() const {
  const double median = median_step_seconds();
  return median > 0.0 ? static_cast<double>(tokens_per_step) / median : 0.0;
}

double BenchReport::model_tflops() const { return static_cast<double>(flops_per_token) * tokens_per_second() / 1e12; }

BenchReport bench_step(const config::Config& config, const BenchOptions& options) {
  check(options.steps >= 1 && options.warmup >= 0, "bench", "needs --steps >= 1 and --warmup >= 0");
  BenchRun run(config, set_compute_threads(config.train.threads));
  BenchReport report = run.report_frame();
  report.warmup = options.warmup;
  resolve_peak(report, options, run.device());
  std::int64_t number = 0;
  for (std::int64_t i = 0; i < options.warmup; ++i) run.step(++number);
  for (std::int64_t i = 0; i < options.steps; ++i) report.step_seconds.push_back(run.step(++number));
  for (std::int64_t i = 0; i < options.steps; ++i) {
    StepProfile::start(run.device());
    run.step(++number);
    const StepPartSeconds seconds = StepProfile::stop();
    for (std::size_t p = 0; p < kStepParts; ++p)
      report.part_seconds[p] += seconds[p] / static_cast<double>(options.steps);
  }
  return report;
}

std::string format_bench_report(const BenchReport& r) {
  std::string text = "bench: " + r.device + " | " + r.comm + " | " + format_si(static_cast<double>(r.total_params)) +
                     " parameters, " + format_si(static_cast<double>(r.active_params)) + " active | " +
                     format_thousands(static_cast<double>(r.tokens_per_step)) + " tokens/step | " +
                     std::to_string(r.warmup) + " warmup, " + std::to_string(r.step_seconds.size()) + " timed and " +
                     std::to_string(r.step_seconds.size()) + " profiled steps\n";
  const auto [fastest, slowest] = std::minmax_element(r.step_seconds.begin(), r.step_seconds.end());
  text += "step: " + fixed(r.median_step_seconds() * 1e3, 1) + " ms median (" + fixed(*fastest * 1e3, 1) + " to " +
          fixed(*slowest * 1e3, 1) + ") | " + format_thousands(r.tokens_per_second()) + " tok/s | " +
          fixed(r.model_tflops() * 1e3, 1) + " GFLOP/s of model FLOPs (" +
          format_si(static_cast<double>(r.flops_per_token)) + "/token)\n";
  text += r.peak_tflops ? "MFU: " + fixed(100.0 * r.model_tflops() / *r.peak_tflops, 1) + "% of " +
                              fixed(*r.peak_tflops, 1) + " TFLOP/s (" + r.peak_source + ")\n"
                        : "MFU: " + r.peak_source + "\n";
  double profiled = 0.0;
  for (double s : r.part_seconds) profiled += s;
  text += "part                 ms/step   share\n";
  for (std::size_t p = 0; p < kStepParts; ++p) {
    char line[96];
    std::snprintf(line, sizeof line, "%-19s %9.2f  %5.1f%%\n", step_part_name(static_cast<StepPart>(p)),
                  r.part_seconds[p] * 1e3, profiled > 0.0 ? 100.0 * r.part_seconds[p] / profiled : 0.0);
    text += line;
  }
  char total[96];
  std::snprintf(total, sizeof total, "%-19s %9.2f  (profiled steps; the timed median is %.2f)\n", "total",
                profiled * 1e3, r.median_step_seconds() * 1e3);
  return text + total;
}

nlohmann::json bench_report_json(const BenchReport& r) {
  nlohmann::json parts = nlohmann::json::object();
  for (std::size_t p = 0; p < kStepParts; ++p) parts[step_part_name(static_cast<StepPart>(p))] = r.part_seconds[p];
  nlohmann::json json = {{"device", r.device},
                         {"comm", r.comm},
                         {"total_params", r.total_params},
                         {"active_params", r.active_params},
                         {"tokens_per_step", r.tokens_per_step},
                         {"flops_per_token", r.flops_per_token},
                         {"warmup_steps", r.warmup},
                         {"step_seconds", r.step_seconds},
                         {"median_step_seconds", r.median_step_seconds()},
                         {"tokens_per_second", r.tokens_per_second()},
                         {"model_tflops", r.model_tflops()},
                         {"part_seconds_per_step", parts},
                         {"peak_source", r.peak_source}};
  json["peak_tflops"] = r.peak_tflops ? nlohmann::json(*r.peak_tflops) : nlohmann::json(nullptr);
  json["mfu"] = r.peak_tflops ? nlohmann::json(r.model_tflops() / *r.peak_tflops) : nlohmann::json(nullptr);
  return json;
}

}  // namespace diverge
