// Resolution of the model config into step extents, with the size checks the model itself relies on.
#include "model/dims.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/error.h"

namespace diverge::model {

namespace {

constexpr const char* kWhere = "model";

void require_positive(std::int64_t value, const char* key) {
  check(value >= 1, kWhere, std::string(key) + " must be at least 1, got " + std::to_string(value));
}

// The rows a rank's experts are planned to receive: capacity * N * k, at most P * N * k (every rank sending every
// row to this one), at least N * k (as many as without expert parallelism).
std::int64_t planned_expert_rows(const Dims& d, double capacity) {
  const std::int64_t most = d.ep * d.routed_rows();
  if (capacity <= 0.0) return most;
  const auto planned = static_cast<std::int64_t>(std::ceil(capacity * static_cast<double>(d.routed_rows())));
  return std::clamp(planned, d.routed_rows(), most);
}

}  // namespace

Dims make_dims(const config::ModelConfig& config, std::int64_t batch, std::int64_t seq, const ExpertParallel& ep) {
  Dims d;
  d.batch = batch;
  d.seq = seq;
  d.tokens = batch * seq;
  d.model = config.d_model;
  d.heads = config.n_heads;
  d.kv_heads = config.n_kv_heads;
  d.head_dim = config.head_dim != 0 ? config.head_dim : (config.n_heads > 0 ? config.d_model / config.n_heads : 0);
  d.vocab = config.vocab_size;
  d.experts = config.n_experts;
  d.top_k = config.top_k;
  d.expert_hidden = config.expert_hidden;
  d.shared_hidden = config.n_shared_experts * config.shared_expert_hidden;
  d.dense_hidden = config.dense_hidden;
  d.layers = config.n_layers;
  d.first_dense = config.first_k_dense;

  require_positive(d.batch, "micro-batch size B");
  require_positive(d.seq, "sequence length T");
  check(
      d.seq <= config.max_seq_len, kWhere,
      "sequence length " + std::to_string(d.seq) + " exceeds model.max_seq_len " + std::to_string(config.max_seq_len));
  require_positive(d.model, "model.d_model");
  require_positive(d.vocab, "model.vocab_size");
  require_positive(d.layers, "model.n_layers");
  require_positive(d.heads, "model.n_heads");
  require_positive(d.kv_heads, "model.n_kv_heads");
  check(d.heads % d.kv_heads == 0, kWhere, "model.n_heads must be a multiple of model.n_kv_heads");
  require_positive(d.head_dim, "model.head_dim (resolved)");
  check(d.head_dim % 2 == 0, kWhere,
        "model.head_dim must be even (RoPE rotates pairs), got " + std::to_string(d.head_dim));
  check(d.first_dense >= 0 && d.first_dense < d.layers, kWhere,
        "model.first_k_dense must be in [0, n_layers), got " + std::to_string(d.first_dense));
  require_positive(d.experts, "model.n_experts");
  check(d.top_k >= 1 && d.top_k <= d.experts, kWhere,
        "model.top_k must be in [1, n_experts], got " + std::to_string(d.top_k));
  require_positive(d.expert_hidden, "model.expert_hidden");
  check(config.n_shared_experts >= 0, kWhere, "model.n_shared_experts must be >= 0");
  if (config.n_shared_experts > 0) require_positive(config.shared_expert_hidden, "model.shared_expert_hidden");
  if (d.first_dense > 0) require_positive(d.dense_hidden, "model.dense_hidden");
  check(ep.size >= 1 && d.experts % ep.size == 0, "parallel.ep",
        std::to_string(ep.size) + " must divide model.n_experts " + std::to_string(d.experts));
  d.ep = ep.size;
  d.local_experts = d.experts / ep.size;
  d.expert_rows = planned_expert_rows(d, ep.capacity);
  return d;
}

}  // namespace diverge::model
