// The distributed optimizer step: all-reduce the gradients, take the global norm, then AdamW (averaged, clipped) or
// discard them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/arena.h"
#include "engine/comm/comm.h"
#include "engine/comm/process_groups.h"
#include "engine/config/sections.h"
#include "engine/tensor.h"

namespace diverge {

// The gradients of one optimizer step after the all-reduce: what the update needs to average and clip them.
struct ReducedGradients {
  double norm = 0.0;           // global norm of the mean gradient before clipping
  double contributions = 1.0;  // micro-batches summed over every rank: the sum / contributions is the mean
};

// The gradients are all-reduced in buckets of this many elements (64 MiB of f32): a few large collectives over the
// flat block, never one per tensor, each small enough to overlap with the backward pass once that is asynchronous.
inline constexpr std::int64_t kGradientBucketElements = std::int64_t{1} << 24;

// The bytes of OptimizerStep's arena for a parameter block of block_elements (P) on device: the memory plan's.
std::size_t optimizer_bytes(std::int64_t block_elements, Device device);

// AdamW's moments for a parameter block (P) laid out as [decayed | not decayed]: m and v, one arena. A step is
// reduce_gradients() then update() or, when the trainer refuses the step (non-finite), discard().
class OptimizerStep {
 public:
  // block_elements: P; decay_elements: how many leading elements take weight decay (the rest are norm weights);
  // the moments live on `device`, beside the parameters.
  OptimizerStep(const config::OptimConfig& optim, std::int64_t block_elements, std::int64_t decay_elements,
                Device device);

  // All-reduces the gradients (P), summed over `micro_batches` micro-batches on this rank, over comm (summing
  // ranks, bucket by bucket) and takes the global norm of their mean.
  static ReducedGradients reduce_gradients(Comm& comm, const Tensor& grads, std::int64_t micro_batches);
  // The same under expert parallelism, for a block whose [0, sharded_elements) holds this rank's expert shard
  // (ParamLayout::sharded_elements): those gradients sum over groups.edp(), the ranks holding the same experts,
  // the rest over groups.dp(); the norm counts every parameter once, the shards' squares summed over groups.ep().
  static ReducedGradients reduce_gradients(const ProcessGroups& groups, std::int64_t sharded_elements,
                                           const Tensor& grads, std::int64_t micro_batches);
  // Scales the reduced gradients to their mean and clips it to optim.grad_clip in one pass, applies AdamW with
  // learning rate lr as update number `update_number` (1-based, for the bias correction), zeroes the gradients.
  void update(const Tensor& params, const Tensor& grads, const ReducedGradients& reduced, double lr,
              std::int64_t update_number);
  // Drops the gradients without an update: parameters and moments stay as they are.
  static void discard(const Tensor& grads);

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
