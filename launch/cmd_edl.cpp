// `diverge edl`: the Expert Divergence Loss, its gradient and the routing divergences of given router logits, so that
// a port of EDL can be checked against this engine.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/analysis/edl_evaluation.h"
#include "engine/analysis/edl_input.h"
#include "engine/files.h"
#include "engine/json/json_reader.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

using nlohmann::json;

struct EdlArgs {
  std::string input;
  std::string output;
};

json matrix(const std::vector<double>& values, std::int64_t rows, std::int64_t cols) {
  json out = json::array();
  for (std::int64_t r = 0; r < rows; ++r)
    out.push_back(std::vector<double>(values.begin() + r * cols, values.begin() + (r + 1) * cols));
  return out;
}

// grad (L, S * T, E) in the nesting of the input's logits.
json nested_like_input(const analysis::EdlInput& in, const std::vector<double>& grad) {
  json layers = json::array();
  const std::int64_t rows = in.sequences * in.tokens;
  for (std::int64_t l = 0; l < in.layers; ++l) {
    json sequences = json::array();
    for (std::int64_t s = 0; s < in.sequences; ++s) {
      const std::vector<double> block(grad.begin() + (l * rows + s * in.tokens) * in.experts,
                                      grad.begin() + (l * rows + (s + 1) * in.tokens) * in.experts);
      sequences.push_back(matrix(block, in.tokens, in.experts));
    }
    layers.push_back(std::move(sequences));
  }
  return in.one_layer ? layers[0] : layers;
}

json layer_report(const analysis::EdlLayerEvaluation& layer, std::int64_t labels) {
  return {{"layer", layer.layer},
          {"loss", layer.loss},
          {"jsd", matrix(layer.jsd, labels, labels)},
          {"d_total", layer.d_total},
          {"d_inter", layer.d_inter},
          {"d_intra", layer.d_intra}};
}

json report(const analysis::EdlInput& in, const analysis::EdlEvaluation& result) {
  json layers = json::array();
  for (const analysis::EdlLayerEvaluation& layer : result.layers)
    layers.push_back(layer_report(layer, static_cast<std::int64_t>(in.labels.size())));
  return {{"loss", result.loss},
          {"eps", in.eps},
          {"domains", in.labels},
          {"layers", layers},
          {"grad_logits", nested_like_input(in, result.grad_logits)}};
}

void run_edl(const EdlArgs& args) {
  const analysis::EdlInput in = analysis::parse_edl_input(read_json_file(args.input), args.input);
  const std::string text = report(in, analysis::evaluate_edl(in)).dump(1) + "\n";
  if (args.output.empty()) {
    std::fputs(text.c_str(), stdout);
  } else {
    write_file_atomic(args.output, text);
  }
}

Registrar edl_command(60, [](CLI::App& root) {
  auto args = std::make_shared<EdlArgs>();
  auto* cmd = root.add_subcommand(
      "edl",
      "Evaluate the Expert Divergence Loss on given router logits (double precision) and print its value, the\n"
      "gradient of the loss with respect to the logits, the pairwise JSD matrix and D_total / D_inter / D_intra\n"
      "per layer as JSON (model/EDL.md describes both formats), so that a port of EDL can be checked against ours.\n"
      "Example: diverge edl --input batch.json --output edl.json");
  cmd->add_option("--input", args->input,
                  "JSON with logits [S][T][E] or [L][S][T][E], domains [S], optional mask [S][T], eps, layers")
      ->required();
  cmd->add_option("--output", args->output, "where to write the result (default: standard output)");
  cmd->callback([args] { run_edl(*args); });
});

}  // namespace
}  // namespace diverge::cli
