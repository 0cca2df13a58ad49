// EdlTerm: the per-layer three EDL steps over the last forward pass, and the router-logit hook.
#include "model/edl_term.h"

#include <algorithm>
#include <string>
#include <utility>

#include "engine/buffers.h"
#include "engine/device_memory.h"
#include "engine/error.h"

namespace diverge::model {
namespace {

constexpr const char* kWhere = "edl";

std::vector<std::int64_t> chosen_layers(const config::EdlConfig& edl, const config::ModelConfig& model) {
  std::vector<std::int64_t> layers;
  for (std::int64_t l = model.first_k_dense; l < model.n_layers; ++l) {
    if (edl.layers.includes(l)) layers.push_back(l);
  }
  check(!layers.empty(), "edl.layers", "selects no MoE layer of the model");
  return layers;
}

// One micro-batch's EDL buffers: what the arena holds, in this order.
struct StepBuffers {
  Tensor domains;                       // (B) i32
  std::vector<ops::EdlBuffers> layers;  // one per chosen layer
  std::vector<Tensor> statistics;       // one per chosen layer: (M * (E + 1)) f32, its sums (M, E) then counts (M)
};

// Each layer's loss goes to its slot of loss_sums (layers), which outlives the step's arena. A layer's sums and
// counts are one block, so that the global scope reduces them in one all-reduce.
StepBuffers allocate_step(Buffers& buffers, std::int64_t rows, std::int64_t labels, std::int64_t experts,
                          const Tensor& loss_sums) {
  StepBuffers step;
  step.domains = buffers.i32({rows});
  for (std::int64_t i = 0; i < loss_sums.numel(); ++i) {
    const Tensor statistics = buffers.f32({labels * (experts + 1)});
    step.statistics.push_back(statistics);
    step.layers.push_back({statistics.slice_rows(0, labels * experts).reshape({labels, experts}),
                           statistics.slice_rows(labels * experts, labels * (experts + 1)),
                           buffers.f32({labels, labels}), buffers.i32({labels}), buffers.f32({labels, experts}),
                           loss_sums.slice_rows(i, i + 1)});
  }
  return step;
}

}  // namespace

EdlTerm::EdlTerm(const config::EdlConfig& edl, const config::ModelConfig& model, std::int64_t label_count)
    : edl_(edl),
      beta_(edl.beta),
      experts_(model.n_experts),
      label_count_(label_count),
      layers_(chosen_layers(edl, model)),
      arena_("edl", Device::cpu, 0),
      loss_arena_("edl losses", Device::cpu, 0) {
  const bool per_sequence = edl.labels == kSequenceLabels;
  check(per_sequence || label_count >= 1, "edl.labels",
        "label system '" + edl.labels + "' needs a label count >= 1, got " + std::to_string(label_count));
}

std::int64_t EdlTerm::step_label_count(std::int64_t rows, const Comm& comm) const {
  if (edl_.labels != kSequenceLabels) return label_count_;
  return edl_.scope == config::Scope::kGlobal ? rows * comm.size() : rows;
}

void EdlTerm::allocate(std::int64_t rows, std::int64_t label_count, Device device) {
  StepBuffers step = reallocate(arena_, device, [&](Buffers& buffers) {
    return allocate_step(buffers, rows, label_count, experts_, loss_sums_);
  });
  domains_ = step.domains;
  buffers_ = std::move(step.layers);
  statistics_ = std::move(step.statistics);
}

void EdlTerm::upload_domains(std::span<const std::int32_t> labels, std::int64_t label_count, const Comm& comm) {
  // Under the global scope, "sequence" ids must not collide across ranks: rank r owns [r * B, (r + 1) * B).
  const bool offset_by_rank = edl_.labels == kSequenceLabels && edl_.scope == config::Scope::kGlobal;
  const auto rows = static_cast<std::int64_t>(labels.size());
  const std::int32_t offset = offset_by_rank ? static_cast<std::int32_t>(comm.rank() * rows) : 0;
  std::vector<std::int32_t> domains(labels.size());
  for (std::size_t s = 0; s < labels.size(); ++s) {
    domains[s] = labels[s] + offset;
    check(domains[s] >= 0 && domains[s] < label_count, kWhere,
          "the label " + std::to_string(labels[s]) + " of sequence " + std::to_string(s) + " is outside [0, " +
              std::to_string(label_count) + ") of label system '" + edl_.labels + "'");
  }
  copy_tensor(make_view(domains.data(), DType::i32, Device::cpu, {rows}), domains_);
}

void EdlTerm::forward(const Transformer& model, std::span<const std::int32_t> labels, Comm& comm) {
  const std::int64_t rows = model.dims().batch;
  check(static_cast<std::int64_t>(labels.size()) == rows, kWhere,
        "got " + std::to_string(labels.size()) + " labels for a batch of " + std::to_string(rows) + " rows");
  if (loss_arena_.device() != model.device() || loss_sums_.empty()) {
    const auto allocate = [&](Buffers& b) { return b.take_zeroed(DType::f32, {std::ssize(layers_)}); };
    loss_arena_ = Arena("edl losses", model.device(), planned_bytes(model.device(), allocate));
    Buffers buffers(loss_arena_);
    loss_sums_ = allocate(buffers);
    summed_passes_ = 0;
  }
  const std::int64_t label_count = step_label_count(rows, comm);
  allocate(rows, label_count, model.device());
  upload_domains(labels, label_count, comm);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const ops::EdlBuffers& b = buffers_[i];
    ops::edl_domain_sums(model.routing(layers_[i]).probs, Tensor{}, domains_, b.sums, b.counts);
    if (edl_.scope == config::Scope::kGlobal) comm.allreduce(statistics_[i], ReduceOp::sum);
    ops::edl_loss_from_sums(b.sums, b.counts, static_cast<float>(edl_.eps), b.jsd, b.present, b.dsums, b.loss,
                            ops::Write::accumulate);
  }
  ++summed_passes_;
  sharing_ranks_ = edl_.scope == config::Scope::kGlobal ? comm.size() : 1;
  ready_ = true;
}

EdlTerm::Losses EdlTerm::take_losses() { return take_losses(*make_single_process_comm()); }

EdlTerm::Losses EdlTerm::take_losses(Comm& group) {
  check(summed_passes_ > 0, kWhere, "take_losses() needs a forward() since the last take_losses()");
  std::vector<float> sums(layers_.size());
  const Tensor host_sums = make_view(sums.data(), DType::f32, Device::cpu, {loss_sums_.numel()});
  copy_tensor(loss_sums_, host_sums);
  device_zero(loss_sums_.device, loss_sums_.data, loss_sums_.bytes());
  const bool per_rank = edl_.scope == config::Scope::kMicroBatch;
  if (per_rank) group.allreduce(host_sums, ReduceOp::sum);
  const auto passes = static_cast<double>(summed_passes_ * (per_rank ? group.size() : 1));
  summed_passes_ = 0;
  Losses losses;
  double total = 0.0;
  for (float sum : sums) {
    losses.layers.push_back(static_cast<float>(sum / passes));
    total += losses.layers.back();
  }
  losses.mean = static_cast<float>(total / static_cast<double>(layers_.size()));
  return losses;
}

std::int64_t EdlTerm::slot_of(std::int64_t layer) const {
  const auto found = std::find(layers_.begin(), layers_.end(), layer);
  return found == layers_.end() ? -1 : found - layers_.begin();
}

RouterLogitHook EdlTerm::hook() const {
  if (!active()) return {};
  check(ready_, kWhere, "hook() needs a forward() of the same micro-batch first");
  // Under the global scope the loss is one number for all ranks, each holding its share of the gradient, and the
  // trainer averages the ranks' gradients: each share counts sharing_ranks_ times so that the mean keeps all of it.
  const auto coef = static_cast<float>(beta_ * sharing_ranks_ / static_cast<double>(layers_.size()));
  return [this, coef](std::int64_t layer, const Tensor& probs, const Tensor& dlogits) {
    const std::int64_t slot = slot_of(layer);
    if (slot < 0) return;
    ops::edl_backward(probs, Tensor{}, domains_, buffers_[static_cast<std::size_t>(slot)].dsums, coef, dlogits);
  };
}

}  // namespace diverge::model
