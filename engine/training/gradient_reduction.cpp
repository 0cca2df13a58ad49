// Gradient collectives: the buckets of a whole block, the stage each waits for, and their start during the backward.
#include "engine/training/gradient_reduction.h"

#include <algorithm>
#include <utility>

#include "engine/error.h"
#include "engine/step_profile.h"
#include "model/transformer.h"

namespace diverge {
namespace {

void add_buckets(std::vector<GradientCollective>& out, Comm& group, std::int64_t begin, std::int64_t end,
                 std::int64_t bucket) {
  for (std::int64_t at = begin; at < end; at += bucket)
    out.push_back({.group = &group, .begin = at, .end = std::min(at + bucket, end)});
}

// The latest stage among the ranges that overlap [begin, end): padding between entries is in no range.
std::int64_t ready_after(const std::vector<StagedRange>& stages, std::int64_t begin, std::int64_t end) {
  std::int64_t stage = 0;
  for (const StagedRange& r : stages)
    if (r.begin < end && begin < r.end) stage = std::max(stage, r.stage);
  return stage;
}

}  // namespace

std::unique_ptr<InFlight> GradientCollective::start(const Tensor& grads) const {
  const Tensor range = grads.slice_rows(begin, end);
  if (!scatter) return group->start_allreduce(range, ReduceOp::sum);
  return group->start_reduce_scatter(range, grads.slice_rows(slice_begin, slice_end), ReduceOp::sum);
}

std::vector<GradientCollective> whole_block_collectives(Comm& replicated, Comm& shard_holders,
                                                        std::int64_t sharded_elements, std::int64_t block_elements,
                                                        std::int64_t bucket_elements) {
  check(bucket_elements > 0, "gradient buckets", "a bucket needs at least one element");
  std::vector<GradientCollective> out;
  add_buckets(out, shard_holders, 0, sharded_elements, bucket_elements);
  add_buckets(out, replicated, sharded_elements, block_elements, bucket_elements);
  return out;
}

void run_collectives(const std::vector<GradientCollective>& collectives, const Tensor& grads) {
  for (const GradientCollective& c : collectives) c.start(grads)->wait();
}

std::vector<StagedRange> final_stages(const model::ParamLayout& layout, std::int64_t layers) {
  std::vector<StagedRange> stages;
  for (const model::ParamEntry& e : layout.entries())
    stages.push_back({e.offset, e.offset + e.numel, model::gradient_stage(e, layers)});
  return stages;
}

OverlappedReduction::OverlappedReduction(std::vector<GradientCollective> collectives,
                                         const std::vector<StagedRange>& stages) {
  for (GradientCollective& c : collectives) {
    if (c.group->size() == 1) continue;  // the sum over one rank is the gradient itself
    const std::int64_t stage = ready_after(stages, c.begin, c.end);
    order_.push_back({std::move(c), stage});
  }
  std::stable_sort(order_.begin(), order_.end(),
                   [](const Planned& a, const Planned& b) { return a.ready_after < b.ready_after; });
}

void OverlappedReduction::stage_final(std::int64_t stage, const Tensor& grads) {
  while (started_.size() < order_.size() && order_[started_.size()].ready_after <= stage)
    started_.push_back(order_[started_.size()].collective.start(grads));
}

void OverlappedReduction::finish(const Tensor& grads) {
  if (order_.empty()) return;
  const PartScope part(StepPart::communication);  // on GPUs: what the backward did not hide
  while (started_.size() < order_.size()) started_.push_back(order_[started_.size()].collective.start(grads));
  for (const std::unique_ptr<InFlight>& in_flight : started_) in_flight->wait();
  started_.clear();
}

}  // namespace diverge
