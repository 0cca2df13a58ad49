// Shuffling the expert identities of one MoE layer: its router's rows permuted in place, and put back.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/arena.h"
#include "engine/buffers.h"
#include "model/transformer.h"

namespace diverge::analysis {

// A permutation of [0, n) drawn from seed; never the identity when n > 1 (a shuffle that moves no expert would
// measure nothing).
std::vector<std::int32_t> seeded_permutation(std::int64_t n, std::uint64_t seed);

// While it lives, MoE layer `layer` routes with row perm[e] of its router weight in row e: a token that chose
// expert perm[e] now reaches expert e's weights. The rows are moved with ops::matmul by a permutation matrix, so
// it works on any backend, and exactly (products by 0 and 1 only). The destructor restores the weight.
class RouterPermutation {
 public:
  RouterPermutation(model::Transformer& model, std::int64_t layer, const std::vector<std::int32_t>& perm);
  ~RouterPermutation();
  RouterPermutation(const RouterPermutation&) = delete;
  RouterPermutation& operator=(const RouterPermutation&) = delete;

 private:
  // What the permutation's arena holds, on the weight's device.
  struct Matrices {
    Tensor forward;   // (E, E): row e has its 1 in column perm[e]
    Tensor inverse;   // (E, E): its transpose
    Tensor identity;  // (E, E)
    Tensor scratch;   // (E, C)
  };

  static Matrices allocate_matrices(Buffers& buffers, const Tensor& weight);
  void apply(const Tensor& matrix) const;

  Tensor weight_;  // (E, C) the router weight inside the model's parameters
  Arena arena_;
  Matrices matrices_;
};

}  // namespace diverge::analysis
