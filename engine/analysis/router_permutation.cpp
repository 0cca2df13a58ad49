// Router-row permutations by matmul with permutation matrices, and the seeded draw of a permutation.
#include "engine/analysis/router_permutation.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "kernels/ops.h"
#include "model/param_layout.h"

namespace diverge::analysis {

namespace {

void set_one(const Tensor& matrix, std::int64_t row, std::int64_t column) {
  matrix.f32()[row * matrix.dim(1) + column] = 1.0f;
}

}  // namespace

std::vector<std::int32_t> seeded_permutation(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  if (n < 2) return perm;
  std::mt19937_64 rng(seed);
  do {
    std::shuffle(perm.begin(), perm.end(), rng);
  } while (std::is_sorted(perm.begin(), perm.end()));
  return perm;
}

// The three matrices start as zeros, each then gets its E ones; the scratch is overwritten by every product.
RouterPermutation::Matrices RouterPermutation::allocate_matrices(Buffers& buffers, const Tensor& weight) {
  const std::int64_t experts = weight.dim(0);
  return {buffers.take_zeroed(DType::f32, {experts, experts}), buffers.take_zeroed(DType::f32, {experts, experts}),
          buffers.take_zeroed(DType::f32, {experts, experts}), buffers.f32({experts, weight.dim(1)})};
}

RouterPermutation::RouterPermutation(model::Transformer& model, std::int64_t layer,
                                     const std::vector<std::int32_t>& perm)
    : weight_(model.param(model::names::layer(layer, model::names::kRouter))),
      arena_("router permutation", weight_.device,
             planned_bytes(weight_.device, [this](Buffers& buffers) { return allocate_matrices(buffers, weight_); })) {
  Buffers buffers(arena_);
  matrices_ = allocate_matrices(buffers, weight_);
  for (std::int64_t e = 0; e < weight_.dim(0); ++e) {
    const std::int64_t source = perm[static_cast<std::size_t>(e)];
    set_one(matrices_.forward, e, source);
    set_one(matrices_.inverse, source, e);
    set_one(matrices_.identity, e, e);
  }
  apply(matrices_.forward);
}

RouterPermutation::~RouterPermutation() { apply(matrices_.inverse); }

void RouterPermutation::apply(const Tensor& matrix) const {
  ops::matmul(matrix, weight_, matrices_.scratch, false, false);
  ops::matmul(matrices_.identity, matrices_.scratch, weight_, false, false);
}

}  // namespace diverge::analysis
