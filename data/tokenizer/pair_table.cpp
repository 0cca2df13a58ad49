// Growth and insertion for the BPE pair -> merge rule table.
#include "data/tokenizer/pair_table.h"

#include <bit>

#include "data/tokenizer/piece_hash.h"

namespace diverge::data {

void PairTable::reserve(std::size_t n) {
  std::size_t capacity = table_capacity_for(n);
  if (capacity > slots_.size()) rehash(capacity);
}

void PairTable::shrink_to_fit() {
  std::size_t capacity = table_capacity_for(count_);
  if (capacity < slots_.size()) rehash(capacity);
}

void PairTable::rehash(std::size_t capacity) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  shift_ = static_cast<unsigned>(64 - std::countr_zero(capacity));
  for (const Slot& slot : old) {
    if (slot.key == kEmpty) continue;
    std::uint64_t i = slot_of(slot.key);
    while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
}

void PairTable::set(std::int32_t left, std::int32_t right, MergeRule rule) {
  if (2 * (count_ + 1) > slots_.size()) rehash(slots_.size() * 2);
  std::uint64_t key = pack(left, right);
  std::uint64_t i = slot_of(key);
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
  if (slots_[i].key == kEmpty) ++count_;
  slots_[i] = {key, rule};
}

}  // namespace diverge::data
