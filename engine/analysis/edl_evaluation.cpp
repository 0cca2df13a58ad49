// EDL evaluated one chosen layer at a time: softmax, loss and gradient, routing divergences.
#include "engine/analysis/edl_evaluation.h"

#include "kernels/cpu/edl.h"
#include "kernels/cpu/routing_metrics.h"
#include "kernels/cpu/softmax.h"
#include "kernels/ops.h"

namespace diverge::analysis {

namespace {

cpu::SequenceShape sequence_shape(const EdlInput& in) {
  return {in.sequences, in.tokens, in.experts, static_cast<std::int64_t>(in.labels.size())};
}

const std::int32_t* mask_or_null(const EdlInput& in) { return in.mask.empty() ? nullptr : in.mask.data(); }

// probs (S * T, E) of one layer's logits.
std::vector<double> layer_probs(const EdlInput& in, std::int64_t layer) {
  const std::int64_t rows = in.sequences * in.tokens;
  std::vector<double> probs(static_cast<std::size_t>(rows * in.experts));
  cpu::softmax_rows(in.logits.data() + layer * rows * in.experts, rows, in.experts, probs.data());
  return probs;
}

// The layer's loss and JSD matrix; its gradient (times coef) goes into dlogits (S * T, E).
void add_loss_and_gradient(const EdlInput& in, const std::vector<double>& probs, double coef, EdlLayerEvaluation& layer,
                           double* dlogits) {
  const cpu::SequenceShape shape = sequence_shape(in);
  const std::int64_t labels = shape.labels;
  std::vector<double> sums(static_cast<std::size_t>(labels * in.experts)), counts(static_cast<std::size_t>(labels));
  std::vector<double> dsums(sums.size());
  layer.jsd.assign(static_cast<std::size_t>(labels * labels), 0.0);
  cpu::edl_domain_sums(shape, probs.data(), mask_or_null(in), in.domains.data(), sums.data(), counts.data());
  layer.loss = cpu::edl_loss_from_sums(sums.data(), counts.data(), labels, in.experts, in.eps, layer.jsd.data(),
                                       nullptr, dsums.data());
  cpu::edl_backward(shape, probs.data(), mask_or_null(in), in.domains.data(), dsums.data(), coef, dlogits);
}

void add_divergences(const EdlInput& in, const std::vector<double>& probs, EdlLayerEvaluation& layer) {
  const cpu::SequenceShape shape = sequence_shape(in);
  ops::RoutingSums window(shape.labels, in.experts);
  cpu::routing_sums_add(shape, probs.data(), mask_or_null(in), in.domains.data(), nullptr, 0,
                        {window.sequences.data(), window.q_sum.data(), window.q_log_q.data(), window.tokens.data(),
                         window.assignments.data()});
  const ops::RoutingMetrics metrics = ops::routing_metrics(window);
  layer.d_total = metrics.d_total;
  layer.d_inter = metrics.d_inter;
  layer.d_intra = metrics.d_intra;
}

// Its gradient (times coef) goes into dlogits (S * T, E).
EdlLayerEvaluation evaluate_layer(const EdlInput& in, std::int64_t index, double coef, double* dlogits) {
  const std::vector<double> probs = layer_probs(in, index);
  EdlLayerEvaluation layer;
  layer.layer = index;
  add_loss_and_gradient(in, probs, coef, layer, dlogits);
  add_divergences(in, probs, layer);
  return layer;
}

}  // namespace

EdlEvaluation evaluate_edl(const EdlInput& in) {
  const std::int64_t layer_size = in.sequences * in.tokens * in.experts;
  const double coef = 1.0 / static_cast<double>(in.chosen.size());
  EdlEvaluation out;
  out.grad_logits.assign(in.logits.size(), 0.0);
  for (std::int64_t l : in.chosen) {
    out.layers.push_back(evaluate_layer(in, l, coef, out.grad_logits.data() + l * layer_size));
    out.loss += out.layers.back().loss * coef;
  }
  return out;
}

}  // namespace diverge::analysis
