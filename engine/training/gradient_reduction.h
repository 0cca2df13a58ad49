// The collectives that sum a step's gradient block over the ranks, and their overlap with the backward that
// finishes the gradients stage by stage.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/comm/comm.h"
#include "engine/comm/process_groups.h"
#include "engine/tensor.h"
#include "model/param_layout.h"

namespace diverge {

// The gradients are summed in buckets of at most this many elements (64 MiB of f32): a few large collectives over
// the flat block, never one per tensor, each of which can start as soon as the backward has finished its elements.
inline constexpr std::int64_t kGradientBucketElements = std::int64_t{1} << 24;

// One collective over [begin, end) of the gradient block: an in-place all-reduce, or under ZeRO-1 a reduce-scatter
// after which this rank's slice, [slice_begin, slice_end), holds its sums.
struct GradientCollective {
  Comm* group = nullptr;
  std::int64_t begin = 0;
  std::int64_t end = 0;
  bool scatter = false;
  std::int64_t slice_begin = 0;
  std::int64_t slice_end = 0;

  std::unique_ptr<InFlight> start(const Tensor& grads) const;
};

// The all-reduces of a block every rank keeps whole: [0, sharded_elements) (the expert shard) over shard_holders,
// the rest over replicated, each part in buckets of bucket_elements from its start.
std::vector<GradientCollective> whole_block_collectives(Comm& replicated, Comm& shard_holders,
                                                        std::int64_t sharded_elements, std::int64_t block_elements,
                                                        std::int64_t bucket_elements = kGradientBucketElements);
void run_collectives(const std::vector<GradientCollective>& collectives, const Tensor& grads);

// The backward stage (model::gradient_stage) after which each element of the block is final: entries' ranges.
struct StagedRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t stage = 0;
};
std::vector<StagedRange> final_stages(const model::ParamLayout& layout, std::int64_t layers);

// A step's gradient collectives started during the backward of its last micro-batch: each as soon as the stage
// finishing the last of its elements is reported, in an order fixed by the layout alone (the stage that readies it,
// then block order), so that every rank starts the same collectives in the same order. On GPUs they run on the
// gradients' side stream beside the rest of the backward; a group that cannot overlap runs each where it starts. A
// collective over a group of one rank is left out: its sum is the gradient itself.
class OverlappedReduction {
 public:
  OverlappedReduction(std::vector<GradientCollective> collectives, const std::vector<StagedRange>& stages);

  // The backward finished `stage` of grads (Transformer::backward's GradientsFinal): start what it readied.
  void stage_final(std::int64_t stage, const Tensor& grads);
  // After the backward: starts the rest and waits for every one; the block then holds the sums.
  void finish(const Tensor& grads);

 private:
  struct Planned {
    GradientCollective collective;
    std::int64_t ready_after = 0;  // the stage that finishes its last element
  };
  std::vector<Planned> order_;  // by ready_after, then block order
  std::vector<std::unique_ptr<InFlight>> started_;
};

}  // namespace diverge
