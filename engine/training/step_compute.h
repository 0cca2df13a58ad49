// The compute of one optimizer step, shared by the training loop and `diverge bench`: the micro-batches forward and
// backward, then each loss read once.
#pragma once

#include <cstdint>

#include "data/loader/train_loader.h"
#include "engine/comm/comm.h"
#include "engine/training/run_preflight.h"
#include "model/edl_term.h"
#include "model/routing_monitor.h"
#include "model/transformer.h"

namespace diverge {

// The modules a step runs through, owned by its caller.
struct StepModules {
  model::Transformer& model;
  model::EdlTerm& edl;
  model::RoutingMonitor& monitor;  // fed every micro-batch, in the val label system
  data::TrainLoader& loader;
  Comm& comm;  // the data-parallel group: EDL's global scope and the losses' means reduce over it
};

struct StepLosses {
  model::Losses model;           // summed over the micro-batches as the model reports them
  model::EdlTerm::Losses edl;    // the mean EDL loss and each layer's
};

// `micro_batches` micro-batches forward and backward (the gradients add up in the model's grads), then the losses,
// which stayed on the model's device, read once each and averaged over the group's ranks. The last backward reports
// its finished stages of gradients to last_final (their reduction overlaps it: OverlappedReduction).
StepLosses run_micro_batches(const StepModules& m, const RunInputs& inputs, std::int64_t micro_batches,
                             const model::GradientsFinal& last_final = {});

}  // namespace diverge
