// The MoE feed-forward of one layer: router -> dispatch -> routed experts -> combine, plus shared experts.
#pragma once

#include <cstdint>

#include "engine/buffers.h"
#include "engine/comm/comm.h"
#include "model/dense_mlp.h"
#include "model/dims.h"
#include "model/dispatcher.h"
#include "model/ep_dispatcher.h"
#include "model/experts.h"
#include "model/residual.h"
#include "model/router.h"
#include "model/weights.h"

namespace diverge::model {

struct MoeActs {
  RouterActs router;
  DispatchActs dispatch;
  EpActs ep;  // under expert parallelism: the exchange with the ranks holding the other experts; else empty
  ExpertActs experts;
  FfnActs shared;         // (N, Fs) each; empty without shared experts
  Tensor balance_counts;  // (E) i32: the routed counts summed over MoeSettings::balance_group, when there is one
};

// Backward workspace, shared by all MoE layers.
struct MoeScratch {
  ExpertScratch experts;
  Tensor dgates;      // (N, k)
  Tensor dlogits;     // (N, E)
  FfnScratch shared;  // (N, Fs) each; empty without shared experts
  Tensor ep_home;     // (N * k, C): under expert parallelism, the gradients of this rank's grouped rows; else empty
};

struct MoeSettings {
  bool renorm_topk = true;
  AuxLossGrads aux;  // weights of this layer's auxiliary losses in the total loss
  // The group over whose micro-batches the load-balance loss counts its expert loads f_e (loss.lb_scope global):
  // one all-reduce of E counts per layer and pass. Null: this micro-batch's own.
  Comm* balance_group = nullptr;
  // The ranks sharing the experts (parallel.ep): the layer's expert weights are this rank's E / P experts, and the
  // rows travel to their experts' ranks and back (model/ep_dispatcher.h), collectively. Null or one rank: every
  // expert is here. Must agree with the Dims the activations were allocated for.
  Comm* expert_group = nullptr;
  // Forced-balance routing (ops::balanced_routing): for benchmarks only, config parallel.ep_force_balance.
  bool force_balance = false;

  RoutingRule routing() const { return {.renormalize = renorm_topk, .force_balance = force_balance}; }
};

MoeActs allocate_moe(Buffers& buffers, const Dims& d);
MoeScratch allocate_moe_scratch(Buffers& buffers, const Dims& d);

// out (N, C) += moe(h (N, C)); this layer's auxiliary losses go into their slots. bias: see router_forward.
// Under expert parallelism w.experts holds (E / P) experts and every rank of the group must make the pass.
void moe_forward(const MoeSettings& s, const MoeWeights& w, const Tensor& h, const MoeActs& acts, const Tensor& out,
                 const AuxLossSlots& losses, const LogitBias& bias = {});
// dh (N, C) = d loss / d h given dout (N, C) = d loss / d out; dw added to; the hook sees the router's dlogits.
void moe_backward(const MoeSettings& s, std::int64_t layer, const MoeWeights& w, const MoeWeights& dw, const Tensor& h,
                  const MoeActs& acts, const MoeScratch& scratch, const RouterLogitHook& hook, const Tensor& dout,
                  const Tensor& dh);

}  // namespace diverge::model
