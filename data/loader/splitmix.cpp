// SplitMix64 bounded draws, key folding and Fisher-Yates permutations.
#include "data/loader/splitmix.h"

#include <numeric>
#include <utility>

namespace diverge::data {

std::uint64_t SplitMix64::below(std::uint64_t bound) {
  // (2^64 - bound) % bound == 2^64 % bound: the size of the short last bucket that would bias a plain modulo.
  const std::uint64_t rejected = (0 - bound) % bound;
  std::uint64_t draw = next();
  while (draw < rejected) draw = next();
  return draw % bound;
}

std::uint64_t hash_words(std::initializer_list<std::uint64_t> words) {
  std::uint64_t h = SplitMix64::kGamma;
  for (std::uint64_t w : words) h = SplitMix64::mix(h ^ SplitMix64::mix(w + SplitMix64::kGamma));
  return h;
}

std::vector<std::uint64_t> seeded_permutation(std::size_t n, std::uint64_t key) {
  std::vector<std::uint64_t> order(n);  // (n)
  std::iota(order.begin(), order.end(), std::uint64_t{0});
  SplitMix64 rng(key);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

}  // namespace diverge::data
