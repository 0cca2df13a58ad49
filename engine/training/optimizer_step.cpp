// The optimizer step over flat blocks: gradient all-reduce and norm, mean and clip folded into AdamW's read, zeroing.
#include "engine/training/optimizer_step.h"

#include <algorithm>
#include <cmath>

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

ReducedGradients OptimizerStep::reduce_gradients(Comm& comm, const Tensor& grads, std::int64_t micro_batches) {
  for (std::int64_t begin = 0; begin < grads.numel(); begin += kGradientBucketElements)
    comm.allreduce(grads.slice_rows(begin, std::min(begin + kGradientBucketElements, grads.numel())), ReduceOp::sum);
  // The gradients now hold the sum over every micro-batch of every rank; the mean's norm follows from the sum's.
  const double contributions = static_cast<double>(micro_batches) * comm.size();
  return {.norm = std::sqrt(ops::sum_of_squares(grads)) / contributions, .contributions = contributions};
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
