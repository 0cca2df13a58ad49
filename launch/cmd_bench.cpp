// `diverge bench`: time the training step of a config on its device, with MFU and the time per part.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/comm/world.h"
#include "engine/config/config.h"
#include "engine/files.h"
#include "engine/training/step_bench.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

struct BenchFlags {
  std::string config;
  std::vector<std::string> overrides;
  BenchOptions options;
  double peak_tflops = 0.0;
  std::string json;
};

Registrar bench_command(45, [](CLI::App& root) {
  auto flags = std::make_shared<BenchFlags>();
  auto* cmd = root.add_subcommand(
      "bench",
      "Time the training step of a config on its device (train.device): the same step `train` runs, on the\n"
      "config's corpus, after --warmup untimed steps. Prints tokens/s, model FLOP/s, MFU against the device's\n"
      "dense bf16 peak, and the time per part (attention, expert GEMMs, dense GEMMs, router + dispatch, EDL,\n"
      "optimizer, communication, other) from as many steps again under the step profile. Writes nothing else.\n"
      "Model FLOPs per token: 6 x the active weights in matrix products + 12 x layers x heads x head_dim x seq_len.\n"
      "Example: diverge bench --config configs/tiny-cpu.json --steps 5 --json runs/bench.json\n"
      "`diverge bench ep` times expert parallelism's token exchange and experts instead (diverge bench ep --help).");
  // Required unless a subcommand (bench ep) takes the command line: checked in the callback.
  cmd->add_option("-c,--config", flags->config, "JSON config file (configs/tiny-cpu.json, ...)");
  cmd->add_option("--set", flags->overrides, "override a config key, e.g. --set train.device=cuda (repeatable)");
  cmd->add_option("--warmup", flags->options.warmup, "untimed steps first (default 2)")
      ->check(whole_number_at_least(0));
  cmd->add_option("--steps", flags->options.steps, "timed steps, then as many profiled ones (default 5)")
      ->check(whole_number_at_least(1));
  cmd->add_option("--peak-tflops", flags->peak_tflops,
                  "the device's peak TFLOP/s for MFU (default: the dense bf16 peak of a known GPU)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--json", flags->json, "also write the report as JSON to this file");
  cmd->callback([flags, cmd] {
    if (!cmd->get_subcommands().empty()) return;
    if (flags->config.empty()) throw CLI::RequiredError("--config");
    auto config = config::Config::load(flags->config, flags->overrides);
    config.validate("config " + flags->config);
    if (flags->peak_tflops > 0.0) flags->options.peak_tflops = flags->peak_tflops;
    const BenchReport report = bench_step(config, flags->options);
    if (world_rank() != 0) return;  // every rank runs the step, rank 0 speaks for them
    std::printf("%s", format_bench_report(report).c_str());
    if (!flags->json.empty()) {
      write_file_atomic(flags->json, bench_report_json(report).dump(2) + "\n");
      std::printf("json: %s\n", flags->json.c_str());
    }
  });
});

}  // namespace
}  // namespace diverge::cli
