// Router forward (logits -> probs, top-k, gates), its auxiliary losses, and the backward into weight and input.
#include "model/router.h"

#include "kernels/ops.h"

namespace diverge::model {

using ops::Write;

RouterActs allocate_router(Buffers& buffers, const Dims& d) {
  return {buffers.f32({d.tokens, d.experts}), buffers.f32({d.tokens, d.experts}), buffers.i32({d.tokens, d.top_k}),
          buffers.f32({d.tokens, d.top_k}),
          {buffers.f32({router_sum_chunks(d.tokens), d.experts}), buffers.f32({d.tokens})}};
}

void router_forward(const Tensor& h, const Tensor& weight, const RoutingRule& rule, const RouterActs& acts,
                    const LogitBias& bias) {
  ops::matmul(h, weight, acts.logits, false, true);
  if (bias.present()) ops::matmul(bias.ones, bias.bias, acts.logits, false, false, Write::accumulate);
  ops::router(acts.logits, acts.probs, acts.topk, acts.gates, rule.renormalize, acts.sums);
  if (rule.force_balance) ops::balanced_routing(acts.probs.dim(1), acts.topk, acts.gates);
}

void router_aux_losses(const RouterActs& acts, const Tensor& counts, const AuxLossSlots& slots) {
  ops::load_balance_loss(acts.sums, counts, slots.load_balance, slots.write);
  ops::router_z_loss(acts.sums.lse, slots.z, slots.write);
}

void router_backward(const Tensor& h, const Tensor& weight, const Tensor& dweight, const RouterActs& acts,
                     const Tensor& counts, const Tensor& dgates, const RoutingRule& rule, const AuxLossGrads& aux,
                     std::int64_t layer, const RouterLogitHook& hook, const Tensor& dlogits, const Tensor& dh) {
  ops::RouterAuxGrads terms;
  if (aux.load_balance != 0.0f) {
    terms.counts = counts;
    terms.load_balance = aux.load_balance;
  }
  if (aux.z != 0.0f) {
    terms.lse = acts.sums.lse;
    terms.z = aux.z;
  }
  ops::router_backward(acts.probs, acts.topk, acts.gates, rule.force_balance ? Tensor{} : dgates, Tensor{}, dlogits,
                       rule.renormalize, Write::overwrite, terms);
  if (hook) hook(layer, acts.probs, dlogits);
  ops::matmul_backward(dlogits, h, weight, dh, dweight, false, true, Write::accumulate, Write::accumulate);
}

}  // namespace diverge::model
