// Transformer: wires the blocks over the residual stream, computes the losses, and runs the backward pass in reverse.
#include "model/transformer.h"

#include <cmath>
#include <string>
#include <utility>

#include "engine/buffers.h"
#include "engine/device_memory.h"
#include "engine/error.h"
#include "kernels/ops.h"
#include "model/attention_block.h"
#include "model/dense_mlp.h"
#include "model/init.h"
#include "model/lm_head.h"
#include "model/moe_layer.h"
#include "model/residual.h"

namespace diverge::model {

namespace {

constexpr const char* kWhere = "model";

std::size_t block_bytes(const ParamLayout& layout, DType dtype) {
  return static_cast<std::size_t>(layout.block_elements()) * dtype_bytes(dtype);
}

// Where activations are f32 (the CPU) the passes read the masters themselves; elsewhere a rounded working copy.
bool needs_working_copy(Device device) { return ops::activation_dtype(device) != DType::f32; }

std::size_t working_bytes(const ParamLayout& layout, Device device) {
  return needs_working_copy(device) ? block_bytes(layout, ops::activation_dtype(device)) : 0;
}

// A micro-batch's tokens split on the host before their one copy to the device.
struct StagedTokens {
  Tensor inputs;   // (B, T) i32: token columns 0..T-1
  Tensor targets;  // (B, T) i32: token columns 1..T
};

StagedTokens allocate_staging(Buffers& buffers, std::int64_t batch, std::int64_t seq) {
  return {buffers.i32({batch, seq}), buffers.i32({batch, seq})};
}

// The staging arena holds the largest micro-batch.
std::size_t staging_bytes(std::int64_t max_batch, std::int64_t max_seq) {
  return planned_bytes(Device::cpu, [&](Buffers& b) { return allocate_staging(b, max_batch, max_seq); });
}

// What set_router_bias() keeps, in its arena on the model's device.
struct RouterBiasBuffers {
  Tensor ones;                 // (max_batch * max_seq, 1) activation dtype: the bias's broadcast over the tokens
  Tensor upload;               // (1, E) f32: a host bias on its way to the device
  Tensor ones_upload;          // (max_batch * max_seq, 1) f32: the ones on their way
  std::vector<Tensor> biases;  // (n_layers) of (1, E) activation dtype
};

RouterBiasBuffers allocate_router_bias(Buffers& buffers, std::int64_t tokens, std::int64_t experts,
                                       std::int64_t layers) {
  RouterBiasBuffers r;
  r.ones = buffers.act({tokens, 1});
  r.upload = buffers.f32({1, experts});
  r.ones_upload = buffers.f32({tokens, 1});
  for (std::int64_t l = 0; l < layers; ++l) r.biases.push_back(buffers.act({1, experts}));
  return r;
}

AttentionSettings attention_settings(const config::ModelConfig& m) {
  return {static_cast<float>(m.rms_eps), static_cast<float>(m.rope_theta), m.qk_norm};
}

// The loss terms of one pass: lm, then load balance and z per MoE layer (Transformer::loss_sums_).
std::int64_t loss_term_count(const config::ModelConfig& m) { return 1 + 2 * (m.n_layers - m.first_k_dense); }

struct LossTerms {
  Tensor sums;  // summed over the forward() passes, from zero
  Tensor eval;  // an eval pass's
};

LossTerms allocate_loss_terms(Buffers& buffers, const config::ModelConfig& m) {
  return {buffers.take_zeroed(DType::f32, {loss_term_count(m)}), buffers.f32({loss_term_count(m)})};
}

// 1 / the targets that are not the ignore index (-1), so that the sum of the LM head's row losses is their mean.
float target_weight(const Tensor& targets) {
  std::int64_t counted = 0;
  for (std::int64_t i = 0; i < targets.numel(); ++i) counted += targets.i32()[i] != -1 ? 1 : 0;
  return counted == 0 ? 0.0f : static_cast<float>(1.0 / static_cast<double>(counted));
}

// balance_group: where the load-balance loss counts expert loads under loss.lb_scope global (null: the pass's own).
MoeSettings moe_settings(const config::ModelConfig& m, const config::LossConfig& loss, const Dims& d,
                         Comm* balance_group, const ExpertGroup& experts) {
  const double layers = static_cast<double>(d.moe_layers());
  return {m.renorm_topk,
          {static_cast<float>(loss.lb_coef / layers), static_cast<float>(loss.z_coef / layers)},
          loss.lb_scope == config::Scope::kGlobal ? balance_group : nullptr,
          experts.comm};
}

ExpertShard expert_shard(const ExpertGroup& experts) {
  if (experts.comm == nullptr) return {};
  return {experts.comm->rank(), experts.comm->size()};
}

ExpertParallel expert_parallel(const ExpertGroup& experts) {
  return {expert_shard(experts).count, experts.capacity};
}

// dst (activation dtype, any device) = values, through upload (f32 of dst's shape on dst's device).
void upload_as_activation(std::span<const float> values, const Tensor& upload, const Tensor& dst) {
  copy_tensor(make_view(const_cast<float*>(values.data()), DType::f32, Device::cpu, {upload.numel()}),
              upload.reshape({upload.numel()}));
  ops::cast_to_activation(upload, dst);
}

}  // namespace

Transformer::Transformer(const config::ModelConfig& model, const config::LossConfig& loss, std::int64_t max_batch,
                         std::int64_t max_seq, std::uint64_t seed, Device device, std::int64_t logit_chunk,
                         const ExpertGroup& experts, Masters masters)
    : model_(model),
      loss_(loss),
      experts_(experts),
      layout_(model, expert_shard(experts)),
      max_batch_(max_batch),
      max_seq_(max_seq),
      device_(device),
      logit_chunk_(logit_chunk),
      seed_(seed),
      masters_(masters),
      step_bytes_(step_bytes(model, max_batch, max_seq, device, logit_chunk, expert_parallel(experts))),
      params_("parameters", device, masters == Masters::in_model ? block_bytes(layout_, DType::f32) : 0,
              "the model's size"),
      working_("working parameters", device, working_bytes(layout_, device), "the model's size"),
      grads_("gradients", device, block_bytes(layout_, DType::f32), "the model's size"),
      activations_("activations", device, step_bytes_.activations,
                   "lower data.micro_batch, data.seq_len or train.logit_chunk"),
      exchange_plans_("expert exchange plans", Device::cpu, step_bytes_.host),
      staging_("token staging", Device::cpu, staging_bytes(max_batch, max_seq)),
      losses_("losses", device,
              planned_bytes(device, [&](Buffers& buffers) { return allocate_loss_terms(buffers, model); })) {
  check(loss.lb_coef >= 0.0 && loss.z_coef >= 0.0, "loss", "lb_coef and z_coef must be >= 0");
  check(masters == Masters::in_model || needs_working_copy(device), kWhere,
        "the masters can live with the optimizer only where the passes read a working copy (CUDA)");
  const std::int64_t elements = layout_.block_elements();
  grads_block_ = grads_.alloc_zeroed(DType::f32, {elements});
  if (masters == Masters::in_model) params_block_ = params_.alloc_zeroed(DType::f32, {elements});
  working_block_ = needs_working_copy(device) ? working_.alloc_zeroed(ops::activation_dtype(device), {elements})
                                              : params_block_;
  // The seeded initialisation runs on the host in every case, so a GPU run starts from the CPU run's very bits.
  // Masters kept by the optimizer start there (from write_initial_parameters), which then writes the working copy.
  if (device == Device::cpu) {
    write_initial_parameters(params_block_);
  } else if (masters == Masters::in_model) {
    Arena host("initial parameters", Device::cpu, block_bytes(layout_, DType::f32));
    const Tensor staged = host.alloc(DType::f32, {elements});
    write_initial_parameters(staged);
    copy_tensor(staged, params_block_);
  }
  weights_ = bind_weights(layout_, working_block_, model.n_layers);
  weight_grads_ = bind_weights(layout_, grads_block_, model.n_layers);
  Buffers loss_buffers(losses_);
  const LossTerms terms = allocate_loss_terms(loss_buffers, model);
  loss_sums_ = terms.sums;
  eval_terms_ = terms.eval;
}

void Transformer::write_initial_parameters(const Tensor& block) const {
  device_zero(Device::cpu, block.data, block.bytes());  // the padding between entries, which init leaves
  init_parameters(layout_, block, seed_, model_.init_std, model_.n_layers);
}

void Transformer::stage_tokens(const Tensor& tokens) {
  staging_.reset();
  Buffers buffers(staging_);
  const StagedTokens staged = allocate_staging(buffers, dims_.batch, dims_.seq);
  const std::int32_t* src = tokens.i32();
  const std::int64_t row = dims_.seq + 1;
  for (std::int64_t b = 0; b < dims_.batch; ++b)
    for (std::int64_t t = 0; t < dims_.seq; ++t) {
      staged.inputs.i32()[b * dims_.seq + t] = src[b * row + t];
      staged.targets.i32()[b * dims_.seq + t] = src[b * row + t + 1];
    }
  copy_tensor(staged.inputs, acts_.inputs);
  copy_tensor(staged.targets, acts_.targets);
  staged_targets_ = staged.targets;
  target_weight_ = target_weight(staged.targets);
}

AuxLossSlots Transformer::aux_slots(const Tensor& terms, std::int64_t moe_layer, ops::Write write) const {
  const std::int64_t lb = 1 + moe_layer, z = 1 + dims_.moe_layers() + moe_layer;
  return {terms.slice_rows(lb, lb + 1), terms.slice_rows(z, z + 1), write};
}

void Transformer::run_forward(const Tensor& tokens, const Tensor& terms, ops::Write write, Comm* balance_group) {
  check(tokens.dtype == DType::i32 && tokens.ndim == 2 && tokens.dim(1) >= 2, kWhere,
        "tokens must be i32 (B, T + 1) with T >= 1, got " + tokens.describe());
  const std::int64_t batch = tokens.dim(0), seq = tokens.dim(1) - 1;
  check(batch <= max_batch_ && seq <= max_seq_, kWhere,
        "micro-batch of " + std::to_string(batch) + " x " + std::to_string(seq) + " tokens exceeds the planned " +
            std::to_string(max_batch_) + " x " + std::to_string(max_seq_));
  backward_ready_ = false;
  dims_ = make_dims(model_, batch, seq, expert_parallel(experts_));
  activations_.reset();
  exchange_plans_.reset();
  Buffers buffers(activations_, &exchange_plans_);
  acts_ = allocate_forward(buffers, dims_, model_.qk_norm, logit_chunk_rows(logit_chunk_, dims_.tokens, dims_.vocab));
  stage_tokens(tokens);
  // The masters may have changed since the last pass (an update, a checkpoint, an edit): one rounding pass over
  // the block per micro-batch, so the working copy can never be stale. Masters kept by the optimizer write it
  // themselves.
  if (masters_ == Masters::in_model) ops::cast_to_activation(params_block_, working_block_);

  const AttentionSettings attention = attention_settings(model_);
  const MoeSettings moe = moe_settings(model_, loss_, dims_, balance_group, experts_);
  ops::embedding(acts_.inputs.reshape({dims_.tokens}), weights_.embed, acts_.embedded);
  Tensor x = acts_.embedded;
  for (std::int64_t l = 0; l < dims_.layers; ++l) {
    const LayerActs& la = acts_.layers[static_cast<std::size_t>(l)];
    const LayerWeights& w = weights_.layers[static_cast<std::size_t>(l)];
    attention_forward(attention, w.attention, x, la.attention, la.x_mid);
    norm_forward(la.x_mid, w.post_norm, attention.rms_eps, la.mlp_norm);
    ops::copy(la.x_mid, la.x_out);
    if (dims_.is_moe(l)) {
      moe_forward(moe, w.moe, la.mlp_norm.out, la.moe, la.x_out, aux_slots(terms, l - dims_.first_dense, write),
                  router_bias(l));
    } else {
      ffn_forward(la.mlp_norm.out, w.dense, la.dense, la.x_out);
    }
    x = la.x_out;
  }
  norm_forward(x, weights_.final_norm, attention.rms_eps, acts_.final_norm);
  lm_head_forward(acts_.final_norm.out, weights_.lm_head, acts_.targets.reshape({dims_.tokens}), target_weight_,
                  acts_.head, terms.slice_rows(0, 1), write);
}

void Transformer::forward(const Tensor& tokens) {
  run_forward(tokens, loss_sums_, ops::Write::accumulate, balance_group_);
  ++summed_passes_;
  backward_ready_ = true;
}

Losses Transformer::take_losses() { return take_losses(*make_single_process_comm()); }

Losses Transformer::take_losses(Comm& group) {
  check(summed_passes_ > 0, kWhere, "take_losses() needs a forward() since the last take_losses()");
  std::vector<float> sums(static_cast<std::size_t>(loss_sums_.numel()));
  const Tensor host_sums = make_view(sums.data(), DType::f32, Device::cpu, {loss_sums_.numel()});
  copy_tensor(loss_sums_, host_sums);
  device_zero(device_, loss_sums_.data, loss_sums_.bytes());
  group.allreduce(host_sums, ReduceOp::sum);
  const auto passes = static_cast<double>(summed_passes_ * group.size());
  summed_passes_ = 0;
  const std::int64_t moe_layers = model_.n_layers - model_.first_k_dense;
  double lb = 0.0, z = 0.0;
  for (std::int64_t m = 0; m < moe_layers; ++m) {
    lb += sums[static_cast<std::size_t>(1 + m)];
    z += sums[static_cast<std::size_t>(1 + moe_layers + m)];
  }
  Losses losses;
  losses.lm = static_cast<float>(sums[0] / passes);
  losses.lb = static_cast<float>(lb / passes / static_cast<double>(moe_layers));
  losses.z = static_cast<float>(z / passes / static_cast<double>(moe_layers));
  losses.total = static_cast<float>(losses.lm + loss_.lb_coef * losses.lb + loss_.z_coef * losses.z);
  return losses;
}

std::int64_t gradient_stage(const ParamEntry& entry, std::int64_t layers) {
  if (entry.layer >= 0) return layers - entry.layer;
  return entry.name == names::kEmbed ? layers + 1 : 0;
}

void Transformer::backward(const RouterLogitHook& hook, const GradientsFinal& final) {
  const auto report = [&](std::int64_t stage) {
    if (final) final(stage);
  };
  check(backward_ready_, kWhere, "backward() needs a forward() since the last backward() or eval pass");
  backward_ready_ = false;
  Buffers buffers(activations_, &exchange_plans_);
  const BackwardScratch scratch = allocate_backward(buffers, dims_, model_.qk_norm);
  const AttentionSettings attention = attention_settings(model_);
  const MoeSettings moe = moe_settings(model_, loss_, dims_, balance_group_, experts_);
  const Tensor& grad = scratch.stream_grad;
  const Tensor top = acts_.layers.back().x_out;

  lm_head_backward(acts_.final_norm.out, weights_.lm_head, acts_.targets.reshape({dims_.tokens}), target_weight_,
                   acts_.head, scratch.sublayer.dnormed, weight_grads_.lm_head);
  ops::rmsnorm_backward(scratch.sublayer.dnormed, top, weights_.final_norm, acts_.final_norm.rstd, grad,
                        weight_grads_.final_norm);
  report(0);
  for (std::int64_t l = dims_.layers - 1; l >= 0; --l) {
    const auto index = static_cast<std::size_t>(l);
    const LayerActs& la = acts_.layers[index];
    const LayerWeights& w = weights_.layers[index];
    const LayerWeights& dw = weight_grads_.layers[index];
    if (dims_.is_moe(l)) {
      moe_backward(moe, l, w.moe, dw.moe, la.mlp_norm.out, la.moe, scratch.moe, hook, grad, scratch.sublayer.dnormed);
    } else {
      ffn_backward(grad, la.mlp_norm.out, w.dense, dw.dense, la.dense, scratch.dense, scratch.sublayer.dnormed,
                   ops::Write::overwrite);
    }
    norm_backward_into_stream(la.x_mid, w.post_norm, la.mlp_norm, dw.post_norm, scratch.sublayer, grad);
    const Tensor& x_in = l == 0 ? acts_.embedded : acts_.layers[index - 1].x_out;
    attention_backward(attention, w.attention, dw.attention, x_in, la.attention, scratch.attention, scratch.sublayer,
                       grad);
    report(dims_.layers - l);
  }
  ops::embedding_backward(acts_.inputs.reshape({dims_.tokens}), grad, weight_grads_.embed);
  report(dims_.layers + 1);
}

std::vector<float> Transformer::eval_sequence_losses(const Tensor& tokens) {
  run_forward(tokens, eval_terms_, ops::Write::overwrite, nullptr);
  std::vector<float> row_loss(static_cast<std::size_t>(dims_.tokens));
  copy_tensor(acts_.head.row_loss, make_view(row_loss.data(), DType::f32, Device::cpu, {dims_.tokens}));
  const std::int32_t* targets = staged_targets_.i32();
  std::vector<float> losses;
  for (std::int64_t b = 0; b < dims_.batch; ++b) {
    double sum = 0.0;
    std::int64_t counted = 0;
    for (std::int64_t i = b * dims_.seq; i < (b + 1) * dims_.seq; ++i) {
      sum += static_cast<double>(row_loss[static_cast<std::size_t>(i)]);
      counted += targets[i] != -1 ? 1 : 0;
    }
    losses.push_back(counted == 0 ? 0.0f : static_cast<float>(sum / static_cast<double>(counted)));
  }
  return losses;
}

void Transformer::set_router_bias(std::int64_t layer, std::span<const float> bias) {
  const std::int64_t experts = model_.n_experts;
  check(model_.is_moe_layer(layer), kWhere,
        "layer " + std::to_string(layer) + " is not a MoE layer");
  check(bias.empty() || static_cast<std::int64_t>(bias.size()) == experts, kWhere,
        "a router bias needs " + std::to_string(experts) + " values, got " + std::to_string(bias.size()));
  std::int64_t finite = 0;
  for (float b : bias) finite += std::isfinite(b) ? 1 : 0;
  check(bias.empty() || finite >= model_.top_k, kWhere,
        "a router bias must leave at least top_k = " + std::to_string(model_.top_k) + " experts enabled");
  if (!bias_arena_) {
    const std::int64_t tokens = max_batch_ * max_seq_;
    const auto allocate = [&](Buffers& b) { return allocate_router_bias(b, tokens, experts, model_.n_layers); };
    bias_arena_ = std::make_unique<Arena>("router bias", device_, planned_bytes(device_, allocate));
    Buffers buffers(*bias_arena_);
    RouterBiasBuffers allocated = allocate(buffers);
    bias_ones_ = allocated.ones;
    bias_upload_ = allocated.upload;
    router_biases_ = std::move(allocated.biases);
    const std::vector<float> ones(static_cast<std::size_t>(tokens), 1.0f);
    upload_as_activation(ones, allocated.ones_upload, bias_ones_);
    active_biases_.assign(static_cast<std::size_t>(model_.n_layers), false);
  }
  const auto index = static_cast<std::size_t>(layer);
  active_biases_[index] = !bias.empty();
  if (!bias.empty()) upload_as_activation(bias, bias_upload_, router_biases_[index]);
}

LogitBias Transformer::router_bias(std::int64_t layer) const {
  const auto index = static_cast<std::size_t>(layer);
  if (active_biases_.empty() || !active_biases_[index]) return {};
  return {bias_ones_.slice_rows(0, dims_.tokens), router_biases_[index]};
}

std::vector<std::int32_t> Transformer::expert_counts(std::int64_t layer) const {
  const Tensor& counts = routing_layer(layer).moe.dispatch.plan.counts;
  std::vector<std::int32_t> host(static_cast<std::size_t>(counts.numel()));
  copy_tensor(counts, make_view(host.data(), DType::i32, Device::cpu, {counts.numel()}));
  return host;
}

const RouterActs& Transformer::routing(std::int64_t layer) const { return routing_layer(layer).moe.router; }

const LayerActs& Transformer::routing_layer(std::int64_t layer) const {
  check(!acts_.layers.empty(), kWhere, "routing() needs a forward pass first");
  check(layer >= dims_.first_dense && layer < dims_.layers, kWhere,
        "layer " + std::to_string(layer) + " is not a MoE layer");
  return acts_.layers[static_cast<std::size_t>(layer)];
}

}  // namespace diverge::model
