// The hash every tokenizer table keys byte strings by: XXH3-64, inlined because it runs once per pre-token.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace diverge::data {

inline std::uint64_t piece_hash(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

// A piece's first 8 bytes, zero-padded: with piece_check() it identifies a piece of up to 8 bytes exactly, so
// tables can hold short keys inline instead of pointing at them.
inline std::uint64_t piece_head(std::string_view bytes) {
  std::uint64_t head = 0;
  std::memcpy(&head, bytes.data(), bytes.size() < sizeof(head) ? bytes.size() : sizeof(head));
  return head;
}

// 24 hash bits above the length (saturated at 255): cheap to compare, and exact about the length of short pieces.
inline std::uint32_t piece_check(std::uint64_t hash, std::size_t length) {
  return (static_cast<std::uint32_t>(hash >> 40) << 8) | static_cast<std::uint32_t>(length < 255 ? length : 255);
}

// Smallest power of two that is >= 2 * n (and >= 16): the slot count of an open-addressing table holding n keys
// at a load factor of at most one half, so probe chains stay short.
inline std::size_t table_capacity_for(std::size_t n) {
  std::size_t capacity = 16;
  while (capacity < 2 * n) capacity *= 2;
  return capacity;
}

}  // namespace diverge::data
