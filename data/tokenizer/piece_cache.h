// A bounded pre-token -> ids cache for one thread: pieces that needed merging are merged once, then looked up.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace diverge::data {

// Not thread-safe by design: each thread owns its caches (see encode_scratch.h), so lookups take no lock.
class PieceCache {
 public:
  // Pieces up to this length that are a single token also go to a small direct-mapped table.
  static constexpr std::size_t kShortPieceLength = 8;

  // Pieces longer than this are not cached: they are rare, mostly unique, and would crowd the arena.
  static constexpr std::size_t kMaxPieceLength = 64;

  PieceCache();
  // The cached ids of piece (hash = piece_hash(piece)); empty when absent.
  std::span<const std::int32_t> find(std::string_view piece, std::uint64_t hash) const;
  // Remembers ids for piece. When full, the cache starts over empty: simple, bounded, and cheap.
  void insert(std::string_view piece, std::uint64_t hash, std::span<const std::int32_t> ids);

  // The single token of a short piece (given piece_hash, piece_head, piece_check), or -1. Most pieces are frequent
  // short words; this 64 KiB table stays in the CPU's near caches where the vocabulary's megabytes do not.
  std::int32_t find_short(std::uint64_t hash, std::uint64_t head, std::uint32_t check) const {
    const ShortSlot& slot = short_[hash >> kShortShift];
    return slot.head == head && slot.check == check ? slot.id : -1;
  }
  void insert_short(std::uint64_t hash, std::uint64_t head, std::uint32_t check, std::int32_t id) {
    short_[hash >> kShortShift] = {head, check, id};
  }

 private:
  struct ShortSlot {
    std::uint64_t head = 0;
    std::uint32_t check = 0;  // 0 never matches: piece_check() of a non-empty piece has its length in the low bits
    std::int32_t id = -1;
  };
  static constexpr unsigned kShortShift = 64 - 12;  // 4096 slots, indexed by the hash's top bits
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t bytes_offset = 0;
    std::uint32_t ids_offset = 0;
    std::uint16_t bytes_length = 0;
    std::uint16_t ids_length = 0;  // 0 = empty slot (a cached piece has at least one id)
  };
  void clear();

  std::vector<ShortSlot> short_;     // (4096)
  std::vector<Slot> slots_;          // (65536)
  std::string bytes_;                // the cached pieces, back to back
  std::vector<std::int32_t> ids_;    // their ids, back to back
  std::size_t count_ = 0;
};

}  // namespace diverge::data
