// The BPE merge table: adjacent token pair (left id, right id) -> (priority, merged id), open addressing.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace diverge::data {

struct MergeRule {
  std::uint32_t priority = std::numeric_limits<std::uint32_t>::max();  // lower merges first; max = no merge
  std::int32_t merged = -1;
};

inline constexpr std::uint32_t kNoMerge = std::numeric_limits<std::uint32_t>::max();

class PairTable {
 public:
  // Sizes the table for about n pairs; inserting more still works (it grows).
  void reserve(std::size_t n);
  // Rehashes into the smallest table that holds the current pairs, so lookups touch less memory.
  void shrink_to_fit();
  // Sets the rule for (left, right), replacing an earlier one.
  void set(std::int32_t left, std::int32_t right, MergeRule rule);
  // The rule for (left, right); priority kNoMerge when the pair never merges.
  MergeRule find(std::int32_t left, std::int32_t right) const {
    std::uint64_t key = pack(left, right);
    for (std::uint64_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return slot.rule;
      if (slot.key == kEmpty) return {};
    }
  }
  std::size_t size() const { return count_; }

 private:
  static constexpr std::uint64_t kEmpty = std::numeric_limits<std::uint64_t>::max();
  struct Slot {
    std::uint64_t key = kEmpty;
    MergeRule rule;
  };
  static std::uint64_t pack(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }
  // Fibonacci hashing: the multiply spreads the packed ids, the top bits pick the slot.
  std::uint64_t slot_of(std::uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }
  void rehash(std::size_t capacity);

  std::vector<Slot> slots_ = std::vector<Slot>(16);  // (power of two)
  std::uint64_t mask_ = 15;
  unsigned shift_ = 60;
  std::size_t count_ = 0;
};

}  // namespace diverge::data
