// `diverge train`: pre-train the MoE model described by a JSON config on a prepared corpus.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/training/trainer.h"
#include "launch/command.h"
#include "launch/exit_codes.h"

namespace diverge::cli {
namespace {

struct TrainFlags {
  std::string config;
  std::vector<std::string> overrides;
  std::string resume;
  std::string out;
  std::int64_t stop_after = 0;
  bool overwrite = false;
};

// --resume and --out are shorthands for train.resume and train.out_dir, applied after --set like them.
config::Config load_config(const TrainFlags& options) {
  if (options.overwrite && !options.resume.empty())
    throw CommandExit{kExitUsage, "--overwrite starts a new run and --resume continues one: give one of them"};
  auto config = config::Config::load(options.config, options.overrides);
  if (!options.resume.empty()) config.train.resume = options.resume;
  if (!options.out.empty()) config.train.out_dir = options.out;
  config.validate("config " + options.config);
  return config;
}

Registrar train_command(40, [](CLI::App& root) {
  auto options = std::make_shared<TrainFlags>();
  auto* cmd = root.add_subcommand(
      "train",
      "Pre-train a Mixture-of-Experts language model on a prepared corpus (see `diverge prepare`).\n"
      "Prints the model size, the planned memory per arena, then one line per log.every steps:\n"
      "  step 120/2000 | loss 4.512 (lm 4.498 lb 1.013 z 0.000) | gnorm 0.83 | lr 5.9e-04 | 12,345 tok/s | ETA 4m10s\n"
      "and the per-domain validation loss every data.val_every steps. Writes to train.out_dir: config.json (the\n"
      "resolved config), metrics.jsonl (one JSON record per logged step and eval) and checkpoints/step-NNNNNN\n"
      "every train.checkpoint_every steps and at the end; --resume continues a run bit for bit.\n"
      "SIGTERM, SIGINT or SIGUSR1 finish the step, write a checkpoint and exit 75; a second signal exits at once.\n"
      "A NaN or infinite loss or gradient stops the run (exit 3) unless train.on_nonfinite=skip.\n"
      "Example: diverge train --config configs/tiny-cpu.json --set train.steps=100 --out runs/tiny");
  cmd->add_option("-c,--config", options->config, "JSON config file (configs/tiny-cpu.json, ...)")->required();
  cmd->add_option("--set", options->overrides,
                  "override a config key, e.g. --set optim.lr=1e-3 --set data.corpus=runs/corpus (repeatable)");
  cmd->add_option("--resume", options->resume,
                  "continue from a checkpoint: 'auto' (the newest in the output directory, or a fresh start when "
                  "there is none) or a checkpoint directory");
  cmd->add_option("-o,--out", options->out, "run directory for config, metrics and checkpoints (train.out_dir)");
  cmd->add_option("--stop-after", options->stop_after,
                  "stop after this step, with a checkpoint, as if interrupted: the schedule still runs to "
                  "train.steps and a later --resume auto continues the same run")
      ->check(whole_number_at_least(0));
  cmd->add_flag("--overwrite", options->overwrite,
               "start afresh in a run directory that holds a run: its metrics log and config move to "
               "replaced-<time>/ inside it, its checkpoints are deleted (without this, such a start is refused)");
  cmd->callback([options] {
    // The stop signals stay handled until the process exits: one that arrives once the run is done (its memory
    // being freed, MPI finalising) is noted rather than killing a finished run by the default action. Held by a
    // static pointer, so that nothing destroys them before the exit.
    static const StopSignals* const signals = new StopSignals;
    const TrainSummary summary = train(
        load_config(*options),
        {.stop_after = options->stop_after, .overwrite = options->overwrite, .signals = signals});
    if (summary.reason == StopReason::nonfinite) throw CommandExit{kExitNonFinite, "stopped: " + summary.message};
    if (summary.reason == StopReason::signal) throw CommandExit{kExitPreempted, "stopped: " + summary.message};
  });
});

}  // namespace
}  // namespace diverge::cli
