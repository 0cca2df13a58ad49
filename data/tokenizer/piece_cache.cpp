// Open-addressing piece cache with arenas for keys and values; cleared wholesale when it fills.
#include "data/tokenizer/piece_cache.h"

#include <algorithm>
#include <cstring>

namespace diverge::data {

namespace {

constexpr std::size_t kSlots = std::size_t{1} << 16;  // at most kSlots / 2 pieces: under 4 MB with the arenas
constexpr std::size_t kMask = kSlots - 1;

}  // namespace

PieceCache::PieceCache() : short_(std::size_t{1} << (64 - kShortShift)), slots_(kSlots) {
  bytes_.reserve(kSlots / 2 * 8);
  ids_.reserve(kSlots / 2 * 2);
}

void PieceCache::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  bytes_.clear();
  ids_.clear();
  count_ = 0;
}

std::span<const std::int32_t> PieceCache::find(std::string_view piece, std::uint64_t hash) const {
  for (std::size_t i = hash & kMask;; i = (i + 1) & kMask) {
    const Slot& slot = slots_[i];
    if (slot.ids_length == 0) return {};
    if (slot.hash == hash && slot.bytes_length == piece.size() &&
        std::memcmp(bytes_.data() + slot.bytes_offset, piece.data(), piece.size()) == 0) {
      return {ids_.data() + slot.ids_offset, slot.ids_length};
    }
  }
}

void PieceCache::insert(std::string_view piece, std::uint64_t hash, std::span<const std::int32_t> ids) {
  if (piece.size() > kMaxPieceLength || ids.empty()) return;
  if (2 * (count_ + 1) > kSlots) clear();
  std::size_t i = hash & kMask;
  while (slots_[i].ids_length != 0) i = (i + 1) & kMask;
  slots_[i] = {hash, static_cast<std::uint32_t>(bytes_.size()), static_cast<std::uint32_t>(ids_.size()),
               static_cast<std::uint16_t>(piece.size()), static_cast<std::uint16_t>(ids.size())};
  bytes_.append(piece);
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  ++count_;
}

}  // namespace diverge::data
