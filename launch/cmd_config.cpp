// `diverge config show|check`: the resolved training config as JSON, or whether a config file is valid.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/config/model_size.h"
#include "engine/training/run_preflight.h"
#include "engine/training/run_report.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

struct ConfigArgs {
  std::string file;
  std::vector<std::string> overrides;

  config::Config load() const { return file.empty() ? config::Config{} : config::Config::load(file, overrides); }
};

void add_config_options(CLI::App& cmd, ConfigArgs& args, bool file_required) {
  auto* file = cmd.add_option("--config", args.file, "training config (JSON)");
  if (file_required) file->required();
  cmd.add_option("--set", args.overrides,
                 "override one key, repeatable: --set optim.lr=1e-3 --set model.qk_norm=false; the value is JSON\n"
                 "when it parses as JSON, else a string")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
}

// One line of model arithmetic, when the vocabulary size is in the config (else it comes from the corpus).
void print_model_size(const config::Config& c) {
  if (c.model.vocab_size == 0) {
    std::printf("model: vocab_size comes from the corpus; sizes are printed once it is set\n");
    return;
  }
  const auto p = config::count_parameters(c.model);
  const auto flops = config::training_flops_per_token(c.model, c.data.seq_len);
  std::printf("model: %lld parameters, %lld active per token, %.4g training FLOPs per token at seq_len %lld\n",
              static_cast<long long>(p.total()), static_cast<long long>(p.active()), static_cast<double>(flops),
              static_cast<long long>(c.data.seq_len));
}

Registrar config_command(40, [](CLI::App& root) {
  auto* group = root.add_subcommand("config", "Training configs: `config show` prints one resolved, `config check` "
                                              "validates one");
  group->require_subcommand(1);

  auto show_args = std::make_shared<ConfigArgs>();
  auto* show = group->add_subcommand(
      "show",
      "Print the resolved config as JSON: every key, defaults filled in, --set overrides applied; the JSON that a\n"
      "training run saves. Without --config: the defaults.\n"
      "Example: diverge config show --config configs/tiny-cpu.json --set optim.lr=1e-3");
  add_config_options(*show, *show_args, /*file_required=*/false);
  show->callback([show_args] { std::printf("%s\n", show_args->load().to_json().dump(2).c_str()); });

  auto check_args = std::make_shared<ConfigArgs>();
  auto* check_cmd = group->add_subcommand(
      "check",
      "Run every check `diverge train` makes before its first step: the config's keys, types, ranges and rules\n"
      "between keys, what this build supports, the corpus (vocabulary, label systems, blend weights, validation\n"
      "shards) and the memory plan. Prints \"ok\", the model's size and what was checked and what could not be (no\n"
      "corpus yet), or the first error with its JSON path or file (exit 1). --ranks N plans one rank's memory of a\n"
      "run on N ranks (mpirun -np N): its share of the experts (parallel.ep) and of the optimizer (parallel.zero).\n"
      "Example: diverge config check --config configs/moe-1b-gpu.json --set parallel.ep=8 --set parallel.zero=1 "
      "--ranks 8");
  add_config_options(*check_cmd, *check_args, /*file_required=*/true);
  auto ranks = std::make_shared<std::int64_t>(0);
  check_cmd->add_option("--ranks", *ranks, "plan the memory of one of this many ranks (default: one process)")
      ->check(CLI::PositiveNumber);
  check_cmd->callback([check_args, ranks] {
    const PreflightReport report = preflight(check_args->load(), *ranks);
    std::printf("ok\n");
    print_model_size(report.config);
    if (report.memory) std::printf("%s\n", format_memory_plan(*report.memory, report.ranks, report.config.data).c_str());
    for (const auto& line : report.checked) std::printf("checked: %s\n", line.c_str());
    for (const auto& line : report.not_checked) std::printf("not checked: %s\n", line.c_str());
  });
});

}  // namespace
}  // namespace diverge::cli
