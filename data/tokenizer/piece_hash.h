// The hash every tokenizer table keys byte strings by: XXH3-64, inlined because it runs once per pre-token.
#pragma once

#include <cstdint>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace diverge::data {

inline std::uint64_t piece_hash(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

// Smallest power of two that is >= 2 * n (and >= 16): the slot count of an open-addressing table holding n keys
// at a load factor of at most one half, so probe chains stay short.
inline std::size_t table_capacity_for(std::size_t n) {
  std::size_t capacity = 16;
  while (capacity < 2 * n) capacity *= 2;
  return capacity;
}

}  // namespace diverge::data
