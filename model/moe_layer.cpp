// MoE layer forward and backward: composes router, dispatcher, routed experts and shared experts.
#include "model/moe_layer.h"

#include "engine/device_memory.h"

namespace diverge::model {
namespace {

// The routed counts the load-balance loss takes f_e from: this micro-batch's, or their sum over the group.
const Tensor& balance_counts(const MoeSettings& s, const MoeActs& acts) {
  return s.balance_group == nullptr ? acts.dispatch.plan.counts : acts.balance_counts;
}

}  // namespace

MoeActs allocate_moe(Buffers& buffers, const Dims& d) {
  MoeActs a;
  a.router = allocate_router(buffers, d);
  a.dispatch = allocate_dispatch(buffers, d);
  a.experts = allocate_experts(buffers, d);
  a.routed = buffers.act({d.tokens, d.model});
  if (d.shared_hidden > 0) a.shared = allocate_ffn(buffers, d.tokens, d.shared_hidden);
  a.balance_counts = buffers.i32({d.experts});
  return a;
}

MoeScratch allocate_moe_scratch(Buffers& buffers, const Dims& d) {
  MoeScratch s;
  s.experts = allocate_expert_scratch(buffers, d);
  s.dgates = buffers.f32({d.tokens, d.top_k});
  s.dlogits = buffers.f32({d.tokens, d.experts});
  if (d.shared_hidden > 0) s.shared = allocate_ffn_scratch(buffers, d.tokens, d.shared_hidden);
  return s;
}

void moe_forward(const MoeSettings& s, const MoeWeights& w, const Tensor& h, const MoeActs& acts, const Tensor& out,
                 const AuxLossSlots& losses, const LogitBias& bias) {
  router_forward(h, w.router, s.renorm_topk, acts.router, bias);
  dispatch_forward(h, acts.router.topk, acts.dispatch);
  if (s.balance_group != nullptr) {
    copy_tensor(acts.dispatch.plan.counts, acts.balance_counts);
    s.balance_group->allreduce(acts.balance_counts, ReduceOp::sum);
  }
  experts_forward(acts.dispatch.grouped, acts.dispatch.plan.offsets, w.experts, acts.experts);
  combine_forward(acts.experts.out, acts.router.gates, acts.dispatch, acts.routed);
  ops::add(out, acts.routed, out);
  if (w.shared.present()) ffn_forward(h, w.shared, acts.shared, out);
  router_aux_losses(acts.router, balance_counts(s, acts), losses);
}

void moe_backward(const MoeSettings& s, std::int64_t layer, const MoeWeights& w, const MoeWeights& dw, const Tensor& h,
                  const MoeActs& acts, const MoeScratch& scratch, const RouterLogitHook& hook, const Tensor& dout,
                  const Tensor& dh) {
  combine_backward(dout, acts.experts.out, acts.router.gates, acts.dispatch, scratch.experts.dout, scratch.dgates);
  experts_backward(acts.dispatch.grouped, acts.dispatch.plan.offsets, w.experts, dw.experts, acts.experts,
                   scratch.experts);
  dispatch_backward(scratch.experts.dgrouped, acts.dispatch, dh);
  if (w.shared.present())
    ffn_backward(dout, h, w.shared, dw.shared, acts.shared, scratch.shared, dh, ops::Write::accumulate);
  router_backward(h, w.router, dw.router, acts.router, balance_counts(s, acts), scratch.dgates, s.renorm_topk, s.aux,
                  layer, hook, scratch.dlogits, dh);
}

}  // namespace diverge::model
