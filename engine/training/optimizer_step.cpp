// The optimizer step over flat blocks: gradient all-reduce and norm, mean and clip folded into AdamW's read, zeroing.
#include "engine/training/optimizer_step.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "engine/buffers.h"
#include "engine/device_memory.h"
#include "kernels/ops.h"

namespace diverge {

namespace {

// AdamW's moments start at zero.
struct Moments {
  Tensor m;  // (P) f32
  Tensor v;  // (P) f32
};

Moments allocate_moments(Buffers& buffers, std::int64_t block_elements) {
  return {buffers.take_zeroed(DType::f32, {block_elements}), buffers.take_zeroed(DType::f32, {block_elements})};
}

}  // namespace

std::size_t optimizer_bytes(std::int64_t block_elements, Device device) {
  return planned_bytes(device, [&](Buffers& buffers) { return allocate_moments(buffers, block_elements); });
}

OptimizerStep::OptimizerStep(const config::OptimConfig& optim, std::int64_t block_elements, std::int64_t decay_elements,
                             Device device)
    : optim_(optim),
      decay_elements_(decay_elements),
      arena_("optimizer", device, optimizer_bytes(block_elements, device), "model size (AdamW keeps 2 floats/param)") {
  Buffers buffers(arena_);
  const Moments moments = allocate_moments(buffers, block_elements);
  m_ = moments.m;
  v_ = moments.v;
}

namespace {

void allreduce_in_buckets(Comm& comm, const Tensor& part) {
  for (std::int64_t begin = 0; begin < part.numel(); begin += kGradientBucketElements)
    comm.allreduce(part.slice_rows(begin, std::min(begin + kGradientBucketElements, part.numel())), ReduceOp::sum);
}

// Where each part of the gradient block sums: [0, sharded) over the ranks holding the same expert shard, whose
// squares then add over the ranks holding the other shards; the rest over every rank.
struct GradientGroups {
  Comm& replicated;
  Comm& shard_holders;
  Comm& shards;
  std::int64_t sharded_elements;
};

ReducedGradients reduce_parts(const GradientGroups& g, const Tensor& grads, std::int64_t micro_batches) {
  const Tensor sharded = grads.slice_rows(0, g.sharded_elements);
  const Tensor replicated = grads.slice_rows(g.sharded_elements, grads.numel());
  allreduce_in_buckets(g.shard_holders, sharded);
  allreduce_in_buckets(g.replicated, replicated);
  double shard_squares = sharded.numel() > 0 ? ops::sum_of_squares(sharded) : 0.0;
  g.shards.allreduce(make_view(&shard_squares, DType::f64, Device::cpu, {1}), ReduceOp::sum);
  const double squares = shard_squares + (replicated.numel() > 0 ? ops::sum_of_squares(replicated) : 0.0);
  // The gradients now hold the sum over every micro-batch of every rank (an expert's over the tokens of every rank
  // that routed to it); the mean's norm follows from the sum's.
  const double contributions = static_cast<double>(micro_batches) * g.replicated.size();
  return {.norm = std::sqrt(squares) / contributions, .contributions = contributions};
}

}  // namespace

ReducedGradients OptimizerStep::reduce_gradients(Comm& comm, const Tensor& grads, std::int64_t micro_batches) {
  const std::unique_ptr<Comm> alone = make_single_process_comm();
  return reduce_parts({comm, comm, *alone, 0}, grads, micro_batches);
}

ReducedGradients OptimizerStep::reduce_gradients(const ProcessGroups& groups, std::int64_t sharded_elements,
                                                 const Tensor& grads, std::int64_t micro_batches) {
  return reduce_parts({groups.dp(), groups.edp(), groups.ep(), sharded_elements}, grads, micro_batches);
}

void OptimizerStep::update(const Tensor& params, const Tensor& grads, const ReducedGradients& reduced, double lr,
                           std::int64_t update_number) {
  double factor = 1.0 / reduced.contributions;
  // As torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
  if (optim_.grad_clip > 0.0) {
    const double clip = optim_.grad_clip / (reduced.norm + 1e-6);
    if (clip < 1.0) factor *= clip;
  }
  ops::AdamWHyper hyper{.lr = static_cast<float>(lr),
                        .beta1 = static_cast<float>(optim_.beta1),
                        .beta2 = static_cast<float>(optim_.beta2),
                        .eps = static_cast<float>(optim_.eps),
                        .weight_decay = static_cast<float>(optim_.weight_decay),
                        .step = update_number,
                        .grad_scale = static_cast<float>(factor)};
  // The block is [decayed matrices | norm weights]: one AdamW call per part.
  auto update_part = [&](std::int64_t begin, std::int64_t end, const ops::AdamWHyper& h) {
    if (begin < end)
      ops::adamw_step(params.slice_rows(begin, end), grads.slice_rows(begin, end), m_.slice_rows(begin, end),
                      v_.slice_rows(begin, end), h);
  };
  update_part(0, decay_elements_, hyper);
  if (optim_.no_decay) hyper.weight_decay = 0.0f;
  update_part(decay_elements_, params.numel(), hyper);
  discard(grads);
}

void OptimizerStep::discard(const Tensor& grads) { device_zero(grads.device, grads.data, grads.bytes()); }

}  // namespace diverge
