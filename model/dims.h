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
  std::int64_t ep = 1;             // P: the ranks that share each MoE layer's experts (expert parallelism)
  std::int64_t local_experts = 0;  // E / P: the experts this rank holds, global indices [rank * E / P, ...)
  std::int64_t expert_rows = 0;    // the rows this rank's experts may receive in a pass: N * k when P = 1

  std::int64_t routed_rows() const { return tokens * top_k; }  // N * k (token, choice) copies
  bool expert_parallel() const { return ep > 1; }
  std::int64_t moe_layers() const { return layers - first_dense; }
  bool is_moe(std::int64_t layer) const { return layer >= first_dense; }
};

// How a MoE layer's experts are shared among ranks (config parallel.ep, parallel.ep_capacity).
struct ExpertParallel {
  std::int64_t size = 1;  // P, dividing E
  double capacity = 0.0;  // the rows a rank's experts may receive, as a multiple of N * k; 0: P, every row possible
};

// Checks the config's sizes agree with each other (the model's own preconditions) and resolves head_dim.
Dims make_dims(const config::ModelConfig& config, std::int64_t batch, std::int64_t seq, const ExpertParallel& ep = {});

}  // namespace diverge::model
