// The evaluation pass of the analysis: per-domain losses and routing sums in the domain order of the batches.
#include "engine/analysis/domain_pass.h"

#include <cstdint>

namespace diverge::analysis {

namespace {

void add_routing(const model::Transformer& model, std::int32_t domain, std::int64_t rows,
                 std::vector<ops::RoutingSums>& routing) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(rows), domain);  // (rows)
  const Tensor label_view = make_view(labels.data(), DType::i32, Device::cpu, {rows});
  const auto& dims = model.dims();
  for (std::int64_t l = dims.first_dense; l < dims.layers; ++l) {
    const auto& acts = model.routing(l);
    ops::routing_sums_add(acts.probs, Tensor{}, label_view, acts.topk,
                          routing[static_cast<std::size_t>(l - dims.first_dense)]);
  }
}

}  // namespace

PassResult run_domain_pass(model::Transformer& model, const std::vector<DomainBatches>& domains, bool with_routing) {
  PassResult result;
  const auto label_count = static_cast<std::int64_t>(domains.size());
  for (std::size_t j = 0; j < domains.size(); ++j) {
    double sum = 0.0;
    std::int64_t rows = 0;
    for (const auto& batch : domains[j].batches) {
      auto tokens = batch.tokens;  // (rows, row_len): a mutable copy for the view
      const Tensor view = make_view(tokens.data(), DType::i32, Device::cpu, {batch.rows, batch.row_len});
      // Every row has T targets, so the mean of the per-row means is the mean per token.
      for (float loss : model.eval_sequence_losses(view)) sum += loss;
      rows += batch.rows;
      if (!with_routing) continue;
      if (result.routing.empty())
        result.routing.assign(static_cast<std::size_t>(model.dims().moe_layers()),
                              ops::RoutingSums(label_count, model.dims().experts));
      add_routing(model, static_cast<std::int32_t>(j), batch.rows, result.routing);
    }
    result.loss.push_back(rows > 0 ? sum / static_cast<double>(rows) : 0.0);
  }
  return result;
}

}  // namespace diverge::analysis
