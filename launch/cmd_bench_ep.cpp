// `diverge bench ep`: expert parallelism's dispatch / combine bandwidth and latency, expert compute, layer breakdown.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/comm/world.h"
#include "engine/config/config.h"
#include "engine/files.h"
#include "engine/training/ep_bench.h"
#include "engine/utc_time.h"
#include "launch/build_commit.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

struct BenchEpFlags {
  std::string config;
  std::vector<std::string> overrides;
  EpBenchOptions options;
  std::string json;
};

Registrar bench_ep_command(46, [](CLI::App& root) {
  auto flags = std::make_shared<BenchEpFlags>();
  auto* cmd = root.get_subcommand("bench")->add_subcommand(
      "ep",
      "Time expert parallelism for a config's MoE layer and parallel.ep, under mpirun (np a multiple of\n"
      "parallel.ep): (a) dispatch and combine (the all-to-all-v of the routed rows to their experts' ranks and of\n"
      "the experts' outputs back) latency and bandwidth against tokens per rank (--sizes; default 64, 128, ...\n"
      "up to data.micro_batch * data.seq_len), GB/s as the bytes of the rows a rank sends to other ranks over the\n"
      "seconds; (b) the local experts' forward + backward on the rows that arrive; (c) one MoE layer's forward +\n"
      "backward split into a2a / experts / rest. Every figure is the median over --iters after --warmup, each\n"
      "iteration started together on every rank and timed on the slowest. Routing is forced even (token t's copy j\n"
      "to expert (t * top_k + j) mod n_experts, gates 1 / top_k: parallel.ep_force_balance) unless\n"
      "--learned-router. At np 1 (ep 1) it times the experts and the layer alone. With train.device=cuda the\n"
      "rows travel over NCCL, one GPU per rank.\n"
      "Example: mpirun -np 2 diverge bench ep --config configs/tiny-cpu.json --set parallel.ep=2 "
      "--set train.threads=1 --json runs/bench-ep.json");
  cmd->add_option("-c,--config", flags->config, "JSON config file (configs/tiny-cpu.json, ...)")->required();
  cmd->add_option("--set", flags->overrides, "override a config key, e.g. --set parallel.ep=2 (repeatable)");
  cmd->add_option("--sizes", flags->options.sizes, "tokens per rank to time the exchange at (default 64 .. B * T)")
      ->check(whole_number_at_least(1));
  cmd->add_option("--iters", flags->options.iters, "timed iterations per figure (default 20)")
      ->check(whole_number_at_least(1));
  cmd->add_option("--warmup", flags->options.warmup, "untimed iterations before each figure (default 3)")
      ->check(whole_number_at_least(0));
  cmd->add_flag("--learned-router", flags->options.learned_routing,
                "route by the router's top-k of random inputs (at initialisation) instead of forced balance");
  cmd->add_option("--json", flags->json, "also write the report as JSON to this file (rank 0)");
  cmd->callback([flags] {
    auto config = config::Config::load(flags->config, flags->overrides);
    config.validate("config " + flags->config);
    const EpBenchReport report = bench_ep(config, flags->options);
    if (world_rank() != 0) return;
    std::printf("%s", format_ep_bench_report(report).c_str());
    if (!flags->json.empty()) {
      const EpBenchMeta meta{.date = utc_time("%Y-%m-%dT%H:%M:%SZ"), .commit = build_commit(), .command = command_line()};
      write_file_atomic(flags->json, ep_bench_report_json(report, meta).dump(2) + "\n");
      std::printf("json: %s\n", flags->json.c_str());
    }
  });
});

}  // namespace
}  // namespace diverge::cli
