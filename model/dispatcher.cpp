// Dispatcher: the route_plan/dispatch/combine ops over one layer's saved plan.
#include "model/dispatcher.h"

namespace diverge::model {

DispatchActs allocate_dispatch(Buffers& buffers, const Dims& d) {
  DispatchActs a;
  a.plan.counts = buffers.i32({d.experts});
  a.plan.offsets = buffers.i32({d.experts + 1});
  a.plan.row_of_copy = buffers.i32({d.tokens, d.top_k});
  a.plan.copy_of_row = buffers.i32({d.routed_rows()});
  if (d.expert_parallel()) a.grouped = buffers.act({d.routed_rows(), d.model});
  return a;
}

void plan_routes(const Tensor& topk, const DispatchActs& acts) {
  ops::route_plan(topk, acts.plan, ops::RouteCheck::trust_router);
}

void group_tokens(const Tensor& h, const DispatchActs& acts) { ops::dispatch(h, acts.plan, acts.grouped); }

ops::ExpertInput experts_input(const Tensor& h, const DispatchActs& acts) {
  return ops::ExpertInput::gathered(h, acts.plan);
}

void dispatch_backward(const Tensor& dgrouped, const DispatchActs& acts, const Tensor& dh, ops::Write write) {
  ops::dispatch_backward(dgrouped, acts.plan, dh, write);
}

void combine_forward(const Tensor& expert_out, const Tensor& gates, const DispatchActs& acts, const Tensor& out) {
  ops::combine(expert_out, gates, acts.plan, out, ops::Write::accumulate);
}

void combine_backward(const Tensor& dy, const Tensor& expert_out, const Tensor& gates, const DispatchActs& acts,
                      const Tensor& dexpert_out, const Tensor& dgates) {
  ops::combine_backward(dy, expert_out, gates, acts.plan, dexpert_out, dgates);
}

}  // namespace diverge::model
