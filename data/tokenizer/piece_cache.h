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
  // Pieces longer than this are not cached: they are rare, mostly unique, and would crowd the arena.
  static constexpr std::size_t kMaxPieceLength = 64;

  PieceCache();
  // The cached ids of piece (hash = piece_hash(piece)); empty when absent.
  std::span<const std::int32_t> find(std::string_view piece, std::uint64_t hash) const;
  // Remembers ids for piece. When full, the cache starts over empty: simple, bounded, and cheap.
  void insert(std::string_view piece, std::uint64_t hash, std::span<const std::int32_t> ids);

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t bytes_offset = 0;
    std::uint32_t ids_offset = 0;
    std::uint16_t bytes_length = 0;
    std::uint16_t ids_length = 0;  // 0 = empty slot (a cached piece has at least one id)
  };
  void clear();

  std::vector<Slot> slots_;          // (65536)
  std::string bytes_;                // the cached pieces, back to back
  std::vector<std::int32_t> ids_;    // their ids, back to back
  std::size_t count_ = 0;
};

}  // namespace diverge::data
