// MoE layer forward and backward: composes router, dispatcher, routed experts and shared experts.
#include "model/moe_layer.h"

#include <memory>

#include "engine/device_memory.h"

namespace diverge::model {
namespace {

// The routed counts the load-balance loss takes f_e from: this micro-batch's, or their sum over the group.
const Tensor& balance_counts(const MoeSettings& s, const MoeActs& acts) {
  return s.balance_group == nullptr ? acts.dispatch.plan.counts : acts.balance_counts;
}

bool expert_parallel(const MoeSettings& s) { return s.expert_group != nullptr && s.expert_group->size() > 1; }

// The routed experts' outputs (N * k, C) for this rank's grouped rows; out (N, C) += the shared experts' output.
// Under expert parallelism the rows go to the ranks holding their experts, this rank's experts run on the rows that
// arrive, and the outputs come back, while the shared experts run: their hidden activations beside the way out,
// their output beside the way back (so that a GPU computes them while NCCL moves the rows).
const Tensor& routed_and_shared_forward(const MoeSettings& s, const MoeWeights& w, const Tensor& h,
                                        const MoeActs& acts, const Tensor& out) {
  const bool shared = w.shared.present();
  if (!expert_parallel(s)) {
    experts_forward(experts_input(h, acts.dispatch), acts.dispatch.plan.offsets, w.experts, acts.experts);
    if (shared) ffn_forward(h, w.shared, acts.shared, out);
    return acts.experts.out;
  }
  Comm& group = *s.expert_group;
  const std::int64_t arrived = plan_exchange(group, acts.dispatch.plan.counts, acts.ep);
  group_tokens(h, acts.dispatch);
  const std::unique_ptr<InFlight> going =
      start_send_to_experts(group, acts.dispatch.grouped, acts.ep, acts.ep.arrivals);
  if (shared) ffn_hidden_forward(h, w.shared, acts.shared);
  going->wait();
  const ExpertActs experts = first_rows(acts.experts, arrived);
  experts_forward(arrived_input(group, acts.ep), acts.ep.local.offsets, w.experts, experts);
  const std::unique_ptr<InFlight> back = start_return_from_experts(group, experts.out, acts.ep, acts.ep.returned);
  if (shared) ffn_output_forward(w.shared, acts.shared, out);
  back->wait();
  return acts.ep.returned;
}

const Tensor& routed_experts_out(const MoeSettings& s, const MoeActs& acts) {
  return expert_parallel(s) ? acts.ep.returned : acts.experts.out;
}

// The gradient of the grouped rows (N * k, C), from that of the experts' outputs, dexpert_out (N * k, C), which the
// call may overwrite (it is returned there under expert parallelism); the experts' weight gradients are added to dw.
// The shared experts' backward writes dh (N, C) from dout (N, C). The mirror of routed_and_shared_forward: gradients
// travel the way the rows did, then back, with the shared experts' weight gradients beside the way out and their
// input gradient beside the way back.
const Tensor& routed_and_shared_backward(const MoeSettings& s, const MoeWeights& w, const MoeWeights& dw,
                                         const Tensor& h, const MoeActs& acts, const MoeScratch& scratch,
                                         const Tensor& dout, const Tensor& dexpert_out, const Tensor& dh) {
  const bool shared = w.shared.present();
  if (!expert_parallel(s)) {
    experts_backward(experts_input(h, acts.dispatch), acts.dispatch.plan.offsets, w.experts, dw.experts,
                     acts.experts, scratch.experts);
    if (shared) ffn_backward(dout, h, w.shared, dw.shared, acts.shared, scratch.shared, dh, ops::Write::overwrite);
    return scratch.experts.dgrouped;
  }
  Comm& group = *s.expert_group;
  const std::int64_t arrived = arrived_rows(group, acts.ep);
  const ExpertScratch local = first_rows(scratch.experts, arrived);
  const std::unique_ptr<InFlight> going = start_send_to_experts(group, dexpert_out, acts.ep, acts.ep.staging);
  if (shared) ffn_weights_backward(dout, h, w.shared, dw.shared, acts.shared, scratch.shared);
  going->wait();
  group_arrivals(group, acts.ep, acts.ep.staging, local.dout);
  experts_backward(arrived_input(group, acts.ep), acts.ep.local.offsets, w.experts, dw.experts,
                   first_rows(acts.experts, arrived), local);
  const std::unique_ptr<InFlight> back = start_return_from_experts(group, local.dgrouped, acts.ep, dexpert_out);
  if (shared) ffn_input_backward(h, w.shared, scratch.shared, dh, ops::Write::overwrite);
  back->wait();
  return dexpert_out;
}

// Where combine_backward writes the gradient of the experts' outputs (N * k, C).
const Tensor& home_grad(const MoeSettings& s, const MoeScratch& scratch) {
  return expert_parallel(s) ? scratch.ep_home : scratch.experts.dout;
}

}  // namespace

MoeActs allocate_moe(Buffers& buffers, const Dims& d) {
  MoeActs a;
  a.router = allocate_router(buffers, d);
  a.dispatch = allocate_dispatch(buffers, d);
  if (d.expert_parallel()) a.ep = allocate_ep_dispatch(buffers, d);
  a.experts = allocate_experts(buffers, d);
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
  if (d.expert_parallel()) s.ep_home = buffers.act({d.routed_rows(), d.model});
  return s;
}

void moe_forward(const MoeSettings& s, const MoeWeights& w, const Tensor& h, const MoeActs& acts, const Tensor& out,
                 const AuxLossSlots& losses, const LogitBias& bias) {
  router_forward(h, w.router, s.routing(), acts.router, bias);
  plan_routes(acts.router.topk, acts.dispatch);
  if (s.balance_group != nullptr) {
    copy_tensor(acts.dispatch.plan.counts, acts.balance_counts);
    s.balance_group->allreduce(acts.balance_counts, ReduceOp::sum);
  }
  combine_forward(routed_and_shared_forward(s, w, h, acts, out), acts.router.gates, acts.dispatch, out);
  router_aux_losses(acts.router, balance_counts(s, acts), losses);
}

void moe_backward(const MoeSettings& s, std::int64_t layer, const MoeWeights& w, const MoeWeights& dw, const Tensor& h,
                  const MoeActs& acts, const MoeScratch& scratch, const RouterLogitHook& hook, const Tensor& dout,
                  const Tensor& dh) {
  const Tensor& dexpert_out = home_grad(s, scratch);
  combine_backward(dout, routed_experts_out(s, acts), acts.router.gates, acts.dispatch, dexpert_out, scratch.dgates);
  const Tensor& dgrouped = routed_and_shared_backward(s, w, dw, h, acts, scratch, dout, dexpert_out, dh);
  dispatch_backward(dgrouped, acts.dispatch, dh, w.shared.present() ? ops::Write::accumulate : ops::Write::overwrite);
  router_backward(h, w.router, dw.router, acts.router, balance_counts(s, acts), scratch.dgates, s.routing(), s.aux,
                  layer, hook, scratch.dlogits, dh);
}

}  // namespace diverge::model
