// The extents of one model step (config sizes resolved, plus B and T), shared by every block of the model.
#pragma once

#include <cstdint>

#include "engine/config/sections.h"

namespace diverge::model {

// Names follow MODEL.md: B, T, N = B * T, C, H, Hkv, D, V, E, k, F, Fs (all shared experts together), Fd, L.
struct Dims {
  std::int64_t batch = 0;          // B
  std::int64_t seq = 0;            // T
  std::int64_t tokens = 0;         // N
  std::int64_t model = 0;          // C
  std::int64_t heads = 0;          // H
  std::int64_t kv_heads = 0;       // Hkv
  std::int64_t head_dim = 0;       // D
  std::int64_t vocab = 0;          // V
  std::int64_t experts = 0;        // E
  std::int64_t top_k = 0;          // k
  std::int64_t expert_hidden = 0;  // F
  std::int64_t shared_hidden = 0;  // Fs, 0 without shared experts
  std::int64_t dense_hidden = 0;   // Fd
  std::int64_t layers = 0;         // L
  std::int64_t first_dense = 0;    // layers [0, first_dense) are dense

  std::int64_t routed_rows() const { return tokens * top_k; }  // N * k (token, choice) copies
  std::int64_t moe_layers() const { return layers - first_dense; }
  bool is_moe(std::int64_t layer) const { return layer >= first_dense; }
};

// Checks the config's sizes agree with each other (the model's own preconditions) and resolves head_dim.
Dims make_dims(const config::ModelConfig& config, std::int64_t batch, std::int64_t seq);

}  // namespace diverge::model
