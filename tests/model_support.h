// Helpers for the model tests: tiny configs, seeded token batches, and host copies of tensors.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config/sections.h"
#include "engine/tensor.h"
#include "model/transformer.h"
#include "tests/thread_count.h"

namespace diverge::test {

// A model small enough for finite differences that still has every kind of parameter: QK-norm, grouped KV heads,
// a dense first layer, two MoE layers with a shared expert, an untied LM head.
inline config::ModelConfig tiny_model() {
  config::ModelConfig m;
  m.vocab_size = 13;
  m.d_model = 8;
  m.n_layers = 3;
  m.n_heads = 2;
  m.n_kv_heads = 1;
  m.head_dim = 4;
  m.qk_norm = true;
  m.rope_theta = 10000.0;
  m.rms_eps = 1e-6;
  m.max_seq_len = 16;
  m.n_experts = 4;
  m.top_k = 2;
  m.expert_hidden = 6;
  m.n_shared_experts = 1;
  m.shared_expert_hidden = 5;
  m.first_k_dense = 1;
  m.dense_hidden = 7;
  m.renorm_topk = true;
  m.tied_embeddings = false;
  m.init_std = 0.02;
  return m;
}

// Every kind of block of tiny_model() (QK-norm, grouped KV heads, a dense first layer, MoE layers with a shared
// expert, an untied head) at a head dim the CUDA attention supports.
inline config::ModelConfig cuda_model() {
  config::ModelConfig m = tiny_model();
  m.vocab_size = 61;
  m.d_model = 32;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.head_dim = 16;
  m.expert_hidden = 24;
  m.shared_expert_hidden = 16;
  m.dense_hidden = 40;
  m.init_std = 0.1;
  return m;
}

inline config::LossConfig tiny_loss(double lb_coef, double z_coef) {
  config::LossConfig l;
  l.lb_coef = lb_coef;
  l.z_coef = z_coef;
  return l;
}

// Tokens (B, T + 1) as the loader gives them, uniform over the vocabulary, fixed by seed.
class TokenBatch {
 public:
  TokenBatch(std::int64_t batch, std::int64_t seq, std::int64_t vocab, std::uint64_t seed)
      : batch_(batch), seq_(seq), data_(static_cast<std::size_t>(batch * (seq + 1))) {
    std::mt19937_64 rng(seed);
    for (std::int32_t& t : data_) t = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(vocab));
  }
  Tensor tensor() { return make_view(data_.data(), DType::i32, Device::cpu, {batch_, seq_ + 1}); }
  std::vector<std::int32_t>& data() { return data_; }

 private:
  std::int64_t batch_;
  std::int64_t seq_;
  std::vector<std::int32_t> data_;
};

inline std::vector<float> host_copy(const Tensor& t) { return {t.f32(), t.f32() + t.numel()}; }

// The index of the view called name among views; fails the test when there is none.
inline std::size_t view_index(const std::vector<model::NamedView>& views, const std::string& name) {
  const auto it = std::find_if(views.begin(), views.end(), [&](const auto& v) { return v.name == name; });
  REQUIRE_MESSAGE(it != views.end(), name);
  return static_cast<std::size_t>(it - views.begin());
}

// The global expert index in a per-expert tensor name ("model.layers.1.mlp.experts.5.up_proj.weight": 5), or -1.
inline std::int64_t expert_in_name(const std::string& name) {
  constexpr std::string_view kInfix = ".mlp.experts.";
  const std::size_t at = name.find(kInfix);
  return at == std::string::npos ? -1 : std::stoll(name.substr(at + kInfix.size()));
}

// One forward pass and its loss terms (the model keeps them on its device until take_losses()).
inline model::Losses forward_losses(model::Transformer& model, const Tensor& tokens) {
  model.forward(tokens);
  return model.take_losses();
}

// The chosen expert sets of every token of every MoE layer in the last forward pass, sorted within a token: the order
// of two chosen experts is not a discontinuity of the loss, a different set is.
inline std::vector<std::int32_t> routing_choices(const model::Transformer& model) {
  std::vector<std::int32_t> all;
  const model::Dims& d = model.dims();
  for (std::int64_t l = d.first_dense; l < d.layers; ++l) {
    const std::int32_t* topk = model.routing(l).topk.i32();
    for (std::int64_t t = 0; t < d.tokens; ++t) {
      std::vector<std::int32_t> row(topk + t * d.top_k, topk + (t + 1) * d.top_k);
      std::sort(row.begin(), row.end());
      all.insert(all.end(), row.begin(), row.end());
    }
  }
  return all;
}

// Finite differences of the fp32 model loss. The derivative is central_difference4 with h = 1e-2: its truncation
// error is O(h^4), below 1e-7 for these models, so what remains is the fp32 rounding of each loss evaluation,
// about 1e-7 absolute for |L| ~ 3, amplified by (16 + 2) / 12 / h = 150: a few 1e-5 (the largest seen is 4e-5).
// Hence the tolerance 6e-5 absolute plus 1e-3 relative to the analytic value (itself an fp32 sum over a few dozen
// terms, good to ~1e-6 relative); the gradients checked are mostly 1e-3 .. 2e-1, so a wrong term shows.
inline constexpr double kFiniteDifferenceStep = 1e-2;
// How far |numeric - analytic| lies beyond the tolerance: <= 0 passes.
inline double finite_difference_excess(double numeric, double analytic) {
  return std::abs(numeric - analytic) - (6e-5 + 1e-3 * std::abs(analytic));
}

// The fourth-order central difference (8 (f(h) - f(-h)) - (f(2h) - f(-2h))) / (12 h) of f at 0: truncation O(h^4).
inline double central_difference4(const std::function<double(double)>& f, double h) {
  return (8.0 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12.0 * h);
}

}  // namespace diverge::test
