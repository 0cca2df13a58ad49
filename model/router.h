// The MoE router: logits, dense softmax probabilities, top-k gates, and the auxiliary losses on its logits.
#pragma once

#include <cstdint>
#include <functional>

#include "engine/buffers.h"
#include "kernels/ops.h"
#include "model/dims.h"

namespace diverge::model {

// Called in the backward pass of every MoE layer once dlogits (N, E) holds the router's own gradients (gates,
// load balance, z-loss) and before it flows into the router weight and the layer input: an auxiliary loss on the
// routing distribution (EDL) adds d loss / d logits into dlogits here. probs (N, E) are the layer's dense
// probabilities of the forward pass; layer is the model layer index.
using RouterLogitHook = std::function<void(std::int64_t layer, const Tensor& probs, const Tensor& dlogits)>;

struct RouterActs {
  Tensor logits;         // (N, E)
  Tensor probs;          // (N, E) softmax over all experts
  Tensor topk;           // (N, k) i32, most probable first
  Tensor gates;          // (N, k)
  ops::RouterSums sums;  // (chunks, E) and (N): taken with probs, for the auxiliary losses
};

// Weights of the auxiliary losses in d total / d (layer loss): coef / (number of MoE layers).
struct AuxLossGrads {
  float load_balance = 0.0f;
  float z = 0.0f;
};

// Where one layer's auxiliary losses go: one f32 each on the model's device, written or added to (the model sums
// them over micro-batches there and reads them once per step).
struct AuxLossSlots {
  Tensor load_balance;  // (1)
  Tensor z;             // (1)
  ops::Write write = ops::Write::overwrite;
};

// An additive bias on the router logits before top-k (analysis: -inf disables an expert), broadcast over tokens
// as ones (N, 1) @ bias (1, E) so that it stays a plain op on any backend. Empty: no bias.
struct LogitBias {
  Tensor ones;  // (N, 1) all 1
  Tensor bias;  // (1, E)
  bool present() const { return !bias.empty(); }
};

// How the experts and gates are chosen: the k most probable (gates renormalised or not), or the forced-balance
// assignment of ops::balanced_routing, for benchmarks only (config parallel.ep_force_balance).
struct RoutingRule {
  bool renormalize = true;
  bool force_balance = false;
};

RouterActs allocate_router(Buffers& buffers, const Dims& d);

// The logits and probabilities are computed under either rule: the auxiliary losses and the routing metrics read
// them.
void router_forward(const Tensor& h, const Tensor& weight, const RoutingRule& rule, const RouterActs& acts,
                    const LogitBias& bias = {});
// This layer's load-balance loss (f from counts (E) i32) and z-loss into their slots.
void router_aux_losses(const RouterActs& acts, const Tensor& counts, const AuxLossSlots& slots);
// dlogits (N, E) = gradient from dgates (N, k) (none under forced balance, whose gates are constants) + auxiliary
// losses + hook; then dh (N, C) += dlogits W and dweight (E, C) += dlogits^T h.
void router_backward(const Tensor& h, const Tensor& weight, const Tensor& dweight, const RouterActs& acts,
                     const Tensor& counts, const Tensor& dgates, const RoutingRule& rule, const AuxLossGrads& aux,
                     std::int64_t layer, const RouterLogitHook& hook, const Tensor& dlogits, const Tensor& dh);

}  // namespace diverge::model
