// One step's micro-batches: tokens to the model, EDL labels to the EDL term, domains to the routing monitor.
#include "engine/training/step_compute.h"

#include "engine/tensor.h"
#include "engine/training/edl_labels.h"

namespace diverge {

StepLosses run_micro_batches(const StepModules& m, const RunInputs& inputs, std::int64_t micro_batches,
                             const model::GradientsFinal& last_final) {
  for (std::int64_t i = 0; i < micro_batches; ++i) {
    data::Batch batch = m.loader.next_batch();
    Tensor tokens = make_view(batch.tokens.data(), DType::i32, Device::cpu, {batch.rows, batch.row_len});  // (B, T)
    m.model.forward(tokens);
    m.edl.forward(m.model, edl_labels(inputs.config.edl, inputs.edl_label_count, batch), m.comm);
    m.monitor.add(m.model, batch.domain.at(inputs.data.val_label_system));
    m.model.backward(m.edl.hook(), i + 1 == micro_batches ? last_final : model::GradientsFinal{});
  }
  StepLosses losses{.model = m.model.take_losses(m.comm), .edl = m.edl.take_losses(m.comm)};
  m.monitor.record_edl(m.edl, losses.edl);
  return losses;
}

}  // namespace diverge
