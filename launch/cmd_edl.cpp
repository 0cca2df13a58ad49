// `diverge edl`: the Expert Divergence Loss, its gradient and the routing divergences of given router logits, so that
// a port of EDL can be checked against this engine.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/error.h"
#include "engine/files.h"
#include "engine/json/json_reader.h"
#include "kernels/cpu/edl.h"
#include "kernels/cpu/routing_metrics.h"
#include "kernels/cpu/softmax.h"
#include "kernels/ops.h"
#include "launch/command.h"
#include "launch/edl_input.h"

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
json nested_like_input(const EdlInput& in, const std::vector<double>& grad) {
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

// One layer's loss, JSD matrix and divergences; its gradient (times coef) goes into dlogits (S * T, E).
json evaluate_layer(const EdlInput& in, std::int64_t layer, double coef, double& loss, double* dlogits) {
  const auto labels = static_cast<std::int64_t>(in.labels.size());
  const cpu::SequenceShape shape{in.sequences, in.tokens, in.experts, labels};
  const std::int64_t rows = in.sequences * in.tokens;
  std::vector<double> probs(static_cast<std::size_t>(rows * in.experts));  // (S * T, E)
  cpu::softmax_rows(in.logits.data() + layer * rows * in.experts, rows, in.experts, probs.data());
  const std::int32_t* mask = in.mask.empty() ? nullptr : in.mask.data();

  std::vector<double> sums(static_cast<std::size_t>(labels * in.experts)), counts(static_cast<std::size_t>(labels));
  std::vector<double> jsd(static_cast<std::size_t>(labels * labels)), dsums(sums.size());
  cpu::edl_domain_sums(shape, probs.data(), mask, in.domains.data(), sums.data(), counts.data());
  loss = cpu::edl_loss_from_sums(sums.data(), counts.data(), labels, in.experts, in.eps, jsd.data(), nullptr,
                                 dsums.data());
  cpu::edl_backward(shape, probs.data(), mask, in.domains.data(), dsums.data(), coef, dlogits);

  ops::RoutingSums window(labels, in.experts);
  cpu::routing_sums_add(shape, probs.data(), mask, in.domains.data(), nullptr, 0,
                        {window.sequences.data(), window.q_sum.data(), window.q_log_q.data(), window.tokens.data(),
                         window.assignments.data()});
  const ops::RoutingMetrics metrics = ops::routing_metrics(window);
  return {{"layer", layer},
          {"loss", loss},
          {"jsd", matrix(jsd, labels, labels)},
          {"d_total", metrics.d_total},
          {"d_inter", metrics.d_inter},
          {"d_intra", metrics.d_intra}};
}

json evaluate(const EdlInput& in) {
  const std::int64_t layer_size = in.sequences * in.tokens * in.experts;
  std::vector<double> grad(in.logits.size(), 0.0);  // (L, S * T, E)
  const double coef = 1.0 / static_cast<double>(in.chosen.size());
  json layers = json::array();
  double total = 0.0;
  for (std::int64_t l : in.chosen) {
    double loss = 0.0;
    layers.push_back(evaluate_layer(in, l, coef, loss, grad.data() + l * layer_size));
    total += loss * coef;
  }
  return {{"loss", total},
          {"eps", in.eps},
          {"domains", in.labels},
          {"layers", layers},
          {"grad_logits", nested_like_input(in, grad)}};
}

void run_edl(const EdlArgs& args) {
  const std::string report = evaluate(parse_edl_input(read_json_file(args.input), args.input)).dump(1) + "\n";
  if (args.output.empty()) {
    std::fputs(report.c_str(), stdout);
  } else {
    write_file_atomic(args.output, report);
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
