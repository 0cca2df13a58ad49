// The distributed optimizer step: all-reduce the gradients, take the global norm, then AdamW (averaged, clipped) or
// discard them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/arena.h"
#include "engine/comm/comm.h"
#include "engine/comm/process_groups.h"
#include "engine/config/sections.h"
#include "engine/tensor.h"
#include "engine/training/gradient_reduction.h"

namespace diverge {

// The gradients of one optimizer step after the all-reduce: what the update needs to average and clip them.
struct ReducedGradients {
  double norm = 0.0;           // global norm of the mean gradient before clipping
  double contributions = 1.0;  // micro-batches summed over every rank: the sum / contributions is the mean
};

// ZeRO-1 (parallel.zero 1): AdamW's moments are split over the ranks that reduce each part of the parameter block,
// [0, sharded_elements) (this rank's experts) over expert_holders (edp), the rest over replicas (dp). Each rank
// receives the gradient sums of its slices only (gradient_collectives()), keeps the moments of its slices, updates
// those slices of the parameters, and the parameters are then all-gathered in place. Null groups (or groups of one):
// every rank keeps every moment. With masters, the f32 master weights shard the same way and live here beside the
// moments: for a model whose passes read a working copy in another dtype (CUDA's bf16), which is what update() then
// writes and all-gathers.
struct StateSharding {
  Comm* expert_holders = nullptr;
  Comm* replicas = nullptr;
  std::int64_t sharded_elements = 0;
  bool masters = false;
};

// The sizes the sharding is planned from, known before any group exists (the memory plan's).
struct ShardingSizes {
  std::int64_t expert_holders = 1;
  std::int64_t replicas = 1;
  std::int64_t sharded_elements = 0;
};

// The moments' elements one rank keeps for a block of block_elements (P): P without sharding.
std::int64_t moment_elements(std::int64_t block_elements, const ShardingSizes& sizes);
// The bytes of OptimizerStep's arena for those moments on device, and for as many f32 masters when it keeps them:
// the memory plan's.
std::size_t optimizer_bytes(std::int64_t moment_elements, Device device, bool masters = false);

// Which elements of the block a rank updates, and where their moments are (optimizer_step.cpp).
struct ShardPlan {
  struct Piece {
    std::int64_t begin = 0;  // [begin, end) of the block
    std::int64_t end = 0;
    std::int64_t moments = 0;  // where its moments start
    bool slice = false;        // this rank's slice of a gather run; else a part every rank of the group keeps
  };
  // A run of the block split evenly over a group, slice r = [begin + r * per_rank, begin + (r + 1) * per_rank).
  struct Gather {
    Comm* group = nullptr;
    std::int64_t begin = 0;
    std::int64_t per_rank = 0;
  };
  std::vector<Piece> pieces;    // this rank's, in block order
  std::vector<Gather> gathers;  // after an update, each fills the run from its ranks' slices
  std::int64_t moment_elements = 0;
};

// AdamW's moments for a parameter block (P) laid out as [decayed | not decayed]: m and v, one arena. A step is
// reduce_gradients() then update() or, when the trainer refuses the step (non-finite), discard().
class OptimizerStep {
 public:
  // block_elements: P; decay_elements: how many leading elements take weight decay (the rest are norm weights);
  // the moments live on `device`, beside the parameters.
  OptimizerStep(const config::OptimConfig& optim, std::int64_t block_elements, std::int64_t decay_elements,
                Device device, const StateSharding& sharding = {});

  // All-reduces the gradients (P), summed over `micro_batches` micro-batches on this rank, over comm (summing
  // ranks, bucket by bucket) and takes the global norm of their mean.
  static ReducedGradients reduce_gradients(Comm& comm, const Tensor& grads, std::int64_t micro_batches);
  // The same under expert parallelism, for a block whose [0, sharded_elements) holds this rank's expert shard
  // (ParamLayout::sharded_elements): those gradients sum over groups.edp(), the ranks holding the same experts,
  // the rest over groups.dp(); the norm counts every parameter once, the shards' squares summed over groups.ep().
  static ReducedGradients reduce_gradients(const ProcessGroups& groups, std::int64_t sharded_elements,
                                           const Tensor& grads, std::int64_t micro_batches);
  // The collectives that sum the gradients for this step's sharding (the groups its StateSharding named from
  // groups): whole_block_collectives without sharding; under ZeRO-1 each gather run's gradients are
  // reduce-scattered, so a rank receives the sums of its own slices only, which are all its update reads (half an
  // all-reduce's traffic), and the parts every rank keeps are all-reduced. The rest of the block then holds this
  // rank's own sums.
  std::vector<GradientCollective> gradient_collectives(const ProcessGroups& groups, std::int64_t sharded_elements,
                                                       std::int64_t block_elements) const;
  // The global norm of the mean gradient once those collectives have run; the norm counts every parameter once.
  ReducedGradients reduced_norm(const ProcessGroups& groups, std::int64_t sharded_elements, const Tensor& grads,
                                std::int64_t micro_batches) const;
  // Scales the reduced gradients to their mean and clips it to optim.grad_clip in one pass, applies AdamW with
  // learning rate lr as update number `update_number` (1-based, for the bias correction), zeroes the gradients.
  // Sharded: AdamW on this rank's slices, then the all-gathers, collective over the sharding's groups. params is
  // the block the passes read (P): the f32 masters, or where this step keeps the masters, the working copy, whose
  // slices it rounds from them (publish()).
  void update(const Tensor& params, const Tensor& grads, const ReducedGradients& reduced, double lr,
              std::int64_t update_number);
  // Drops the gradients without an update: parameters and moments stay as they are.
  static void discard(const Tensor& grads);

  bool sharded() const { return !plan_.gathers.empty(); }
  // The moments this rank keeps: (P) each without sharding, else its slices one after another.
  Tensor exp_avg() const { return m_; }
  Tensor exp_avg_sq() const { return v_; }
  // The whole moments (P) into m and v (host, f32), from every rank's slices: collective when sharded.
  void gather_moments(const Tensor& m, const Tensor& v) const;
  // This rank's slices of the whole moments m and v (P).
  void scatter_moments(const Tensor& m, const Tensor& v) const;

  // Where this step keeps the f32 masters (StateSharding::masters): its slices, one after another like the moments.
  bool keeps_masters() const { return !masters_.empty(); }
  Tensor masters() const { return masters_; }
  // This rank's slices of whole f32 parameters (P, any device) into the masters it keeps.
  void scatter_masters(const Tensor& whole) const;
  // The whole f32 parameters (P, host) from every rank's masters: collective.
  void gather_masters(const Tensor& whole) const;
  // working (P, the passes' dtype) = the masters rounded, this rank's slices then the all-gathers: collective.
  void publish(const Tensor& working) const;
  const Arena& arena() const { return arena_; }

 private:
  // whole (P) from every rank's slices kept in mine (collective), and mine from whole: moments or masters.
  void gather_whole(const Tensor& mine, const Tensor& whole) const;
  void scatter_whole(const Tensor& whole, const Tensor& mine) const;

  config::OptimConfig optim_;
  std::int64_t decay_elements_;
  ShardPlan plan_;
  Arena arena_;
  Tensor m_;
  Tensor v_;
  Tensor masters_;  // empty unless StateSharding::masters
};

}  // namespace diverge
