// The whole MoE transformer: parameters and gradients in one block each, forward with losses, backward, eval.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "engine/arena.h"
#include "engine/comm/comm.h"
#include "engine/config/sections.h"
#include "model/dims.h"
#include "model/param_layout.h"
#include "model/router.h"
#include "model/step_buffers.h"
#include "model/weights.h"

namespace diverge::model {

// The loss terms (MODEL.md): total = lm + lb_coef * lb + z_coef * z; lb and z are means over the MoE layers.
struct Losses {
  float total = 0.0f;
  float lm = 0.0f;
  float lb = 0.0f;
  float z = 0.0f;
};

// Expert parallelism (parallel.ep): the ranks sharing each MoE layer's experts, and the rows a rank's experts are
// planned to receive (parallel.ep_capacity). No group, or one of one rank: this process holds every expert.
struct ExpertGroup {
  Comm* comm = nullptr;
  double capacity = 0.0;
};

// Where the f32 master weights live: in the model, or, where the passes read a working copy in another dtype
// (CUDA), with the optimizer, which under ZeRO-1 shards them and writes the working copy after every update
// (OptimizerStep::publish), from the start: the model then holds only the working copy, which is zero until the
// optimizer first publishes the masters it started from write_initial_parameters().
enum class Masters : std::uint8_t { in_model, with_optimizer };

// The backward finishes the weight gradients in stages: 0 the final norm and an untied lm_head, then one stage per
// layer from the last (stage 1 + (L - 1 - l) for layer l), last (L + 1) the embedding, with a tied lm_head. A stage's
// gradients are final once it has been reported: what lets their reduction overlap the rest of the backward.
using GradientsFinal = std::function<void(std::int64_t stage)>;
std::int64_t gradient_stage(const ParamEntry& entry, std::int64_t layers);
inline std::int64_t gradient_stages(std::int64_t layers) { return layers + 2; }

class Transformer {
 public:
  // Lays out and initialises the parameters from seed (on the host, so every device starts from the same bits),
  // zeroes the gradients, and sizes the activation arena for micro-batches of up to max_batch sequences of max_seq
  // tokens (activation_bytes). Every arena lives on `device`: fp32 master parameters and gradients; on CUDA the
  // forward and backward read a bf16 working copy of the parameters, refreshed from the masters by every pass.
  // logit_chunk: the LM head's rows per chunk of logits (train.logit_chunk; 0: automatic, see logit_chunk_rows).
  // Under expert parallelism the model holds its rank's shard of the experts (initialised as the same slice of the
  // whole model's), and every pass, training or evaluation, is collective over the expert group.
  Transformer(const config::ModelConfig& model, const config::LossConfig& loss, std::int64_t max_batch,
              std::int64_t max_seq, std::uint64_t seed, Device device = Device::cpu, std::int64_t logit_chunk = 0,
              const ExpertGroup& experts = {}, Masters masters = Masters::in_model);

  // tokens (B, T + 1) i32 on the host, B <= max_batch, T <= max_seq: inputs are columns 0..T-1, targets 1..T.
  // Keeps the activations for backward() and the routing for routing(). The loss terms are added to sums that stay
  // on the model's device until take_losses(): nothing is read back during the pass.
  void forward(const Tensor& tokens);
  // Adds d total / d parameters of the last forward() into the gradient block; the hook lets an auxiliary routing
  // loss add its gradient into every MoE layer's router logits; `final` hears each stage of gradients finished
  // (on a device: queued on the compute stream). Needs a forward() since the last backward/eval.
  void backward(const RouterLogitHook& hook = {}, const GradientsFinal& final = {});
  // The mean loss terms over the forward() passes since the last call (one copy from the device, once per step);
  // the sums then start again from zero. With a group, the mean over the passes of every rank of it: the sums are
  // all-reduced before the means are taken, so that they are formed as one process forms them over as many passes.
  Losses take_losses();
  Losses take_losses(Comm& group);
  // With loss.lb_scope global, the training passes (forward(), not evaluations) count the expert loads of the
  // load-balance loss over every rank of group (one all-reduce per MoE layer and pass, so every rank of it must
  // make the same passes); without a group, or with the micro_batch scope, over the pass's own tokens.
  void balance_load_over(Comm& group) { balance_group_ = &group; }
  // Mean LM loss of each sequence (B) of tokens (B, T + 1); gradients and the training loss sums are not touched.
  std::vector<float> eval_sequence_losses(const Tensor& tokens);

  // Analysis: every later pass adds bias (E) to the router logits of MoE layer `layer` before top-k (-inf disables
  // an expert; at least top_k experts must stay finite); an empty span removes it.
  void set_router_bias(std::int64_t layer, std::span<const float> bias);

  Device device() const { return device_; }
  const ParamLayout& layout() const { return layout_; }
  const Dims& dims() const { return dims_; }       // of the last forward or eval pass
  // (P) f32 masters: what the optimizer and checkpoints see; empty with Masters::with_optimizer.
  Tensor params() const { return params_block_; }
  // (P) what the passes read: the masters themselves where activations are f32, else their rounded working copy.
  Tensor working() const { return working_block_; }
  // The initial parameters (P) into the host f32 block, padding zeroed: the constructor's own, for masters kept
  // elsewhere.
  void write_initial_parameters(const Tensor& block) const;
  Tensor grads() const { return grads_block_; }    // (P) f32, mirrors params()
  Tensor param(std::string_view name) const { return entry_view(params_block_, layout_.entry(name)); }
  Tensor grad(std::string_view name) const { return entry_view(grads_block_, layout_.entry(name)); }
  // The routing of MoE layer `layer` (a model layer index) in the last forward pass: logits, dense probabilities
  // (N, E), top-k choices and gates.
  const RouterActs& routing(std::int64_t layer) const;
  // The routed assignments of each expert (E) in MoE layer `layer` of the last forward pass, on the host (a copy
  // from the device: ask only when needed); they sum to N * k.
  std::vector<std::int32_t> expert_counts(std::int64_t layer) const;
  // The logits (R, V) of the last chunk of the last forward pass, rows [N - R, N) (row b * T + t): every row when
  // one chunk holds them all (logit_chunk_rows); backward() turns them into their gradient in place.
  Tensor logits() const { return acts_.head.logits; }
  const Arena& activation_arena() const { return activations_; }

 private:
  // The pass, its loss terms written into terms (1 + 2 * MoE layers) as write says; the load-balance loss counts
  // the expert loads over balance_group when there is one.
  void run_forward(const Tensor& tokens, const Tensor& terms, ops::Write write, Comm* balance_group);
  AuxLossSlots aux_slots(const Tensor& terms, std::int64_t moe_layer, ops::Write write) const;
  const LayerActs& routing_layer(std::int64_t layer) const;  // checked: a MoE layer of the last forward
  void stage_tokens(const Tensor& tokens);
  LogitBias router_bias(std::int64_t layer) const;

  config::ModelConfig model_;
  config::LossConfig loss_;
  ExpertGroup experts_;
  ParamLayout layout_;
  std::int64_t max_batch_;
  std::int64_t max_seq_;
  Device device_;
  std::int64_t logit_chunk_;
  std::uint64_t seed_;
  Masters masters_;
  StepBytes step_bytes_;  // one pass's activation and host bytes at the largest micro-batch
  Arena params_;
  Arena working_;  // the bf16 copy the passes read; empty where activations are f32 (the CPU reads the masters)
  Arena grads_;
  Arena activations_;
  Arena exchange_plans_;  // host: the expert exchange's counts, read between a device pass's kernels; else empty
  Arena staging_;  // host: a micro-batch's inputs and targets, split before their one copy to the device
  Arena losses_;   // on the device: loss_sums_ and eval_terms_
  Tensor params_block_;
  Tensor working_block_;
  Tensor grads_block_;
  ModelWeights weights_;  // views of the working block
  ModelWeights weight_grads_;
  Dims dims_;
  ForwardActs acts_;
  Tensor staged_targets_;       // (B, T) i32 on the host: the last pass's targets
  float target_weight_ = 0.0f;  // 1 / the targets counted in the last pass (0 when all are ignored)
  // (1 + 2 * MoE layers) f32 each: lm, then the load balance of every MoE layer, then their z-losses.
  Tensor loss_sums_;   // summed over the forward() passes since take_losses()
  Tensor eval_terms_;  // an eval pass's terms, discarded
  std::int64_t summed_passes_ = 0;
  bool backward_ready_ = false;
  Comm* balance_group_ = nullptr;  // balance_load_over()
  // Created by the first set_router_bias(): ones (max_batch * max_seq, 1) and one (1, E) bias per layer in the
  // activation dtype, and an f32 (1, E) that the host's values pass through on their way to the device.
  std::unique_ptr<Arena> bias_arena_;
  Tensor bias_ones_;
  Tensor bias_upload_;
  std::vector<Tensor> router_biases_;  // (n_layers)
  std::vector<bool> active_biases_;    // (n_layers): whether layer l's bias is applied
};

}  // namespace diverge::model
