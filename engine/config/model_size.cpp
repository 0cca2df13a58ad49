// Parameter counts by kind and training FLOPs per token, following the formulas documented in model_size.h.
#include "engine/config/model_size.h"

#include "engine/error.h"

namespace diverge::config {

namespace {

// gate, up and down projections of one SwiGLU block.
std::int64_t swiglu(std::int64_t d_model, std::int64_t hidden) { return 3 * d_model * hidden; }

}  // namespace

std::int64_t ParameterCounts::total() const {
  return embedding + lm_head + attention + norms + dense_ffn + routers + routed_experts + shared_experts;
}

std::int64_t ParameterCounts::active() const { return total() - routed_experts + routed_experts_active; }

std::int64_t ParameterCounts::active_matmul(const ModelConfig& m) const {
  const std::int64_t tied_head = m.tied_embeddings ? m.vocab_size * m.d_model : 0;
  return active() - embedding - norms + tied_head;
}

ParameterCounts count_parameters(const ModelConfig& m) {
  check(m.vocab_size > 0, "model.vocab_size",
        "is 0 (taken from the corpus tokenizer): set it before counting parameters");
  const std::int64_t d = m.d_model, hd = m.resolved_head_dim();
  const std::int64_t dense_layers = m.first_k_dense, moe_layers = m.moe_layers();
  ParameterCounts p;
  p.embedding = m.vocab_size * d;
  p.lm_head = m.tied_embeddings ? 0 : m.vocab_size * d;
  const std::int64_t q_and_o = 2 * d * m.n_heads * hd, k_and_v = 2 * d * m.n_kv_heads * hd;
  p.attention = m.n_layers * (q_and_o + k_and_v);
  const std::int64_t qk_norm = m.qk_norm ? 2 * hd : 0;
  p.norms = m.n_layers * (2 * d + qk_norm) + d;
  p.dense_ffn = dense_layers * swiglu(d, m.dense_hidden);
  p.routers = moe_layers * m.n_experts * d;
  p.routed_experts = moe_layers * m.n_experts * swiglu(d, m.expert_hidden);
  p.routed_experts_active = moe_layers * m.top_k * swiglu(d, m.expert_hidden);
  p.shared_experts = moe_layers * m.n_shared_experts * swiglu(d, m.shared_expert_hidden);
  return p;
}

std::int64_t total_parameters(const ModelConfig& m) { return count_parameters(m).total(); }

std::int64_t active_parameters(const ModelConfig& m) { return count_parameters(m).active(); }

std::int64_t training_flops_per_token(const ModelConfig& m, std::int64_t seq_len) {
  const std::int64_t attention_scores = 12 * m.n_layers * m.n_heads * m.resolved_head_dim() * seq_len;
  return 6 * count_parameters(m).active_matmul(m) + attention_scores;
}

}  // namespace diverge::config
