// Helpers for the model tests: tiny configs, seeded token batches, and host copies of tensors.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engine/config/sections.h"
#include "engine/tensor.h"

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

}  // namespace diverge::test
