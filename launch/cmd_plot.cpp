// `diverge plot`: training curves of one or more runs from their JSONL metrics logs, written as one SVG.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/files.h"
#include "engine/plot/metric_curves.h"
#include "engine/plot/small_multiples.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

// With no --keys, at most this many panels are drawn; logs with per-layer metrics can hold hundreds of keys.
constexpr std::size_t kMaxDefaultPanels = 16;

struct PlotFlags {
  std::vector<std::string> metrics;
  std::vector<std::string> labels;
  std::vector<std::string> keys;
  std::vector<std::string> log_y;
  std::string x = "step";
  double smooth = 0;
  int columns = 0;
  std::string title;
  std::string output;
};

std::vector<std::string> chosen_keys(const PlotFlags& flags, const std::vector<plot::RunLog>& runs) {
  if (!flags.keys.empty()) return flags.keys;
  auto keys = plot::default_keys(runs);
  if (keys.size() > kMaxDefaultPanels) {
    std::fprintf(stderr, "note: drawing the first %zu of %zu keys; choose others with --keys\n", kMaxDefaultPanels,
                 keys.size());
    keys.resize(kMaxDefaultPanels);
  }
  return keys;
}

void plot_metrics(const PlotFlags& flags) {
  std::vector<plot::RunLog> runs;
  std::vector<fs::path> paths;
  for (const auto& path : flags.metrics) {
    paths.emplace_back(path);
    runs.push_back(plot::read_run_log(path));
  }
  plot::CurveOptions options;
  options.keys = chosen_keys(flags, runs);
  options.x = flags.x;
  options.smoothing = flags.smooth;
  options.log_y = flags.log_y.size() == 1 && flags.log_y[0] == "all" ? options.keys : flags.log_y;
  options.title = flags.title;
  auto grid = plot::metric_curves(runs, flags.labels.empty() ? plot::default_run_labels(paths) : flags.labels,
                                  options);
  grid.columns = flags.columns;
  write_file_atomic(flags.output, plot::render_small_multiples(grid));
  std::printf("wrote %s: %zu panels, %zu runs\n", flags.output.c_str(), grid.panels.size(), runs.size());
}

Registrar plot_command(150, [](CLI::App& root) {
  auto flags = std::make_shared<PlotFlags>();
  auto* cmd = root.add_subcommand(
      "plot",
      "Draw training curves from JSONL metrics logs as one SVG: a panel per key, a line per run.\n"
      "Any numeric key can be plotted; nested objects read as dotted keys (val.code, edl.layer0.jsd) and the\n"
      "keys of evaluation records (\"kind\": \"eval\") get a val. prefix. An unknown key lists the available ones.\n"
      "Example: diverge plot --metrics runs/base/metrics.jsonl,runs/edl/metrics.jsonl --keys loss,lm,val.code\n"
      "         --smooth 0.9 --output curves.svg");
  cmd->add_option("--metrics", flags->metrics, "metrics.jsonl of each run, comma-separated")
      ->required()
      ->delimiter(',');
  cmd->add_option("--labels", flags->labels, "a name per run, comma-separated (default: each log's folder name)")
      ->delimiter(',');
  cmd->add_option("--keys", flags->keys,
                  "keys to plot, one panel each, comma-separated (default: every key but step and tokens, "
                  "at most 16)")
      ->delimiter(',');
  cmd->add_option("--x", flags->x, "x axis: step or tokens")->check(CLI::IsMember({"step", "tokens"}));
  cmd->add_option("--smooth", flags->smooth,
                  "EMA weight in [0, 1) drawn over the faint raw curve, e.g. 0.9 (validation curves stay raw)")
      ->check(CLI::Range(0.0, 0.999));
  cmd->add_option("--log-y", flags->log_y, "keys drawn on a log scale, comma-separated, or 'all'")->delimiter(',');
  cmd->add_option("--columns", flags->columns, "panels per row (default: about square, at most 4)")
      ->check(CLI::Range(1, 16));
  cmd->add_option("--title", flags->title, "title over the panels");
  cmd->add_option("--output,-o", flags->output, "SVG file to write")->required();
  cmd->callback([flags] { plot_metrics(*flags); });
});

}  // namespace
}  // namespace diverge::cli
