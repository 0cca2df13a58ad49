// Model-size arithmetic from the model section: parameter counts (total, active per token) and training FLOPs.
#pragma once

#include <cstdint>

#include "engine/config/sections.h"

namespace diverge::config {

// Parameters by kind, as the model lays them out (DESIGN.md "Model family"): no biases anywhere, SwiGLU experts
// (gate, up: d_model x hidden; down: hidden x d_model), one RMSNorm weight vector before attention and before the
// feed-forward of every layer plus a final one, QK-norm weights of head_dim shared by all heads.
struct ParameterCounts {
  std::int64_t embedding = 0;              // vocab_size x d_model
  std::int64_t lm_head = 0;                // vocab_size x d_model; 0 when tied to the embedding
  std::int64_t attention = 0;              // q, k, v, o projections of every layer
  std::int64_t norms = 0;                  // RMSNorm and QK-norm weights
  std::int64_t dense_ffn = 0;              // the SwiGLU of the first_k_dense layers
  std::int64_t routers = 0;                // n_experts x d_model per MoE layer
  std::int64_t routed_experts = 0;         // every routed expert of every MoE layer
  std::int64_t routed_experts_active = 0;  // the top_k routed experts one token uses, over every MoE layer
  std::int64_t shared_experts = 0;         // every shared expert of every MoE layer (all active)

  std::int64_t total() const;
  // What one token touches: everything but the routed experts it is not sent to (embeddings included, the usual
  // "A3B"-style count).
  std::int64_t active() const;
  // Weights in matrix products for one token: active() minus the embedding lookup and the norm scales, plus the
  // LM head's product when it is tied (its weights are the embedding's, its FLOPs are not free).
  std::int64_t active_matmul(const ModelConfig& m) const;
};

// Throws Error("model.vocab_size", ...) when vocab_size is 0: it is taken from the corpus and must be set first.
ParameterCounts count_parameters(const ModelConfig& m);
std::int64_t total_parameters(const ModelConfig& m);
std::int64_t active_parameters(const ModelConfig& m);

// Training FLOPs (forward + backward) per token at sequence length seq_len:
//   6 * active_matmul  +  12 * n_layers * n_heads * head_dim * seq_len
// A matrix product with W (m x n) costs 2mn FLOPs per token forward and twice that backward (gradients of the
// input and of W): 6 per weight. Attention scores Q K^T and the weighted sum A V each cost 2 * seq_len * head_dim
// per head and token forward, so 3 * 4 = 12 with backward (PaLM, appendix B). The full T x T score matrix is
// counted, not the causal half, as MFU figures are usually reported; norms, softmax and SwiGLU's elementwise
// products are left out.
std::int64_t training_flops_per_token(const ModelConfig& m, std::int64_t seq_len);

}  // namespace diverge::config
