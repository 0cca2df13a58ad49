// Router-row permutations by matmul with permutation matrices, and the seeded draw of a permutation.
#include "engine/analysis/router_permutation.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "kernels/ops.h"
#include "model/param_layout.h"

namespace diverge::analysis {

namespace {

std::size_t permutation_bytes(std::int64_t experts, std::int64_t width) {
  const auto floats = static_cast<std::size_t>(3 * experts * experts + experts * width);
  return floats * sizeof(float) + 4 * Arena::kAlignment;
}

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

RouterPermutation::RouterPermutation(model::Transformer& model, std::int64_t layer,
                                     const std::vector<std::int32_t>& perm)
    : weight_(model.param(model::names::layer(layer, model::names::kRouter))),
      arena_("router permutation", weight_.device, permutation_bytes(weight_.dim(0), weight_.dim(1))) {
  const std::int64_t experts = weight_.dim(0);
  forward_ = arena_.alloc_zeroed(DType::f32, {experts, experts});
  inverse_ = arena_.alloc_zeroed(DType::f32, {experts, experts});
  identity_ = arena_.alloc_zeroed(DType::f32, {experts, experts});
  scratch_ = arena_.alloc(DType::f32, {experts, weight_.dim(1)});
  for (std::int64_t e = 0; e < experts; ++e) {
    const std::int64_t source = perm[static_cast<std::size_t>(e)];
    set_one(forward_, e, source);
    set_one(inverse_, source, e);
    set_one(identity_, e, e);
  }
  apply(forward_);
}

RouterPermutation::~RouterPermutation() { apply(inverse_); }

void RouterPermutation::apply(const Tensor& matrix) const {
  ops::matmul(matrix, weight_, scratch_, false, false);
  ops::matmul(identity_, scratch_, weight_, false, false);
}

}  // namespace diverge::analysis
