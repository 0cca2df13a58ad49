// The routed experts of one MoE layer: every expert's SwiGLU FFN over its grouped rows (grouped GEMMs).
#pragma once

#include "engine/buffers.h"
#include "kernels/ops.h"
#include "model/dims.h"

namespace diverge::model {

struct ExpertActs {
  ops::ExpertActivations saved;  // gate, up, hidden (N * k, F)
  Tensor out;                    // (N * k, C)
};

// Backward workspace, shared by all MoE layers.
struct ExpertScratch {
  Tensor dout;        // (N * k, C): gradient of the expert outputs
  Tensor dgrouped;    // (N * k, C): gradient of the grouped inputs
  Tensor dgate_work;  // (N * k, F)
  Tensor dup_work;    // (N * k, F)
};

ExpertActs allocate_experts(Buffers& buffers, const Dims& d);
ExpertScratch allocate_expert_scratch(Buffers& buffers, const Dims& d);

// acts.out = expert FFN of each grouped row (N * k, C) by its expert (offsets (E + 1) from the route plan).
void experts_forward(const Tensor& grouped, const Tensor& offsets, const ops::ExpertWeights& w, const ExpertActs& acts);
// scratch.dgrouped from scratch.dout; dw added to. Experts without rows get nothing added.
void experts_backward(const Tensor& grouped, const Tensor& offsets, const ops::ExpertWeights& w,
                      const ops::ExpertWeights& dw, const ExpertActs& acts, const ExpertScratch& scratch);

}  // namespace diverge::model
