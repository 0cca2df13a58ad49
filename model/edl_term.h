// EdlTerm: Expert Divergence Learning in the model step: label choice, L_EDL over the chosen MoE layers, its hook.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/arena.h"
#include "engine/comm/comm.h"
#include "engine/config/sections.h"
#include "kernels/ops.h"
#include "model/router.h"
#include "model/transformer.h"

namespace diverge::model {

// The two `edl.labels` values that are not corpus label systems: controls for what EDL learns from real domains.
inline constexpr std::string_view kRandomLabels = "random";      // seeded relabelling, as many groups as the corpus's
inline constexpr std::string_view kSequenceLabels = "sequence";  // every sequence its own domain

// One micro-batch of the trainer's step (EDL.md "Scope: three steps"):
//
//   EdlTerm edl(cfg.edl, cfg.model, label_count);                  // once per run
//   std::vector<std::int32_t> labels = edl_labels(cfg.edl, label_count, batch);  // (B), engine/training
//   model.forward(tokens);
//   edl.forward(model, labels, comm);                              // collective when edl.scope == global
//   model.backward(edl.hook());                                    // empty hook when beta == 0
//   ... the step's other micro-batches, then once per step:
//   float total = model.take_losses().total + edl.weighted(edl.take_losses().mean);
//
// The losses stay on the model's device, summed over micro-batches, until take_losses() reads them.
// label_count is M of the label system `edl.labels` names; for "random" it is the number of groups to relabel into,
// the label count of the corpus's coarsest system (the trainer passes it); for "sequence" it is ignored (M = B, or
// B * ranks under the global scope). The loss uses every target token (no mask).
class EdlTerm {
 public:
  EdlTerm(const config::EdlConfig& edl, const config::ModelConfig& model, std::int64_t label_count);

  // Whether the loss trains the model (beta > 0); forward() also works at beta = 0, for logging.
  bool active() const { return beta_ > 0.0; }
  // The model layer indices L_EDL averages over: edl.layers, or every MoE layer.
  const std::vector<std::int64_t>& layers() const { return layers_; }

  // After model.forward(): each layer's L_EDL of the last forward pass, with the sequences labelled by labels (B),
  // added to the sums take_losses() reads. Keeps what the hook needs. With scope global, all-reduces each layer's
  // per-domain sums and counts (one block) over comm between the two steps (every rank must call it, with the same
  // B).
  void forward(const Transformer& model, std::span<const std::int32_t> labels, Comm& comm);
  // The mean over the forward() calls since the last take_losses() (one copy from the device): per layer of
  // layers(), and their mean L_EDL. The sums then start again from zero. With a group, the mean over the calls of
  // every rank of it (under the global scope every rank's losses are already the group's).
  struct Losses {
    float mean = 0.0f;
    std::vector<float> layers;
  };
  Losses take_losses();
  Losses take_losses(Comm& group);
  // beta * loss: what L_EDL adds to the total loss.
  float weighted(float loss) const { return static_cast<float>(beta_ * static_cast<double>(loss)); }
  // For Transformer::backward: adds beta / layers().size() * dL/dz into each chosen layer's dlogits, using the last
  // forward(); an empty function when beta == 0, so the backward pass is exactly the one without EDL. Under the
  // global scope over R ranks it adds R times that: the trainer divides the ranks' summed gradients by R, which is
  // right for the per-rank losses and would otherwise shrink the one global L_EDL's gradient R-fold.
  RouterLogitHook hook() const;

 private:
  // Where the chosen layer's buffers sit in buffers_, or -1 for a layer EDL does not use.
  std::int64_t slot_of(std::int64_t layer) const;
  void allocate(std::int64_t rows, std::int64_t label_count, Device device);
  std::int64_t step_label_count(std::int64_t rows, const Comm& comm) const;
  // The step's domain ids on the device, checked on the host first: a bad id has no host round trip to fail on later.
  void upload_domains(std::span<const std::int32_t> labels, std::int64_t label_count, const Comm& comm);

  config::EdlConfig edl_;
  double beta_;
  std::int64_t experts_;
  std::int64_t label_count_;
  std::vector<std::int64_t> layers_;
  Arena arena_;                           // on the model's device
  Tensor domains_;                        // (B) i32 of the last forward()
  std::vector<ops::EdlBuffers> buffers_;  // one per chosen layer
  std::vector<Tensor> statistics_;        // one per chosen layer: its buffers' sums and counts as one block
  Arena loss_arena_;                      // on the model's device, from the first forward()
  Tensor loss_sums_;                      // (layers()) f32: each layer's loss summed over forward() calls
  std::int64_t summed_passes_ = 0;
  int sharing_ranks_ = 1;  // the ranks the last forward()'s loss was taken over: comm.size() under the global scope
  bool ready_ = false;
};

}  // namespace diverge::model
