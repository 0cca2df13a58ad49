// Counter-based randomness that is bit-exact on every platform: SplitMix64, key mixing, seeded permutations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace diverge::data {

// SplitMix64 (Steele, Lea, Flood 2014; Vigna's reference code). The loader never uses std:: distributions or
// engines' seeding, whose outputs differ between standard libraries: a checkpoint must resume identically anywhere.
class SplitMix64 {
 public:
  static constexpr std::uint64_t kGamma = 0x9e3779b97f4a7c15ULL;

  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  // The finaliser alone: a bijective avalanche of one word.
  static constexpr std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t next() {
    state_ += kGamma;
    return mix(state_);
  }

  // Uniform in [0, bound) for bound >= 1, without modulo bias: draws below 2^64 mod bound are redrawn.
  std::uint64_t below(std::uint64_t bound);

 private:
  std::uint64_t state_;
};

// Folds words into one 64-bit key, order-sensitive: hash_words({seed, stream, epoch}).
std::uint64_t hash_words(std::initializer_list<std::uint64_t> words);

// A uniformly random permutation of [0, n) (Fisher-Yates) driven only by key.
std::vector<std::uint64_t> seeded_permutation(std::size_t n, std::uint64_t key);

}  // namespace diverge::data
