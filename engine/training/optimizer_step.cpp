// The optimizer step over flat blocks: gradient all-reduce and norm, mean and clip folded into AdamW's read, zeroing.
#include "engine/training/optimizer_step.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>

#include "engine/buffers.h"
#include "engine/device_memory.h"
#include "kernels/ops.h"

namespace diverge {

namespace {

// AdamW's moments start at zero; masters, where kept, are written before any update reads them.
struct Moments {
  Tensor m;        // (P) f32
  Tensor v;        // (P) f32
  Tensor masters;  // (P) f32, or empty
};

Moments allocate_moments(Buffers& buffers, std::int64_t elements, bool masters) {
  return {buffers.take_zeroed(DType::f32, {elements}), buffers.take_zeroed(DType::f32, {elements}),
          masters ? buffers.take(DType::f32, {elements}) : Tensor{}};
}

// A rank's slice of a sharded run is a multiple of this (256 bytes), so that every slice starts where vectorised
// kernels may start.
constexpr std::int64_t kSliceAlign = 64;

// One part of the block shared by a group: the group's rank `ranks` and this rank's place in it (group may be null
// when only the sizes are wanted).
struct Region {
  Comm* group = nullptr;
  std::int64_t ranks = 1;
  std::int64_t rank = 0;
  std::int64_t begin = 0;
  std::int64_t end = 0;
};

void add_piece(ShardPlan& plan, std::int64_t begin, std::int64_t end, bool slice) {
  plan.pieces.push_back({begin, end, plan.moment_elements, slice});
  plan.moment_elements += end - begin;
}

// The largest part of the region that splits evenly into aligned slices goes in gather runs of at most a gradient
// bucket each; the rest (fewer than ranks * 64 elements) every rank updates alike, keeping those moments whole.
void plan_region(ShardPlan& plan, const Region& region) {
  const std::int64_t n = region.end - region.begin;
  const std::int64_t per_rank = region.ranks > 1 ? n / (region.ranks * kSliceAlign) * kSliceAlign : 0;
  const std::int64_t bucket =
      std::max(kSliceAlign, kGradientBucketElements / region.ranks / kSliceAlign * kSliceAlign);
  for (std::int64_t done = 0; done < per_rank; done += bucket) {
    const std::int64_t slice = std::min(bucket, per_rank - done);
    const std::int64_t run = region.begin + done * region.ranks;
    plan.gathers.push_back({region.group, run, slice});
    add_piece(plan, run + region.rank * slice, run + (region.rank + 1) * slice, true);
  }
  const std::int64_t tail = region.begin + per_rank * region.ranks;
  if (tail < region.end) add_piece(plan, tail, region.end, false);
}

ShardPlan plan_shards(std::int64_t block_elements, const Region& experts, const Region& replicated) {
  ShardPlan plan;
  plan_region(plan, {experts.group, experts.ranks, experts.rank, 0, experts.end});
  plan_region(plan, {replicated.group, replicated.ranks, replicated.rank, experts.end, block_elements});
  return plan;
}

Region sharing(Comm* group, std::int64_t end) {
  if (group == nullptr) return {.end = end};
  return {group, group->size(), group->rank(), 0, end};
}

// The run of gather g in block: this rank's slice, and the whole run every rank's slices fill.
void gather_run(const ShardPlan::Gather& g, const Tensor& block) {
  const std::int64_t rank = g.group->rank(), ranks = g.group->size();
  g.group->allgather(block.slice_rows(g.begin + rank * g.per_rank, g.begin + (rank + 1) * g.per_rank),
                     block.slice_rows(g.begin, g.begin + ranks * g.per_rank));
}

Tensor piece_of(const Tensor& block, const ShardPlan::Piece& p) { return block.slice_rows(p.begin, p.end); }

Tensor moments_of(const Tensor& moments, const ShardPlan::Piece& p) {
  return moments.slice_rows(p.moments, p.moments + (p.end - p.begin));
}

}  // namespace

std::int64_t moment_elements(std::int64_t block_elements, const ShardingSizes& sizes) {
  return plan_shards(block_elements, {.ranks = sizes.expert_holders, .end = sizes.sharded_elements},
                     {.ranks = sizes.replicas})
      .moment_elements;
}

std::size_t optimizer_bytes(std::int64_t moment_elements, Device device, bool masters) {
  return planned_bytes(device, [&](Buffers& buffers) { return allocate_moments(buffers, moment_elements, masters); });
}

OptimizerStep::OptimizerStep(const config::OptimConfig& optim, std::int64_t block_elements, std::int64_t decay_elements,
                             Device device, const StateSharding& sharding)
    : optim_(optim),
      decay_elements_(decay_elements),
      plan_(plan_shards(block_elements, sharing(sharding.expert_holders, sharding.sharded_elements),
                        sharing(sharding.replicas, 0))),
      arena_("optimizer", device, optimizer_bytes(plan_.moment_elements, device, sharding.masters),
             "model size (AdamW keeps 2 floats/param; parallel.zero=1 shards them over the ranks)") {
  Buffers buffers(arena_);
  const Moments moments = allocate_moments(buffers, plan_.moment_elements, sharding.masters);
  m_ = moments.m;
  v_ = moments.v;
  masters_ = moments.masters;
}

namespace {

// The gradients hold the sum over every micro-batch of every rank (an expert's over the tokens of every rank that
// routed to it), whose squares add up to `squares`; the mean's norm follows from the sum's.
ReducedGradients of_sum(double squares, std::int64_t micro_batches, int ranks) {
  const double contributions = static_cast<double>(micro_batches) * ranks;
  return {.norm = std::sqrt(squares) / contributions, .contributions = contributions};
}

// Where each part of the gradient block sums: [0, sharded) over the ranks holding the same expert shard, whose
// squares then add over the ranks holding the other shards; the rest over every rank.
struct GradientGroups {
  Comm& replicated;
  Comm& shard_holders;
  Comm& shards;
  std::int64_t sharded_elements;
};

ReducedGradients whole_block_norm(const GradientGroups& g, const Tensor& grads, std::int64_t micro_batches) {
  const std::array<Tensor, 2> parts = {grads.slice_rows(0, g.sharded_elements),
                                       grads.slice_rows(g.sharded_elements, grads.numel())};
  std::vector<double> squares = ops::sums_of_squares(parts);  // [sharded, replicated]
  g.shards.allreduce(make_view(&squares[0], DType::f64, Device::cpu, {1}), ReduceOp::sum);
  return of_sum(squares[0] + squares[1], micro_batches, g.replicated.size());
}

ReducedGradients reduce_whole_block(const GradientGroups& g, const Tensor& grads, std::int64_t micro_batches) {
  run_collectives(whole_block_collectives(g.replicated, g.shard_holders, g.sharded_elements, grads.numel()), grads);
  return whole_block_norm(g, grads, micro_batches);
}

GradientGroups gradient_groups(const ProcessGroups& groups, std::int64_t sharded_elements) {
  return {groups.dp(), groups.edp(), groups.ep(), sharded_elements};
}

}  // namespace

ReducedGradients OptimizerStep::reduce_gradients(Comm& comm, const Tensor& grads, std::int64_t micro_batches) {
  const std::unique_ptr<Comm> alone = make_single_process_comm();
  return reduce_whole_block({comm, comm, *alone, 0}, grads, micro_batches);
}

ReducedGradients OptimizerStep::reduce_gradients(const ProcessGroups& groups, std::int64_t sharded_elements,
                                                 const Tensor& grads, std::int64_t micro_batches) {
  return reduce_whole_block(gradient_groups(groups, sharded_elements), grads, micro_batches);
}

std::vector<GradientCollective> OptimizerStep::gradient_collectives(const ProcessGroups& groups,
                                                                    std::int64_t sharded_elements,
                                                                    std::int64_t block_elements) const {
  if (!sharded()) return whole_block_collectives(groups.dp(), groups.edp(), sharded_elements, block_elements);
  std::vector<GradientCollective> out;
  for (const ShardPlan::Gather& g : plan_.gathers) {
    const std::int64_t rank = g.group->rank(), ranks = g.group->size();
    out.push_back({.group = g.group, .begin = g.begin, .end = g.begin + ranks * g.per_rank, .scatter = true,
                   .slice_begin = g.begin + rank * g.per_rank, .slice_end = g.begin + (rank + 1) * g.per_rank});
  }
  for (const ShardPlan::Piece& piece : plan_.pieces) {
    if (piece.slice) continue;
    Comm& group = piece.begin < sharded_elements ? groups.edp() : groups.dp();
    out.push_back({.group = &group, .begin = piece.begin, .end = piece.end});
  }
  return out;
}

ReducedGradients OptimizerStep::reduced_norm(const ProcessGroups& groups, std::int64_t sharded_elements,
                                             const Tensor& grads, std::int64_t micro_batches) const {
  if (!sharded()) return whole_block_norm(gradient_groups(groups, sharded_elements), grads, micro_batches);
  // Squares of the reduced gradient: each slice on its one rank, summed over the slice's group; each kept part on
  // every rank of its group alike, counted once. The experts' then add over the ranks holding the other shards.
  std::vector<Tensor> parts;
  for (const ShardPlan::Piece& piece : plan_.pieces) parts.push_back(piece_of(grads, piece));
  const std::vector<double> squares = ops::sums_of_squares(parts);
  double slices[2] = {0.0, 0.0}, kept[2] = {0.0, 0.0};  // [experts, replicated]
  for (std::size_t i = 0; i < plan_.pieces.size(); ++i) {
    const ShardPlan::Piece& piece = plan_.pieces[i];
    (piece.slice ? slices : kept)[piece.begin < sharded_elements ? 0 : 1] += squares[i];
  }
  const auto sum_over = [](Comm& group, double value) {
    group.allreduce(make_view(&value, DType::f64, Device::cpu, {1}), ReduceOp::sum);
    return value;
  };
  const double experts = sum_over(groups.ep(), sum_over(groups.edp(), slices[0]) + kept[0]);
  return of_sum(experts + sum_over(groups.dp(), slices[1]) + kept[1], micro_batches, groups.dp().size());
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
  ops::AdamWHyper undecayed = hyper;
  if (optim_.no_decay) undecayed.weight_decay = 0.0f;
  // The block is [decayed matrices | norm weights]: one AdamW call per part of each piece this rank updates.
  auto update_part = [&](const ShardPlan::Piece& piece, std::int64_t begin, std::int64_t end,
                         const ops::AdamWHyper& h) {
    if (begin >= end) return;
    const ShardPlan::Piece part{begin, end, piece.moments + (begin - piece.begin)};
    const Tensor weights = keeps_masters() ? moments_of(masters_, part) : piece_of(params, part);
    ops::adamw_step(weights, piece_of(grads, part), moments_of(m_, part), moments_of(v_, part), h);
  };
  for (const ShardPlan::Piece& piece : plan_.pieces) {
    update_part(piece, piece.begin, std::min(piece.end, decay_elements_), hyper);
    update_part(piece, std::max(piece.begin, decay_elements_), piece.end, undecayed);
  }
  if (keeps_masters()) {
    publish(params);
  } else {
    for (const ShardPlan::Gather& g : plan_.gathers) gather_run(g, params);
  }
  discard(grads);
}

void OptimizerStep::gather_moments(const Tensor& m, const Tensor& v) const {
  gather_whole(m_, m);
  gather_whole(v_, v);
}

void OptimizerStep::scatter_moments(const Tensor& m, const Tensor& v) const {
  scatter_whole(m, m_);
  scatter_whole(v, v_);
}

void OptimizerStep::scatter_masters(const Tensor& whole) const { scatter_whole(whole, masters_); }

void OptimizerStep::gather_masters(const Tensor& whole) const { gather_whole(masters_, whole); }

void OptimizerStep::publish(const Tensor& working) const {
  for (const ShardPlan::Piece& piece : plan_.pieces)
    ops::cast_to_activation(moments_of(masters_, piece), piece_of(working, piece));
  for (const ShardPlan::Gather& g : plan_.gathers) gather_run(g, working);
}

void OptimizerStep::gather_whole(const Tensor& mine, const Tensor& whole) const {
  for (const ShardPlan::Piece& piece : plan_.pieces) copy_tensor(moments_of(mine, piece), piece_of(whole, piece));
  for (const ShardPlan::Gather& g : plan_.gathers) gather_run(g, whole);
}

void OptimizerStep::scatter_whole(const Tensor& whole, const Tensor& mine) const {
  for (const ShardPlan::Piece& piece : plan_.pieces) copy_tensor(piece_of(whole, piece), moments_of(mine, piece));
}

void OptimizerStep::discard(const Tensor& grads) { device_zero(grads.device, grads.data, grads.bytes()); }

}  // namespace diverge
