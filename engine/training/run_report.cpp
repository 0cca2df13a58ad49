// The plan a training run prints before its first step and the summary it prints after its last.
#include "engine/training/run_report.h"

#include <cstdio>
#include <string>

#include "engine/progress.h"
#include "engine/training/metrics.h"

namespace diverge {

std::string format_si(double value) {
  const char* suffixes[] = {"", "k", "M", "B", "T"};
  int s = 0;
  while (value >= 1000.0 && s < 4) {
    value /= 1000.0;
    ++s;
  }
  char buf[32];
  int decimals = s == 0 ? 0 : (value < 10 ? 2 : (value < 100 ? 1 : 0));
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, value, suffixes[s]);
  return buf;
}

std::string format_memory_plan(const MemoryPlan& mem, std::int64_t ranks, const config::DataConfig& d) {
  const auto bytes = [](std::size_t n) { return format_bytes(static_cast<double>(n)); };
  return std::string("memory (planned") + (ranks > 1 ? " per rank" : "") + ", " + device_name(mem.device) +
         "): params " + bytes(mem.params) + " | grads " + bytes(mem.grads) + " | optimizer " + bytes(mem.optimizer) +
         " | activations " + bytes(mem.activations) + " (micro-batch " + std::to_string(d.micro_batch) + " x " +
         std::to_string(d.seq_len) + ") | total " + bytes(mem.params + mem.grads + mem.optimizer + mem.activations);
}

void print_run_plan(const config::Config& config, const RunFacts& facts) {
  const auto& m = config.model;
  const auto& d = config.data;
  std::printf("model: %lld layers, d_model %lld, %lld heads (%lld kv), %lld experts top-%lld (hidden %lld), vocab %s\n",
              static_cast<long long>(m.n_layers), static_cast<long long>(m.d_model), static_cast<long long>(m.n_heads),
              static_cast<long long>(m.n_kv_heads), static_cast<long long>(m.n_experts),
              static_cast<long long>(m.top_k), static_cast<long long>(m.expert_hidden),
              format_thousands(static_cast<double>(m.vocab_size)).c_str());
  std::printf("params: %s total, %s active per token\n", format_si(static_cast<double>(facts.total_params)).c_str(),
              format_si(static_cast<double>(facts.active_params)).c_str());
  std::printf("%s\n", format_memory_plan(facts.memory, facts.ranks, d).c_str());
  const std::string ranks = facts.ranks > 1 ? " x " + std::to_string(facts.ranks) + " ranks" : "";
  std::printf("compute: %sFLOP/token | %s tokens/step (%lld x %lld x %lld micro-batches%s) | %d threads | %s\n",
              format_si(static_cast<double>(facts.flops_per_token)).c_str(),
              format_thousands(static_cast<double>(facts.tokens_per_step)).c_str(),
              static_cast<long long>(d.micro_batch), static_cast<long long>(d.seq_len),
              static_cast<long long>(d.grad_accum), ranks.c_str(), facts.threads, facts.comm.c_str());
  std::printf("data: %s\n", facts.corpus.c_str());
  std::fflush(stdout);
}

void print_activation_peak(std::size_t planned, std::size_t measured) {
  std::printf("activations: measured peak %s of %s planned\n", format_bytes(static_cast<double>(measured)).c_str(),
              format_bytes(static_cast<double>(planned)).c_str());
  std::fflush(stdout);
}

std::string format_run_end(std::int64_t step, const RunTiming& timing, double wall_seconds, const RunFacts& facts) {
  const std::int64_t steps_run = timing.steps.count;
  std::string line = "done: step " + std::to_string(step);
  if (steps_run == 0 || timing.steps.seconds <= 0) return line + ", no steps left to run";
  const double tokens_per_s = static_cast<double>(steps_run * facts.tokens_per_step) / timing.steps.seconds;
  char throughput[96];
  std::snprintf(throughput, sizeof throughput, " tok/s, %.2f GFLOP/s",
                tokens_per_s * static_cast<double>(facts.flops_per_token) / 1e9);
  return line + ", " + std::to_string(steps_run) + (steps_run == 1 ? " step" : " steps") + " | training " +
         format_duration(timing.steps.seconds) + ", " + format_thousands(tokens_per_s) + throughput + " | wall " +
         format_duration(wall_seconds) + " (eval " + format_duration(timing.evals.seconds) + ", checkpoints " +
         format_duration(timing.checkpoints.seconds) + ")";
}

void print_run_end(const std::string& end_line, const std::filesystem::path& metrics,
                   const std::optional<std::filesystem::path>& checkpoint) {
  std::printf("%s\nmetrics: %s\n", end_line.c_str(), metrics.string().c_str());
  if (checkpoint) std::printf("checkpoint: %s\n", checkpoint->string().c_str());
  std::fflush(stdout);
}

}  // namespace diverge
