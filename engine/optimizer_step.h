// The distributed optimizer step: all-reduce the gradients, take the global norm, average and clip, AdamW, zero.
#pragma once

#include <cstdint>

#include "engine/arena.h"
#include "engine/comm/comm.h"
#include "engine/config/sections.h"
#include "engine/tensor.h"

namespace diverge {

// AdamW's moments for a parameter block (P) laid out as [decayed | not decayed]: m and v, one arena.
class OptimizerStep {
 public:
  // block_elements: P; decay_elements: how many leading elements take weight decay (the rest are norm weights).
  OptimizerStep(const config::OptimConfig& optim, std::int64_t block_elements, std::int64_t decay_elements);

  // One update with the gradients (P) summed over `micro_batches` micro-batches on this rank: all-reduces them
  // over comm (summing ranks), scales them to the mean over every micro-batch of every rank and clips that mean to
  // optim.grad_clip in one pass, applies AdamW with learning rate lr as update number `step` (1-based, for the
  // bias correction), then zeroes the gradients. Returns the global norm of the mean gradient before clipping.
  double apply(Comm& comm, const Tensor& params, const Tensor& grads, std::int64_t micro_batches, double lr,
               std::int64_t step);

  Tensor exp_avg() const { return m_; }     // (P) first moments
  Tensor exp_avg_sq() const { return v_; }  // (P) second moments
  const Arena& arena() const { return arena_; }

 private:
  config::OptimConfig optim_;
  std::int64_t decay_elements_;
  Arena arena_;
  Tensor m_;
  Tensor v_;
};

}  // namespace diverge
