// The bytes of every token id (vocabulary tokens and added tokens), and a fast byte-string -> id lookup.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diverge::data {

// Ids above this are rejected as file errors: real vocabularies stay far below, and the id-indexed tables would
// otherwise let one bad number in a file claim gigabytes.
inline constexpr std::int32_t kMaxTokenId = (1 << 24) - 1;

// Token bytes in one arena indexed by id; ids may have holes (ids no token uses).
class TokenStore {
 public:
  // Records the bytes of id; the caller has checked that id is unused.
  void set(std::int32_t id, std::string_view bytes);
  bool has(std::int32_t id) const {
    return id >= 0 && static_cast<std::size_t>(id) < present_.size() && present_[static_cast<std::size_t>(id)];
  }
  std::string_view bytes(std::int32_t id) const {
    const auto& span = spans_[static_cast<std::size_t>(id)];
    return {arena_.data() + span.offset, span.length};
  }
  // Max id + 1 (0 when empty).
  std::uint32_t id_limit() const { return static_cast<std::uint32_t>(present_.size()); }

 private:
  struct Span {
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
  };
  std::string arena_;
  std::vector<Span> spans_;           // (id_limit)
  std::vector<std::uint8_t> present_;  // (id_limit)
};

// Open-addressing map from token bytes to id over a TokenStore; holds only the ids it was given. The table keeps
// ids, not bytes: every call takes the store it was built over (so both can move freely).
class TokenLookup {
 public:
  // Builds the table for the given ids of store. Returns the first two ids found with equal bytes, if any (the
  // table then holds only the first).
  std::optional<std::pair<std::int32_t, std::int32_t>> build(const TokenStore& store,
                                                            const std::vector<std::int32_t>& ids);
  // The id whose bytes equal piece, given piece_hash(piece); -1 when none.
  std::int32_t find(const TokenStore& store, std::string_view piece, std::uint64_t hash) const;
  std::optional<std::int32_t> find(const TokenStore& store, std::string_view piece) const;

 private:
  // A slot carries the token's first 8 bytes and its length, so that most lookups (tokens are short) finish without
  // touching the arena: one cache miss per lookup instead of three.
  struct Slot {
    std::uint64_t head = 0;   // piece_head()
    std::uint32_t check = 0;  // piece_check()
    std::int32_t id = -1;     // -1 = empty
  };
  std::vector<Slot> slots_;  // (power of two)
  std::uint64_t mask_ = 0;
};

}  // namespace diverge::data
