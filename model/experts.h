// The routed experts of one MoE layer: every expert's SwiGLU FFN over its grouped rows (grouped GEMMs).
#pragma once

#include "engine/buffers.h"
#include "kernels/ops.h"
#include "model/dims.h"

namespace diverge::model {

// R = Dims::expert_rows: the rows the experts of this rank may see in a pass (N * k without expert parallelism).
struct ExpertActs {
  ops::ExpertActivations saved;  // gate, up, hidden (R, F)
  Tensor out;                    // (R, C)
};

// Backward workspace, shared by all MoE layers.
struct ExpertScratch {
  Tensor dout;        // (R, C): gradient of the expert outputs
  Tensor dgrouped;    // (R, C): gradient of the grouped inputs
  Tensor dgate_work;  // (R, F)
  Tensor dup_work;    // (R, F)
};

ExpertActs allocate_experts(Buffers& buffers, const Dims& d);
ExpertScratch allocate_expert_scratch(Buffers& buffers, const Dims& d);
// The first `rows` rows of each: a pass whose experts see fewer rows than planned (expert parallelism).
ExpertActs first_rows(const ExpertActs& acts, std::int64_t rows);
ExpertScratch first_rows(const ExpertScratch& scratch, std::int64_t rows);

// acts.out = expert FFN of each of the R grouped rows by its expert (offsets (E + 1) from the route plan); the rows
// grouped in a tensor, or gathered from the tokens as they are read.
void experts_forward(const ops::ExpertInput& rows, const Tensor& offsets, const ops::ExpertWeights& w,
                     const ExpertActs& acts);
// scratch.dgrouped (the gradient of the grouped rows) from scratch.dout; dw added to. Experts without rows get
// nothing added.
void experts_backward(const ops::ExpertInput& rows, const Tensor& offsets, const ops::ExpertWeights& w,
                      const ops::ExpertWeights& dw, const ExpertActs& acts, const ExpertScratch& scratch);

}  // namespace diverge::model
