// Token dispatch to experts and the gated combine back: routing plan, grouped rows, and their backward passes.
#pragma once

#include "engine/buffers.h"
#include "kernels/ops.h"
#include "model/dims.h"

namespace diverge::model {

struct DispatchActs {
  ops::RoutePlan plan;  // counts (E), offsets (E + 1), row_of_copy (N, k), copy_of_row (N * k)
  Tensor grouped;       // (N * k, C): token rows grouped by expert, the rows expert parallelism sends; absent without
                        // it, where the experts read the tokens through the plan (experts_input)
};

DispatchActs allocate_dispatch(Buffers& buffers, const Dims& d);

// Plans the routing of topk (N, k), the router's choices: which grouped row holds each (token, choice) copy. On a
// GPU the host does not wait for the device here.
void plan_routes(const Tensor& topk, const DispatchActs& acts);
// acts.grouped = the rows of h (N, C) grouped by expert, for sending.
void group_tokens(const Tensor& h, const DispatchActs& acts);
// The grouped rows as the local experts read them: h (N, C) through the plan, the gather fused into their loads.
ops::ExpertInput experts_input(const Tensor& h, const DispatchActs& acts);
// dh (N, C) = sum over each token's copies of dgrouped (N * k, C), written or added to as write says.
void dispatch_backward(const Tensor& dgrouped, const DispatchActs& acts, const Tensor& dh, ops::Write write);

// out (N, C) += gate-weighted sum of each token's expert outputs (N * k, C): the residual stream takes the routed
// experts' output in place.
void combine_forward(const Tensor& expert_out, const Tensor& gates, const DispatchActs& acts, const Tensor& out);
// dexpert_out (N * k, C) and dgates (N, k), both overwritten, from dy (N, C).
void combine_backward(const Tensor& dy, const Tensor& expert_out, const Tensor& gates, const DispatchActs& acts,
                      const Tensor& dexpert_out, const Tensor& dgates);

}  // namespace diverge::model
